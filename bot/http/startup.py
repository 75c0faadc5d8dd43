"""Starting the bot while Slack may be down: listen first, then connect with one log line per attempt.

`Starting` holds what /healthz needs before there is a Bolt app (the Slack status, the
warm-up, the index), so the HTTP server can listen at once in both modes: a monitor
sees a 503 naming `slack_auth` (or `slack_connection`) and the reason, not a dead port.
Then Slack is asked. Unreachable, answering 5xx, or refusing a token: one line per
attempt (a WARNING while it cannot be reached, an ERROR while it refuses a token),
retried with a pause growing from `RETRY_FIRST_S` to `RETRY_MAX_S`, until SIGTERM.
A refused token is retried too: the process keeps answering /healthz with the reason
instead of restarting in a loop, and a token that Slack accepts again is picked up.

Each attempt is quiet apart from that line: the client's retry handlers and slack_sdk's
per-request ERROR lines are off for it (`quiet_slack_calls`), and Bolt's warning that
the `SLACK_BOT_TOKEN` it finds in the environment "will be unused" (we hand it the
client) is dropped for good (bot/app.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.app import build_app
from bot.config import BotSettings
from bot.http.health import BotHealth
from bot.http.slack_auth import (
    NETWORK_ERRORS,
    SlackAuthStatus,
    SlackRejected,
    SlackUnreachable,
    classify,
    quiet_slack_calls,
)
from bot.http.warmup import WarmUp
from bot.http.wsgi import StartingApp, slack_wsgi_app
from bot.runtime import BotRuntime
from rag.service import RagService

log = logging.getLogger("bot.http.server")  # the start-up lines read as the server's, as they always did

RETRY_FIRST_S, RETRY_MAX_S = 2.0, 60.0


@dataclass
class Services:
    app: App
    runtime: BotRuntime
    scheduler: Any | None  # APScheduler BackgroundScheduler, when rag.ops.scheduler is available

    def stop(self) -> None:
        if self.scheduler is not None:
            try:
                self.scheduler.shutdown(wait=True)  # let a running sync finish
            except Exception:  # already stopped
                log.debug("scheduler shutdown", exc_info=True)
        self.runtime.shutdown(wait=True, timeout=30)


class Starting:
    """The bot from its first second: health at once (`server_app`), Slack when it answers (`connect`)."""

    def __init__(self, rag: RagService, settings: BotSettings, *, sleep: Callable[[float], None] = time.sleep,
                 client: WebClient | None = None) -> None:
        self.rag, self.settings = rag, settings
        self.auth = SlackAuthStatus()
        self.warm = WarmUp(rag)
        self.health = BotHealth(rag, self.auth, self.warm, mode=settings.mode)
        self.server_app = StartingApp(self.health.info, events=settings.mode == "http")
        self._sleep = sleep
        self._client = client  # tests: a client pointed at a fake Slack
        self.scheduler: Any | None = None

    def start_scheduled_sync(self) -> None:
        """The scheduled sync runs whether Slack answers or not (the index stays fresh through an outage);
        its reports reach SYNC_REPORT_CHANNEL once the bot is connected."""
        try:
            from rag.ops.scheduler import start_scheduler
        except ImportError:
            log.warning("rag.ops.scheduler is not available; scheduled sync is off")
            return
        self.scheduler = start_scheduler(self.rag, self._post_sync_report)

    def _post_sync_report(self, report: Any) -> None:
        runtime = self.health.runtime
        if runtime is not None:
            runtime.post_sync_report(report)

    def connect(self) -> Services:
        """Build the app once Slack answers (retrying), then add the bot's own jobs to the scheduler."""
        app, runtime = self._build_app_when_slack_answers()
        self.health.runtime = runtime
        if self.scheduler is None:
            self.start_scheduled_sync()
        if self.scheduler is not None:
            from bot.jobs import add_bot_jobs

            add_bot_jobs(self.scheduler, runtime)  # follow-through on other processes' syncs, the gaps digest
        return Services(app=app, runtime=runtime, scheduler=self.scheduler)

    def _build_app_when_slack_answers(self) -> tuple[App, BotRuntime]:
        pause, attempt = RETRY_FIRST_S, 0
        while True:
            attempt += 1
            try:
                app, runtime = build_app(self.rag, self.settings, client=self._client, health=self.health)
            except SlackUnreachable as err:
                self.auth.observe(False, str(err), quiet=True)
                log.warning("%s; retrying in %.0f s (attempt %d; /healthz: 503 slack_auth)", err, pause, attempt)
            except SlackRejected as err:
                self.auth.observe(False, str(err), quiet=True)
                log.error("%s; retrying in %.0f s (attempt %d; /healthz: 503 slack_auth)", err, pause, attempt)
            else:
                if attempt > 1:
                    log.warning("Slack answers: connected after %d attempts", attempt)
                return app, runtime
            self._sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)

    def connect_socket_mode(self, handler: SocketModeHandler) -> None:
        """Open the websocket, retrying (one line each) while Slack is unreachable or refuses the app token."""
        failure: dict[str, Any] = {"ok": False, "detail": "not connected yet"}
        connected = threading.Event()

        def state() -> dict[str, Any]:
            return {"ok": bool(handler.client.is_connected())} if connected.is_set() else dict(failure)

        self.health.connection = state
        pause, attempt = RETRY_FIRST_S, 0
        while True:
            attempt += 1
            try:
                with quiet_slack_calls(handler.client.web_client):
                    handler.connect()
                connected.set()
                return
            except (SlackClientError, *NETWORK_ERRORS) as err:
                transient, reason = classify(err)
                if transient:
                    failure["detail"] = f"Slack not reachable ({reason})"
                    log.warning("Socket Mode: Slack is not reachable (%s); retrying in %.0f s (attempt %d)",
                                reason, pause, attempt)
                else:
                    failure["detail"] = f"Slack rejects SLACK_APP_TOKEN ({reason})"
                    log.error("Socket Mode: Slack rejected SLACK_APP_TOKEN (%s); check the app-level token (xapp-…, "
                              "scope connections:write); retrying in %.0f s (attempt %d)", reason, pause, attempt)
            self._sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)


def create_app() -> StartingApp:
    """WSGI app factory for another server: settings from the environment; /healthz at once, Slack's requests
    once Slack answered (connected in the background, retried with one line per attempt)."""
    import threading

    from bot.config import load_bot_settings
    from rag.config import load_settings
    from rag.service import RagService

    settings = load_bot_settings(SLACK_MODE="http")
    settings.check_can_start()
    starting = Starting(RagService(load_settings()), settings)
    starting.start_scheduled_sync()

    def connect() -> None:
        services = starting.connect()
        starting.server_app.open(slack_wsgi_app(services.app, services.runtime))
        services.runtime.start_background()

    threading.Thread(target=connect, name="slack-connect", daemon=True).start()
    return starting.server_app
