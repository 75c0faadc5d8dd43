"""Text helpers shared by the readers: decoding, whitespace, line offsets and the block builder."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass

from rag.ingest.documents.model import Block, DocumentError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 27), *range(28, 32), 127])
_CJK_PUNCT = set("，。、；：「」『』！？（）《》〈〉…—")
_CJK_ENCODINGS = ("big5", "cp950", "big5hkscs")
_HSPACE = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_LIST_START = re.compile(r"^(?:[-*+•·▪◦‣–]\s|\d{1,3}[.)]\s|[A-Za-z][.)]\s|\(\w{1,3}\)\s|\|)")


def _decode_text(data: bytes, rel_path: str, declared: str | None = None) -> str:
    """Decode a text file: BOM, then UTF-8, then a declared charset, then cp1252 or Big5.

    Old Windows files are often cp1252 (Western) or Big5/cp950 (Traditional Chinese); both
    decode almost any bytes, so Big5 wins only when the result looks like Chinese.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise DocumentError(rel_path, f"invalid {encoding} text despite its byte-order mark") from exc
    if _looks_binary(data):
        raise DocumentError(rel_path, "binary content in a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    mostly_utf8 = data.decode("utf-8", errors="replace")
    bad = mostly_utf8.count("\ufffd")
    good = sum(1 for ch in mostly_utf8 if ord(ch) >= 0x80) - bad
    if good >= 10 * bad:  # a UTF-8 file with a stray bad byte (cut off mid-character, say)
        return mostly_utf8
    if declared:
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass
    chinese = next((t for t in (_try_decode(data, e) for e in _CJK_ENCODINGS) if t is not None), None)
    western = _try_decode(data, "cp1252")
    if chinese is not None and (western is None or _looks_chinese(chinese, data)):
        return chinese
    if western is not None:
        return western
    raise DocumentError(rel_path, "unknown text encoding (not UTF-8, UTF-16, Windows-1252 or Big5); "
                                  "save the file as UTF-8")


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _looks_binary(data: bytes) -> bool:
    if b"\x00" in data:
        return True
    sample = data[:65536]
    control = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return control > 0.05 * len(sample)


def _looks_chinese(text: str, data: bytes) -> bool:
    """Big5 text has Chinese punctuation, or reads as Latin-1 symbol soup (¤, ³, ª…) in cp1252,
    where real Western text is mostly accented letters and quotes."""
    if any(ch in _CJK_PUNCT for ch in text):
        return True
    western = data[:65536].decode("cp1252", errors="replace")
    non_ascii = [ch for ch in western if ord(ch) >= 0x80]
    symbols = sum(1 for ch in non_ascii if "\u00a1" <= ch <= "\u00bf")
    return bool(non_ascii) and symbols >= 0.35 * len(non_ascii)


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (0x3000 <= o <= 0x30FF or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF
            or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF or 0x20000 <= o <= 0x2FA1F)


def _clean_line(s: str) -> str:
    return _HSPACE.sub(" ", s).strip()


def _join_lines(lines: Iterable[str]) -> str:
    """Whitespace-normalise wrapped lines into one paragraph.

    Soft line breaks become a space, or nothing between two CJK characters (Chinese has no
    spaces between words); list items and table rows keep their own line.
    """
    out = ""
    for raw in lines:
        line = _clean_line(raw)
        if not line:
            continue
        if not out:
            out = line
        elif _LIST_START.match(line) or out.endswith("|"):
            out += "\n" + line
        elif _is_cjk(out[-1]) and _is_cjk(line[0]):
            out += line
        else:
            out += " " + line
    return out


def _one_line(s: str) -> str:
    return _join_lines(s.splitlines()).replace("\n", " ")


@dataclass(frozen=True)
class _Line:
    text: str  # without its line break
    start: int  # offset of the line in the document text

    @property
    def content_start(self) -> int:
        return self.start + len(self.text) - len(self.text.lstrip())

    @property
    def content_end(self) -> int:
        return self.start + len(self.text.rstrip())


def _split_lines(text: str, base: int = 0) -> list[_Line]:
    lines: list[_Line] = []
    pos = base
    for raw in text.splitlines(keepends=True):
        body = raw.splitlines()[0]  # without its line break, whichever it was
        lines.append(_Line(body, pos))
        pos += len(raw)
    return lines


class _Builder:
    """Collects blocks under a heading stack; for formats without a source text it also
    assembles `Document.text` so block offsets still point somewhere real."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._stack: list[tuple[int, str]] = []
        self._parts: list[str] = []
        self._length = 0

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._stack)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def heading(self, level: int, title: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))

    def block(self, text: str, start: int, end: int, page: int | None = None) -> None:
        if text.strip():
            self.blocks.append(Block(text=text, heading_path=self.path, page=page, start=start, end=end))

    def _emit(self, text: str) -> tuple[int, int]:
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        return start, self._length

    def emit_heading(self, level: int, title: str) -> None:
        if title:
            self._emit(title)
            self.heading(level, title)

    def emit_block(self, text: str) -> None:
        if text.strip():
            start, end = self._emit(text)
            self.block(text, start, end)
