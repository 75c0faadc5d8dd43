"""What every listener shares: the control pool's fallback and the one-line reason of an error."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.delivery.redact import describe_exception

if TYPE_CHECKING:
    from bot.delivery.redact import Redactor
    from bot.workers import WorkerPool

log = logging.getLogger(__name__)


def reason(redactor: Redactor, err: BaseException) -> str:
    """An error in one line, with the bot's secrets scrubbed (what a user or the log is told)."""
    return describe_exception(err, redactor)


def control_submitter(control: WorkerPool) -> Callable[[Callable[[], Any]], None]:
    """Run a quick job (a Web API call, a log write) on the control pool; if it is jammed, here, rather than
    drop it."""

    def submit(job: Callable[[], Any]) -> None:
        if control.submit(job) is None:
            job()

    return submit


def on_error(redactor: Redactor) -> Callable[[Exception, dict[str, Any]], None]:
    """Bolt's error handler: one line, no secrets."""

    def handle(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error for %s: %s", (body or {}).get("type"), reason(redactor, error))

    return handle
