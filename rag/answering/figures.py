"""Figures in an answer checked against the sources: a number the model wrote that no source holds.

Policies and contracts live on numbers (days, amounts, dates, percentages, form numbers), and a
small model copies them wrong more often than it invents a whole sentence. Each figure of the
answer is normalised to a value (`3,200` = `3200` = `NT$3,200`; `ninety (90) days` = `90 days`;
`三十日` = `30 日`; `2026-03-02` = `March 2, 2026` = `2026年3月2日`) and looked up among the figures
of the source texts. A figure with a unit (days, %, money, …) must appear with the same unit, so
"7 days" is not excused by "7 years" elsewhere in the source; a source figure written without a
unit excuses any unit, so a sentence like "within 30 (thirty) calendar days" never causes a false
alarm. Form and article numbers (`VND-22`, `HR-7`) must appear as written (case aside).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from rag.answering.evidence import sentence_spans
from rag.answering.numerals import (
    DATE_PATTERNS,
    EN_SCALES,
    EN_TENS,
    EN_UNITS,
    FRACTION_SCALE,
    MONTH_DAY_PATTERNS,
    MONTHS,
    ZH_FRACTION,
    ZH_NUM_CHARS,
    en_number,
    zh_number,
)
from rag.language.cjk import CJK_RE

# Units grouped into the classes that must agree; the key is what the figure is "of".
from rag.retrieval.query import query_terms

# Units grouped into the classes that must agree; the key is what the figure is "of".
_UNIT_WORDS: dict[str, str] = {}
for _cls, _words in {
    "day": ["day", "days", "calendar day", "calendar days", "business day", "business days", "working day",
            "working days", "日", "天", "個工作天", "個工作日", "工作天", "工作日", "個日曆天"],
    "week": ["week", "weeks", "週", "周", "星期", "個星期", "個禮拜"],
    "month": ["month", "months", "個月", "月份"],
    "year": ["year", "years", "年"],
    "hour": ["hour", "hours", "hr", "hrs", "h", "小時", "個小時", "鐘頭"],
    "minute": ["minute", "minutes", "min", "mins", "分鐘"],
    "percent": ["%", "percent", "per cent", "％"],
    "money": ["元", "塊", "圓", "dollars", "dollar", "usd", "twd", "ntd", "eur", "euros", "gbp", "pounds"],
    "night": ["night", "nights", "晚", "夜"],
    "person": ["people", "persons", "employees", "人", "名"],
    "time": ["times", "次"],
}.items():
    for _w in _words:
        _UNIT_WORDS[_w] = _cls
_UNIT_RE = "|".join(sorted((re.escape(w) for w in _UNIT_WORDS), key=len, reverse=True))
_CURRENCY_PREFIX = r"(?:NT\$|US\$|HK\$|S\$|A\$|C\$|\$|€|£|¥|NTD\s*|TWD\s*|USD\s*|EUR\s*|GBP\s*|新台幣\s*|新臺幣\s*)"

_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_EN_WORD = "|".join(sorted([*EN_UNITS, *EN_TENS, *EN_SCALES], key=len, reverse=True))
_EN_NUMBER = rf"(?:(?:{_EN_WORD})(?:[\s-]+(?:and\s+)?(?:{_EN_WORD}))*)"

_IDENT = re.compile(r"\b[A-Za-z]{1,6}-\d{1,6}[A-Za-z]?\b|第\s*[0-9" + ZH_NUM_CHARS + r"]+\s*[條条章節款項]")
_NUMBER = re.compile(
    rf"(?P<cur>{_CURRENCY_PREFIX})?"
    rf"(?:(?P<words>\b{_EN_NUMBER}\b)(?:\s*\((?P<paren>{_DIGITS})\))?|(?P<digits>(?<![\w.]){_DIGITS})"
    rf"|(?P<zh>[{ZH_NUM_CHARS}]+))"
    rf"(?:\s*(?P<unit>{_UNIT_RE})(?![A-Za-z]))?",
    re.IGNORECASE,
)
_NOT_CONTEXT = re.compile(rf"[\d{ZH_NUM_CHARS}]")  # numbers and units say nothing about what a figure is of
_UNIT_STEMS = {w.rstrip("s") for w in _UNIT_WORDS} | set(_UNIT_WORDS) | set(MONTHS)
_MARKER = re.compile(r"[\[【［]\s*\d{1,3}(?:\s*[,，、]\s*\d{1,3})*\s*[\]】］]")
_LIST_NUMBER = re.compile(r"(?m)^\s*\d{1,2}[.)]\s")


# A source sentence counts as "about the same thing" when it shares at least this share of the words
# that the best-matching source sentence shares with the answer's sentence (bench/bench_figures.py).
SAME_SENTENCE_SHARE = 0.5


@dataclass(frozen=True)
class Figure:
    """One figure as written in the text and the value it stands for."""

    text: str
    value: float | date | str  # a number, a calendar date, a month and day ("03-31"), or an identifier (upper-cased)
    unit: str | None  # the class of its unit ("day", "money", …), None when written bare
    context: frozenset[str] = field(default=frozenset(), compare=False)  # words of its sentence, figures aside


@dataclass(frozen=True)
class FigureCheck:
    """The figures of an answer that no source holds."""

    checked: int
    unsupported: tuple[Figure, ...]


def check_figures(answer: str, sources: Iterable[str]) -> FigureCheck:
    """Which figures of `answer` appear in none of `sources` (cited and given).

    A figure is supported by an occurrence of the same value (and unit, where both have one) in a
    source sentence about the same thing: one that shares words with the answer's sentence, nearly
    as many as the source sentence that matches it best. So a changed "10 days" is not excused by an
    unrelated "10" elsewhere in a long passage, while the value in the matching sentence says 5.
    """
    found = extract_figures(answer)
    source_figures = [fig for text in sources for fig in extract_figures(text, source=True)]
    unsupported = [fig for fig in found if not figure_supported(fig, source_figures)]
    return FigureCheck(checked=len(found), unsupported=tuple(unsupported))


def figure_supported(fig: Figure, source_figures: Sequence[Figure]) -> bool:
    """Whether a figure of the answer appears among `source_figures` (from extract_figures(…, source=True)) in a
    sentence about the same thing: one sharing nearly as many of its sentence's words as the best match does."""
    best = max((_overlap(fig.context, f.context) for f in source_figures), default=0.0)
    return any(_supports(s, fig, best) for s in source_figures if s.value == fig.value)


def _scripts(fig: Figure) -> frozenset[bool]:
    """Which scripts a figure's sentence is written in (True: CJK), so words are compared only within one."""
    return frozenset(bool(CJK_RE.search(t)) for t in fig.context)


def _overlap(claim: frozenset[str], sentence: frozenset[str]) -> float:
    return len(claim & sentence) / len(claim) if claim else 0.0


def _supports(source: Figure, claim: Figure, best_overlap: float) -> bool:
    if claim.unit is not None and source.unit is not None and claim.unit != source.unit:
        return False
    if not claim.context or not source.context or best_overlap == 0 or not _scripts(claim) & _scripts(source):
        return True  # nothing to tell sentences apart (e.g. an English answer from a Chinese source)
    overlap = _overlap(claim.context, source.context)
    return overlap > 0 and overlap >= SAME_SENTENCE_SHARE * best_overlap


def extract_figures(text: str, *, source: bool = False) -> list[Figure]:
    """Figures in reading order. With `source`, a date also counts as its year, month and day as bare numbers."""
    text = unicodedata.normalize("NFKC", text)
    text = _MARKER.sub(" ", text)
    if not source:
        text = _LIST_NUMBER.sub(" ", text)
    figures: list[tuple[int, Figure]] = []
    taken: list[tuple[int, int]] = []
    spans = sentence_spans(text) if source else _clause_spans(text)
    contexts = [frozenset(t for t in query_terms(text[a:b]) if not _NOT_CONTEXT.search(t) and t not in _UNIT_STEMS)
                for a, b in spans]

    def context(at: int) -> frozenset[str]:
        return next((c for (a, b), c in zip(spans, contexts, strict=True) if a <= at < b), frozenset())

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    def add(a: int, b: int, fig: Figure) -> None:
        taken.append((a, b))
        figures.append((a, fig))

    for pattern, parse in DATE_PATTERNS:
        for m in pattern.finditer(text):
            if not free(*m.span()):
                continue
            day = parse(m)
            if day is None:
                continue
            add(*m.span(), Figure(m.group(0), day, None))
            if source:
                for part in (day.year, day.month, day.day):
                    figures.append((m.start(), Figure(str(part), float(part), None)))
    for m in ZH_FRACTION.finditer(text):
        amount = float(m.group(2)) if m.group(2).replace(".", "").isdigit() else zh_number(m.group(2))
        if free(*m.span()) and amount is not None:
            add(*m.span(), Figure(m.group(0), round(amount * FRACTION_SCALE[m.group(1)], 6), "percent"))
    for pattern, parse in MONTH_DAY_PATTERNS:
        for m in pattern.finditer(text):
            if free(*m.span()) and (value := parse(m)) is not None:
                add(*m.span(), Figure(m.group(0), value, None))
    if source:  # a full date also states its month and day ("March 31, 2026" holds "March 31")
        figures.extend((at, Figure(f.text, f"{f.value.month:02d}-{f.value.day:02d}", None))
                       for at, f in list(figures) if isinstance(f.value, date))
    for m in _IDENT.finditer(text):
        if free(*m.span()):
            add(*m.span(), Figure(m.group(0), _ident_value(m.group(0)), None))
    for m in _NUMBER.finditer(text):
        if not m.group(0).strip() or not free(*m.span()):
            continue
        value = _number_value(m)
        if value is None:
            continue
        unit = _UNIT_WORDS.get((m.group("unit") or "").lower()) if m.group("unit") else None
        if m.group("cur"):
            unit = "money"
        if m.group("zh") and unit is None and not source:
            continue  # a bare 一 or 十 in Chinese prose is a word, not a figure
        if value in (0.0, 1.0) and unit is None and not m.group("digits"):
            continue  # "one of", "a single": English and Chinese use these as words
        add(*m.span(), Figure(m.group(0).strip(), value, unit))
    return [replace(f, context=context(at)) for at, f in sorted(figures, key=lambda p: p[0])]


# Where a model joins two statements of its sources into one sentence ("… 90 days' notice, and the agreement
# runs for 2 years"): each clause is judged by its own words.
_CLAUSE_BREAK = re.compile(r",\s+(?:and|but|while|whereas)\s+|;\s+|，(?=.{6})|；")


def _clause_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for a, b in sentence_spans(text):
        start = a
        for cut in _CLAUSE_BREAK.finditer(text, a, b):
            if cut.start() > start:
                spans.append((start, cut.start()))
            start = cut.end()
        spans.append((start, b))
    return spans


def _number_value(m: re.Match[str]) -> float | None:
    if m.group("paren"):
        return float(m.group("paren").replace(",", ""))
    if m.group("digits"):
        return float(m.group("digits").replace(",", ""))
    if m.group("words"):
        return en_number(m.group("words"))
    if m.group("zh"):
        return zh_number(m.group("zh"))
    return None


def _ident_value(text: str) -> str:
    if text.startswith("第"):
        inner = re.sub(r"\s", "", text[1:-1])
        number = float(inner) if inner.isdigit() else zh_number(inner)
        return f"第{int(number or 0)}{text[-1]}"
    return text.upper()


def mark_in_text(text: str, figures: Iterable[str], after: dict[str, str] | None = None) -> str:
    """Put a ⚠ after each figure as written (text the reader sees; NFKC forms aside): its first occurrence, or the
    first one after `after[figure]` (the start of the sentence that states it, when another sentence has it too)."""
    for figure in figures:
        anchor = (after or {}).get(figure, "")
        start = text.find(anchor) if anchor else -1
        at = text.find(figure, max(start, 0))
        if at < 0:
            at = text.find(figure)
        if at >= 0:
            text = text[:at + len(figure)] + " ⚠" + text[at + len(figure):]
    return text
