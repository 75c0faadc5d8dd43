"""The bot's own jobs on the scheduler that runs the sync (rag/scheduler.py): follow-through, the digest, and the
privacy rule (LOG_QUESTIONS, QUESTION_RETENTION_DAYS) applied to every store at start and every few hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.triggers.interval import IntervalTrigger

from bot.durable.answers import apply_privacy_rule
from bot.followthrough.digest import post_gaps_digest
from rag.cron import cron_trigger

if TYPE_CHECKING:
    from bot.app import BotRuntime

FOLLOW_THROUGH_JOB = "follow-through"
DIGEST_JOB = "gaps-digest"
PRIVACY_JOB = "privacy-rule"
PRIVACY_EVERY = timedelta(hours=6)  # retention is counted in days: a quarter of one is close enough


def add_bot_jobs(scheduler: Any, runtime: BotRuntime) -> None:
    if runtime.followthrough is not None:  # a sync run elsewhere is followed through within ANSWER_CHECK_SECONDS
        every = runtime.settings.answer_check_seconds
        scheduler.add_job(runtime.followthrough.check_index, IntervalTrigger(seconds=every, timezone=UTC),
                          id=FOLLOW_THROUGH_JOB, replace_existing=True)
    scheduler.add_job(apply_privacy_rule, IntervalTrigger(seconds=PRIVACY_EVERY.total_seconds(), timezone=UTC),
                      args=(runtime,), id=PRIVACY_JOB, replace_existing=True,
                      next_run_time=datetime.now(UTC) + timedelta(seconds=5))  # soon after start, too
    cron = runtime.settings.gaps_digest_cron
    if cron:
        scheduler.add_job(post_gaps_digest, cron_trigger(cron), args=(runtime,),
                          id=DIGEST_JOB, replace_existing=True)
