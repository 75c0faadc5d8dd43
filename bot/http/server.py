"""Starting the bot: Socket Mode (default) or HTTP, plus the scheduled sync.

`run(rag, settings)` is what `ragbot serve` and `python -m bot` call. It blocks
until the process is told to stop (Ctrl-C / SIGTERM), then drains the workers.

Start-up order: listen on PORT first (/healthz answers from the first second, in both
modes; /slack/events answers 503 until the bot is connected), then connect to Slack
(auth.test), then connect the websocket (Socket Mode) or let Slack's requests through
(HTTP), and only then load the embedding model in the background (`bot.http.warmup`), so
no ack ever waits for it.

Slack failing at start-up (unreachable, a 5xx, or a token it rejects) is retried with
a growing pause and one log line per attempt while /healthz answers 503 naming
`slack_auth` (or `slack_connection`) with the reason: bot/http/startup.py.

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
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer

from bot.config import BotConfigError, BotSettings, load_bot_settings
from bot.delivery.redact import install_redaction
from bot.http.startup import Services, Starting
from bot.http.wsgi import MAX_BODY_BYTES, WSGIApp, slack_wsgi_app
from rag.service import RagService

log = logging.getLogger(__name__)

HTTP_THREADS = 8  # acks only: answers run on the bot's own worker pools
REQUEST_DEADLINE_S = 10.0  # a whole request, headers and body, must have arrived by then (Slack's take ms)
IDLE_TIMEOUT_S = 15  # a connection that sends nothing for this long is closed
CONNECTION_LIMIT = 1000  # open connections; beyond it new ones wait in the listen backlog
MAX_HEADER_BYTES = 64 * 1024


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
        """Stop accepting, let the requests being served finish (a health answer takes at most 2 s), then close
        every connection from inside the I/O loop. Closing first failed the requests in flight with a traceback
        (their worker thread signals the loop through the trigger closed under it)."""
        socket_map = self._map
        self.trigger.pull_trigger(lambda: wasyncore.dispatcher.close(self))  # the listener only (not the trigger)
        self.task_dispatcher.shutdown(timeout=5)
        try:
            self.trigger.pull_trigger(lambda: wasyncore.close_all(socket_map))
        except OSError:  # the loop already ended and closed its trigger: nothing is left to close
            return
        deadline = time.monotonic() + 5
        while socket_map and time.monotonic() < deadline:
            time.sleep(0.02)


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
    _serve(rag, settings)


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


def _serve(rag: RagService, settings: BotSettings) -> None:
    """Listen first (health at once), then connect to Slack however long that takes, then serve until stopped."""
    starting = Starting(rag, settings)
    http = settings.mode == "http"
    server: SlackHTTPServer | None = None
    try:
        server = serve_http(starting.server_app, settings.host, settings.port, threads=HTTP_THREADS if http else 2)
    except OSError as err:
        if http:
            raise BotConfigError(f"cannot listen on {settings.host}:{settings.port} (PORT/HOST): "
                                 f"{err.strerror or err}") from None
        log.warning("health check server not started on port %s: %s", settings.port, err)
    if server is not None:
        server.serve_in_thread("http")
        log.info("/healthz answers on http://%s:%s/healthz", settings.host, server.effective_port)
    starting.start_scheduled_sync()
    services: Services | None = None
    handler: SocketModeHandler | None = None
    try:
        services = starting.connect()
        if http:
            starting.server_app.open(slack_wsgi_app(services.app, services.runtime))
            log.info("listening for Slack on http://%s:%s/slack/events", settings.host,
                     server.effective_port if server is not None else settings.port)
        else:
            handler = build_socket_mode_handler(services.app, settings)
            starting.connect_socket_mode(handler)
        services.runtime.start_background()
        threading.Event().wait()  # until SIGTERM / Ctrl-C
    except (KeyboardInterrupt, SystemExit):
        log.info("stopping")
    finally:
        try:
            if handler is not None:
                handler.close()
        finally:
            if server is not None:
                server.stop()
            if services is not None:
                services.stop()
            elif starting.scheduler is not None:  # stopped before Slack ever answered
                starting.scheduler.shutdown(wait=True)  # let a running sync finish
