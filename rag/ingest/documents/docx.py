"""Word .docx files: heading styles, tables as rows, text inside content controls."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import docx
from docx.document import Document as DocxDocument
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.table import Table
from docx.text.paragraph import Paragraph

from rag.ingest.documents.dates import date_from_text, metadata_date
from rag.ingest.documents.model import DocumentError, _Parsed
from rag.ingest.documents.text import _Builder, _clean_line, _join_lines, _one_line

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _parse_docx(data: bytes, rel_path: str) -> _Parsed:
    try:
        doc = docx.Document(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise DocumentError(rel_path, "not a readable .docx file (not a ZIP package: corrupt, or an old "
                                      ".doc file renamed?)") from exc
    except Exception as exc:
        raise DocumentError(rel_path, f"not a readable .docx file ({type(exc).__name__}: {exc})") from exc
    title = _clean_line(doc.core_properties.title or "") or None
    b = _Builder()
    for item in _docx_body_items(doc, doc.element.body):
        if isinstance(item, Table):
            for row in _docx_rows(item):
                b.emit_block(row)
            continue
        text = _join_lines(item.text.splitlines())
        level = _docx_heading_level(item.style.name if item.style is not None else "")
        if level is None:
            b.emit_block(text)
        elif text:
            heading = text.replace("\n", " ")
            b.emit_heading(level, heading)
            title = title or heading
    updated = date_from_text(b.text) or metadata_date(doc.core_properties.modified)
    return _Parsed(text=b.text, blocks=b.blocks, title=title, updated=updated)


def _docx_body_items(doc: DocxDocument, container: BaseOxmlElement) -> Iterator[Paragraph | Table]:
    """Paragraphs and tables in reading order, including those inside content controls
    (templates often wrap whole sections in them, and python-docx skips those)."""
    for child in container.iterchildren():
        if child.tag == qn("w:p"):
            yield Paragraph(child, doc)
        elif child.tag == qn("w:tbl"):
            yield Table(child, doc)
        elif child.tag == qn("w:sdt") and (content := child.find(qn("w:sdtContent"))) is not None:
            yield from _docx_body_items(doc, content)


def _docx_heading_level(style: str) -> int | None:
    if style.strip().lower() == "title":
        return 0
    m = _HEADING_STYLE.match(style.strip())
    return int(m.group(1)) if m else None


def _docx_rows(table: Table) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is previous:  # a merged cell is repeated once per grid column it spans
                continue
            previous = cell._tc
            cells.append(_one_line(cell.text))
        if any(cells):
            yield " | ".join(cells)
