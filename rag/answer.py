"""What a question gets back: answer text, the sources it really cites, timings.

Kept free of I/O so the Slack side and the CLI can render it however they like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

AnswerMode = Literal["generated", "extractive", "no_answer"]


@dataclass(frozen=True)
class Citation:
    number: int  # the [n] shown in `Answer.text`, 1-based, by first appearance
    title: str
    rel_path: str
    kind: str
    section: str  # heading path joined with " › ", "" when the document has no headings
    pages: tuple[int, int] | None  # first and last PDF page, None for non-PDF
    modified: datetime
    link: str  # points at the place: file.pdf#page=N, or the section anchor
    quote: str  # the passage given to the model (shown as-is by the extractive fallback)

    @property
    def location(self) -> str:
        """"section, p. 3" / "p. 3–4" / "section" / "" for display."""
        parts = []
        if self.section:
            parts.append(self.section)
        if self.pages:
            first, last = self.pages
            parts.append(f"p. {first}" if first == last else f"pp. {first}–{last}")
        return ", ".join(parts)


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    mode: AnswerMode = "generated"
    notice: str | None = None  # why generation was skipped, or that nothing was cited
    sources_given: int = 0
    retrieval_ms: float = 0.0
    generation_ms: float = 0.0
    dropped_markers: list[int] = field(default_factory=list)  # [n] the model invented, never shown

    @property
    def cites_nothing(self) -> bool:
        return self.mode == "generated" and not self.citations
