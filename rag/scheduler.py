"""Scheduled sync (APScheduler) for `ragbot serve` and the Slack bot.

APScheduler's `max_instances=1` only covers one job id, and several bot
replicas each run their own scheduler, so what keeps syncs apart is the lock
inside the sync itself (`rag.locks`); a tick that finds a sync running is
logged and skipped (coalesced). `misfire_grace_time` is raised from 3.11's 1 s
so a tick delayed by a busy machine still runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from rag.catalog import SyncAlreadyRunning, SyncReport

log = logging.getLogger(__name__)

SYNC_JOB = "scheduled-sync"
COMPACT_JOB = "compact-index"


def sync_trigger(cron: str | None, interval_minutes: float | None) -> CronTrigger | IntervalTrigger | None:
    if cron:
        return CronTrigger.from_crontab(cron)
    if interval_minutes:
        return IntervalTrigger(seconds=interval_minutes * 60)
    return None


def scheduled_sync(rag: object, on_report: Callable[[SyncReport], None] | None, trigger: str) -> SyncReport | None:
    """One tick: sync, log the report, hand it to `on_report`; a running sync means this tick is coalesced."""
    try:
        report = rag.sync(trigger=trigger)  # type: ignore[attr-defined]
    except SyncAlreadyRunning as err:
        log.info("scheduled sync coalesced: %s", err)
        return None
    except Exception:
        log.exception("scheduled sync crashed")
        return None
    if on_report:
        try:
            on_report(report)
        except Exception:
            log.exception("could not deliver the sync report")
    return report


def start_scheduler(
    rag: object,
    on_report: Callable[[SyncReport], None] | None = None,
    *,
    sync_at_start: bool = True,
) -> BackgroundScheduler:
    """Start the background scheduler: periodic sync, a sync at start-up, daily compaction."""
    settings = rag.settings  # type: ignore[attr-defined]
    scheduler = BackgroundScheduler(
        timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 600},
    )
    trigger = sync_trigger(settings.sync_cron, settings.sync_interval_minutes)
    if trigger is not None:
        scheduler.add_job(scheduled_sync, trigger, args=(rag, on_report, "schedule"), id=SYNC_JOB,
                          replace_existing=True)
    if sync_at_start:
        scheduler.add_job(scheduled_sync, "date", run_date=datetime.now(UTC) + timedelta(seconds=1),
                          args=(rag, on_report, "startup"), id="startup-sync")
    scheduler.add_job(_compact, IntervalTrigger(hours=24), args=(rag,), id=COMPACT_JOB, replace_existing=True)
    scheduler.start()
    log.info("scheduler started (%s)", trigger or "no periodic sync")
    return scheduler


def _compact(rag: object) -> None:
    try:
        rag.compact()  # type: ignore[attr-defined]
    except SyncAlreadyRunning:
        log.info("compaction skipped: a sync is running")
    except Exception:
        log.exception("index compaction failed")


def run_forever(rag: object, on_report: Callable[[SyncReport], None] | None = None) -> None:
    """Block until SIGINT/SIGTERM, then let a running sync finish before exiting."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    scheduler = start_scheduler(rag, on_report or _log_report)
    try:
        stop.wait()
    finally:
        log.warning("stopping: waiting for a running sync to finish")
        scheduler.shutdown(wait=True)


def _log_report(report: SyncReport) -> None:
    log.warning("sync %s: +%d ~%d −%d !%d", report.status, len(report.added), len(report.changed),
                len(report.removed), len(report.failed))
