"""Resolving the model's [n] markers against the sources it was actually given.

Numbers are renumbered by first appearance so the reader sees [1], [2], … in
order; several chunks of one document become one citation that lists each place
(section, pages, link) the answer used, with the sentence that supports it; a
marker that names no given source is removed from the text (and reported), never shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from rag.answering.evidence import best_sentence, split_sentences
from rag.ingest.documents.model import HEADING_SEPARATOR
from rag.values import Citation, Passage

# [1], [1, 2], [1][2], full-width 【1】 ［1］ as models write them in Chinese text.
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([.,;:!?。，；：！？])")
MARKER_RE = re.compile(r"[\[【［]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]】］]")
_MARKER_RE = MARKER_RE


# What is left of a sentence that only pointed at a source once its (invented) marker is dropped.
_DANGLING = re.compile(r"(?:(?<=[.!?。！？])|^)[ \t]*(?:see also|also see|see|參見|参见|另見|另见|詳見|详见)[ \t]*"
                       r"(?:[\[【［]\s*[\]】］])?[ \t]*[.。:：]?[ \t]*(?=\n|$)", re.IGNORECASE | re.MULTILINE)


@dataclass
class ResolvedCitations:
    text: str
    groups: list[list[int]] = field(default_factory=list)  # per citation, in order: the given sources merged into it
    dropped: list[int] = field(default_factory=list)


def resolve_markers(text: str, doc_key: dict[int, str]) -> ResolvedCitations:
    """Renumber markers in `text`; `doc_key` maps each given source number to its document."""
    new_number: dict[str, int] = {}  # document -> citation number
    groups: list[list[int]] = []
    dropped: list[int] = []

    def replace(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,，、]\s*", match.group(1).strip())]
        out: list[int] = []
        for n in numbers:
            if n not in doc_key:
                dropped.append(n)
                continue
            key = doc_key[n]
            if key not in new_number:
                new_number[key] = len(new_number) + 1
                groups.append([])
            cite = new_number[key]
            if n not in groups[cite - 1]:
                groups[cite - 1].append(n)
            if cite not in out:
                out.append(cite)
        return "".join(f"[{n}]" for n in out)

    rewritten = _MARKER_RE.sub(replace, text)
    if dropped:  # "See also [7]." with [7] invented: the pointer is gone, so is the sentence that pointed
        rewritten = _DANGLING.sub("", rewritten)
    rewritten = re.sub(r"(\[\d+\])(?:\s*\1)+", r"\1", rewritten)  # "[1] [1]" -> "[1]"
    rewritten = _SPACE_BEFORE_PUNCT.sub(r"\1", rewritten)  # space left by a dropped marker
    rewritten = re.sub(r"[ \t]{2,}", " ", rewritten).strip()
    return ResolvedCitations(text=rewritten, groups=groups, dropped=dropped)


class StreamingRenumberer:
    """Renumbers markers while the answer streams, so what users watch matches the final citations.

    Text after an unclosed bracket is held back until the marker is complete
    (or clearly is not one); everything else passes straight through.
    """

    _OPENERS = "[【［"

    def __init__(self, doc_key: dict[int, str]) -> None:
        self._doc_key = doc_key
        self._numbers: dict[str, int] = {}
        self._pending = ""
        self._held_space = ""  # trailing spaces wait: a dropped marker after them would leave "also ."

    def feed(self, piece: str) -> str:
        self._pending += piece
        cut = max(self._pending.rfind(o) for o in self._OPENERS)
        if cut >= 0 and not any(c in self._pending[cut:] for c in "]】］") and len(self._pending) - cut < 16:
            ready, self._pending = self._pending[:cut], self._pending[cut:]
        else:
            ready, self._pending = self._pending, ""
        return self._rewrite(ready)

    def finish(self) -> str:
        ready, self._pending = self._pending, ""
        return self._rewrite(ready).rstrip() if ready else ""

    def _rewrite(self, text: str) -> str:
        out = _SPACE_BEFORE_PUNCT.sub(r"\1", self._held_space + self._renumber(text))
        body = out.rstrip(" \t")
        self._held_space = out[len(body):]
        return body

    def _renumber(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            out = []
            for n in (int(x) for x in re.split(r"\s*[,，、]\s*", match.group(1).strip())):
                key = self._doc_key.get(n)
                if key is None:
                    continue
                number = self._numbers.setdefault(key, len(self._numbers) + 1)
                if number not in out:
                    out.append(number)
            return "".join(f"[{n}]" for n in out)

        return _MARKER_RE.sub(replace, text)


# --- from resolved markers to citations of each place used -----------------------------------------


def cited_sentences(text: str) -> dict[int, list[str]]:
    """For each source number in the model's raw text, the sentences that carry its marker (markers removed).

    A marker written after the full stop ("… 31 March. [1] Next …") belongs to the sentence before it.
    """
    pieces = split_sentences(text)
    merged: list[str] = []
    for piece in pieces:
        lead = re.match(rf"(?:\s*{_MARKER_RE.pattern})+", piece)
        if lead and merged:
            merged[-1] += " " + lead.group(0).strip()
            piece = piece[lead.end():].strip()
        if piece:
            merged.append(piece)
    out: dict[int, list[str]] = {}
    for sentence in merged:
        plain = _SPACE_BEFORE_PUNCT.sub(r"\1", _MARKER_RE.sub("", sentence)).strip()
        for match in _MARKER_RE.finditer(sentence):
            for n in re.split(r"\s*[,，、]\s*", match.group(1).strip()):
                out.setdefault(int(n), []).append(plain)
    return out


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.lower()).strip().replace(" ", "-")


def deep_link(row: dict[str, Any]) -> str:
    """Link to the place: file.pdf#page=N for PDFs, the section anchor otherwise."""
    link = str(row.get("link") or "")
    if row.get("format") == "pdf" and row.get("page_start"):
        return f"{link}#page={row['page_start']}"
    section = str(row.get("section") or "")
    if section:
        return f"{link}#{_slug(section.split(HEADING_SEPARATOR)[-1])}"
    return link


def row_pages(rows: Sequence[dict[str, Any]]) -> tuple[int, int] | None:
    starts = [r["page_start"] for r in rows if r.get("page_start")]
    ends = [r["page_end"] or r["page_start"] for r in rows if r.get("page_start")]
    return (min(starts), max(ends)) if starts else None


def row_modified(row: dict[str, Any]) -> datetime:
    value = row.get("modified")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)) if value else datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class CitedChunk:
    """One index row the answer cites, and what it was cited for."""

    row: dict[str, Any]
    claims: tuple[str, ...] = ()  # the answer's sentences that cite it; empty: the answer quotes it as-is
    quote: str = ""  # the part the answer shows, when it quotes


# The answer's first claim is usually what was asked; its sentence is the evidence when it matches this well,
# even if a later detail ("the DPO files it within 72 hours") matches its own sentence better.
FIRST_CLAIM_MATCH = 0.35


def first_supported(text: str, claims: Sequence[str]) -> tuple[str, float]:
    """The evidence for the first claim the passage clearly supports, else the best match of any claim."""
    for claim in claims:
        evidence, score = best_sentence(text, [claim])
        if score >= FIRST_CLAIM_MATCH:
            return evidence, score
    return best_sentence(text, claims)


def make_citation(number: int, chunks: Sequence[CitedChunk], fallback_claim: str = "") -> Citation:
    """One citation for one document: a passage per place (section and pages), in the order first cited.

    Two chunks at the same place become one passage, keeping the evidence that matched best.
    """
    first = chunks[0].row
    places: dict[tuple[str, tuple[int, int] | None], tuple[Passage, float]] = {}
    for chunk in chunks:
        text = str(chunk.row.get("text") or "")
        if chunk.claims:
            evidence, score = first_supported(text, chunk.claims)
            if not score and fallback_claim:  # paraphrased, or in another language: match the question
                evidence, score = best_sentence(text, [fallback_claim])
        else:
            evidence, score = "", 0.0
        section, pages = str(chunk.row.get("section") or ""), row_pages([chunk.row])
        passage = Passage(section=section, pages=pages, link=deep_link(chunk.row), text=chunk.quote or text,
                          evidence=evidence)
        key = (section, pages)
        if key not in places or score > places[key][1]:
            places[key] = (passage, score) if key not in places else (
                replace(places[key][0], evidence=evidence), score)
    return Citation(
        number=number, title=str(first.get("title") or first["doc_path"]), rel_path=str(first["doc_path"]),
        kind=str(first.get("kind") or "document"), modified=row_modified(first),
        doc_link=str(first.get("link") or ""), passages=tuple(p for p, _ in places.values()),
        doc_sha256=str(first.get("doc_sha256") or ""),
    )
