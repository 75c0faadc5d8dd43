"""Reading source files (.md, .txt, .pdf, .docx, .html) into structured documents.

A document is a list of blocks (paragraphs, list items, table rows) that each
know the headings above them and, for PDFs, their page: the chunker needs that
structure to cite "Leave policy › 3. Annual leave, p. 4" rather than a file.
A file that cannot be read raises `DocumentError` with a reason a person can act
on; the caller reports it and goes on with the other files.
"""

from __future__ import annotations

from rag.documents.finding import iter_document_paths
from rag.documents.loading import DEFAULT_MAX_BYTES, FORMATS, MIB, document_link, load_document
from rag.documents.model import HEADING_SEPARATOR, Block, Document, DocumentError

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
