"""Traditional Chinese questions get Traditional Chinese answers, whatever the model writes.

Small models trained mostly on Simplified Chinese slip into it (國內 → 国内) even when told not to. OpenCC's
`s2tw` table (Simplified → Traditional, Taiwan standard characters) converts what the model writes, character
by character so it can run on streamed pieces. It is applied only to characters the model produced: a
character that the sources themselves use is kept as written (OpenCC would turn the 台 of 台北 into 臺), and
nothing changes for a question asked in Simplified characters or in another language.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from rag.language.cjk import CJK_RE, is_chinese

# Taiwan writes these as they are although OpenCC's table maps them (台 → 臺): never converted.
_KEEP = frozenset("台")


@lru_cache(maxsize=1)
def _converter():  # noqa: ANN202 - opencc has no type hints
    import opencc  # imported on first use: English answers never load it

    return opencc.OpenCC("s2tw")


def simplified_chars(text: str) -> set[str]:
    """Characters of `text` that OpenCC writes differently in Traditional Chinese, read in context (公里 is
    Traditional; 里 alone would be converted), 台 aside."""
    converted = _converter().convert(text)
    if len(converted) != len(text):
        converted = "".join(_converter().convert(c) for c in text)
    return {old for old, new in zip(text, converted, strict=True)
            if old != new and CJK_RE.match(old) and old not in _KEEP}


def wants_traditional(question: str) -> bool:
    """A question with Han characters, none of them Simplified-only: the asker writes Traditional Chinese."""
    return is_chinese(question) and not simplified_chars(question)


class TraditionalWriter:
    """Converts Simplified characters in an answer's pieces as they stream; counts what it changed."""

    def __init__(self, keep: Iterable[str] = ()) -> None:
        self._keep = set(keep) | _KEEP
        self.changed = 0

    def __call__(self, piece: str) -> str:
        if not CJK_RE.search(piece):
            return piece
        converted = _converter().convert(piece)
        if len(converted) != len(piece):  # a phrase table changed the length: convert character by character
            converted = "".join(_converter().convert(c) for c in piece)
        out = []
        for old, new in zip(piece, converted, strict=True):
            if old != new and old not in self._keep:
                self.changed += 1
                out.append(new)
            else:
                out.append(old)
        return "".join(out)
