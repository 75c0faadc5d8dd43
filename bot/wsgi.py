"""The HTTP-mode WSGI application: Slack's requests on /slack/events, a health check on /healthz.

For a production server (the bot's own `run()` uses gunicorn with one worker and
threads; or run it yourself):

    gunicorn --workers 1 --threads 8 --bind 0.0.0.0:3000 'bot.wsgi:create_app()'

Keep one worker and no `--preload`: the index must be opened after the fork, and
the scheduled sync must run in exactly one process.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

if TYPE_CHECKING:
    from bot.app import BotRuntime

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
EVENTS_PATH = "/slack/events"
HEALTH_PATHS = ("/healthz", "/health")


def health_app(runtime: BotRuntime, extra: Callable[[], dict[str, Any]] | None = None) -> WSGIApp:
    """GET /healthz → 200 with JSON while the bot can answer, 503 when the index is unreadable."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO") not in HEALTH_PATHS or method not in ("GET", "HEAD"):
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not Found"]
        info = runtime.health()
        if extra is not None:
            info.update(extra())
        healthy = info.get("status") == "ok" and info.get("slack_connected", True)
        body = json.dumps(info).encode()
        start_response("200 OK" if healthy else "503 Service Unavailable",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return application


def slack_wsgi_app(app: App, runtime: BotRuntime) -> WSGIApp:
    """Bolt's WSGI adapter for Slack's requests, plus the health check."""
    slack = SlackRequestHandler(app, path=EVENTS_PATH)
    health = health_app(runtime)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in HEALTH_PATHS:
            return health(environ, start_response)
        return slack(environ, start_response)

    return application


def create_app() -> WSGIApp:
    """Gunicorn app factory: settings from the environment, index opened in the worker."""
    from bot.config import load_bot_settings
    from bot.server import start_services
    from rag.config import load_settings
    from rag.service import RagService

    settings = load_bot_settings(SLACK_MODE="http")
    settings.check_can_start()
    services = start_services(RagService(load_settings()), settings)
    return slack_wsgi_app(services.app, services.runtime)
