"""A model's finished answer, read the way a careful reviewer would before anyone sees it as the answer.

Given the sources the model saw, this decides which source each sentence comes from (rag/answering/attribution.py:
markers the model wrote, or the source a sentence was plainly copied from), checks every figure against the
source its sentence cites (rag/answering/claim_check.py), and catches near misses, a figure the documents state for
something else than what was asked (rag/answering/subject_check.py). rag/answering/ask.py turns the verdict into the
Answer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rag.answering.attribution import AnswerSentence, attribute, claims_by_source, with_inferred_markers
from rag.answering.claim_check import Claim, FlaggedFigure, check_claims
from rag.answering.evidence import best_sentence
from rag.answering.figures import extract_figures
from rag.answering.subject_check import DocumentText, NearMiss, near_misses, unmentioned_subject
from rag.language.notices import near_miss_notice, zh


@dataclass(frozen=True)
class GivenSource:
    """What the model was shown as source number n (1-based): the passage, its header and whose it is."""

    number: int
    doc: str
    title: str
    section: str
    text: str
    header: str  # the metadata line the prompt put above it (title, section, pages, updated date)


@dataclass
class Review:
    text: str  # the answer as it will be shown (markers added where inferred, a near miss said plainly)
    claims: dict[int, list[str]] = field(default_factory=dict)  # per given source: the sentences it supports
    inferred: bool = False  # some markers were added by the bot
    figures_checked: int = 0
    flagged: list[FlaggedFigure] = field(default_factory=list)
    near_misses: list[NearMiss] = field(default_factory=list)
    # what the question asks about that no given document mentions, stated by the answer anyway: no answer
    unmentioned: list[str] = field(default_factory=list)


def review(question: str, text: str, sources: Sequence[GivenSource],
           document_text: Callable[[str], DocumentText], known_titles: dict[str, str] | None = None) -> Review:
    """`known_titles` ({document: title}) are the documents the asker may see: a question may name one that no
    given source comes from (the contract it asks about has no such clause, so retrieval found another's)."""
    document_text = functools.cache(document_text)  # both checks read a document: once per answer
    given_text = [s.text for s in sources]
    sentences = attribute(text, given_text, [s.title for s in sources])
    inferred = any(s.inferred for s in sentences)
    shown = with_inferred_markers(text, sentences) if inferred else text
    result = Review(text=shown, claims=claims_by_source(sentences), inferred=inferred)
    claims = [Claim(s.plain, tuple(_sources_of(s))) for s in sentences]
    check = check_claims(claims, given_text, [s.header for s in sources])
    result.figures_checked, result.flagged = check.checked, list(check.flagged)
    holders = [n for s, found in zip(sentences, check.figure_sources, strict=True) if s.claim for n in found]
    misses = near_misses(
        question, holders, [s.doc for s in sources], [s.title for s in sources], [s.section for s in sources],
        document_text, known_titles,
    )
    if misses:
        result.near_misses = misses
        result.text = _say_near_miss(question, misses, sentences, sources)
        result.claims = {m.source: [s.plain for s in sentences if m.source in _sources_of(s)] or [question]
                         for m in misses}
        result.flagged = []  # the answer's own figures are no longer shown
    elif unmentioned_subject(question, question, [DocumentText(s.section, s.text) for s in sources]):
        # Only a term the passages lack can be one their whole documents lack: most answers read none of them
        documents = [document_text(doc) for doc in dict.fromkeys(s.doc for s in sources)]
        result.unmentioned = unmentioned_subject(question, text, documents)
    return result


def _sources_of(sentence: AnswerSentence) -> list[int]:
    return [*sentence.cited, *([sentence.inferred] if sentence.inferred else [])]


def _say_near_miss(question: str, misses: Sequence[NearMiss], sentences: Sequence[AnswerSentence],
                   sources: Sequence[GivenSource]) -> str:
    """The answer a careful reader would give instead: nothing for what was asked, and what the source states
    the figure for, quoted with its marker."""
    lines = []
    for miss in misses:
        src = sources[miss.source - 1]
        claims = [s.plain for s in sentences if s.claim and extract_figures(s.plain)]
        quote, _ = best_sentence(src.text, claims or [question])
        held = {f.value for f in extract_figures(src.text, source=True)}
        figures = list(dict.fromkeys(f.text for c in claims for f in extract_figures(c) if f.value in held))
        lines.append(near_miss_notice(question, miss.asked, miss.stated_for, src.title, figures or ["?"]))
        lines.append(f"> {_one_line(quote)} [{miss.source}]")
    if zh(question):
        lines.append("若要確認，請詢問文件負責人。")
    else:
        lines.append("Ask the document's owner if you need a figure for what you asked.")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
