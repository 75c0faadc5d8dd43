"""The bot's own jobs on the scheduler that runs the sync (rag/ops/scheduler.py): follow-through, the digest, and the
privacy rule (LOG_QUESTIONS, QUESTION_RETENTION_DAYS) applied to every store at start and every few hours."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.triggers.interval import IntervalTrigger

from bot.followthrough.digest import post_gaps_digest
from rag.ops.cron import cron_trigger

if TYPE_CHECKING:
    from bot.runtime import BotRuntime

log = logging.getLogger(__name__)

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


def apply_privacy_rule(runtime: BotRuntime) -> None:
    """LOG_QUESTIONS and QUESTION_RETENTION_DAYS applied to everything the bot keeps (a scheduler job, at start
    and every few hours: bot/jobs.py); never raises."""
    stores = [("feedback log", runtime.feedback), ("gaps log", runtime.rag.question_log),
              ("answers ledger", runtime.followthrough.ledger if runtime.followthrough else None),
              ("question queue", runtime.durable.jobs if runtime.durable else None)]
    for name, store in stores:
        prune = getattr(store, "prune", None)
        if prune is None:
            continue
        try:
            changed = prune()
        except Exception as err:  # the next run tries again; nothing here may stop the bot
            log.warning("could not apply the privacy rule to the %s: %s", name, type(err).__name__)
            continue
        if changed:
            log.info("privacy rule (LOG_QUESTIONS, QUESTION_RETENTION_DAYS): %d entries removed or redacted in the "
                     "%s", changed, name)
