"""Limits on what one file may cost to read: a hostile (or broken) file in the share must not take the bot down.

`MAX_FILE_MB` bounds the bytes on disk, but a 0.5 MB .docx can unzip to gigabytes (a zip bomb)
and a small file of repeated text can yield tens of thousands of chunks. So ZIP packages (.docx,
.xlsx, .pptx) are checked from their central directory before a parser opens them: total
decompressed size and entry count. The declared sizes can be trusted for memory: Python's
`zipfile` (which python-docx, openpyxl and python-pptx read through) never returns more than an
entry's declared size, and a lie fails its CRC check. The extracted text and the number of
chunks per document are limited too. Each limit names its setting; a file over one is reported
as skipped and not read again until it changes.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

from rag.ingest.documents.model import DocumentError, DocumentSkipped

MIB = 1024 * 1024
DEFAULT_MAX_UNZIPPED_MB = 100.0
DEFAULT_MAX_ZIP_ENTRIES = 10_000
DEFAULT_MAX_DOC_CHARS = 5_000_000  # ~2,000 pages of text
DEFAULT_MAX_DOC_CHUNKS = 10_000


@dataclass(frozen=True)
class ReadLimits:
    max_unzipped_bytes: int = int(DEFAULT_MAX_UNZIPPED_MB * MIB)
    max_zip_entries: int = DEFAULT_MAX_ZIP_ENTRIES
    max_chars: int = DEFAULT_MAX_DOC_CHARS
    max_chunks: int = DEFAULT_MAX_DOC_CHUNKS

    @classmethod
    def from_settings(cls, settings: Any) -> ReadLimits:
        """MAX_UNZIPPED_MB, MAX_ZIP_ENTRIES, MAX_DOC_CHARS, MAX_DOC_CHUNKS (defaults when a setting is absent)."""
        return cls(
            max_unzipped_bytes=int(getattr(settings, "max_unzipped_mb", DEFAULT_MAX_UNZIPPED_MB) * MIB),
            max_zip_entries=int(getattr(settings, "max_zip_entries", DEFAULT_MAX_ZIP_ENTRIES)),
            max_chars=int(getattr(settings, "max_doc_chars", DEFAULT_MAX_DOC_CHARS)),
            max_chunks=int(getattr(settings, "max_doc_chunks", DEFAULT_MAX_DOC_CHUNKS)),
        )


def check_zip(data: bytes, rel_path: str, fmt: str, limits: ReadLimits) -> None:
    """Refuse a ZIP package whose entries are too many or unzip to too much, before any parser opens it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            entries = package.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        old = {"docx": ".doc", "xlsx": ".xls", "pptx": ".ppt"}.get(fmt, "older")
        raise DocumentError(rel_path, f"not a readable .{fmt} file (not a ZIP package: corrupt, or an old "
                                      f"{old} file renamed?)") from exc
    if len(entries) > limits.max_zip_entries:
        raise DocumentSkipped(rel_path, f"the .{fmt} package holds {len(entries):,} files, over the "
                                        f"{limits.max_zip_entries:,} limit (MAX_ZIP_ENTRIES): not opened")
    unzipped = sum(max(0, e.file_size) for e in entries)
    if unzipped > limits.max_unzipped_bytes:
        raise DocumentSkipped(rel_path, f"unzips to {_size(unzipped)}, over the {_size(limits.max_unzipped_bytes)} "
                                        f"limit (MAX_UNZIPPED_MB): not opened (a zip bomb?)")


def check_text(text: str, rel_path: str, limits: ReadLimits) -> None:
    if len(text) > limits.max_chars:
        raise DocumentSkipped(rel_path, f"{len(text):,} characters of text, over the {limits.max_chars:,} limit "
                                        "(MAX_DOC_CHARS): not indexed")


def chunks_over_limit(rel_path: str, count: int, limits: ReadLimits) -> DocumentSkipped:
    return DocumentSkipped(rel_path, f"{count:,} chunks, over the {limits.max_chunks:,} limit (MAX_DOC_CHUNKS): "
                                     "not indexed (a document of repeated text?)")


def _size(n: int) -> str:
    if n >= 1024 * MIB:
        return f"{n / (1024 * MIB):.1f} GB"
    return f"{n / MIB:.1f} MB" if n >= MIB else f"{n / 1024:.0f} KB"
