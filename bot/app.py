"""Composition of the Slack side: Bolt app, Web API client, worker pools, dedup, feedback.

`build_app` is the one place that wires them, for Socket Mode, HTTP mode and
tests alike (tests pass a client pointed at a fake Slack).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App
from slack_bolt.error import BoltError
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.config import BotSettings
from bot.delivery.notices import Notices
from bot.delivery.redact import Redactor, scrub_responses
from bot.delivery.render import FEEDBACK_DOWN, FEEDBACK_UP, SOURCES_PAGE_ACTION, sync_report_message
from bot.durable.answers import DurableAnswers, capacity_of, shared_stores
from bot.durable.dedup import DedupMiddleware, DedupStore
from bot.durable.jobqueue import DurableQuestionsMiddleware, JobKeeper
from bot.followthrough.feedback_log import FeedbackLog
from bot.followthrough.watcher import FollowThrough
from bot.http.health import BotHealth
from bot.http.slack_auth import (
    NETWORK_ERRORS,
    AuthChecker,
    AuthWatchingClient,
    SlackAuthStatus,
    SlackRejected,
    SlackUnreachable,
    classify,
    quiet_slack_calls,
)
from bot.http.warmup import WarmUp
from bot.listeners.admins import AdminCheck
from bot.listeners.comments import CALLBACK_ID as COMMENT_CALLBACK
from bot.listeners.handlers import Handlers
from bot.listeners.questions import is_answerable
from bot.listeners.votes import vote_store
from bot.workers import WorkerPool
from rag.secrets import register_secrets
from rag.service import RagService, SyncReport

log = logging.getLogger(__name__)


class _TokenUnused(logging.Filter):
    """Bolt warns that the SLACK_BOT_TOKEN it reads from the environment "will be unused" whenever it is handed
    a client, as it always is here: a line per start (and per attempt) that says nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


logging.getLogger("bot.bolt").addFilter(_TokenUnused())

CONTROL_THREADS = 2
CONTROL_QUEUE = 50


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
    auth_checker: AuthChecker | None = None
    durable: DurableAnswers | None = None  # durable questions (bot/durable/jobqueue.py)
    keeper: JobKeeper | None = None  # renews this process's leases, takes over a dead one's questions
    followthrough: FollowThrough | None = None  # marks posted answers whose cited documents changed
    notices: Notices = field(init=False)  # "busy" and other notices to askers, retried through rate limits
    votes: Any = None  # where 👍/👎 are claimed once per user per answer (bot/listeners/votes.py)
    bot_user_id: str | None = None
    bot_id: str | None = None
    answered: int = 0
    busy_replies: int = 0
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.notices = Notices(self.client, redact=self.redactor)

    def shutdown(self, *, wait: bool = True, timeout: float | None = 30.0) -> None:
        if self.auth_checker is not None:
            self.auth_checker.stop()
        if self.followthrough is not None:
            self.followthrough.stop()
        self.answers.shutdown(wait=wait, timeout=timeout)
        self.control.shutdown(wait=wait, timeout=timeout)
        self.notices.shutdown(wait=wait)
        if self.keeper is not None:
            self.keeper.stop()  # questions still held are taken over when their lease runs out
        if self.durable is not None:
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
        if self.followthrough is not None and report.has_changes:
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


def make_client(settings: BotSettings) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    kwargs: dict[str, Any] = {"token": token, "timeout": 30}
    if settings.slack_api_url:
        kwargs["base_url"] = settings.slack_api_url
    client = AuthWatchingClient(**kwargs)  # scrubs secrets from all it posts, watches for token errors
    attach_retry_handlers(client)
    return client


def attach_retry_handlers(client: WebClient) -> WebClient:
    """Retry 429s (honouring Retry-After) and dropped connections instead of failing the answer."""
    kinds = {type(h) for h in client.retry_handlers}
    if ConnectionErrorRetryHandler not in kinds:
        client.retry_handlers.append(ConnectionErrorRetryHandler(max_retry_count=2))
    if RateLimitErrorRetryHandler not in kinds:
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def build_app(
    rag: RagService,
    settings: BotSettings,
    *,
    client: WebClient | None = None,
    token_verification_enabled: bool = True,
    health: BotHealth | None = None,
) -> tuple[App, BotRuntime]:
    """The Bolt app with all listeners, and the runtime they share (call `runtime.shutdown()` when done).

    Raises `SlackRejected` (a `BotConfigError`, one line) when Slack rejects the token, `SlackUnreachable`
    when Slack cannot be reached or answers with a transient error (the caller may retry; bot/http/startup.py).
    Neither logs anything: the caller's one line says it. `health`: /healthz's view, when the server is
    already answering it (bot/http/startup.py); it gets the Slack status and the warm-up from there.
    """
    client = attach_retry_handlers(client or make_client(settings))
    if health is None:
        auth = SlackAuthStatus()
        health = BotHealth(rag, auth, WarmUp(rag, delay_s=settings.test_warmup_delay_seconds), mode=settings.mode)
    auth = health.sources.auth
    redactor = Redactor(settings.secret_values())
    register_secrets(*settings.secret_values())
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    try:
        with quiet_slack_calls(client):
            app = App(
                name="ragbot",
                client=client,
                signing_secret=signing_secret,
                token_verification_enabled=token_verification_enabled,
                request_verification_enabled=settings.mode == "http",
                logger=logging.getLogger("bot.bolt"),
            )
    except (BoltError, SlackClientError, *NETWORK_ERRORS) as err:
        transient, reason = classify(err)
        reason = redactor(reason)
        if transient:
            raise SlackUnreachable(f"Slack is not reachable at {client.base_url} ({reason})") from None
        raise SlackRejected(f"Slack rejected SLACK_BOT_TOKEN ({reason}); check the token "
                            "and SLACK_API_URL") from None
    auth.observe(True, "auth.test ok", quiet=True)
    if isinstance(client, AuthWatchingClient):
        client.auth_status = auth  # from now on every answer from Slack tells /healthz about the token

    state_dir = rag.settings.resolved_state_dir
    stores = shared_stores(rag, settings, client)  # SQLite next to the index, or Redis (REDIS_URL)
    log.info("questions, de-duplication and the sync lock are kept in %s",
             "Redis (REDIS_URL)" if stores.where == "redis" else f"SQLite and a file lock in {state_dir}")
    runtime = BotRuntime(
        rag=rag,
        settings=settings,
        client=client,
        answers=WorkerPool("answer", settings.worker_threads, settings.queue_max),
        control=WorkerPool("control", CONTROL_THREADS, CONTROL_QUEUE),
        dedup=stores.dedup,
        feedback=stores.feedback,  # kept as LOG_QUESTIONS allows (rag/privacy.py)
        admins=AdminCheck(client, settings.admin_user_ids,
                          include_workspace_admins=settings.admins_include_workspace_admins),
        redactor=redactor,
        auth=auth,
        warm=health.sources.warm,
        health_view=health,
    )
    health.runtime = runtime

    runtime.followthrough = FollowThrough(client, rag, watch_days=settings.answer_watch_days, ledger=stores.ledger,
                                          scope_for=settings.scope_for)
    runtime.votes = vote_store(stores, state_dir, rag.settings.question_retention_days)
    runtime.durable = DurableAnswers(stores.jobs, client)
    handlers = Handlers(runtime)
    runtime.keeper = JobKeeper(stores.jobs, capacity_of(runtime.answers), handlers.resume)
    app.use(scrub_responses)
    app.use(DedupMiddleware(runtime.dedup, is_answerable))
    app.use(DurableQuestionsMiddleware(stores.jobs, is_answerable))  # stored before the ack
    app.event("app_mention")(handlers.on_event)
    app.event("message")(handlers.on_event)
    app.command("/rag-sources")(handlers.on_sources)
    app.command("/rag-resync")(handlers.on_resync)
    app.action(FEEDBACK_UP)(handlers.on_feedback)
    app.action(FEEDBACK_DOWN)(handlers.on_feedback)
    app.view(COMMENT_CALLBACK)(handlers.comments.on_submit)
    app.action(re.compile(rf"^{SOURCES_PAGE_ACTION}_\d+$"))(handlers.on_sources_page)
    app.error(handlers.on_error)
    return app, runtime

