"""Excel .xlsx and PowerPoint .pptx: each sheet or slide a section under its own title.

A sheet's rows become blocks; when its first row is a header (all text), every later row is
written "Header: value · Header: value", so a row found by full-text search says what its
numbers are. A slide's title is its section ("Slide 3: Pricing"); its text boxes, tables and
speaker notes are its blocks, top to bottom. The package's size was checked before (limits.py).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from typing import Any

from rag.ingest.documents.dates import date_from_text, metadata_date
from rag.ingest.documents.model import DocumentError, DocumentSkipped, _Parsed
from rag.ingest.documents.text import _Builder, _clean_line, _join_lines, _one_line

# Cells visited in one workbook, empty ones included: a sheet can declare a row reaching column XFD, which
# openpyxl pads with 16,384 empty cells; a hostile one of a million such rows must not keep the sync for hours.
MAX_SHEET_CELLS = 20_000_000
_SEPARATOR = " · "


def _parse_xlsx(data: bytes, rel_path: str) -> _Parsed:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise DocumentError(rel_path, f"not a readable .xlsx file ({type(exc).__name__}: {exc})") from exc
    try:
        b = _Builder()
        budget = [MAX_SHEET_CELLS]
        for sheet in book.worksheets:
            sheet.reset_dimensions()  # a declared A1:XFD1048576 must not pad every row to 16,384 cells
            rows = [r for r in _sheet_rows(sheet.iter_rows(values_only=True), budget, rel_path) if r]
            if not rows:
                continue
            b.emit_heading(1, _one_line(sheet.title) or "Sheet")
            header = rows[0] if len(rows) > 1 and all(isinstance(v, str) and v for v in rows[0]) else None
            for row in rows[1:] if header else rows:
                b.emit_block(_row_text(row, header))
        title = _clean_line(book.properties.title or "") or None
        updated = date_from_text(b.text[:2000]) or metadata_date(book.properties.modified)
    finally:
        book.close()
    return _Parsed(text=b.text, blocks=b.blocks, title=title, updated=updated)


def _sheet_rows(rows: Iterable[tuple[Any, ...]], budget: list[int], rel_path: str) -> Iterator[list[str]]:
    for row in rows:
        budget[0] -= len(row)
        if budget[0] < 0:
            raise DocumentSkipped(rel_path, f"the workbook has over {MAX_SHEET_CELLS:,} cells: not read")
        cells = [_cell(v) for v in row]
        while cells and not cells[-1]:
            cells.pop()
        yield cells


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _one_line(str(value))


def _row_text(row: list[str], header: list[str] | None) -> str:
    if header is None:
        return " | ".join(row)
    pairs = []
    for i, value in enumerate(row):
        if not value:
            continue
        name = header[i] if i < len(header) else ""
        pairs.append(f"{name}: {value}" if name else value)
    return _SEPARATOR.join(pairs)


def _parse_pptx(data: bytes, rel_path: str) -> _Parsed:
    from pptx import Presentation

    try:
        deck = Presentation(io.BytesIO(data))
    except Exception as exc:
        raise DocumentError(rel_path, f"not a readable .pptx file ({type(exc).__name__}: {exc})") from exc
    b = _Builder()
    first_title = None
    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        title = _one_line(title_shape.text_frame.text) if title_shape is not None and title_shape.has_text_frame else ""
        first_title = first_title or title or None
        texts = list(_slide_texts(slide.shapes, skip=title_shape))
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = _join_lines(slide.notes_slide.notes_text_frame.text.splitlines())
            if notes:
                texts.append(f"Notes: {notes}")
        if not texts and not title:
            continue
        b.emit_heading(1, f"Slide {number}: {title}" if title else f"Slide {number}")
        for text in texts:
            b.emit_block(text)
    props = deck.core_properties
    title = _clean_line(props.title or "") or first_title
    updated = date_from_text(b.text[:2000]) or metadata_date(props.modified)
    return _Parsed(text=b.text, blocks=b.blocks, title=title, updated=updated)


def _slide_texts(shapes: Iterable[Any], skip: Any) -> Iterator[str]:
    """Text boxes and tables top to bottom, left to right; groups opened."""
    def position(shape: Any) -> tuple[int, int]:
        return (shape.top or 0, shape.left or 0)

    for shape in sorted(shapes, key=position):
        if skip is not None and shape.shape_id == skip.shape_id:
            continue
        if getattr(shape, "shape_type", None) == 6:  # MSO_SHAPE_TYPE.GROUP
            yield from _slide_texts(shape.shapes, None)
        elif getattr(shape, "has_table", False) and shape.has_table:
            for row in shape.table.rows:
                cells = [_one_line(cell.text) for cell in row.cells]
                if any(cells):
                    yield " | ".join(cells)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            for paragraph in shape.text_frame.paragraphs:
                text = _join_lines(paragraph.text.splitlines() if hasattr(paragraph, "text") else [])
                if text:
                    yield text
