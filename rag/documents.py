"""Reading source files (.md, .txt, .pdf, .docx, .html) into structured documents.

A document is a list of blocks (paragraphs, list items, table rows) that each
know the headings above them and, for PDFs, their page: the chunker needs that
structure to cite "Leave policy › 3. Annual leave, p. 4" rather than a file.
A file that cannot be read raises `DocumentError` with a reason a person can act
on; the caller reports it and goes on with the other files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

HEADING_SEPARATOR = " › "


class DocumentError(Exception):
    """A file could not be read as a document; `reason` is shown to users and admins."""

    def __init__(self, rel_path: str, reason: str) -> None:
        super().__init__(f"{rel_path}: {reason}")
        self.rel_path = rel_path
        self.reason = reason


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
    format: str  # "md", "txt", "pdf", "docx", "html"
    modified: datetime  # file mtime, timezone-aware UTC
    sha256: str
    size: int
    link: str  # file:// URL, or DOCS_BASE_URL + quoted rel_path
    blocks: list[Block] = field(default_factory=list)
    text: str = ""  # the full extracted text that block offsets point into
