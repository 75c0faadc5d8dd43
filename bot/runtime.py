"""What the bot's parts share once it is wired (bot/app.py builds it): the pools, the stores, Slack's client.

The listeners get the few of these they use (bot/listeners/); the start-up, the HTTP server, /healthz and the
scheduled jobs get the whole of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.config import BotSettings
from bot.delivery.listings import sync_report_message
from bot.delivery.notices import Notices
from bot.delivery.redact import Redactor
from bot.durable.answers import DurableAnswers
from bot.durable.dedup import DedupStore
from bot.durable.jobqueue import JobKeeper
from bot.followthrough.feedback_log import FeedbackLog
from bot.followthrough.watcher import FollowThrough
from bot.http.health import BotHealth
from bot.http.slack_auth import AuthChecker, SlackAuthStatus
from bot.http.warmup import WarmUp
from bot.listeners.admins import AdminCheck
from bot.listeners.mentions import Activity
from bot.workers import WorkerPool
from rag.service import RagService, SyncReport

log = logging.getLogger(__name__)


@dataclass
class BotRuntime:
    """What the listeners share; `shutdown()` stops the pools and closes the stores."""

    rag: RagService
    settings: BotSettings
    client: WebClient
    answers: WorkerPool
    control: WorkerPool
    dedup: DedupStore
    feedback: FeedbackLog
    admins: AdminCheck
    redactor: Redactor
    auth: SlackAuthStatus
    warm: WarmUp
    health_view: BotHealth
    durable: DurableAnswers  # durable questions (bot/durable/jobqueue.py)
    followthrough: FollowThrough  # marks posted answers whose cited documents changed
    votes: Any  # where 👍/👎 are claimed once per user per answer (bot/coordination.py vote_store)
    auth_checker: AuthChecker | None = None
    keeper: JobKeeper | None = None  # renews this process's leases, takes over a dead one's questions
    notices: Notices = field(init=False)  # "busy" and other notices to askers, retried through rate limits
    activity: Activity = field(default_factory=Activity)  # who the bot is, what it answered (for /healthz)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.notices = Notices(self.client, redact=self.redactor)

    def shutdown(self, *, wait: bool = True, timeout: float | None = 30.0) -> None:
        if self.auth_checker is not None:
            self.auth_checker.stop()
        self.followthrough.stop()
        self.answers.shutdown(wait=wait, timeout=timeout)
        self.control.shutdown(wait=wait, timeout=timeout)
        self.notices.shutdown(wait=wait)
        if self.keeper is not None:
            self.keeper.stop()  # questions still held are taken over when their lease runs out
        self.durable.jobs.close()
        self.dedup.close()
        if self.votes is not None:
            self.votes.close()

    def start_background(self) -> None:
        """After the bot is taking requests: load the model, and re-check the token periodically."""
        self.warm.start()
        if self.keeper is not None:
            self.keeper.start()
        if self.auth_checker is None:
            self.auth_checker = AuthChecker(self.client, self.auth, self.settings.slack_auth_check_seconds)
            self.auth_checker.start()

    def health(self, extra: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """For `/healthz`: "ok" only when every check passes; never raises, never names a document."""
        return self.health_view.info(extra)

    def post_sync_report(self, report: SyncReport) -> None:
        """Scheduler callback: tell SYNC_REPORT_CHANNEL when a sync changed or failed something."""
        if report.has_changes:
            report.answers_marked = self.followthrough.after_sync()
        channel = self.settings.sync_report_channel
        if not channel:
            return
        if not (report.has_changes or report.failed or report.status in ("failed", "refused")):
            return
        message = sync_report_message(report, title="Scheduled sync" if report.trigger == "schedule"
                                      else f"Sync ({report.trigger})")
        try:
            self.client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
        except SlackClientError as err:
            log.error("could not post the sync report to %s: %s", channel, self.redactor(str(err)))
