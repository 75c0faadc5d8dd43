"""HTML files: headings, text blocks and table rows; scripts, navigation and other chrome dropped."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PreformattedString

from rag.ingest.documents.dates import date_from_meta, date_from_text
from rag.ingest.documents.model import _Parsed
from rag.ingest.documents.text import _Builder, _decode_text, _join_lines, _one_line

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
    meta = _meta_tags(soup)
    return _Parsed(text=b.text, blocks=b.blocks, title=title or None, meta=meta,
                   updated=date_from_meta(meta) or date_from_text(b.text))


def _meta_tags(soup: BeautifulSoup) -> dict[str, str]:
    """`<meta name|property|http-equiv=… content=…>` as lowercased keys (last-modified, article:modified_time…)."""
    meta: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        key = tag.get("name") or tag.get("property") or tag.get("http-equiv")
        content = tag.get("content")
        if isinstance(key, str) and isinstance(content, str):
            meta.setdefault(key.strip().lower(), content.strip())
    return meta


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
        elif name == "tr" and not tag.find("table"):  # one line per row; a layout table's rows hold tables
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
