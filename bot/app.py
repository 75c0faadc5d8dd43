"""Composition of the Slack side: Bolt app, Web API client, worker pools, stores, listeners.

`build_app` is the one place that wires them, for Socket Mode, HTTP mode and tests alike (tests pass a client
pointed at a fake Slack); bot/coordination.py picks the stores, bot/runtime.py is what the parts share.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App
from slack_bolt.error import BoltError
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.config import BotSettings
from bot.coordination import SharedStores, shared_stores, vote_store
from bot.delivery.redact import Redactor, scrub_responses
from bot.delivery.render import FEEDBACK_DOWN, FEEDBACK_UP, SOURCES_PAGE_ACTION
from bot.durable.answers import DurableAnswers, capacity_of
from bot.durable.dedup import DedupMiddleware
from bot.durable.jobqueue import DurableQuestionsMiddleware, JobKeeper
from bot.followthrough.watcher import FollowThrough
from bot.http.health import BotHealth
from bot.http.slack_auth import (
    NETWORK_ERRORS,
    AuthWatchingClient,
    SlackAuthStatus,
    SlackRejected,
    SlackUnreachable,
    classify,
    quiet_slack_calls,
)
from bot.http.warmup import WarmUp
from bot.listeners.admins import AdminCheck
from bot.listeners.commands import Commands
from bot.listeners.comments import CALLBACK_ID as COMMENT_CALLBACK
from bot.listeners.comments import FeedbackComments
from bot.listeners.common import control_submitter, on_error
from bot.listeners.mentions import Mentions
from bot.listeners.questions import is_answerable
from bot.listeners.votes import Votes
from bot.runtime import BotRuntime
from bot.workers import WorkerPool
from rag.ops.secrets import register_secrets
from rag.service import RagService

log = logging.getLogger(__name__)


class _TokenUnused(logging.Filter):
    """Bolt warns that the SLACK_BOT_TOKEN it reads from the environment "will be unused" whenever it is handed
    a client, as it always is here: a line per start (and per attempt) that says nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


logging.getLogger("bot.bolt").addFilter(_TokenUnused())

CONTROL_THREADS = 2
CONTROL_QUEUE = 50


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
        health = BotHealth(rag, auth, WarmUp(rag), mode=settings.mode)
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
        feedback=stores.feedback,  # kept as LOG_QUESTIONS allows (rag/index/privacy.py)
        admins=AdminCheck(client, settings.admin_user_ids,
                          include_workspace_admins=settings.admins_include_workspace_admins),
        redactor=redactor,
        auth=auth,
        warm=health.sources.warm,
        health_view=health,
        durable=DurableAnswers(stores.jobs, client),
        followthrough=FollowThrough(client, rag, watch_days=settings.answer_watch_days, ledger=stores.ledger,
                                    scope_for=settings.scope_for),
        votes=vote_store(stores, state_dir, rag.settings.question_retention_days),
    )
    health.runtime = runtime
    _listen(app, runtime, stores)
    return app, runtime


def _listen(app: App, rt: BotRuntime, stores: SharedStores) -> None:
    """Each listener with the few parts it uses; the middleware that runs before all of them."""
    submit = control_submitter(rt.control)
    mentions = Mentions(rag=rt.rag, client=rt.client, settings=rt.settings, answers=rt.answers, control=rt.control,
                        notices=rt.notices, durable=rt.durable, warm=rt.warm, followthrough=rt.followthrough,
                        activity=rt.activity, redactor=rt.redactor, submit=submit)
    commands = Commands(rag=rt.rag, client=rt.client, settings=rt.settings, admins=rt.admins, control=rt.control,
                        followthrough=rt.followthrough, redactor=rt.redactor)
    comments = FeedbackComments(rag=rt.rag, client=rt.client, feedback=rt.feedback, notices=rt.notices,
                                redactor=rt.redactor, submit=submit)
    votes = Votes(rag=rt.rag, feedback=rt.feedback, claims=rt.votes, comments=comments, submit=submit)
    rt.keeper = JobKeeper(stores.jobs, capacity_of(rt.answers), mentions.resume)
    app.use(scrub_responses)
    app.use(DedupMiddleware(rt.dedup, is_answerable))
    app.use(DurableQuestionsMiddleware(stores.jobs, is_answerable))  # stored before the ack
    app.event("app_mention")(mentions.on_event)
    app.event("message")(mentions.on_event)
    app.command("/rag-sources")(commands.on_sources)
    app.command("/rag-resync")(commands.on_resync)
    app.action(FEEDBACK_UP)(votes.on_click)
    app.action(FEEDBACK_DOWN)(votes.on_click)
    app.view(COMMENT_CALLBACK)(comments.on_submit)
    app.action(re.compile(rf"^{SOURCES_PAGE_ACTION}_\d+$"))(commands.on_sources_page)
    app.error(on_error(rt.redactor))
