"""Which given source each sentence of an answer was taken from, whether the model marked it or not.

Small local models drop or misplace [n] markers: a correct answer copied word for word from source 2 arrived
with no marker, and the asker was told it "cites no document"; another put its marker on a closing "This is
stated in [1]" while the fact sat in the sentence before. Every content sentence of the answer is therefore
matched against the sentences of the sources the model was given, on the terms retrieval uses (stemmed words,
CJK character pairs) with figures weighing double (rag/answering/evidence.py): an unmarked sentence that clearly comes
from one source is attributed to it (and the answer says its citations were inferred), and a sentence that
only points at a source ("This is stated in the Leave policy [1]") is not a claim, so the evidence quoted for
that source comes from the sentences that carry the facts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.answering.citations import MARKER_RE
from rag.answering.evidence import score_terms, sentence_spans, term_weights
from rag.retrieval.query import query_terms

# A sentence is attributed to a source whose best sentence matches it at least this well (cosine of the
# weighted terms) and clearly better than the runner-up source (bench/bench_answers.py).
ATTRIBUTE_MIN = 0.35
ATTRIBUTE_MARGIN = 0.1
_FIGURE = re.compile(r"\d")
# "This is stated in the Leave policy [1].", "As outlined in section 4 of the agreement [2].", "詳見第三條 [1]。":
# a sentence that only says where something is stated.
_POINTER = re.compile(
    r"^\W*(?:(?:this|that|these|it|the above|all of this|this (?:information|requirement|rule|limit|fee|term|"
    r"credit|clause))\b[^.]{0,40}?\b(?:is|are|was|were|can be|may be)\s+(?:\w+\s+)?(?:stated|mentioned|specified|"
    r"set out|found|outlined|described|covered|provided|listed|explained|detailed|defined)\b"
    r"|(?:see|refer to)\b|(?:source|sources)\b)"
    r"|^\W*(?:以上|此|上述|這|这|詳見|详见|參見|参见|請見|请见|見)",
    re.IGNORECASE,
)


@dataclass
class AnswerSentence:
    start: int  # span of the sentence in the answer text, markers included
    end: int
    plain: str  # the sentence without its markers
    cited: list[int] = field(default_factory=list)  # source numbers its markers name (as the model numbered them)
    inferred: int | None = None  # the source it was matched to, when it has no marker
    claim: bool = True  # it states something (a figure or words of its own), not only where it is stated


def answer_sentences(text: str) -> list[AnswerSentence]:
    """The answer's sentences; a marker written after the full stop ("… 31 March. [1]") joins the sentence before."""
    out: list[AnswerSentence] = []
    for a, b in sentence_spans(text):
        piece = text[a:b]
        lead = re.match(rf"(?:\s*{MARKER_RE.pattern})+", piece)
        if lead and out:
            numbers = _numbers(lead.group(0))
            out[-1].cited.extend(n for n in numbers if n not in out[-1].cited)
            out[-1].end = a + lead.end()
            a += lead.end()
            piece = text[a:b]
            if not piece.strip():
                continue
        plain = " ".join(MARKER_RE.sub(" ", piece).split())
        if not plain:
            continue
        out.append(AnswerSentence(start=a, end=b, plain=plain, cited=_numbers(piece)))
    return out


def _numbers(text: str) -> list[int]:
    found: list[int] = []
    for match in MARKER_RE.finditer(text):
        for n in re.split(r"\s*[,，、]\s*", match.group(1).strip()):
            if int(n) not in found:
                found.append(int(n))
    return found


def source_match(sentence: str, source_text: str) -> float:
    """How well the best sentence of a source matches an answer sentence (0..1)."""
    target = term_weights(sentence)
    if not target:
        return 0.0
    return max((score_terms(target, term_weights(source_text[a:b])) for a, b in sentence_spans(source_text)),
               default=0.0)


def attribute(text: str, sources: Sequence[str], titles: Sequence[str] = ()) -> list[AnswerSentence]:
    """The answer's sentences with what each cites or was matched to; `sources[i]` is source number i + 1.

    A sentence is a claim unless it has no figure and nothing beyond the sources' titles and a few words
    ("This is stated in the Master Services Agreement [1]").
    """
    title_terms = {t for title in titles for t in query_terms(title)}
    sentences = answer_sentences(text)
    for sentence in sentences:
        own = [t for t in query_terms(sentence.plain) if t not in title_terms]
        has_figure = bool(_FIGURE.search(sentence.plain))
        sentence.claim = has_figure or (len(own) >= 3 and not _POINTER.match(sentence.plain))
        if sentence.cited or not sentence.claim:
            continue
        scores = sorted(((source_match(sentence.plain, src), n) for n, src in enumerate(sources, start=1)),
                        reverse=True)
        if not scores:
            continue
        best, number = scores[0]
        runner_up = scores[1][0] if len(scores) > 1 else 0.0
        if best >= ATTRIBUTE_MIN and best - runner_up >= ATTRIBUTE_MARGIN:
            sentence.inferred = number
    return sentences


def with_inferred_markers(text: str, sentences: Sequence[AnswerSentence]) -> str:
    """The answer with a marker added to each sentence that was matched to a source, before its final stop."""
    out, last = [], 0
    for s in sentences:
        if s.inferred is None:
            continue
        body = text[s.start:s.end]
        stop = re.search(r"[.!?。！？；;:：]+$", body)
        cut = s.start + (stop.start() if stop else len(body))
        out.append(text[last:cut].rstrip() + f" [{s.inferred}]")
        last = cut
    out.append(text[last:])
    return "".join(out)


def claims_by_source(sentences: Sequence[AnswerSentence]) -> dict[int, list[str]]:
    """For each source number, the claim sentences that cite it or were matched to it; a source cited only by
    sentences that are not claims gets the answer's claims that cite nothing (the fact before "This is stated
    in [1]")."""
    out: dict[int, list[str]] = {}
    uncited_claims = [s.plain for s in sentences if s.claim and not s.cited and s.inferred is None]
    for s in sentences:
        for n in [*s.cited, *([s.inferred] if s.inferred else [])]:
            out.setdefault(n, [])
            if s.claim:
                out[n].append(s.plain)
    for n, claims in out.items():
        if not claims:
            out[n] = list(uncited_claims)
    return out
