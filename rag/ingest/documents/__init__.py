"""Reading source files (.md, .txt, .pdf, .docx, .html, .xlsx, .pptx) into structured documents.

A document is a list of blocks (paragraphs, list items, table rows) that each
know the headings above them and, for PDFs, their page: the chunker needs that
structure to cite "Leave policy › 3. Annual leave, p. 4" rather than a file.
A file that cannot be read raises `DocumentError` with a reason a person can act
on; the caller reports it and goes on with the other files.
"""

from __future__ import annotations

from typing import Any

from rag.ingest.documents.model import HEADING_SEPARATOR, Block, Document, DocumentError

# The readers (pypdf, python-docx, BeautifulSoup) are imported on first use: answering a question
# needs `Document`/`HEADING_SEPARATOR`, not the parsers, and they cost 0.3 s at start-up.
_LAZY = {"DEFAULT_MAX_BYTES": "loading", "FORMATS": "formats", "MIB": "limits", "document_link": "loading",
         "load_document": "loading", "iter_document_paths": "finding"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORMATS",
    "HEADING_SEPARATOR",
    "MIB",
    "Block",
    "Document",
    "DocumentError",
    "document_link",
    "iter_document_paths",
    "load_document",
]
