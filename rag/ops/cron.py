"""The one rule for a crontab setting (SYNC_CRON, GAPS_DIGEST_CRON): checked at start, built by the scheduler.

APScheduler's own parser (`CronTrigger.from_crontab`) is the judge, so a line that passes here is a
line the scheduler accepts. One more refusal: a day of the week given as a number. APScheduler 3
counts 0 as Monday where cron counts 0 as Sunday, so `0 8 * * 1` would fire on Tuesdays without a
word; names (`mon`, `mon-fri`) mean the same in both.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

EXAMPLE = "e.g. '0 8 * * mon' (minute hour day month day-of-week, UTC)"


def check_crontab(value: str) -> str:
    """`value` stripped when APScheduler accepts it; else ValueError with a one-line reason (no traceback)."""
    from apscheduler.triggers.cron import CronTrigger

    line = " ".join(value.split())
    fields = line.split(" ") if line else []
    if len(fields) != 5:
        raise ValueError(f"must be a crontab line of 5 fields, {EXAMPLE}; got {len(fields)}")
    if re.search(r"\d", fields[4]):
        raise ValueError("name the day of the week (mon, tue, …, sun; mon-fri): a number means another day here "
                         "than in cron (APScheduler counts 0 as Monday)")
    try:
        CronTrigger.from_crontab(line, timezone=UTC)
    except ValueError as err:
        reason = str(err).splitlines()[0] if str(err) else "not a crontab line"
        raise ValueError(f"{reason}; {EXAMPLE}") from None
    return line


def cron_trigger(value: str) -> Any:
    """The APScheduler trigger for a line `check_crontab` accepted (UTC)."""
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(check_crontab(value), timezone=UTC)
