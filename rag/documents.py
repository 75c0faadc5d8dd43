"""Reading source files (.md, .txt, .pdf, .docx, .html) into structured documents.

A document is a list of blocks (paragraphs, list items, table rows) that each
know the headings above them and, for PDFs, their page: the chunker needs that
structure to cite "Leave policy › 3. Annual leave, p. 4" rather than a file.
A file that cannot be read raises `DocumentError` with a reason a person can act
on; the caller reports it and goes on with the other files.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import os
import re
import urllib.parse
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docx
from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PreformattedString
from docx.document import Document as DocxDocument
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.table import Table
from docx.text.paragraph import Paragraph
from pypdf import PdfReader
from pypdf.errors import DependencyError

HEADING_SEPARATOR = " › "


class DocumentError(Exception):
    """A file could not be read as a document; `reason` is shown to users and admins."""

    def __init__(self, rel_path: str, reason: str) -> None:
        super().__init__(f"{rel_path}: {reason}")
        self.rel_path = rel_path
        self.reason = reason


@dataclass(frozen=True)
class Block:
    """One paragraph-sized unit of text with its place in the document."""

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None  # 1-based PDF page
    start: int = 0  # character offsets into the document's extracted text (`Document.text`)
    end: int = 0


@dataclass
class Document:
    rel_path: str  # POSIX path relative to the docs root: the document's identity
    title: str
    kind: str  # "SOP", "policy", "contract" or "document"
    format: str  # "md", "txt", "pdf", "docx", "html"
    modified: datetime  # file mtime, timezone-aware UTC
    sha256: str
    size: int
    link: str  # file:// URL, or DOCS_BASE_URL + quoted rel_path
    blocks: list[Block] = field(default_factory=list)
    text: str = ""  # the full extracted text that block offsets point into


logger = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 25 * MIB
FORMATS = {".md": "md", ".markdown": "md", ".txt": "txt", ".pdf": "pdf", ".docx": "docx",
           ".html": "html", ".htm": "html"}

# Folder names and front-matter values that say what kind of document a file is.
_KIND_WORDS = {
    "sop": "SOP", "sops": "SOP", "procedure": "SOP", "procedures": "SOP",
    "policy": "policy", "policies": "policy",
    "contract": "contract", "contracts": "contract", "agreement": "contract", "agreements": "contract",
}


# --------------------------------------------------------------------------- finding files


def iter_document_paths(root: Path, include: list[str], exclude: list[str]) -> list[Path]:
    """Files under `root` matching an include glob and no exclude glob, sorted by relative path.

    Globs use gitignore-like rules on the POSIX relative path: `*` stays within one folder,
    `**/` spans any number of folders (including none), a pattern without `/` matches at any
    depth, and an excluded folder excludes everything in it (so `**/.*` also hides `.git/`).
    Matching ignores case, so `Policy.PDF` is found by `**/*.pdf`. A missing root raises
    instead of returning nothing: the sync must not read an unmounted share as "all deleted".
    """
    if not root.exists():
        raise FileNotFoundError(f"documents folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"documents path is not a folder: {root}")
    includes = [_glob_regex(p) for p in include if p.strip()]
    excludes = [_glob_regex(p) for p in exclude if p.strip()]
    found = sorted(rel for rel in _walk_files(root, excludes) if any(r.fullmatch(rel) for r in includes))
    return [root / rel for rel in found]


def _walk_files(root: Path, excludes: list[re.Pattern[str]]) -> Iterator[str]:
    """Relative POSIX paths of regular files, pruning excluded folders and symlink loops."""
    root_abs = os.path.abspath(root)

    def on_error(err: OSError) -> None:
        if err.filename is not None and os.path.abspath(err.filename) == root_abs:
            raise err  # an unreadable root must not look like an empty one
        logger.warning("skipping unreadable folder %s: %s", err.filename, err.strerror)

    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # a symlink back up the tree
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not any(r.fullmatch(prefix + d) for r in excludes))
        for name in filenames:
            rel = prefix + name
            if not any(r.fullmatch(rel) for r in excludes) and os.path.isfile(os.path.join(dirpath, name)):
                yield rel


def _glob_regex(pattern: str) -> re.Pattern[str]:
    pat = pattern.strip().replace("\\", "/")
    while pat.startswith("./"):
        pat = pat[2:]
    pat = pat.lstrip("/")
    if "/" not in pat:
        pat = "**/" + pat
    out: list[str] = []
    i = 0
    while i < len(pat):
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("/**", i) and i + 3 == len(pat):
            out.append("(?:/.*)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif pat[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pat[i] == "?":
            out.append("[^/]")
            i += 1
        elif pat[i] == "[" and (j := pat.find("]", i + 2)) != -1:
            body = pat[i + 1:j].replace("\\", "\\\\")
            if body.startswith("!"):
                body = "^" + body[1:]
            elif body.startswith("^"):
                body = "\\" + body
            out.append(f"[{body}]")
            i = j + 1
        else:
            out.append(re.escape(pat[i]))
            i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


# --------------------------------------------------------------------------- loading


@dataclass
class _Parsed:
    text: str
    blocks: list[Block]
    title: str | None = None
    meta: dict[str, str] = field(default_factory=dict)


def load_document(path: Path, root: Path, *, base_url: str | None = None,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read one file into a `Document`, or raise `DocumentError` saying why it cannot be used.

    The file is read once, so the hash, size and text always describe the same bytes even
    when the file is being rewritten while we read it.
    """
    rel_path = _relative_posix(path, root)
    suffix = path.suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise DocumentError(rel_path, _unsupported_reason(suffix))
    try:
        st = path.stat()
        if st.st_size > max_bytes:  # before reading: a 2 GB export must not be pulled into memory
            raise DocumentError(rel_path, _too_big_reason(st.st_size, max_bytes))
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(rel_path, _os_reason(exc)) from exc
    if len(data) > max_bytes:
        raise DocumentError(rel_path, _too_big_reason(len(data), max_bytes))
    if not data:
        raise DocumentError(rel_path, "empty file")

    try:
        parsed = _PARSERS[fmt](data, rel_path)
    except DocumentError:
        raise
    except Exception as exc:  # a parser library choking on a malformed file must not stop a sync
        logger.debug("parser failure for %s", rel_path, exc_info=True)
        raise DocumentError(rel_path, f"could not read the {fmt} file ({type(exc).__name__}: {exc})") from exc
    if not parsed.blocks:
        raise DocumentError(rel_path, "no text found in the document")

    return Document(
        rel_path=rel_path,
        title=parsed.title or _title_from_stem(path.stem),
        kind=_kind_from_meta(parsed.meta) or _kind_from_folders(rel_path) or "document",
        format=fmt,
        modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
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


def _relative_posix(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.resolve().relative_to(root.resolve()).as_posix()


def _unsupported_reason(suffix: str) -> str:
    supported = ", ".join(sorted(FORMATS))
    if suffix == ".doc":
        return "old Word .doc format is not supported; save it as .docx"
    if not suffix:
        return f"file has no extension; supported types: {supported}"
    return f"unsupported file type '{suffix}' (supported: {supported})"


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


def _title_from_stem(stem: str) -> str:
    return re.sub(r"[_-]+", " ", stem).strip() or stem


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


# --------------------------------------------------------------------------- text helpers

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


# --------------------------------------------------------------------------- plain-text headings

_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)\.?[ \t]+(\S.*)$")
_ARTICLE = re.compile(r"^第\s*[一二三四五六七八九十百零〇\d]+\s*([章節条條])")
_ARTICLE_LEVEL = {"章": 1, "節": 2, "条": 3, "條": 3}
_SENTENCE_END = tuple(".,;:!?。，；：！？、")


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
            if (self.top and parts[0] != self.top + 1) or _LIST_START.match(nxt):
                return None  # numbered steps follow each other; sections have text (or "n.1") between them
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


def _parse_txt(data: bytes, rel_path: str) -> _Parsed:
    """Paragraphs on blank lines; blocks are exact slices of the file so offsets can be scored."""
    text = _decode_text(data, rel_path)
    b = _Builder()
    numbering = _Numbering()
    paragraphs = list(_paragraphs(_split_lines(text)))
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
    return _Parsed(text=text, blocks=b.blocks)


# --------------------------------------------------------------------------- markdown

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
    return _Parsed(text=text, blocks=b.blocks, title=title, meta=meta)


# --------------------------------------------------------------------------- PDF

_PAGE_NUMBER = re.compile(r"^(?:page\s*)?[-–]?\s*\d{1,4}\s*[-–]?(?:\s*(?:/|of)\s*\d{1,4})?$", re.IGNORECASE)
_PARA_END = tuple(".!?:。！？：")
# Bullets in symbol fonts come out as private-use or control characters; one character each, so
# offsets into the page text stay valid.
_PDF_BULLETS = str.maketrans({"\x7f": "•", "\uf0b7": "•", "\uf0a7": "▪", "\uf076": "•", "\uf0d8": "•"})
_FILE_TITLE = re.compile(  # generator defaults that are not real titles
    r"^(?:microsoft (?:word|powerpoint|excel) - .*|untitled|.*\.(?:docx?|pdf|pptx?|xlsx?))$", re.IGNORECASE)


def _open_pdf(data: bytes, rel_path: str) -> tuple[list[str], str]:
    """Text of each page and the metadata title; a locked or broken file becomes a DocumentError."""
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
    return texts, _clean_line(meta_title)


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
    page_texts, meta_title = _open_pdf(data, rel_path)
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
    return _Parsed(text="\n\n".join(page_texts), blocks=b.blocks, title=title)


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


# --------------------------------------------------------------------------- DOCX

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
    return _Parsed(text=b.text, blocks=b.blocks, title=title)


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


# --------------------------------------------------------------------------- HTML

_HTML_DROP = {"script", "style", "nav", "footer", "noscript", "template", "svg", "head", "title", "meta",
              "link", "iframe", "button"}
_HTML_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_HTML_TEXT_BLOCKS = {"p", "li", "dt", "dd", "blockquote", "caption", "figcaption", "address", "td", "th"}
_HTML_CONTAINERS = {"html", "body", "div", "section", "article", "main", "header", "aside", "ul", "ol", "dl",
                    "table", "thead", "tbody", "tfoot", "figure", "details", "summary", "center", "fieldset",
                    "form", "hr"}
_HTML_BLOCKISH = _HTML_TEXT_BLOCKS | _HTML_CONTAINERS | set(_HTML_HEADINGS) | {"tr", "pre"}
_HTML_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _parse_html(data: bytes, rel_path: str) -> _Parsed:
    declared = _HTML_CHARSET.search(data[:4096])
    text = _decode_text(data, rel_path, declared.group(1).decode("ascii") if declared else None)
    soup = BeautifulSoup(text, "html.parser")
    title_tag = soup.find("title")
    title = _one_line(title_tag.get_text()) if title_tag else ""
    b = _Builder()
    _HtmlWalker(b).walk(soup.body or soup)
    if not title:
        first_h1 = soup.find("h1")
        title = _one_line(_inline_text(first_h1)) if isinstance(first_h1, Tag) else ""
    return _Parsed(text=b.text, blocks=b.blocks, title=title or None)


def _is_text_node(node: object) -> bool:
    return isinstance(node, NavigableString) and not isinstance(node, PreformattedString)


def _inline_text(node: Tag) -> str:
    """Text of an element without inventing spaces between inline tags; <br> becomes a line break."""
    parts: list[str] = []
    for child in node.children:
        if _is_text_node(child):
            parts.append(str(child))
        elif isinstance(child, Tag) and child.name not in _HTML_DROP:
            parts.append("\n" if child.name == "br" else _inline_text(child))
            if child.name in _HTML_BLOCKISH:
                parts.append("\n")
    return "".join(parts)


class _HtmlWalker:
    def __init__(self, builder: _Builder) -> None:
        self.b = builder
        self.inline: list[str] = []

    def flush(self) -> None:
        text = _join_lines("".join(self.inline).splitlines())
        self.inline.clear()
        self.b.emit_block(text)

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if _is_text_node(child):
                self.inline.append(str(child))
            elif isinstance(child, Tag):
                self._element(child)

    def _element(self, tag: Tag) -> None:
        name = (tag.name or "").lower()
        if name in _HTML_DROP:
            return
        if name == "br":
            self.inline.append("\n")
        elif name in _HTML_HEADINGS:
            self.flush()
            self.b.emit_heading(_HTML_HEADINGS[name], _one_line(_inline_text(tag)))
        elif name == "tr":
            self.flush()
            cells = [_one_line(_inline_text(c)) for c in tag.find_all(["td", "th"], recursive=False)]
            if any(cells):
                self.b.emit_block(" | ".join(cells))
        elif name == "pre":
            self.flush()
            self.b.emit_block("\n".join(line.rstrip() for line in tag.get_text().splitlines()).strip("\n"))
        elif name in _HTML_TEXT_BLOCKS and not tag.find(list(_HTML_BLOCKISH - {"td", "th"})):
            self.flush()
            self.b.emit_block(_join_lines(_inline_text(tag).splitlines()))
        elif name in _HTML_BLOCKISH or tag.find(list(_HTML_BLOCKISH)):
            self.flush()
            self.walk(tag)
            self.flush()
        else:
            self.inline.append(_inline_text(tag))


_PARSERS: dict[str, Callable[[bytes, str], _Parsed]] = {
    "md": _parse_markdown,
    "txt": _parse_txt,
    "pdf": _parse_pdf,
    "docx": _parse_docx,
    "html": _parse_html,
}
