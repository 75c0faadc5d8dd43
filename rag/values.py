"""What a question gets back: answer text, the sources it really cites, timings.

Kept free of I/O so the Slack side and the CLI can render it however they like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

AnswerMode = Literal["generated", "extractive", "no_answer"]


def format_location(section: str, pages: tuple[int, int] | None) -> str:
    """"section, p. 3" / "pp. 3–4" / "section" / "" for display."""
    parts = [section] if section else []
    if pages:
        first, last = pages
        parts.append(f"p. {first}" if first == last else f"pp. {first}–{last}")
    return ", ".join(parts)


@dataclass(frozen=True)
class DocumentRef:
    """A document named but not cited: one that holds the same text as a cited passage."""

    title: str
    rel_path: str
    link: str


@dataclass(frozen=True)
class SharedText:
    """A cited passage's near-identical copies in other documents (GROUP_DUPLICATES, rag/retrieval/duplicates.py)."""

    documents: tuple[DocumentRef, ...]  # the other documents holding it, best-ranked first
    named: bool  # the question named the cited document: it is the source, the others are "also in"


@dataclass(frozen=True)
class Passage:
    """One cited place in a document: its section and pages, a link there, and the words that support the answer."""

    section: str  # heading path joined with " › ", "" when the document has no headings
    pages: tuple[int, int] | None  # first and last PDF page, None for non-PDF
    link: str  # points at the place: file.pdf#page=N, or the section anchor
    text: str  # the passage given to the model
    evidence: str = ""  # its sentence that best matches the answer, trimmed; "" when the answer quotes it
    shared: SharedText | None = None  # the same text in other documents: the answer must not claim one source

    @property
    def location(self) -> str:
        return format_location(self.section, self.pages)


@dataclass(frozen=True)
class Citation:
    """One cited document and each place in it that the answer used, in the order they were cited."""

    number: int  # the [n] shown in `Answer.text`, 1-based, by first appearance
    title: str
    rel_path: str
    kind: str
    modified: datetime  # the date the document states, else its file's mtime
    doc_link: str  # the document itself
    passages: tuple[Passage, ...]
    doc_sha256: str = ""  # the indexed version the answer was written from (bot/followthrough/watcher.py watches it)
    # A rollback pinned this document: its file changed since and an admin held the earlier version (the one
    # cited) back; the source line says so (rag/answering/source_lines.py). Set by RagService.ask from the state DB.
    held_back: bool = False

    @property
    def link(self) -> str:
        """The first cited place."""
        return self.passages[0].link if self.passages else self.doc_link

    @property
    def section(self) -> str:
        return "; ".join(dict.fromkeys(p.section for p in self.passages if p.section))

    @property
    def pages(self) -> tuple[int, int] | None:
        spans = [p.pages for p in self.passages if p.pages]
        return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None

    @property
    def quote(self) -> str:
        return self.passages[0].text if self.passages else ""

    @property
    def location(self) -> str:
        """Every cited place, "3.2 Carry-over; 4. Sick leave, p. 3"."""
        return "; ".join(dict.fromkeys(p.location for p in self.passages if p.location))


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    mode: AnswerMode = "generated"
    notice: str | None = None  # why generation was skipped, or that nothing was cited
    unavailable_reason: str | None = None  # the technical reason generation failed: for the operator, never Slack
    sources_given: int = 0
    retrieval_ms: float = 0.0
    rerank_ms: float = 0.0  # of retrieval_ms: the cross-encoder (RERANK_MODEL), 0 when off
    generation_ms: float = 0.0
    dropped_markers: list[int] = field(default_factory=list)  # [n] the model invented, never shown
    figures_checked: int = 0  # figures of the answer looked up in its sources (rag/answering/figures.py)
    unsupported_figures: list[str] = field(default_factory=list)  # ...of which no cited source holds these, ⚠
    citations_inferred: bool = False  # the model left sentences unmarked: the bot matched them to their sources
    near_miss: bool = False  # the figure was the documents' figure for something else: said so instead
    script_converted: int = 0  # Simplified characters the model wrote for a Traditional question, converted

    @property
    def cites_nothing(self) -> bool:
        return self.mode == "generated" and not self.citations
