"""What `/healthz` reports: each thing the bot needs, checked, and 503 when any of them is broken.

The body is readable by whoever can reach the port, so it carries no document
names, paths or error texts (those can name files): only states, times, counts
and Slack's error codes. The document count stays: it names nothing, and it is
the quickest sign of an unmounted share (0) or a half-synced one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.slack_auth import SlackAuthStatus
from bot.warmup import WarmUp
from rag.service import RagService

BROKEN_SYNC_STATUSES = ("failed", "refused")


@dataclass(frozen=True)
class HealthSources:
    rag: RagService
    auth: SlackAuthStatus
    warm: WarmUp


def health_checks(src: HealthSources) -> dict[str, dict[str, Any]]:
    """{name: {"ok": bool, ...}} for Slack auth, the model, the index and the last sync; never raises."""
    auth = src.auth.state
    checks: dict[str, dict[str, Any]] = {
        "slack_auth": {"ok": auth.ok is True, "detail": auth.detail, "checked": _iso(auth.at)},
        "model": {"ok": src.warm.state == "ready", "state": src.warm.state},
    }
    try:
        documents = src.rag.document_count()
        if documents == 0 and src.rag.store.exists():
            # a replica whose own sync manifest (STATE_DIR) is empty, reading an index other ones write (S3)
            chunks = src.rag.store.count()
            if chunks:
                documents = len(src.rag.store.chunk_counts())
        checks["index"] = {"ok": documents > 0, "documents": documents}
        if documents == 0:
            checks["index"]["detail"] = "no documents indexed: check DOCS_DIR and run a sync"
    except Exception as err:
        checks["index"] = {"ok": False, "detail": f"index unreadable ({type(err).__name__})"}
    checks["last_sync"] = _last_sync(src.rag)
    return checks


def _last_sync(rag: RagService) -> dict[str, Any]:
    try:
        report = rag.last_sync_report()
        running = rag.sync_running_since()
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
    return check


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
