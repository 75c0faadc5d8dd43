"""What a question asks for: its terms, and the query full-text search is sent.

One stop list serves both uses. Question words and particles ("what", 什麼, 是指, 嗎) say
nothing about which passage answers, yet BM25 rewards them: for 「基本保額」是指什麼？ short FAQ
pages full of 是什麼 outranked the page about 基本保額. So they are left out of the full-text
query, and characters only they cover do not count in the coverage score (`rag.retrieval.retrieve`).
Quoted terms, form numbers (VND-22) and article numbers (第十二條, Article 12) are also sent as
phrases, so a passage holding them verbatim ranks above one holding their parts scattered.
Everyday words bring the formal words documents use for them (過世 → 喪亡, 死亡; rag/retrieval/lexicon.py) into the
full-text query. Everything is matched in its normalised form (`rag.language.textnorm`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.language.cjk import CJK_RE, CJK_RUN_RE
from rag.language.textnorm import normalize
from rag.retrieval.lexicon import equivalent_terms

_WORD_RE = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
EN_STOP = frozenset([
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as",
    "is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "what", "which", "who", "whom",
    "whose", "when", "where", "why", "how", "this", "that", "these", "those", "it", "its", "i", "we", "you",
    "they", "he", "she", "our", "your", "their", "my", "me", "us", "them", "can", "could", "should", "would",
    "will", "shall", "may", "might", "must", "there", "here", "about", "into", "than", "then", "so", "such",
    "not", "no", "any", "all", "each", "some", "more", "most", "other", "can't", "don't", "does", "doesn't",
    "please", "tell", "know"
])
# Question words and particles, Traditional and Simplified. Longer forms name the characters next to a
# question word that belong to it (是什麼, 多少天): those count as the question word's too.
CJK_STOP = frozenset([
    "什麼", "甚麼", "什么", "是什麼", "是什么", "什麼是", "什么是", "為什麼", "为什么", "為何", "为何",
    "哪個", "哪个", "哪些", "哪裡", "哪里", "多少", "是多少", "多少天", "如何", "怎麼", "怎么", "怎樣", "怎样",
    "是否", "幾個", "几个", "何時", "何时", "請問", "请问", "的是", "是指", "指的是", "嗎", "吗", "呢",
    # what a user says around the question (父母過世可以請幾天喪假？): no passage is about these
    "可以", "多久", "幾天", "几天", "幾日", "幾年", "几年", "幾個月", "几个月", "幾次", "几次", "有沒有", "有没有",
    "能不能", "會不會", "会不会", "要不要", "怎麼辦", "怎么办", "我",
])
_QUOTED = re.compile(r'"([^"\n]{2,80})"|「([^」\n]{1,80})」|『([^』\n]{1,80})』|《([^》\n]{1,80})》')
_CODE = re.compile(r"\b[A-Za-z]+\d*(?:[-./][A-Za-z]*\d+[A-Za-z0-9]*)+\b")  # VND-22, W-2, ISO/IEC-27001
_ARTICLE = re.compile(
    r"第\s*[0-9〇零一二三四五六七八九十百千兩两]+\s*[條条章節节款項项點点編编]"
    r"|\b(?:article|section|clause|rule|§)\s*\d+(?:\.\d+)*\b", re.IGNORECASE)


@dataclass(frozen=True)
class TextQuery:
    """What full-text search is sent for one question."""

    text: str  # matched term by term (OR): the question without its question words
    phrases: tuple[str, ...]  # also matched as exact phrases, on top


def stop_marks(run: str) -> list[bool]:
    """Per character of a CJK run: True where a question word or particle covers it."""
    marks = [False] * len(run)
    for word in CJK_STOP:
        start = run.find(word)
        while start >= 0:
            marks[start:start + len(word)] = [True] * len(word)
            start = run.find(word, start + 1)
    return marks


def query_terms(text: str) -> list[str]:
    """Words (Latin, stemmed) and character bigrams (CJK) that carry the question's meaning."""
    text = normalize(text)
    terms = [_stem(w) for w in _WORD_RE.findall(text.lower()) if w not in EN_STOP and len(w) > 1]
    for run in CJK_RUN_RE.findall(text):
        if len(run) == 1:
            continue
        marks = stop_marks(run)
        terms.extend(run[i:i + 2] for i in range(len(run) - 1) if not (marks[i] and marks[i + 1]))
    return list(dict.fromkeys(terms))


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def text_query(question: str, *, expand: bool = True) -> TextQuery:
    """The full-text query for `question`: content words for the match, and the phrases it names; `expand`:
    with the formal equivalents of its everyday words (rag/retrieval/lexicon.py)."""
    text = normalize(question)
    phrases = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)]
    phrases += [m.group(0) for m in _CODE.finditer(text)] + [m.group(0) for m in _ARTICLE.finditer(text)]
    phrases = [p.strip() for p in phrases if len(_TOKEN_RE.findall(p)) + len(CJK_RE.findall(p)) > 1]

    def strip_cjk(match: re.Match[str]) -> str:
        run = match.group(0)
        marks = stop_marks(run)
        return "".join(" " if marked else ch for ch, marked in zip(run, marks, strict=True))

    words = re.findall(r"\w+", CJK_RUN_RE.sub(strip_cjk, text))  # quotes and punctuation mean nothing here
    kept = " ".join(w for w in words if w.lower() not in EN_STOP)
    if expand and kept:
        extra = dict.fromkeys(e for _, equivalents in equivalent_terms(text) for e in equivalents)
        kept = " ".join([kept, *extra])
    return TextQuery(text=kept or text, phrases=tuple(dict.fromkeys(phrases)))
