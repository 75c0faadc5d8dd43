"""Starting the bot: Socket Mode (default) or HTTP, plus the scheduled sync.

`run(rag, settings)` is what `ragbot serve` and `python -m bot` call. It blocks
until the process is told to stop (Ctrl-C / SIGTERM), then drains the workers.

Start-up order, so that no ack ever waits for the model: connect to Slack
(auth.test), start listening (HTTP) or connect the websocket (Socket Mode), and
only then load the embedding model in the background (`bot.warmup`).

Slack failing at start-up: a token Slack rejects (`invalid_auth`, `token_revoked`, …)
stops with one line and exit status 2, since retrying cannot fix it; a network failure
(connection refused, DNS, timeout, a 5xx) is retried with a growing pause and one
WARNING line per attempt, since Slack or the network usually comes back.

HTTP is served by waitress (`serve_http`), in one process with threads (one
scheduler, one index handle). Waitress reads each request completely in its I/O
loop before a worker thread sees it, so slow or idle connections cannot starve
the threads that ack Slack; on top of that each request must arrive within
`REQUEST_DEADLINE_S` and a connection silent for `IDLE_TIMEOUT_S` is closed.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackClientError
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer

from bot.app import BotRuntime, build_app
from bot.config import BotConfigError, BotSettings, load_bot_settings
from bot.redact import install_redaction
from bot.slack_auth import NETWORK_ERRORS, SlackUnreachable, classify
from bot.wsgi import MAX_BODY_BYTES, WSGIApp, health_app, slack_wsgi_app
from rag.service import RagService

log = logging.getLogger(__name__)

HTTP_THREADS = 8  # acks only: answers run on the bot's own worker pools
REQUEST_DEADLINE_S = 10.0  # a whole request, headers and body, must have arrived by then (Slack's take ms)
IDLE_TIMEOUT_S = 15  # a connection that sends nothing for this long is closed
CONNECTION_LIMIT = 1000  # open connections; beyond it new ones wait in the listen backlog
MAX_HEADER_BYTES = 64 * 1024
RETRY_FIRST_S, RETRY_MAX_S = 2.0, 60.0


@dataclass
class Services:
    app: App
    runtime: BotRuntime
    scheduler: Any | None  # APScheduler BackgroundScheduler, when rag.scheduler is available

    def stop(self) -> None:
        if self.scheduler is not None:
            try:
                self.scheduler.shutdown(wait=True)  # let a running sync finish
            except Exception:  # already stopped
                log.debug("scheduler shutdown", exc_info=True)
        self.runtime.shutdown(wait=True, timeout=30)


def start_services(rag: RagService, settings: BotSettings) -> Services:
    """Connect to Slack (retrying while it is unreachable), build the app, start the scheduled sync.

    The model is *not* loaded here: call `services.runtime.start_background()` once requests
    can be received.
    """
    app, runtime = build_app_when_slack_answers(rag, settings)
    return Services(app=app, runtime=runtime, scheduler=start_scheduled_sync(rag, runtime))


def build_app_when_slack_answers(rag: RagService, settings: BotSettings,
                                 sleep: Any = time.sleep) -> tuple[App, BotRuntime]:
    """`build_app`, retried with one WARNING line per attempt while Slack cannot be reached."""
    pause = RETRY_FIRST_S
    while True:
        try:
            return build_app(rag, settings)
        except SlackUnreachable as err:
            log.warning("%s; retrying in %.0f s", err, pause)
        sleep(pause)
        pause = min(pause * 2, RETRY_MAX_S)


def start_scheduled_sync(rag: RagService, runtime: BotRuntime) -> Any | None:
    try:
        from rag.scheduler import start_scheduler
    except ImportError:
        log.warning("rag.scheduler is not available; scheduled sync is off")
        return None
    from bot.jobs import add_bot_jobs

    scheduler = start_scheduler(rag, runtime.post_sync_report)
    add_bot_jobs(scheduler, runtime)  # follow-through on other processes' syncs, the gaps digest
    return scheduler


def build_socket_mode_handler(app: App, settings: BotSettings) -> SocketModeHandler:
    """The Socket Mode connection (no network until `.connect()`/`.start()`)."""
    token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    return SocketModeHandler(app, app_token=token, web_client=app.client)


# --- the HTTP server ------------------------------------------------------------------------------


class _TimedRequestParser(HTTPRequestParser):
    """Remembers when the first byte of a request arrived."""

    def __init__(self, adj: Any) -> None:
        super().__init__(adj)
        self.started = time.monotonic()


class _TimedChannel(HTTPChannel):
    parser_class = _TimedRequestParser


class SlackHTTPServer(TcpWSGIServer):
    """waitress, plus a deadline for each request to arrive whole (waitress only has an idle timeout)."""

    channel_class = _TimedChannel
    request_deadline = REQUEST_DEADLINE_S

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = time.monotonic() - self.request_deadline
        for channel in list(self.active_channels.values()):
            request = channel.request  # the request still being received, if any
            if request is not None and not channel.requests and getattr(request, "started", cutoff) < cutoff:
                channel.will_close = True

    def serve_in_thread(self, name: str = "http") -> threading.Thread:
        thread = threading.Thread(target=self.run, name=name, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Close the listener and every connection from inside the I/O loop, then stop the threads."""
        socket_map = self._map
        self.trigger.pull_trigger(lambda: wasyncore.close_all(socket_map))
        deadline = time.monotonic() + 5
        while socket_map and time.monotonic() < deadline:
            time.sleep(0.02)
        self.task_dispatcher.shutdown(timeout=5)


def serve_http(app: WSGIApp, host: str, port: int, *, threads: int = HTTP_THREADS,
               request_deadline: float = REQUEST_DEADLINE_S, idle_timeout: float = IDLE_TIMEOUT_S,
               ) -> SlackHTTPServer:
    """A listening server for `app` (call `.run()` or `.serve_in_thread()`); port 0 picks a free one."""
    server = SlackHTTPServer(
        app, host=host, port=port, threads=threads, ident="ragbot",
        channel_timeout=idle_timeout, cleanup_interval=1, connection_limit=CONNECTION_LIMIT,
        asyncore_use_poll=True,  # select() fails beyond 1024 file descriptors
        max_request_body_size=MAX_BODY_BYTES, max_request_header_size=MAX_HEADER_BYTES,
        inbuf_overflow=64 * 1024,  # bodies being received beyond this wait in a temporary file, not memory
        expose_tracebacks=False,
    )
    server.request_deadline = request_deadline
    return server


# --- running --------------------------------------------------------------------------------------


def run(rag: RagService, settings: BotSettings | None = None) -> None:
    """Start the bot in the configured mode and block until stopped."""
    settings = settings or load_bot_settings()
    settings.check_can_start()
    install_redaction(settings.secret_values())
    _log_at(settings.log_level)
    _stop_on_sigterm()
    log.info("starting the Slack bot in %s mode", settings.mode)
    log_what_is_served(rag)
    if settings.mode == "socket":
        _run_socket_mode(rag, settings)
    else:
        _run_http(rag, settings)


def log_what_is_served(rag: RagService) -> None:
    """One INFO line: which folder, how many documents (the wrong folder shows at a glance)."""
    try:
        count: Any = rag.document_count()
    except Exception as err:
        count = f"an unknown number of ({type(err).__name__})"
    log.info("serving documents from %s: %s documents indexed in %s", rag.settings.docs_dir, count,
             rag.settings.lancedb_uri)


def _log_at(level_name: str) -> None:
    """A service logs its start-up and retries (LOG_LEVEL), even under the CLI's quieter default."""
    wanted = logging.getLevelName(level_name.upper())
    bot_logger = logging.getLogger("bot")
    if isinstance(wanted, int) and bot_logger.getEffectiveLevel() > wanted:
        bot_logger.setLevel(wanted)


def _stop_on_sigterm() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def _run_socket_mode(rag: RagService, settings: BotSettings) -> None:
    services = start_services(rag, settings)
    handler = build_socket_mode_handler(services.app, settings)
    health: SlackHTTPServer | None = None
    try:
        extra = lambda: {"slack_connection": {"ok": bool(handler.client.is_connected())}}  # noqa: E731
        health = serve_http(health_app(services.runtime, extra), settings.host, settings.port, threads=2)
        health.serve_in_thread("health")
    except OSError as err:
        log.warning("health check server not started on port %s: %s", settings.port, err)
    try:
        _connect_socket_mode(handler)
        services.runtime.start_background()
        threading.Event().wait()  # until SIGTERM / Ctrl-C
    except (KeyboardInterrupt, SystemExit):
        log.info("stopping")
    finally:
        try:
            handler.close()
        finally:
            if health is not None:
                health.stop()
            services.stop()


def _connect_socket_mode(handler: SocketModeHandler, sleep: Any = time.sleep) -> None:
    """Open the websocket; an app token Slack rejects stops the bot, a network failure is retried."""
    pause = RETRY_FIRST_S
    while True:
        try:
            handler.connect()
            return
        except (SlackClientError, *NETWORK_ERRORS) as err:
            transient, reason = classify(err)
            if not transient:
                raise BotConfigError(f"Slack rejected SLACK_APP_TOKEN ({reason}); check the app-level token "
                                     "(xapp-…, scope connections:write)") from None
            log.warning("Socket Mode: Slack is not reachable (%s); retrying in %.0f s", reason, pause)
        sleep(pause)
        pause = min(pause * 2, RETRY_MAX_S)


def _run_http(rag: RagService, settings: BotSettings) -> None:
    services = start_services(rag, settings)
    try:
        server = serve_http(slack_wsgi_app(services.app, services.runtime), settings.host, settings.port)
    except OSError as err:
        services.stop()
        raise BotConfigError(f"cannot listen on {settings.host}:{settings.port} (PORT/HOST): "
                             f"{err.strerror or err}") from None
    log.info("listening for Slack on http://%s:%s/slack/events", settings.host, server.effective_port)
    services.runtime.start_background()
    try:
        server.run()  # returns on SIGTERM / Ctrl-C
    finally:
        log.info("stopping")
        wasyncore.close_all(server._map)
        server.task_dispatcher.shutdown(timeout=5)
        services.stop()
