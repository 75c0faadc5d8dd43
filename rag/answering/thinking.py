"""Keeping a model's reasoning out of the answer.

Ollama parses a thinking model's reasoning into `message.thinking` when it
knows the model's tags (server/routes.go: thinking.InferTags on the template,
or a built-in parser such as harmony for gpt-oss). A model whose template Ollama
cannot read, or an older server, streams it as `<think>…</think>` at the start
of the content instead; `ThinkTagSplitter` moves that to the reasoning too, so
it is never shown or cited as the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OPEN, CLOSE = "<think>", "</think>"


@dataclass
class Piece:
    content: str
    thinking: str
    final: Any = None  # the last chunk (with the counts), on the last piece only


class ThinkTagSplitter:
    """Splits a streamed content into (answer, reasoning) when it opens with <think>."""

    def __init__(self) -> None:
        self._state = "start"  # start (undecided) → thinking → after (blank) → answer, or start → answer
        self._buf = ""

    def feed(self, text: str) -> tuple[str, str]:
        if self._state == "answer":
            return text, ""
        if self._state == "after":  # the blank lines between </think> and the answer are not part of it
            text = text.lstrip()
            self._state = "answer" if text else "after"
            return text, ""
        self._buf += text
        if self._state == "start":
            head = self._buf.lstrip()
            if not head or OPEN.startswith(head):
                return "", ""  # blank so far, or a "<thi" that may still become <think>
            if not head.startswith(OPEN):
                self._state = "answer"
                out, self._buf = self._buf, ""
                return out, ""
            self._state, self._buf = "thinking", head[len(OPEN):]
        end = self._buf.find(CLOSE)
        if end >= 0:
            thought, rest = self._buf[:end], self._buf[end + len(CLOSE):].lstrip()
            self._state, self._buf = ("answer" if rest else "after"), ""
            return rest, thought
        keep = _partial_suffix(self._buf, CLOSE)  # a "</thi" split across chunks
        cut = len(self._buf) - keep
        thought, self._buf = self._buf[:cut], self._buf[cut:]
        return "", thought

    def finish(self) -> tuple[str, str]:
        rest, self._buf = self._buf, ""
        if self._state == "thinking":
            return "", rest  # never closed: it was all reasoning
        return rest, ""


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a beginning of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkingProgress:
    """Turns a model's reasoning pieces into status lines: "thinking…", then the time spent, every few seconds.

    The reasoning itself is never shown: only that the model is working, so the asker is not left waiting
    in silence while a thinking model reasons for a minute.
    """

    def __init__(self, on_status: Callable[[str], None] | None, every_s: float = 5.0) -> None:
        self._on_status = on_status
        self._every_s = every_s
        self._started: float | None = None
        self._last = 0.0

    def __call__(self, _piece: str) -> None:
        if self._on_status is None:
            return
        now = time.monotonic()
        if self._started is None:
            self._started = self._last = now
            self._on_status("thinking…")
        elif now - self._last >= self._every_s:
            self._last = now
            self._on_status(f"thinking… ({now - self._started:.0f} s)")
