"""The types every reader produces and every caller uses; kept free of parser libraries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

HEADING_SEPARATOR = " › "


class DocumentError(Exception):
    """A file could not be read as a document; `reason` is shown to users and admins."""

    def __init__(self, rel_path: str, reason: str) -> None:
        super().__init__(f"{rel_path}: {reason}")
        self.rel_path = rel_path
        self.reason = reason


class DocumentSkipped(DocumentError):
    """The file is over a limit (rag/ingest/documents/limits.py): reported as skipped, not read again until it
    changes."""


@dataclass(frozen=True)
class Block:
    """One paragraph-sized unit of text with its place in the document."""

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None  # 1-based PDF page
    start: int = 0  # character offsets into the document's extracted text (`Document.text`)
    end: int = 0


@dataclass
class Document:
    rel_path: str  # POSIX path relative to the docs root: the document's identity
    title: str
    kind: str  # "SOP", "policy", "contract" or "document"
    format: str  # "md", "txt", "pdf", "docx", "html", "xlsx", "pptx"
    modified: datetime  # the date the document states (front matter, "Updated:" line, metadata), else the mtime; UTC
    sha256: str
    size: int
    link: str  # file:// URL, or DOCS_BASE_URL + quoted rel_path
    blocks: list[Block] = field(default_factory=list)
    text: str = ""  # the full extracted text that block offsets point into


# What a format reader returns; `load_document` adds the file facts to make a `Document`.
@dataclass
class _Parsed:
    text: str
    blocks: list[Block]
    title: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    updated: datetime | None = None  # the date the document states it was last updated, if it does
