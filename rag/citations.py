"""Resolving the model's [n] markers against the sources it was actually given.

Numbers are renumbered by first appearance so the reader sees [1], [2], … in
order; several chunks of one document become one citation; a marker that names
no given source is removed from the text (and reported), never shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# [1], [1, 2], [1][2], full-width 【1】 ［1］ as models write them in Chinese text.
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([.,;:!?。，；：！？])")
_MARKER_RE = re.compile(r"[\[【［]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]】］]")


@dataclass
class ResolvedCitations:
    text: str
    groups: list[list[int]] = field(default_factory=list)  # per citation, in order: the given sources merged into it
    dropped: list[int] = field(default_factory=list)


def resolve_markers(text: str, doc_key: dict[int, str]) -> ResolvedCitations:
    """Renumber markers in `text`; `doc_key` maps each given source number to its document."""
    new_number: dict[str, int] = {}  # document -> citation number
    groups: list[list[int]] = []
    dropped: list[int] = []

    def replace(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,，、]\s*", match.group(1).strip())]
        out: list[int] = []
        for n in numbers:
            if n not in doc_key:
                dropped.append(n)
                continue
            key = doc_key[n]
            if key not in new_number:
                new_number[key] = len(new_number) + 1
                groups.append([])
            cite = new_number[key]
            if n not in groups[cite - 1]:
                groups[cite - 1].append(n)
            if cite not in out:
                out.append(cite)
        return "".join(f"[{n}]" for n in out)

    rewritten = _MARKER_RE.sub(replace, text)
    rewritten = re.sub(r"(\[\d+\])(?:\s*\1)+", r"\1", rewritten)  # "[1] [1]" -> "[1]"
    rewritten = _SPACE_BEFORE_PUNCT.sub(r"\1", rewritten)  # space left by a dropped marker
    rewritten = re.sub(r"[ \t]{2,}", " ", rewritten).strip()
    return ResolvedCitations(text=rewritten, groups=groups, dropped=dropped)


class StreamingRenumberer:
    """Renumbers markers while the answer streams, so what users watch matches the final citations.

    Text after an unclosed bracket is held back until the marker is complete
    (or clearly is not one); everything else passes straight through.
    """

    _OPENERS = "[【［"

    def __init__(self, doc_key: dict[int, str]) -> None:
        self._doc_key = doc_key
        self._numbers: dict[str, int] = {}
        self._pending = ""
        self._held_space = ""  # trailing spaces wait: a dropped marker after them would leave "also ."

    def feed(self, piece: str) -> str:
        self._pending += piece
        cut = max(self._pending.rfind(o) for o in self._OPENERS)
        if cut >= 0 and not any(c in self._pending[cut:] for c in "]】］") and len(self._pending) - cut < 16:
            ready, self._pending = self._pending[:cut], self._pending[cut:]
        else:
            ready, self._pending = self._pending, ""
        return self._rewrite(ready)

    def finish(self) -> str:
        ready, self._pending = self._pending, ""
        return self._rewrite(ready).rstrip() if ready else ""

    def _rewrite(self, text: str) -> str:
        out = _SPACE_BEFORE_PUNCT.sub(r"\1", self._held_space + self._renumber(text))
        body = out.rstrip(" \t")
        self._held_space = out[len(body):]
        return body

    def _renumber(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            out = []
            for n in (int(x) for x in re.split(r"\s*[,，、]\s*", match.group(1).strip())):
                key = self._doc_key.get(n)
                if key is None:
                    continue
                number = self._numbers.setdefault(key, len(self._numbers) + 1)
                if number not in out:
                    out.append(number)
            return "".join(f"[{n}]" for n in out)

        return _MARKER_RE.sub(replace, text)
