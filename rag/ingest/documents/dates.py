"""The date a document says it was last updated, from front matter, HTML meta tags or an "Updated:" line.

A file's mtime is when it was copied (git sets it at clone, a share migration resets it), so a
date the document states is the better "updated" for readers. Which date wins, and what counts
as sane, is decided in `rag.answering.freshness.document_date`; this module only finds what is written.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

# Keys people use, most specific first; `date` is often the publication date, so it comes last.
META_KEYS = ("updated", "last_updated", "last-updated", "last_modified", "last-modified", "lastmod", "modified",
             "dcterms.modified", "dc.date.modified", "article:modified_time", "og:updated_time", "revised",
             "date", "dcterms.date", "dc.date")
HEAD_LINES = 30  # a stated date counts only near the top: further down, a date is about something else

_MONTHS = {m: i for i, names in enumerate((
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
    ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
    ("dec", "december")), start=1) for m in names}
_MONTH = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?" \
         r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_DAY_MONTH_YEAR = re.compile(rf"(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH},?\s+(\d{{4}})", re.IGNORECASE)
_MONTH_DAY_YEAR = re.compile(rf"{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})", re.IGNORECASE)
_CJK_DATE = re.compile(r"(民國|中華民國)?\s*(\d{2,4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
# "Updated: …", "Last updated on …", "Last modified …", "Revised …", "最後更新：…", "更新日期：…".
_STATED = re.compile(
    r"(?:\b(?:last\s+)?(?:updated|modified|revised|reviewed)(?:\s+on)?|\blast\s+update|\brevision\s+date"
    r"|最後更新|最近更新|更新日期|最後修訂|修訂日期|修正日期)\s*(?:日期)?\s*[:：]?\s*",
    re.IGNORECASE,
)


def parse_date(text: str) -> datetime | None:
    """The first date at the start of `text`: ISO (2026-03-02, 2026/3/2), "2 March 2026", "March 2, 2026",
    "2026年3月2日" or the Taiwanese 民國115年3月2日; UTC midnight unless a time is given."""
    text = text.strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    except ValueError:
        pass
    if m := _ISO.match(text):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        hour, minute, second = (int(g) if g else 0 for g in m.group(4, 5, 6))
        return _make(year, month, day, hour, minute, second)
    if m := _DAY_MONTH_YEAR.match(text):
        return _make(int(m.group(3)), _MONTHS[m.group(2).lower().rstrip(".")], int(m.group(1)))
    if m := _MONTH_DAY_YEAR.match(text):
        return _make(int(m.group(3)), _MONTHS[m.group(1).lower().rstrip(".")], int(m.group(2)))
    if m := _CJK_DATE.match(text):
        year = int(m.group(2)) + (1911 if m.group(1) or len(m.group(2)) < 4 else 0)
        return _make(year, int(m.group(3)), int(m.group(4)))
    return None


def _make(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


def date_from_meta(meta: dict[str, str]) -> datetime | None:
    """From front matter or HTML meta tags (keys lowercased)."""
    for key in META_KEYS:
        if (value := meta.get(key)) and (found := parse_date(value)):
            return found
    return None


def date_from_text(text: str) -> datetime | None:
    """From an "Updated: 2026-03-02" / "Last updated 2 March 2026" / "最後更新：2026年3月2日" near the top."""
    lines = [line for line in text.splitlines() if line.strip()][:HEAD_LINES]
    for line in lines:
        for m in _STATED.finditer(line):
            if found := parse_date(line[m.end():]):
                return found
    return None


# Dates tools write when nobody set one: reportlab's invariant mode, python-docx's default template.
_TOOL_DEFAULTS = {datetime(2000, 1, 1, tzinfo=UTC), datetime(2013, 12, 23, 23, 15, tzinfo=UTC)}


def metadata_date(value: datetime | date | None) -> datetime | None:
    """A docx/PDF library's modified date as UTC (naive ones are UTC), unless it is a tool's placeholder."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return None if value in _TOOL_DEFAULTS else value
