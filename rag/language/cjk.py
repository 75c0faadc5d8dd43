"""The one rule for CJK text: which characters are CJK, which are Chinese, and how much of a text is CJK.

Full-text search, the relevance floor, chunk sizing, the prompt's language line, the answer checks, the
notices and Slack's labels all ask these questions; one definition keeps them agreeing (Korean text was once
"Chinese" to the core and not to the renderer).
"""

from __future__ import annotations

import re

HAN_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs (extension A, unified, compatibility)
KANA_HANGUL_CHARS = "\u3040-\u30ff\uac00-\ud7af"  # Japanese kana, Korean hangul syllables
CJK_CHARS = HAN_CHARS + KANA_HANGUL_CHARS
CJK_RE = re.compile(f"[{CJK_CHARS}]")
CJK_RUN_RE = re.compile(f"[{CJK_CHARS}]+")
HAN_RE = re.compile(f"[{HAN_CHARS}]")
KANA_HANGUL_RE = re.compile(f"[{KANA_HANGUL_CHARS}]")


def is_chinese(text: str) -> bool:
    """"This asker writes Chinese" (the core's notices, Slack's labels, the comment form): Han characters and
    no kana or hangul (Japanese and Korean text uses Han characters too)."""
    return bool(HAN_RE.search(text)) and not KANA_HANGUL_RE.search(text)


def cjk_share(text: str) -> float:
    """Share of the letters and digits of `text` that are CJK characters (0 when it has none)."""
    letters = [c for c in text if c.isalnum()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if CJK_RE.match(c)) / len(letters)
