"""Scheduled sync (APScheduler) for `ragbot serve` and the Slack bot.

APScheduler's `max_instances=1` only covers one job id (the start-up sync and
a manual "sync now" are other jobs), and several bot replicas each run their
own scheduler, so what keeps syncs apart is the lock inside the sync itself
(`rag.ops.locks`); a tick that finds a sync running is logged and skipped
(coalesced). `misfire_grace_time` is raised from 3.11's 1 s so a tick delayed
by a busy machine still runs. `shutdown(wait=True)` lets a running sync finish:
a sync only stops between commits, and every commit leaves a usable index.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from rag.config import RagSettings
from rag.index.catalog import SyncAlreadyRunning, SyncReport, failed_report
from rag.ops.cron import cron_trigger

log = logging.getLogger(__name__)

SYNC_JOB = "scheduled-sync"
STARTUP_JOB = "startup-sync"
COMPACT_JOB = "compact-index"
MISFIRE_GRACE_S = 600
COMPACT_EVERY = timedelta(hours=24)

OnReport = Callable[[SyncReport], None]


class Syncable(Protocol):
    """What the scheduler needs from `rag.service.RagService`."""

    settings: RagSettings

    def sync(self, *, trigger: str = ...) -> SyncReport: ...

    def compact(self) -> None: ...


def sync_trigger(cron: str | None, interval_minutes: float | None) -> CronTrigger | IntervalTrigger | None:
    """SYNC_CRON wins over SYNC_INTERVAL_MINUTES; neither means no periodic sync."""
    if cron:
        return cron_trigger(cron)  # checked at start (rag/ops/cron.py): the same rule
    if interval_minutes:
        return IntervalTrigger(seconds=interval_minutes * 60, timezone=UTC)
    return None


def scheduled_sync(rag: Syncable, on_report: OnReport | None, trigger: str) -> SyncReport | None:
    """One tick: sync, log the outcome once, hand the report to `on_report` (the Slack report channel).

    A sync that crashes is reported like one that failed; a running sync means this tick is coalesced.
    """
    started = datetime.now(UTC)
    try:
        report = rag.sync(trigger=trigger)
    except SyncAlreadyRunning as err:
        log.info("%s sync coalesced: %s", trigger, err)
        return None
    except Exception as err:
        log.debug("%s sync crashed", trigger, exc_info=True)
        report = failed_report(trigger, err, started)
    log_report(report)
    if on_report:
        try:
            on_report(report)
        except Exception:
            log.exception("could not deliver the sync report")
    return report


def log_report(report: SyncReport) -> None:
    """One line per sync: INFO when it went well, WARNING when some files failed, ERROR when it did not run."""
    level = logging.INFO
    if not report.succeeded or report.status == "refused":
        level = logging.ERROR
    elif report.failed or report.status == "partial":
        level = logging.WARNING
    log.log(level, "%s sync %s: +%d ~%d →%d −%d !%d, %d chunks embedded, %.1fs%s", report.trigger, report.status,
            len(report.added), len(report.changed), len(report.renamed), len(report.removed), len(report.failed),
            report.chunks_embedded, report.duration_s, f" ({report.message})" if report.message else "")


def start_scheduler(rag: Syncable, on_report: OnReport | None = None, *,
                    sync_at_start: bool = True) -> BackgroundScheduler:
    """Start the background scheduler: periodic sync, a sync at start-up, daily compaction."""
    settings = rag.settings
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S},
    )
    trigger = sync_trigger(settings.sync_cron, settings.sync_interval_minutes)
    if trigger is not None:
        scheduler.add_job(scheduled_sync, trigger, args=(rag, on_report, "schedule"), id=SYNC_JOB,
                          replace_existing=True)
    if sync_at_start:
        scheduler.add_job(scheduled_sync, "date", run_date=datetime.now(UTC) + timedelta(seconds=1),
                          args=(rag, on_report, "startup"), id=STARTUP_JOB, replace_existing=True)
    scheduler.add_job(_compact, IntervalTrigger(seconds=COMPACT_EVERY.total_seconds(), timezone=UTC),
                      args=(rag,), id=COMPACT_JOB, replace_existing=True)
    scheduler.start()
    log.info("scheduler started (%s)", trigger or "no periodic sync")
    return scheduler


def _compact(rag: Syncable) -> None:
    try:
        rag.compact()
    except SyncAlreadyRunning:
        log.info("compaction skipped: a sync is running")
    except Exception:
        log.exception("index compaction failed")


def run_forever(rag: Syncable, on_report: OnReport | None = None) -> None:
    """Block until SIGINT/SIGTERM, then let a running sync finish before exiting."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    scheduler = start_scheduler(rag, on_report)
    try:
        stop.wait()
    finally:
        log.warning("stopping: waiting for a running sync to finish")
        scheduler.shutdown(wait=True)
