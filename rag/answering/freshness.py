"""How old a source is, in words, and whether it is stale: every answer shows this, in the CLI and in Slack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_AGE_WORDS = {
    "en": {"today": "today", "yesterday": "yesterday", "ago": "{n} {unit} ago",
           "units": (("year", "years"), ("month", "months"), ("week", "weeks"), ("day", "days"))},
    "zh": {"today": "今天", "yesterday": "昨天", "ago": "{n} {unit}前",
           "units": (("年", "年"), ("個月", "個月"), ("週", "週"), ("天", "天"))},
}


def aware(when: datetime) -> datetime:
    """Naive datetimes from the index are UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def humanize_age(then: datetime, now: datetime, lang: str = "en") -> str:
    """"today", "yesterday", "5 days ago", "3 weeks ago", "4 months ago", "2 years ago"."""
    words = _AGE_WORDS[lang]
    days = (aware(now) - aware(then)).days
    if days <= 0:
        return words["today"]
    if days == 1:
        return words["yesterday"]
    for size, (one, many) in zip((365, 30, 7, 1), words["units"], strict=True):
        if days >= size:
            count = days // size
            return words["ago"].format(n=count, unit=one if count == 1 else many)
    return words["today"]  # pragma: no cover - the loop always returns


def is_stale(modified: datetime, now: datetime, stale_after_days: int) -> bool:
    return (aware(now) - aware(modified)).days > stale_after_days


EARLIEST_DOCUMENT_DATE = datetime(1990, 1, 1, tzinfo=UTC)


def document_date(stated: datetime | None, mtime: datetime, now: datetime | None = None) -> datetime:
    """The date a source is shown as updated: the one the document states, else its file's mtime.

    A stated date in the future (a typo, an effective date) or before 1990 is not believed.
    """
    now = aware(now or datetime.now(UTC))
    if stated is not None and EARLIEST_DOCUMENT_DATE <= aware(stated) <= now + timedelta(days=1):
        return aware(stated)
    return aware(mtime)
