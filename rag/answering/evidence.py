"""The sentence of a cited passage that supports a claim, so a reader can check it without opening the file.

Matching is lexical, on the same terms retrieval uses (stemmed English words,
character bigrams for Chinese and Japanese), so it works the same for both
languages and needs no model. Figures count double: a claim is usually about
a number ("5 days", "NT$3,200"), and the sentence holding that number is the
one to show.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from rag.language.cjk import CJK_RE
from rag.retrieval.query import query_terms

EVIDENCE_CHARS = 200
# Sentence ends (Latin ones need a space after them and no lowercase word or number next, so "ext. 4357" and
# "Ltd. by" stay whole, unless the number opens a numbered clause: "… secret. 12. Termination"; CJK ones need
# no space), and every line break: a table row or list item is a unit.
SENTENCE_SPLIT = re.compile(
    r"(?<=[.!?])\s+(?=[^a-z0-9]|\d{1,3}(?:\.\d{1,3})*\.?\s+[A-Z])|(?<=;)\s+|\n+|(?<=[。！？；])")
_NUMBER = re.compile(r"\d")


# A piece that is only a number ("12." of "12. Termination", "3.2" of a heading, "(a)") is not a sentence.
_BARE_NUMBER = re.compile(r"\(?(\d{1,3}(\.\d{1,3})*|[a-z]|[ivx]{1,4})[.)]?", re.IGNORECASE)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, without surrounding whitespace; a bare clause number joins what follows."""
    spans: list[tuple[int, int]] = []
    start, pending = 0, None
    for cut in [*SENTENCE_SPLIT.finditer(text), None]:
        end = cut.start() if cut else len(text)
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            a, b = start + lead, start + len(piece.rstrip())
            if pending is not None:  # "12." + "Termination" on the same line: one heading, not two sentences
                a, pending = pending, None
            if _BARE_NUMBER.fullmatch(text[a:b]) and cut is not None and "\n" not in cut.group():
                pending = a
            else:
                spans.append((a, b))
        if cut:
            start = cut.end()
    if pending is not None:
        spans.append((pending, len(text.rstrip())))
    return spans


def split_sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def term_weights(text: str) -> dict[str, float]:
    """The terms of a claim or sentence, figures weighing double."""
    return {t: 2.0 if _NUMBER.search(t) else 1.0 for t in query_terms(text)}


def score_terms(claim: dict[str, float], sentence: dict[str, float]) -> float:
    """Cosine of the weighted term sets: shared terms, not penalised much for a long claim or sentence."""
    shared = sum(w for t, w in claim.items() if t in sentence)
    if not shared:
        return 0.0
    return shared / math.sqrt(sum(claim.values()) * sum(sentence.values()))


def best_sentence(text: str, claims: Sequence[str], limit: int = EVIDENCE_CHARS) -> tuple[str, float]:
    """The sentence of `text` that best matches any of `claims`, trimmed to `limit` around what matched,
    and its score (0 when nothing matched: the passage's opening is returned then)."""
    sentences = split_sentences(text)
    if not sentences:
        return "", 0.0
    targets = [w for w in (term_weights(c) for c in claims) if w]
    best, best_score, best_target = sentences[0], 0.0, {}
    for sentence in sentences:
        weights = term_weights(sentence)
        for target in targets:
            score = score_terms(target, weights)
            if score > best_score:
                best, best_score, best_target = sentence, score, target
    return trim(best, best_target, limit), best_score


def trim(sentence: str, target: dict[str, float], limit: int = EVIDENCE_CHARS) -> str:
    """Cut a long sentence to the `limit`-character window that holds the most matching terms."""
    if len(sentence) <= limit:
        return sentence
    width = limit - 2  # room for the ellipses
    cjk = bool(CJK_RE.search(sentence))
    starts = range(0, len(sentence) - width + 1, 8) if cjk else \
        [0] + [m.end() for m in re.finditer(r"\s+", sentence) if m.end() <= len(sentence) - width // 2]
    best_start, best_found = 0, -1.0
    for start in starts:
        window = sentence[start:start + width].lower()
        found = sum(w for t, w in target.items() if t in window)
        if found > best_found:
            best_start, best_found = start, found
    window = sentence[best_start:best_start + width]
    if best_start + width < len(sentence) and not cjk and " " in window:
        window = window[: window.rfind(" ")]
    head = "…" if best_start > 0 else ""
    tail = "…" if best_start + len(window) < len(sentence) else ""
    return head + window.strip() + tail
