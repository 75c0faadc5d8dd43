"""Starting the bot: Socket Mode (default) or HTTP behind gunicorn, plus the scheduled sync.

`run(rag, settings)` is what `ragbot serve` and `python -m bot` call. It blocks
until the process is told to stop (Ctrl-C / SIGTERM), then drains the workers.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import BotRuntime, build_app
from bot.config import BotSettings, load_bot_settings
from bot.redact import install_redaction
from bot.wsgi import health_app, slack_wsgi_app
from rag.service import RagService

log = logging.getLogger(__name__)


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
    """Warm the model and index, build the app, start the scheduled sync (in this process)."""
    rag.warm_up()
    app, runtime = build_app(rag, settings)
    return Services(app=app, runtime=runtime, scheduler=start_scheduled_sync(rag, runtime))


def start_scheduled_sync(rag: RagService, runtime: BotRuntime) -> Any | None:
    try:
        from rag.scheduler import start_scheduler
    except ImportError:
        log.warning("rag.scheduler is not available; scheduled sync is off")
        return None
    return start_scheduler(rag, runtime.post_sync_report)


def build_socket_mode_handler(app: App, settings: BotSettings) -> SocketModeHandler:
    """The Socket Mode connection (no network until `.connect()`/`.start()`)."""
    token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    return SocketModeHandler(app, app_token=token, web_client=app.client)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("health: " + format, *args)


class ThreadingWSGIServer(WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's default of 5 resets bursts of connections

    def process_request(self, request: Any, client_address: Any) -> None:
        threading.Thread(target=self._handle, args=(request, client_address), daemon=True).start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


def serve_health(runtime: BotRuntime, host: str, port: int,
                 handler: SocketModeHandler | None = None) -> WSGIServer:
    """A tiny /healthz server for Socket Mode (there is no other HTTP endpoint to probe)."""
    extra = None
    if handler is not None:
        extra = lambda: {"slack_connected": bool(handler.client.is_connected())}  # noqa: E731
    server = make_server(host, port, health_app(runtime, extra), server_class=ThreadingWSGIServer,
                         handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def _stop_on_sigterm() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def run(rag: RagService, settings: BotSettings | None = None) -> None:
    """Start the bot in the configured mode and block until stopped."""
    settings = settings or load_bot_settings()
    settings.check_can_start()
    install_redaction(settings.secret_values())
    log.info("starting the Slack bot in %s mode", settings.mode)
    if settings.mode == "socket":
        _run_socket_mode(rag, settings)
    else:
        _run_http(rag, settings)


def _run_socket_mode(rag: RagService, settings: BotSettings) -> None:
    _stop_on_sigterm()
    services = start_services(rag, settings)
    handler = build_socket_mode_handler(services.app, settings)
    health = None
    try:
        health = serve_health(services.runtime, settings.host, settings.port, handler)
    except OSError as err:
        log.warning("health check server not started on port %s: %s", settings.port, err)
    try:
        handler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("stopping")
    finally:
        try:
            handler.close()
        finally:
            if health is not None:
                health.shutdown()
            services.stop()


def gunicorn_options(settings: BotSettings) -> dict[str, Any]:
    """One worker (one scheduler, one index handle), threads for concurrent requests, no preload."""
    return {
        "bind": f"{settings.host}:{settings.port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": 8,
        "preload_app": False,
        "timeout": 60,
        "graceful_timeout": 30,
        "keepalive": 5,
        "loglevel": settings.log_level.lower(),
        "errorlog": "-",
        "accesslog": None,
        "proc_name": "ragbot",
    }


def _run_http(rag: RagService, settings: BotSettings) -> None:
    from gunicorn.app.base import BaseApplication

    started: list[Services] = []

    def worker_exit(server: Any, worker: Any) -> None:
        for services in started:
            services.stop()

    class BotApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in gunicorn_options(settings).items():
                self.cfg.set(key, value)
            self.cfg.set("worker_exit", worker_exit)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn ≥ 25.1: no socket in $HOME
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            # Runs in the worker after the fork (preload_app is off). A fresh RagService: the index,
            # the model and the sync lock must be opened in the process that uses them.
            install_redaction(settings.secret_values())
            services = start_services(type(rag)(rag.settings), settings)
            started.append(services)
            return slack_wsgi_app(services.app, services.runtime)

    BotApplication().run()
