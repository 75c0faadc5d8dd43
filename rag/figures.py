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

from rag.evidence import sentence_spans
from rag.retrieve import CJK_RE, query_terms

_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"], start=1)}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9

_EN_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
             "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
             "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
            "ninety": 90}
_EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}

_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "兩": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9, "壹": 1, "貳": 2, "參": 3, "肆": 4, "伍": 5, "陸": 6, "柒": 7, "捌": 8, "玖": 9}
_ZH_SMALL = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_ZH_LARGE = {"萬": 10_000, "万": 10_000, "億": 100_000_000, "亿": 100_000_000}
_ZH_NUM_CHARS = "".join([*_ZH_DIGITS, *_ZH_SMALL, *_ZH_LARGE])

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
_EN_WORD = "|".join(sorted([*_EN_UNITS, *_EN_TENS, *_EN_SCALES], key=len, reverse=True))
_EN_NUMBER = rf"(?:(?:{_EN_WORD})(?:[\s-]+(?:and\s+)?(?:{_EN_WORD}))*)"

_ISO_DATE = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_ZH_DATE = re.compile(r"(?<!\d)(\d{4}|民國\s*\d{2,3})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日號号]")
_EN_DATE_MDY = re.compile(r"(?<![A-Za-z])([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)")
_EN_DATE_DMY = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([A-Za-z]{3,9})\.?,?\s+(\d{4})(?!\d)")
# Chinese fractions: 百分之五 (5%), 千分之三 (0.3%), 萬分之五 (0.05%), compared as percentages.
_ZH_FRACTION = re.compile(r"([百千萬万])分之\s*([0-9０-９零〇一二兩两三四五六七八九十百]+(?:\.\d+)?)")
_FRACTION_SCALE = {"百": 1.0, "千": 0.1, "萬": 0.01, "万": 0.01}
# Month and day without a year ("by March 31", "31 March", "3月31日"): compared as month and day only.
_EN_MD = re.compile(r"(?<![A-Za-z])([A-Z][a-z]{2,8})\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?![\d,:.]\d)(?!\s*,?\s*\d{4})")
_EN_DM = re.compile(r"(?<![\d.,])(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([A-Z][a-z]{2,8})\b(?!\.?,?\s+\d{4})")
_ZH_MD = re.compile(r"(?<![\d年])(\d{1,2})\s*月\s*(\d{1,2})\s*[日號号]")
_IDENT = re.compile(r"\b[A-Za-z]{1,6}-\d{1,6}[A-Za-z]?\b|第\s*[0-9" + _ZH_NUM_CHARS + r"]+\s*[條条章節款項]")
_NUMBER = re.compile(
    rf"(?P<cur>{_CURRENCY_PREFIX})?"
    rf"(?:(?P<words>\b{_EN_NUMBER}\b)(?:\s*\((?P<paren>{_DIGITS})\))?|(?P<digits>(?<![\w.]){_DIGITS})"
    rf"|(?P<zh>[{_ZH_NUM_CHARS}]+))"
    rf"(?:\s*(?P<unit>{_UNIT_RE})(?![A-Za-z]))?",
    re.IGNORECASE,
)
_NOT_CONTEXT = re.compile(rf"[\d{_ZH_NUM_CHARS}]")  # numbers and units say nothing about what a figure is of
_UNIT_STEMS = {w.rstrip("s") for w in _UNIT_WORDS} | set(_UNIT_WORDS) | set(_MONTHS)
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
    spans = sentence_spans(text)
    contexts = [frozenset(t for t in query_terms(text[a:b]) if not _NOT_CONTEXT.search(t) and t not in _UNIT_STEMS)
                for a, b in spans]

    def context(at: int) -> frozenset[str]:
        return next((c for (a, b), c in zip(spans, contexts, strict=True) if a <= at < b), frozenset())

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    def add(a: int, b: int, fig: Figure) -> None:
        taken.append((a, b))
        figures.append((a, fig))

    for pattern, parse in ((_ISO_DATE, _iso_date), (_ZH_DATE, _zh_date), (_EN_DATE_MDY, _mdy), (_EN_DATE_DMY, _dmy)):
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
    for m in _ZH_FRACTION.finditer(text):
        amount = float(m.group(2)) if m.group(2).replace(".", "").isdigit() else _zh_number(m.group(2))
        if free(*m.span()) and amount is not None:
            add(*m.span(), Figure(m.group(0), round(amount * _FRACTION_SCALE[m.group(1)], 6), "percent"))
    for pattern, parse in ((_EN_MD, _md), (_EN_DM, _dm), (_ZH_MD, _zh_md)):
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


def _number_value(m: re.Match[str]) -> float | None:
    if m.group("paren"):
        return float(m.group("paren").replace(",", ""))
    if m.group("digits"):
        return float(m.group("digits").replace(",", ""))
    if m.group("words"):
        return _en_number(m.group("words"))
    if m.group("zh"):
        return _zh_number(m.group("zh"))
    return None


def _en_number(words: str) -> float | None:
    total = current = 0
    seen = False
    for word in re.split(r"[\s-]+", words.lower()):
        if word == "and":
            continue
        if word in _EN_UNITS:
            current += _EN_UNITS[word]
        elif word in _EN_TENS:
            current += _EN_TENS[word]
        elif word in _EN_SCALES:
            scale = _EN_SCALES[word]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * scale
                current = 0
        else:
            return None
        seen = True
    return float(total + current) if seen else None


def _zh_number(chars: str) -> float | None:
    if all(c in _ZH_DIGITS for c in chars):  # 二〇二六 written digit by digit
        return float("".join(str(_ZH_DIGITS[c]) for c in chars)) if len(chars) > 1 else float(_ZH_DIGITS[chars])
    total = section = digit = 0
    for c in chars:
        if c in _ZH_DIGITS:
            digit = _ZH_DIGITS[c]
        elif c in _ZH_SMALL:
            section += max(digit, 1) * _ZH_SMALL[c]
            digit = 0
        elif c in _ZH_LARGE:
            total += (section + digit) * _ZH_LARGE[c]
            section = digit = 0
    return float(total + section + digit)


def _ident_value(text: str) -> str:
    if text.startswith("第"):
        inner = re.sub(r"\s", "", text[1:-1])
        number = float(inner) if inner.isdigit() else _zh_number(inner)
        return f"第{int(number or 0)}{text[-1]}"
    return text.upper()


def _month_day(month: int | None, day: int) -> str | None:
    return f"{month:02d}-{day:02d}" if month and 1 <= day <= 31 else None


def _md(m: re.Match[str]) -> str | None:
    return _month_day(_MONTHS.get(m.group(1).lower()), int(m.group(2)))


def _dm(m: re.Match[str]) -> str | None:
    return _month_day(_MONTHS.get(m.group(2).lower()), int(m.group(1)))


def _zh_md(m: re.Match[str]) -> str | None:
    month = int(m.group(1))
    return _month_day(month if 1 <= month <= 12 else None, int(m.group(2)))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _iso_date(m: re.Match[str]) -> date | None:
    return _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def _zh_date(m: re.Match[str]) -> date | None:
    year_text = m.group(1)
    year = int(year_text[2:].strip()) + 1911 if year_text.startswith("民國") else int(year_text)
    return _safe_date(year, int(m.group(2)), int(m.group(3)))


def _mdy(m: re.Match[str]) -> date | None:
    month = _MONTHS.get(m.group(1).lower())
    return _safe_date(int(m.group(3)), month, int(m.group(2))) if month else None


def _dmy(m: re.Match[str]) -> date | None:
    month = _MONTHS.get(m.group(2).lower())
    return _safe_date(int(m.group(3)), month, int(m.group(1))) if month else None


def mark_in_text(text: str, figures: Iterable[str]) -> str:
    """Put a ⚠ after the first occurrence of each figure as written (text the reader sees; NFKC forms aside)."""
    for figure in figures:
        at = text.find(figure)
        if at >= 0:
            text = text[:at + len(figure)] + " ⚠" + text[at + len(figure):]
    return text
