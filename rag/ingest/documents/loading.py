"""One file to one `Document`: size and type checks, the reader for its format, kind, title and link."""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rag.answering.freshness import document_date
from rag.ingest.documents.formats import FORMATS, ZIP_FORMATS, unsupported_reason
from rag.ingest.documents.limits import MIB, ReadLimits, check_text, check_zip
from rag.ingest.documents.model import Document, DocumentError, _Parsed
from rag.ingest.documents.safe_open import NotInsideRoot, read_inside

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_BYTES", "FORMATS", "MIB", "document_link", "load_document", "title_from_stem"]

DEFAULT_MAX_BYTES = 25 * MIB

# Folder names and front-matter values that say what kind of document a file is.
_KIND_WORDS = {
    "sop": "SOP", "sops": "SOP", "procedure": "SOP", "procedures": "SOP",
    "policy": "policy", "policies": "policy",
    "contract": "contract", "contracts": "contract", "agreement": "contract", "agreements": "contract",
}


def load_document(path: Path, root: Path, *, base_url: str | None = None,
                  max_bytes: int = DEFAULT_MAX_BYTES, limits: ReadLimits | None = None) -> Document:
    """Read one file into a `Document`, or raise `DocumentError` saying why it cannot be used
    (`DocumentSkipped` when it is over one of `limits`: rag/ingest/documents/limits.py).

    The file is read once, so the hash, size and text always describe the same bytes even
    when the file is being rewritten while we read it.
    """
    limits = limits or ReadLimits()
    rel_path = _relative_posix(path, root)
    suffix = path.suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise DocumentError(rel_path, unsupported_reason(suffix))
    try:  # never through a symlink, never a FIFO or device: see rag.ingest.documents.safe_open
        data, st = read_inside(_root_of(path, rel_path, root), rel_path, max_bytes)
    except NotInsideRoot as exc:
        raise DocumentError(rel_path, f"not read: {exc.strerror} (only regular files inside the docs "
                                      "folder are documents)") from exc
    except OSError as exc:
        raise DocumentError(rel_path, _os_reason(exc)) from exc
    if st.st_size > max_bytes:  # checked before reading: a 2 GB export must not be pulled into memory
        raise DocumentError(rel_path, _too_big_reason(st.st_size, max_bytes))
    if len(data) > max_bytes:
        raise DocumentError(rel_path, _too_big_reason(len(data), max_bytes))
    if not data:
        raise DocumentError(rel_path, "empty file")

    if fmt in ZIP_FORMATS:  # a zip bomb is refused from its directory, before a parser inflates it
        check_zip(data, rel_path, fmt, limits)
    try:
        parsed = _parser(fmt)(data, rel_path)
    except DocumentError:
        raise
    except Exception as exc:  # a parser library choking on a malformed file must not stop a sync
        logger.debug("parser failure for %s", rel_path, exc_info=True)
        raise DocumentError(rel_path, f"could not read the {fmt} file ({type(exc).__name__}: {exc})") from exc
    if not parsed.blocks:
        raise DocumentError(rel_path, "no text found in the document")
    check_text(parsed.text, rel_path, limits)

    return Document(
        rel_path=rel_path,
        title=parsed.title or title_from_stem(path.stem),
        kind=_kind_from_meta(parsed.meta) or _kind_from_folders(rel_path) or "document",
        format=fmt,
        modified=document_date(parsed.updated, datetime.fromtimestamp(st.st_mtime, tz=UTC)),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        link=document_link(path, rel_path, base_url),
        blocks=parsed.blocks,
        text=parsed.text,
    )


def document_link(path: Path, rel_path: str, base_url: str | None) -> str:
    """Where a reader can open the file: DOCS_BASE_URL + the quoted relative path, else file://."""
    if base_url:
        return base_url.rstrip("/") + "/" + urllib.parse.quote(rel_path)
    return path.resolve().as_uri()


def _root_of(path: Path, rel_path: str, root: Path) -> Path:
    """The folder `rel_path` is relative to: `root` as given, or resolved when `path` was given resolved."""
    try:
        path.relative_to(root)
        return root
    except ValueError:
        return root.resolve()


def _relative_posix(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.resolve().relative_to(root.resolve()).as_posix()


def _too_big_reason(size: int, max_bytes: int) -> str:
    limit = f"{max_bytes / MIB:g} MB" if max_bytes >= MIB else f"{max_bytes / 1024:g} KB"
    actual = f"{size / MIB:.1f} MB" if size >= MIB else f"{size / 1024:.1f} KB"
    return f"file is {actual}, over the {limit} limit (MAX_FILE_MB)"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file disappeared before it could be read"
    if isinstance(exc, PermissionError):
        return "permission denied: the bot's user cannot read this file"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    return f"cannot read the file: {exc.strerror or exc}"


def title_from_stem(stem: str) -> str:
    """A title from a file name: separators become spaces and the name's own case is kept, except that an
    all-lower-case name starts with a capital ("leave-policy" → "Leave policy", "IT_Rules" → "IT Rules")."""
    title = re.sub(r"[_-]+", " ", stem).strip() or stem
    if not any(c.isupper() for c in title):
        title = title[:1].upper() + title[1:]
    return title


def _kind_from_meta(meta: dict[str, str]) -> str | None:
    for key in ("kind", "type"):
        value = meta.get(key, "").strip().lower()
        if value in _KIND_WORDS:
            return _KIND_WORDS[value]
    return None


def _kind_from_folders(rel_path: str) -> str | None:
    for part in reversed(rel_path.split("/")[:-1]):  # the nearest folder is the most specific
        kind = _KIND_WORDS.get(part.lower())
        if kind:
            return kind
    return None




# Format → (module, reader). A reader's library (pypdf, python-docx, BeautifulSoup) is imported when a
# file of its format is first read: a sync that reads no file, or no PDF, never pays for pypdf.
_PARSERS: dict[str, tuple[str, str]] = {
    "md": ("rag.ingest.documents.markdown", "_parse_markdown"),
    "txt": ("rag.ingest.documents.plain", "_parse_txt"),
    "pdf": ("rag.ingest.documents.pdf", "_parse_pdf"),
    "docx": ("rag.ingest.documents.docx", "_parse_docx"),
    "html": ("rag.ingest.documents.html", "_parse_html"),
    "xlsx": ("rag.ingest.documents.office", "_parse_xlsx"),
    "pptx": ("rag.ingest.documents.office", "_parse_pptx"),
}


def _parser(fmt: str) -> Callable[[bytes, str], _Parsed]:
    module, name = _PARSERS[fmt]
    return getattr(importlib.import_module(module), name)
