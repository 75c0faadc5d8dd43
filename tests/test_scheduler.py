"""The APScheduler job: fires on its interval, reports, coalesces with a running sync, shuts down cleanly."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from rag.index.catalog import SyncReport
from rag.ops.scheduler import STARTUP_JOB, SYNC_JOB, scheduled_sync, start_scheduler, sync_trigger
from rag.service import RagService


def write_docs(root: Path) -> Path:
    (root / "sops").mkdir(parents=True)
    (root / "sops/badges.md").write_text("# Badges\n\n## Visitors\n\nVisitor badges are printed at reception.\n")
    (root / "sops/keys.md").write_text("# Keys\n\n## Office keys\n\nSpare office keys are kept by facilities.\n")
    return root


@pytest.fixture
def service(tmp_path: Path, make_settings: Callable[..., Any]) -> RagService:
    # 0.02 minutes: a tick every 1.2 seconds.
    return RagService(make_settings(docs_dir=write_docs(tmp_path / "docs"), sync_interval_minutes=0.02))


def next_report(reports: queue.Queue[SyncReport], timeout: float = 60) -> SyncReport:
    try:
        return reports.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"no sync report within {timeout} s")


def test_the_interval_job_fires_and_hands_over_its_report(service: RagService) -> None:
    reports: queue.Queue[SyncReport] = queue.Queue()
    scheduler = start_scheduler(service, reports.put, sync_at_start=False)
    try:
        job = scheduler.get_job(SYNC_JOB)
        assert job.misfire_grace_time >= 60 and job.max_instances == 1 and job.coalesce
        first = next_report(reports)
        assert first.trigger == "schedule" and first.status == "ok"
        assert sorted(first.added) == ["sops/badges.md", "sops/keys.md"]
        second = next_report(reports)  # the next tick finds nothing to do
        assert second.trigger == "schedule" and not second.has_changes
    finally:
        scheduler.shutdown(wait=True)
    assert service.last_sync_report().trigger == "schedule"
    assert {d.rel_path for d in service.documents()} == {"sops/badges.md", "sops/keys.md"}


def test_shutdown_lets_a_running_sync_finish_and_a_tick_meanwhile_is_coalesced(
    tmp_path: Path, make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = RagService(make_settings(docs_dir=write_docs(tmp_path / "docs"), sync_interval_minutes=None))
    monkeypatch.setenv("RAGBOT_TEST_PAUSE_AT", "before_write")
    monkeypatch.setenv("RAGBOT_TEST_PAUSE_SECONDS", "2")
    reports: queue.Queue[SyncReport] = queue.Queue()
    scheduler = start_scheduler(service, reports.put, sync_at_start=True)
    assert scheduler.get_job(STARTUP_JOB) is not None
    deadline = time.monotonic() + 60
    while service.sync_running_since() is None:
        assert time.monotonic() < deadline, "the start-up sync never started"
        time.sleep(0.05)

    delivered: list[SyncReport] = []
    assert scheduled_sync(service, delivered.append, "manual") is None  # coalesced into the running one
    assert delivered == []

    started = time.monotonic()
    scheduler.shutdown(wait=True)
    waited = time.monotonic() - started

    assert waited > 0.5  # it waited for the paused sync rather than abandoning it
    assert service.sync_running_since() is None
    runs = [reports.get_nowait() for _ in range(reports.qsize())]
    assert [(r.trigger, r.status) for r in runs if r.has_changes] == [("startup", "ok")]
    assert service.store.count() == 2


def test_a_crashing_sync_is_reported_as_failed_and_does_not_kill_the_scheduler_thread(
    service: RagService, caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    delivered: list[SyncReport] = []

    class Broken:
        settings = service.settings

        def sync(self, *, trigger: str = "manual") -> SyncReport:
            calls.append(trigger)
            raise OSError("disk full")

        def compact(self) -> None:
            pass

    caplog.set_level(logging.DEBUG, logger="rag")
    report = scheduled_sync(Broken(), delivered.append, "schedule")

    assert calls == ["schedule"]
    # The report channel hears about it like any failed sync, with the one-line reason.
    assert [(r.status, r.trigger, r.message) for r in delivered] == [("failed", "schedule", "OSError: disk full")]
    assert report is delivered[0] and not report.succeeded
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "disk full" in errors[0].getMessage() and errors[0].exc_info is None


def test_a_successful_scheduled_sync_logs_one_info_line_and_no_warning(
    service: RagService, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="rag")
    report = scheduled_sync(service, None, "schedule")

    assert report is not None and report.status == "ok"
    assert [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("rag.")] == []
    outcome = [r.getMessage() for r in caplog.records if r.name == "rag.ops.scheduler"]
    assert len(outcome) == 1 and outcome[0].startswith("schedule sync ok: +2")


def test_sync_trigger_from_config() -> None:
    assert isinstance(sync_trigger("*/15 * * * *", 30), CronTrigger)  # SYNC_CRON wins
    interval = sync_trigger(None, 0.5)
    assert isinstance(interval, IntervalTrigger) and interval.interval.total_seconds() == 30
    assert sync_trigger(None, None) is None


def test_a_report_callback_that_fails_does_not_stop_the_next_tick(service: RagService) -> None:
    ticks = threading.Event()
    seen: list[SyncReport] = []

    def flaky(report: SyncReport) -> None:
        seen.append(report)
        if len(seen) >= 2:
            ticks.set()
        raise RuntimeError("Slack is down")

    scheduler = start_scheduler(service, flaky, sync_at_start=False)
    try:
        assert ticks.wait(60), "the job stopped after the callback failed"
    finally:
        scheduler.shutdown(wait=True)
    assert all(r.status == "ok" for r in seen)
