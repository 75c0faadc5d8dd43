"""Numbers and dates as people write them, read into values: the parsing rag/answering/figures.py compares figures with.

English number words ("ninety", "twenty-one"), Chinese numerals (三十, 二〇二六, 一萬二千), Chinese fractions
(萬分之五), and dates with or without a year in ISO, English and Chinese forms (民國 years included).
"""

from __future__ import annotations

import re
from datetime import date

MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"], start=1)}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS["sept"] = 9

EN_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
             "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
             "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
            "ninety": 90}
EN_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}

ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "兩": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9, "壹": 1, "貳": 2, "參": 3, "肆": 4, "伍": 5, "陸": 6, "柒": 7, "捌": 8, "玖": 9}
ZH_SMALL = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
ZH_LARGE = {"萬": 10_000, "万": 10_000, "億": 100_000_000, "亿": 100_000_000}
ZH_NUM_CHARS = "".join([*ZH_DIGITS, *ZH_SMALL, *ZH_LARGE])

_ISO_DATE = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_ZH_DATE = re.compile(r"(?<!\d)(\d{4}|民國\s*\d{2,3})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日號号]")
_EN_DATE_MDY = re.compile(r"(?<![A-Za-z])([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)")
_EN_DATE_DMY = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([A-Za-z]{3,9})\.?,?\s+(\d{4})(?!\d)")
# Chinese fractions: 百分之五 (5%), 千分之三 (0.3%), 萬分之五 (0.05%), compared as percentages.
ZH_FRACTION = re.compile(r"([百千萬万])分之\s*([0-9０-９零〇一二兩两三四五六七八九十百]+(?:\.\d+)?)")
FRACTION_SCALE = {"百": 1.0, "千": 0.1, "萬": 0.01, "万": 0.01}
# Month and day without a year ("by March 31", "31 March", "3月31日"): compared as month and day only.
_EN_MD = re.compile(r"(?<![A-Za-z])([A-Z][a-z]{2,8})\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?![\d,:.]\d)(?!\s*,?\s*\d{4})")
_EN_DM = re.compile(r"(?<![\d.,])(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([A-Z][a-z]{2,8})\b(?!\.?,?\s+\d{4})")
_ZH_MD = re.compile(r"(?<![\d年])(\d{1,2})\s*月\s*(\d{1,2})\s*[日號号]")


def en_number(words: str) -> float | None:
    total = current = 0
    seen = False
    for word in re.split(r"[\s-]+", words.lower()):
        if word == "and":
            continue
        if word in EN_UNITS:
            current += EN_UNITS[word]
        elif word in EN_TENS:
            current += EN_TENS[word]
        elif word in EN_SCALES:
            scale = EN_SCALES[word]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * scale
                current = 0
        else:
            return None
        seen = True
    return float(total + current) if seen else None


def zh_number(chars: str) -> float | None:
    if all(c in ZH_DIGITS for c in chars):  # 二〇二六 written digit by digit
        return float("".join(str(ZH_DIGITS[c]) for c in chars)) if len(chars) > 1 else float(ZH_DIGITS[chars])
    total = section = digit = 0
    for c in chars:
        if c in ZH_DIGITS:
            digit = ZH_DIGITS[c]
        elif c in ZH_SMALL:
            section += max(digit, 1) * ZH_SMALL[c]
            digit = 0
        elif c in ZH_LARGE:
            total += (section + digit) * ZH_LARGE[c]
            section = digit = 0
    return float(total + section + digit)


def _month_day(month: int | None, day: int) -> str | None:
    return f"{month:02d}-{day:02d}" if month and 1 <= day <= 31 else None


def _md(m: re.Match[str]) -> str | None:
    return _month_day(MONTHS.get(m.group(1).lower()), int(m.group(2)))


def _dm(m: re.Match[str]) -> str | None:
    return _month_day(MONTHS.get(m.group(2).lower()), int(m.group(1)))


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
    month = MONTHS.get(m.group(1).lower())
    return _safe_date(int(m.group(3)), month, int(m.group(2))) if month else None


def _dmy(m: re.Match[str]) -> date | None:
    month = MONTHS.get(m.group(2).lower())
    return _safe_date(int(m.group(3)), month, int(m.group(1))) if month else None


# Dates with a year, in the order they are looked for (ISO first: "2026-03-02" must not be read as numbers).
DATE_PATTERNS = ((_ISO_DATE, _iso_date), (_ZH_DATE, _zh_date), (_EN_DATE_MDY, _mdy), (_EN_DATE_DMY, _dmy))
# Month and day without a year: their value is "MM-DD".
MONTH_DAY_PATTERNS = ((_EN_MD, _md), (_EN_DM, _dm), (_ZH_MD, _zh_md))
