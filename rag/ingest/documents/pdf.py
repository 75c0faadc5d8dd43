"""PDF files: text per page, running headers/footers dropped, paragraphs rebuilt from line shapes."""

from __future__ import annotations

import io
import logging
import re
from datetime import datetime

from pypdf import PdfReader
from pypdf.errors import DependencyError

from rag.ingest.documents.dates import date_from_text, metadata_date
from rag.ingest.documents.model import DocumentError, _Parsed
from rag.ingest.documents.plain import _NUMBERED, _SENTENCE_END, _Numbering
from rag.ingest.documents.text import _LIST_START, _Builder, _clean_line, _join_lines, _Line, _split_lines

logger = logging.getLogger(__name__)

_PAGE_NUMBER = re.compile(r"^(?:page\s*)?[-–]?\s*\d{1,4}\s*[-–]?(?:\s*(?:/|of)\s*\d{1,4})?$", re.IGNORECASE)
_PARA_END = tuple(".!?:。！？：")
# Bullets in symbol fonts come out as private-use or control characters; one character each, so
# offsets into the page text stay valid.
_PDF_BULLETS = str.maketrans({"\x7f": "•", "\uf0b7": "•", "\uf0a7": "▪", "\uf076": "•", "\uf0d8": "•"})
_FILE_TITLE = re.compile(  # generator defaults that are not real titles
    r"^(?:microsoft (?:word|powerpoint|excel) - .*|untitled|.*\.(?:docx?|pdf|pptx?|xlsx?))$", re.IGNORECASE)


def _open_pdf(data: bytes, rel_path: str) -> tuple[list[str], str, datetime | None]:
    """Text of each page, the metadata title and modified date; a locked or broken file becomes a DocumentError."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError as exc:
                raise DocumentError(rel_path, "encrypted PDF: opening it needs the 'cryptography' package "
                                              "(pip install cryptography)") from exc
            if not opened:
                raise DocumentError(rel_path, "encrypted PDF (password protected)")
        pages = list(reader.pages)
        meta_title = str(reader.metadata.title or "") if reader.metadata else ""
        try:
            meta_modified = metadata_date(reader.metadata.modification_date) if reader.metadata else None
        except ValueError:  # a malformed date string is not worth losing the document over
            meta_modified = None
    except DocumentError:
        raise
    except Exception as exc:
        raise DocumentError(rel_path, f"not a readable PDF: {exc or type(exc).__name__}") from exc
    texts: list[str] = []
    for number, page in enumerate(pages, start=1):
        try:
            texts.append((page.extract_text() or "").translate(_PDF_BULLETS))
        except Exception as exc:  # one bad page should not lose the rest of the document
            logger.warning("%s: page %d has unreadable text (%s)", rel_path, number, exc)
            texts.append("")
    if not any(t.strip() for t in texts):
        raise DocumentError(rel_path, "no extractable text (scanned PDF? OCR is not supported)")
    return texts, _clean_line(meta_title), meta_modified


def _running_lines(pages: list[list[_Line]]) -> set[str]:
    """Headers/footers: lines at the top or bottom of more than half of the pages (and at least two)."""
    if len(pages) < 2:
        return set()
    counts: dict[str, int] = {}
    for lines in pages:
        content = [line for line in lines if line.text.strip()]
        for key in {_running_key(line.text) for line in content[:2] + content[-2:]}:
            counts[key] = counts.get(key, 0) + 1
    return {key for key, n in counts.items() if n >= 2 and n > len(pages) / 2}


def _running_key(s: str) -> str:
    return re.sub(r"\d+", "#", _clean_line(s).lower())


def _parse_pdf(data: bytes, rel_path: str) -> _Parsed:
    """Blocks per page (so citations can name the page), headings guessed from numbered lines."""
    page_texts, meta_title, meta_modified = _open_pdf(data, rel_path)
    pages: list[list[_Line]] = []
    offset = 0
    for page_text in page_texts:
        pages.append(_split_lines(page_text, offset))
        offset += len(page_text) + 2  # the "\n\n" that joins pages below
    running = _running_lines(pages)
    pages = [[line for line in lines if line.text.strip() and not _PAGE_NUMBER.match(line.text.strip())
              and _running_key(line.text) not in running] for lines in pages]
    title = meta_title if meta_title and not _FILE_TITLE.match(meta_title) else None
    b = _Builder()
    first = next((line for lines in pages for line in lines), None)
    if first is not None and _is_pdf_title(_clean_line(first.text), title):
        title = title or _clean_line(first.text)
        b.heading(0, _clean_line(first.text))
        pages[next(i for i, lines in enumerate(pages) if lines)].remove(first)
    numbering = _Numbering()
    for page_no, lines in enumerate(pages, start=1):
        after = next((later[0].text for later in pages[page_no:] if later), None)
        _pdf_page_blocks(b, lines, page_no, numbering, after)
    updated = date_from_text(page_texts[0]) or meta_modified
    return _Parsed(text="\n\n".join(page_texts), blocks=b.blocks, title=title, updated=updated)


def _pdf_page_blocks(b: _Builder, lines: list[_Line], page_no: int, numbering: _Numbering,
                     after: str | None) -> None:
    """PDF text has a line break per printed line; rebuild paragraphs from line shapes.
    `after` is the first line of the next page, for a heading printed at the foot of this one."""
    width = max((len(line.text.strip()) for line in lines), default=0)
    para: list[_Line] = []

    def flush() -> None:
        if para:
            b.block(_join_lines(x.text for x in para), para[0].content_start, para[-1].content_end, page_no)
            para.clear()

    for k, line in enumerate(lines):
        s = _clean_line(line.text)
        next_line = lines[k + 1].text if k + 1 < len(lines) else after
        level = numbering.heading_level(s, next_line)
        if level is not None or _LIST_START.match(s) or (para and _ends_paragraph(para[-1].text, width)):
            flush()
        if level is not None:
            b.heading(level, s)
        else:
            para.append(line)
    flush()


def _is_pdf_title(first: str, meta_title: str | None) -> bool:
    if meta_title:
        return first.casefold() == meta_title.casefold()
    return len(first) <= 100 and not first.endswith(_SENTENCE_END) and not _NUMBERED.match(first)


def _ends_paragraph(line: str, width: int) -> bool:
    s = line.strip()
    return s.endswith(_PARA_END) and len(s) < 0.8 * width
