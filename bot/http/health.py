"""What `/healthz` reports: each thing the bot needs, checked, and 503 when any of them is broken.

The body is readable by whoever can reach the port, so it carries no document
names, paths or error texts (those can name files): only states, times, counts
and Slack's error codes. The document count stays: it names nothing, and it is
the quickest sign of an unmounted share (0) or a half-synced one.

It answers from the bot's first second: the server listens before Slack is asked
(Slack down, or a token refused, shows as `slack_auth` with the reason), and
within its own deadline whatever hangs. Each check that touches something that can
hang (the index, the sync state and its Redis lease, Redis, Ollama) runs on its
own thread with a deadline shared by the whole answer (`HEALTH_DEADLINE_S`); one
that has not answered is reported `timed_out`, and a check still hanging from an
earlier request is waited on again, never started twice. Ollama is reported but
not required: without it answers are quoted passages, so it makes the body's
`degraded` list, not a 503 that would get a working bot restarted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.http.slack_auth import SlackAuthStatus
from bot.http.warmup import WarmUp
from rag.service import RagService

log = logging.getLogger(__name__)

BROKEN_SYNC_STATUSES = ("failed", "refused")
HEALTH_DEADLINE_S = 2.0  # the whole /healthz answer, every check included (probes commonly time out at 1-5 s)

Check = dict[str, Any]


@dataclass(frozen=True)
class HealthSources:
    rag: RagService
    auth: SlackAuthStatus
    warm: WarmUp


class _Probe:
    def __init__(self, run: Callable[[], Check]) -> None:
        self._run = run
        self.done = threading.Event()
        self.result: Check = {}
        self.started = time.monotonic()

    def run(self) -> None:
        try:
            self.result = self._run()
        except Exception as err:  # never raises: a broken check is a finding
            self.result = {"ok": False, "detail": f"check failed ({type(err).__name__})"}
        finally:
            self.done.set()


class Probes:
    """Runs checks on daemon threads under one deadline; at most one run of each check is in flight."""

    def __init__(self, deadline_s: float = HEALTH_DEADLINE_S) -> None:
        self.deadline_s = deadline_s
        self._lock = threading.Lock()
        self._running: dict[str, _Probe] = {}

    def run(self, checks: dict[str, Callable[[], Check]]) -> dict[str, Check]:
        end = time.monotonic() + self.deadline_s
        probes = {name: self._start(name, check) for name, check in checks.items()}
        results: dict[str, Check] = {}
        for name, probe in probes.items():
            if probe.done.wait(max(0.0, end - time.monotonic())):
                results[name] = probe.result
            else:
                waited = time.monotonic() - probe.started
                results[name] = {"ok": False, "timed_out": True,
                                 "detail": f"no answer within {self.deadline_s:g} s (waiting {waited:.0f} s)"}
        return results

    def _start(self, name: str, check: Callable[[], Check]) -> _Probe:
        with self._lock:
            probe = self._running.get(name)
            if probe is not None and not probe.done.is_set():
                return probe  # still hanging since an earlier request: wait on it, do not pile up threads
            probe = self._running[name] = _Probe(check)
        threading.Thread(target=probe.run, name=f"health-{name}", daemon=True).start()
        return probe


def health_checks(src: HealthSources, probes: Probes | None = None, *,
                  more: dict[str, Callable[[], Check]] | None = None) -> dict[str, Check]:
    """{name: {"ok": bool, ...}} for Slack auth, the model, the index and the last sync (plus `more`);
    never raises, and answers within the probes' deadline."""
    auth = src.auth.state
    checks: dict[str, Check] = {
        "slack_auth": {"ok": auth.ok is True, "detail": auth.detail, "checked": _iso(auth.at)},
        "model": {"ok": src.warm.state == "ready", "state": src.warm.state},
    }
    slow: dict[str, Callable[[], Check]] = {"index": lambda: _index(src.rag), "last_sync": lambda: _last_sync(src.rag)}
    checks.update((probes or Probes()).run(slow | (more or {})))
    return checks


def _index(rag: RagService) -> Check:
    try:
        documents = rag.document_count()
        if documents == 0 and rag.store.exists():
            # a replica whose own sync manifest (STATE_DIR) is empty, reading an index other ones write (S3)
            chunks = rag.store.count()
            if chunks:
                documents = len(rag.store.chunk_counts())
        check: Check = {"ok": documents > 0, "documents": documents}
        if documents == 0:
            check["detail"] = "no documents indexed: check DOCS_DIR and run a sync"
        return check
    except Exception as err:
        return {"ok": False, "detail": f"index unreadable ({type(err).__name__})"}


def _last_sync(rag: RagService) -> dict[str, Any]:
    try:
        report = rag.last_sync_report()
        running = rag.sync_running_since()
        quarantined = len(rag.quarantined_files())  # files whose parse killed a sync (rag/ingest/sync/quarantine.py)
        held_back = len(rag.state.held_back())  # pinned by a rollback: served as before although the file changed
    except Exception as err:
        return {"ok": False, "detail": f"sync state unreadable ({type(err).__name__})"}
    check: dict[str, Any] = {"ok": True, "status": "never"}
    if report is not None:
        check = {
            "ok": report.status not in BROKEN_SYNC_STATUSES,
            "status": report.status,
            "finished": report.finished.isoformat() if report.finished else None,
            "failed_files": len(report.failed),
        }
    if running is not None:
        check["running_since"] = running.isoformat()
    check["quarantined_files"] = quarantined  # a count, never names: not read again until they change
    check["held_back"] = held_back  # an admin's choice, not a failure; `ragbot release` ends it
    return check


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _ollama(rag: RagService) -> Check:
    health = rag.ollama_health()
    return {"ok": bool(health.reachable and health.model_pulled), "reachable": bool(health.reachable),
            "model_pulled": bool(health.model_pulled)}


class BotHealth:
    """/healthz's body from the first second (before Slack answers, `runtime` is None) to the last."""

    def __init__(self, rag: RagService, auth: SlackAuthStatus, warm: WarmUp, *, mode: str,
                 deadline_s: float = HEALTH_DEADLINE_S) -> None:
        self.sources = HealthSources(rag, auth, warm)
        self.mode = mode
        self.probes = Probes(deadline_s)
        self.runtime: Any = None  # the BotRuntime, once Slack answered and the app is built
        self.connection: Callable[[], Check] | None = None  # Socket Mode: is the websocket up
        self._redis: Any = None

    def info(self, extra: dict[str, Check] | None = None) -> dict[str, Any]:
        """"ok" only when every required check passes; never raises, never names a document."""
        more: dict[str, Callable[[], Check]] = {"ollama": lambda: _ollama(self.sources.rag)}
        if self.sources.rag.settings.redis_url:
            more["redis"] = self._ping_redis
        checks = health_checks(self.sources, self.probes, more=more)
        checks["ollama"]["required"] = False  # timed out or not: without it answers are quoted passages
        if self.connection is not None:
            checks["slack_connection"] = self.connection()
        checks.update(extra or {})
        failing = [name for name, check in checks.items() if not check.get("ok") and check.get("required", True)]
        degraded = [name for name, check in checks.items() if not check.get("ok") and not check.get("required", True)]
        runtime = self.runtime
        return {
            "status": "ok" if not failing else "failing",
            "failing": failing,
            "degraded": degraded,
            "checks": checks,
            "mode": self.mode,
            "answers_running": runtime.answers.running if runtime is not None else 0,
            "answers_waiting": runtime.answers.waiting if runtime is not None else 0,
            "answered": runtime.activity.answered if runtime is not None else 0,
            "busy_replies": runtime.activity.busy_replies if runtime is not None else 0,
        }

    def _ping_redis(self) -> Check:
        if self._redis is None:
            from bot.durable.redis_stores import connect  # the bot's own way to reach REDIS_URL

            self._redis = connect(self.sources.rag.settings.redis_url)
        try:
            self._redis.ping()
        except Exception as err:  # redis.RedisError and what the socket raises; never the URL (it holds a password)
            return {"ok": False, "detail": f"Redis not answering ({type(err).__name__})"}
        return {"ok": True}
