"""What small local models write that is not an answer, caught before anyone reads it as one.

Measured with llama.cpp and Qwen2.5-Coder 0.5B/1.5B (bench/bench_answers.py): replies that are only citation
markers ("[1][2]"), an English question answered in Chinese, a reply that loops until the token limit, and
Traditional Chinese answered in Simplified characters. Each check here is cheap and lexical; rag/answering/ask.py
decides
what the asker then gets (quoted passages with the reason, a cut answer with a notice, converted script).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.answering.citations import MARKER_RE
from rag.language.cjk import CJK_CHARS, CJK_RE

_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_WORD = re.compile(f"[A-Za-z0-9]+|[{CJK_CHARS}]")
# What a model writes when it starts to refuse and stops: no words that carry an answer.
_FRAGMENT = re.compile(
    r"^(i'?m sorry|sorry|i apologi[sz]e|unfortunately|i (cannot|can't|am unable to)|as an ai|抱歉|對不起|对不起|"
    r"很抱歉|無法|无法)\W*(,|but|，|但)?\W*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class LoopCut:
    text: str  # the answer up to where it started repeating itself
    cut: bool


def words_of(text: str) -> list[str]:
    """Latin words and numbers, and single CJK characters: what carries content in either script."""
    return _WORD.findall(text)


def no_answer_in(text: str) -> bool:
    """Nothing beyond markers, punctuation and whitespace, or only the start of a refusal ("I'm sorry, but")."""
    plain = MARKER_RE.sub(" ", text).strip()
    if not words_of(plain):
        return True
    return bool(_FRAGMENT.match(plain))


def cjk_word_share(text: str) -> float:
    """Share of the content tokens that are CJK characters (a Latin word counts once, like a character)."""
    tokens = words_of(MARKER_RE.sub(" ", text))
    if not tokens:
        return 0.0
    return sum(1 for t in tokens if CJK_RE.match(t)) / len(tokens)


def wrong_language(question: str, answer: str) -> bool:
    """An English question answered mostly in CJK, or a CJK question answered with no CJK at all.

    A Chinese answer may quote English terms and figures (and an English one a Chinese name), so only a
    clear majority of the other script counts.
    """
    share = cjk_word_share(answer)
    if CJK_RE.search(question):
        return share == 0.0 and len(_LATIN_WORD.findall(answer)) >= 4
    return share > 0.5


def cut_loop(text: str) -> LoopCut:
    """The answer up to the point where it starts repeating itself (a stretch said three times in a row, or a
    sentence said again), else the text unchanged. Small models loop until the token limit when confused."""
    cut_at = len(text)
    for repeated in re.finditer(r"(.{4,200}?)(?:\s*\1){2,}", text, re.DOTALL):
        if len(words_of(repeated.group(1))) >= 3:  # words, not a table rule ("| --- | --- |") or dots
            cut_at = repeated.start() + len(repeated.group(1))
            break
    seen: set[str] = set()
    for match in re.finditer(r"[^.!?。！？\n]+[.!?。！？\n]?", text):
        key = " ".join(MARKER_RE.sub("", match.group()).split()).lower()
        if len(key) < 12:
            continue
        if key in seen:
            cut_at = min(cut_at, match.start())
            break
        seen.add(key)
    if cut_at >= len(text.rstrip()):
        return LoopCut(text, False)
    return LoopCut(text[:cut_at].rstrip(" ,;，、"), True)
