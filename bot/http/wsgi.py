"""The HTTP-mode WSGI application: Slack's requests on /slack/events, a health check on /healthz.

Every request is untrusted. Bolt parses the body (and its context) while the
request object is built, before its own signature check runs, so a malformed
body used to raise deep inside Bolt: HTTP 500 and a traceback per request, even
unsigned. Here the raw bytes are checked first, in this order, and Bolt only
ever sees a request that passed all of it:

1. size (`MAX_BODY_BYTES`; the server refuses larger ones before reading them);
2. the signature (a numeric timestamp within 5 minutes, HMAC over the raw bytes):
   anything else is 401 before a byte is decoded or parsed;
3. UTF-8 and Bolt's own parser (`BoltRequest`), which must yield a JSON object: else 400.

Each refusal logs one short line. `bot.http.server.serve_http` serves this app in
production (`ragbot serve` / `python -m bot`); another server works too
(`bot.http.startup.create_app()` is a factory), behind a buffering proxy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.request import BoltRequest

if TYPE_CHECKING:
    from bot.runtime import BotRuntime

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
EVENTS_PATH = "/slack/events"
HEALTH_PATHS = ("/healthz", "/health")
# Slack's largest payloads (an interaction carrying a 50-block message, form-encoded) stay well below this.
MAX_BODY_BYTES = 1024 * 1024
MAX_SIGNATURE_AGE_S = 5 * 60  # Slack: reject requests whose timestamp is more than five minutes off
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # Unix seconds; int() would also take "+1_0", "١٢" or spaces


def health_app(health: Callable[[], dict[str, Any]]) -> WSGIApp:
    """GET /healthz → 200 with the checks when all pass, 503 naming what is broken (`health()`: the body)."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO") not in HEALTH_PATHS or method not in ("GET", "HEAD"):
            return _plain(start_response, 404, "Not Found")
        info = health()
        body = json.dumps(info).encode()
        start_response("200 OK" if info["status"] == "ok" else "503 Service Unavailable",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                        ("Cache-Control", "no-store")])
        return [body] if method == "GET" else [b""]

    return application


class StartingApp:
    """What the server runs from its first second: /healthz at once; Slack's requests (HTTP mode) once the bot
    is connected (`open`), 503 with Retry-After before that, which Slack retries; everything else 404."""

    def __init__(self, health: Callable[[], dict[str, Any]], *, events: bool) -> None:
        self._health = health_app(health)
        self._events = events
        self._ready: WSGIApp | None = None

    def open(self, app: WSGIApp) -> None:
        self._ready = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        ready = self._ready
        if ready is not None:
            return ready(environ, start_response)
        path = environ.get("PATH_INFO")
        if path in HEALTH_PATHS:
            return self._health(environ, start_response)
        if self._events and path == EVENTS_PATH:
            return _plain(start_response, 503, "Service Unavailable", [("Retry-After", "5")])
        return _plain(start_response, 404, "Not Found")


def slack_wsgi_app(app: App, runtime: BotRuntime) -> WSGIApp:
    """Slack's requests, checked before Bolt sees them, plus the health check; everything else is 404."""
    health = health_app(runtime.health)
    secret = runtime.settings.slack_signing_secret
    key = secret.get_secret_value().encode() if secret is not None else b""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path in HEALTH_PATHS:
            return health(environ, start_response)
        if path != EVENTS_PATH:
            return _plain(start_response, 404, "Not Found")
        if environ.get("REQUEST_METHOD") != "POST":
            return _plain(start_response, 405, "Method Not Allowed", [("Allow", "POST")])
        request, refusal = checked_request(environ, key)
        if request is None:
            status, reason = refusal
            log.warning("refused a request to %s from %s: %s", EVENTS_PATH, _client(environ), reason)
            return _plain(start_response, status, "Unauthorized" if status == 401 else "Bad Request")
        response = app.dispatch(request)
        out = WsgiHttpResponse(status=response.status, headers=response.headers, body=response.body)
        start_response(out.status, out.get_headers())
        return out.get_body()

    return application


def checked_request(environ: dict[str, Any], key: bytes) -> tuple[BoltRequest | None, tuple[int, str]]:
    """The Bolt request for a signed, well-formed body, or (None, (HTTP status, short reason))."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None, (400, "bad Content-Length")
    if length < 0 or length > MAX_BODY_BYTES:
        return None, (400, f"body of {length} bytes")
    raw: bytes = environ["wsgi.input"].read(length) if length else b""
    headers = WsgiHttpRequest(environ).get_headers()
    timestamp = str(headers.get("x-slack-request-timestamp") or "")
    signature = str(headers.get("x-slack-signature") or "")
    if not key:
        return None, (401, "no signing secret configured")
    if not _TIMESTAMP.fullmatch(timestamp):
        return None, (401, "missing or non-numeric X-Slack-Request-Timestamp")
    if not signature_is_valid(key, timestamp, raw, signature):
        return None, (401, "invalid or expired signature")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, (400, "body is not UTF-8")
    try:
        # Bolt's own parser (JSON, form, or form with payload=<json>): one implementation of the rule.
        request = BoltRequest(body=text, query=environ.get("QUERY_STRING", ""), headers=headers)
    except (ValueError, TypeError, AttributeError) as err:  # JSONDecodeError is a ValueError
        return None, (400, f"malformed body ({type(err).__name__})")
    if not isinstance(request.body, dict) or (text and not request.body):
        return None, (400, "body is not a JSON object or form")
    return request, (200, "")


def signature_is_valid(key: bytes, timestamp: str, raw: bytes, signature: str, now: float | None = None) -> bool:
    """Slack's rule: `v0=` + HMAC-SHA256(secret, `v0:{timestamp}:{raw body}`), timestamp within 5 minutes.

    Over the raw bytes (slack_sdk's SignatureVerifier decodes the body as UTF-8 first, so a
    non-UTF-8 body would raise instead of being judged).
    """
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_SIGNATURE_AGE_S:
        return False
    expected = b"v0=" + hmac.new(key, b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, signature.encode("latin-1", "replace"))  # WSGI headers are latin-1


def _plain(start_response: Callable[..., Any], status: int, text: str,
           headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = text.encode()
    start_response(f"{status} {text}", [("Content-Type", "text/plain; charset=utf-8"),
                                        ("Content-Length", str(len(body))), *(headers or [])])
    return [body]


def _client(environ: dict[str, Any]) -> str:
    return str(environ.get("REMOTE_ADDR") or "?")[:64]
