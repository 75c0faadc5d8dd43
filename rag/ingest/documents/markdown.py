"""Markdown files: front matter, ATX/setext headings, fenced code kept whole."""

from __future__ import annotations

import re

from rag.ingest.documents.dates import HEAD_LINES, date_from_meta, date_from_text
from rag.ingest.documents.model import _Parsed
from rag.ingest.documents.text import _LIST_START, _Builder, _clean_line, _decode_text, _join_lines, _Line, _split_lines

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_META_LINE = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:[ \t]*(.*)$")


def _front_matter(lines: list[_Line]) -> tuple[dict[str, str], int]:
    """Simple `key: value` pairs of a leading `---` block, and the index of the first body line."""
    if not lines or lines[0].text.strip() != "---":
        return {}, 0
    meta: dict[str, str] = {}
    for i, line in enumerate(lines[1:200], start=1):
        if line.text.strip() in ("---", "..."):
            return (meta, i + 1) if meta else ({}, 0)
        if m := _META_LINE.match(line.text):
            meta[m.group(1).lower()] = m.group(2).strip().strip("\"'")
    return {}, 0


def _clean_md_heading(s: str) -> str:
    s = _MD_LINK.sub(r"\1", s)
    s = s.replace("**", "").replace("__", "").replace("`", "")
    return _clean_line(s).strip("*_ ")


def _parse_markdown(data: bytes, rel_path: str) -> _Parsed:
    text = _decode_text(data, rel_path)
    lines = _split_lines(text)
    meta, i = _front_matter(lines)
    title = meta.get("title") or None
    updated = date_from_meta(meta) or date_from_text("\n".join(line.text for line in lines[i:i + 2 * HEAD_LINES]))
    b = _Builder()
    para: list[_Line] = []

    def flush() -> None:
        if para:
            b.block(_join_lines(line.text for line in para), para[0].content_start, para[-1].content_end)
            para.clear()

    def heading(level: int, raw: str) -> None:
        nonlocal title
        name = _clean_md_heading(raw)
        if name:
            b.heading(level, name)
            if level == 1 and title is None:
                title = name

    while i < len(lines):
        s = lines[i].text
        if fence := _FENCE.match(s):
            flush()
            marker = fence.group(1)
            closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$")
            j = i + 1
            while j < len(lines) and not closing.match(lines[j].text):
                j += 1
            code = [line for line in lines[i + 1:j] if line.text.strip()]
            if code:
                body = "\n".join(line.text.rstrip() for line in lines[i + 1:j]).strip("\n")
                b.block(body, code[0].start, code[-1].content_end)
            i = j + 1
            continue
        if m := _ATX.match(s):
            flush()
            heading(len(m.group(1)), m.group(2) or "")
        elif not s.strip():
            flush()
        elif len(para) == 1 and _SETEXT.match(s) and not _LIST_START.match(para[0].text.strip()):
            raw = para.pop().text
            heading(1 if "=" in s else 2, raw)
        elif _THEMATIC.match(s):
            flush()
        else:
            para.append(lines[i])
        i += 1
    flush()
    return _Parsed(text=text, blocks=b.blocks, title=title, meta=meta, updated=updated)
