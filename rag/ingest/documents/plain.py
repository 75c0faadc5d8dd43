"""Plain .txt files, and the numbered/ALL-CAPS heading guess that PDFs share."""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag.ingest.documents.dates import date_from_text
from rag.ingest.documents.model import _Parsed
from rag.ingest.documents.text import _LIST_START, _Builder, _clean_line, _decode_text, _is_cjk, _Line, _split_lines

_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)\.?[ \t]+(\S.*)$")
_ARTICLE = re.compile(r"^第\s*[一二三四五六七八九十百零〇\d]+\s*([章節条條])")
_ARTICLE_LEVEL = {"章": 1, "節": 2, "条": 3, "條": 3}
_SENTENCE_END = tuple(".,;:!?。，；：！？、")
_UNDERLINE = re.compile(r"^(?:={3,}|-{3,}|~{3,}|\*{3,})$")
TITLE_MAX_CHARS = 100


MAX_SECTION_SKIP = 3


class _Numbering:
    """Tracks section numbers so a numbered list item ("1. Contain the incident") inside
    section 4 is not mistaken for a new top-level heading."""

    def __init__(self) -> None:
        self.top = 0

    def heading_level(self, line: str, next_line: str | None) -> int | None:
        """Level of `line` if it looks like a heading; a heading needs text after it."""
        s = _clean_line(line)
        if not s or len(s) > 80 or s.endswith(_SENTENCE_END) or not (next_line or "").strip():
            return None
        if m := _NUMBERED.match(s):
            return self._numbered(m.group(1), m.group(2), next_line)
        if m := _ARTICLE.match(s):
            return _ARTICLE_LEVEL[m.group(1)] if len(s) <= 30 else None
        letters = [c for c in s if c.isalpha()]
        if len(letters) >= 4 and all(c.isupper() for c in letters) and len(s.split()) <= 8:
            return 1
        return None

    def _numbered(self, number: str, title: str, next_line: str | None) -> int | None:
        if not (title[0].isupper() or _is_cjk(title[0])) or len(title.split()) > 10:
            return None
        parts = [int(p) for p in number.split(".")]
        if len(parts) == 1:
            nxt = _clean_line(next_line or "")
            # Numbered steps follow each other; sections have text (or "n.1") between them. A section number
            # may skip ahead a little: one heading not recognised (say, followed by a list) must not file every
            # later section under the one before it ("12. Termination" under "2. Orders").
            if (self.top and not self.top < parts[0] <= self.top + MAX_SECTION_SKIP) or _LIST_START.match(nxt):
                return None
        elif self.top and parts[0] not in (self.top, self.top + 1):
            return None
        self.top = parts[0]
        return len(parts) + 1  # level 1 is left for ALL-CAPS titles


def _paragraphs(lines: list[_Line]) -> Iterator[list[_Line]]:
    para: list[_Line] = []
    for line in lines:
        if line.text.strip():
            para.append(line)
        elif para:
            yield para
            para = []
    if para:
        yield para


def _title(paragraphs: list[list[_Line]]) -> tuple[str | None, int]:
    """The first line when it is a title: short, no sentence punctuation, not a numbered heading or a
    date line, and followed by a blank line or an underline (`====`, `----`). Also how many lines it takes."""
    if not paragraphs:
        return None, 0
    first = paragraphs[0]
    line = _clean_line(first[0].text)
    underlined = len(first) > 1 and bool(_UNDERLINE.match(first[1].text.strip()))
    if not (len(first) == 1 or underlined) or (len(paragraphs) == 1 and len(first) <= 2):
        return None, 0  # a title needs something after it
    if (len(line) > TITLE_MAX_CHARS or line.endswith(_SENTENCE_END) or _NUMBERED.match(line)
            or not any(c.isalpha() for c in line) or date_from_text(line)):
        return None, 0
    return line, 2 if underlined else 1


def _parse_txt(data: bytes, rel_path: str) -> _Parsed:
    """Paragraphs on blank lines; blocks are exact slices of the file so offsets can be scored."""
    text = _decode_text(data, rel_path)
    b = _Builder()
    numbering = _Numbering()
    paragraphs = list(_paragraphs(_split_lines(text)))
    title, title_lines = _title(paragraphs)
    if title:
        b.heading(0, title)
        paragraphs[0] = paragraphs[0][title_lines:]
        if not paragraphs[0]:
            paragraphs.pop(0)
    for k, para in enumerate(paragraphs):
        following = para[1:] or (paragraphs[k + 1] if k + 1 < len(paragraphs) else [])
        level = numbering.heading_level(para[0].text, following[0].text if following else None)
        if level is not None:
            b.heading(level, _clean_line(para[0].text))
            para = para[1:]
            if not para:
                continue
        start, end = para[0].content_start, para[-1].content_end
        b.block(text[start:end], start, end)
    return _Parsed(text=text, blocks=b.blocks, title=title, updated=date_from_text(text))
