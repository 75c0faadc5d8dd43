"""Is the bot's Slack token working, and is Slack reachable at all?

`SlackAuthStatus` is what `/healthz` reports for Slack. It learns from every Web
API answer made with the bot token (`AuthWatchingClient`), so a token revoked at
3 a.m. shows on the next call that answers `invalid_auth`, and any call Slack
answers `ok` shows that Slack is back; and from `auth.test`, at start-up and every
`SLACK_AUTH_CHECK_SECONDS` (every `FAILING_RECHECK_S` while it is failing, so
/healthz recovers within seconds of Slack, not minutes), so a quiet bot is still
checked. Those checks go through a quiet copy of the client: an outage is one
line when it starts and one when it ends, not slack_sdk's ERROR lines every time.

`classify()` sorts a start-up failure into "the credentials are wrong" (exit with
one line: retrying cannot help) and "Slack cannot be reached" (retry, saying so).
"""

from __future__ import annotations

import copy
import http.client
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from bot.config import BotConfigError
from bot.delivery.redact import ScrubbingWebClient

log = logging.getLogger(__name__)

# Errors any Web API method answers when the token itself is unusable (Slack's common method errors).
TOKEN_ERRORS = frozenset({
    "not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired",
    "org_login_required", "ekm_access_denied", "not_allowed_token_type", "two_factor_setup_required",
    "accesslimited", "team_access_not_granted",
})
# Errors that say "try again later" rather than "this will never work".
TRANSIENT_ERRORS = frozenset({"ratelimited", "fatal_error", "internal_error", "service_unavailable",
                              "request_timeout"})
NETWORK_ERRORS: tuple[type[BaseException], ...] = (URLError, OSError, http.client.HTTPException)
FAILING_RECHECK_S = 5.0  # auth.test this often while Slack is unreachable or refuses the token
QUIET_LOGGER = logging.getLogger("bot.slack_quiet")  # what a quiet client logs: nothing below CRITICAL
QUIET_LOGGER.setLevel(logging.CRITICAL)
QUIET_LOGGER.propagate = False
QUIET_LOGGERS = ("bot.bolt", "slack_sdk", "slack_bolt")  # muted for the thread making a start-up attempt


class SlackUnreachable(Exception):
    """Slack could not be reached, or answered with a transient error: worth retrying."""


class SlackRejected(BotConfigError):
    """Slack refuses the bot token (`invalid_auth`, `token_revoked`, …); the message names the variable."""


@dataclass(frozen=True)
class AuthState:
    ok: bool | None  # None: not checked yet
    detail: str
    at: float  # time.time() of the observation


class SlackAuthStatus:
    """The latest word on the token, from whichever call answered last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = AuthState(None, "not checked yet", time.time())

    def observe(self, ok: bool, detail: str, *, quiet: bool = False) -> None:
        """Record Slack's latest word; a change is logged once (`quiet`: the caller logs it in its own line)."""
        with self._lock:
            previous = self._state.ok
            self._state = AuthState(ok, detail, time.time())
        if quiet:
            return
        if ok and previous is False:
            log.warning("Slack accepts the bot token again")
        elif not ok and previous is not False:
            log.error("Slack: %s", detail)

    @property
    def state(self) -> AuthState:
        return self._state

    def check(self, client: WebClient) -> None:
        """Call auth.test now; the client records Slack's answer, this records no answer at all."""
        try:
            client.auth_test()
        except SlackApiError as err:
            watched = isinstance(client, AuthWatchingClient) and client.auth_status is self
            code = _error_code(err.response)
            if code in TOKEN_ERRORS and not watched:
                self.observe(False, f"Slack rejects the bot token ({code}, from auth.test)")
            elif code not in TOKEN_ERRORS and getattr(err.response, "status_code", 200) >= 500:
                self.observe(False, f"Slack is failing ({classify(err)[1]})")  # its outage, not a rate limit
        except (SlackClientError, *NETWORK_ERRORS) as err:
            self.observe(False, f"Slack not reachable ({describe_network_error(err)})")
        else:
            if not isinstance(client, AuthWatchingClient) or client.auth_status is not self:
                self.observe(True, "auth.test ok")


class AuthWatchingClient(ScrubbingWebClient):
    """The bot's Web API client: every answer, from any copy of it, tells `auth_status` about the token.

    An `api_call` override rather than a retry handler: code that takes over retrying copies the
    client without its handlers, but the class (and this shared status) comes along.
    """

    auth_status: SlackAuthStatus | None = None

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:  # type: ignore[override]
        try:
            response = super().api_call(api_method, **kwargs)
        except SlackApiError as err:
            self._observe(api_method, err.response, kwargs)
            raise
        self._observe(api_method, response, kwargs)
        return response

    def _observe(self, api_method: str, response: Any, kwargs: dict[str, Any]) -> None:
        status = self.auth_status
        if status is None or self._other_token(kwargs):  # e.g. apps.connections.open with the app token
            return
        code = _error_code(response)
        if code in TOKEN_ERRORS:
            status.observe(False, f"Slack rejects the bot token ({code}, from {api_method})")
        elif not code and _answered_ok(response):  # any call Slack carried out: reachable, token accepted
            status.observe(True, "auth.test ok" if api_method == "auth.test" else f"{api_method} ok")

    def _other_token(self, kwargs: dict[str, Any]) -> bool:
        for key in ("params", "data", "json"):
            given = kwargs.get(key)
            token = given.get("token") if isinstance(given, dict) else None
            if token and token != self.token:
                return True
        return False


class AuthChecker:
    """auth.test every `interval` seconds (every `FAILING_RECHECK_S` while failing) in a daemon thread, until
    `stop()`; through a quiet copy of the client (no retries, no slack_sdk log lines: the status says it)."""

    def __init__(self, client: WebClient, status: SlackAuthStatus, interval: float) -> None:
        self.client, self.status, self.interval = quiet_copy(client), status, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="slack-auth-check", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._pause()):
            self.status.check(self.client)

    def _pause(self) -> float:
        return self.interval if self.status.state.ok is True else min(self.interval, FAILING_RECHECK_S)

    def stop(self) -> None:
        self._stop.set()


def quiet_copy(client: WebClient) -> WebClient:
    """A copy of `client` (same class, token, base URL and status) that neither retries nor logs."""
    quiet = copy.copy(client)
    quiet.retry_handlers = []
    quiet._logger = QUIET_LOGGER  # slack_sdk's BaseClient logs every failed request at ERROR through this
    return quiet


class _ThisThread(logging.Filter):
    """Drops the records one thread logs while its attempt runs (other threads log as usual)."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread or record.levelno >= logging.CRITICAL


@contextmanager
def quiet_slack_calls(client: WebClient) -> Iterator[None]:
    """For one start-up attempt: no retry handlers on `client`, and nothing logged by slack_sdk or Bolt from
    this thread (the caller says what happened in one line)."""
    handlers, logger = client.retry_handlers, client._logger
    client.retry_handlers, client._logger = [], QUIET_LOGGER
    muted = _ThisThread()
    for name in QUIET_LOGGERS:
        logging.getLogger(name).addFilter(muted)
    try:
        yield
    finally:
        client.retry_handlers, client._logger = handlers, logger
        for name in QUIET_LOGGERS:
            logging.getLogger(name).removeFilter(muted)


def _answered_ok(response: Any) -> bool:
    try:
        return bool(response.get("ok"))
    except Exception:
        return False


def classify(err: BaseException) -> tuple[bool, str]:
    """(transient, one-line reason) for a failure to reach or authenticate with Slack."""
    api = err if isinstance(err, SlackApiError) else err.__context__
    if isinstance(api, SlackApiError):
        code = _error_code(api.response)
        status = getattr(api.response, "status_code", 200)
        if code in TRANSIENT_ERRORS or status >= 500 or status == 429:
            return True, f"Slack answered {code or f'HTTP {status}'}"
        return False, code or f"HTTP {status}"
    if isinstance(err, (SlackClientError, *NETWORK_ERRORS)):
        return True, describe_network_error(err)
    return False, (str(err).splitlines() or [type(err).__name__])[0][:200]  # e.g. a BoltError about the config


def describe_network_error(err: BaseException) -> str:
    """"connection refused", "name not resolved", "timed out" — no stack, no URL with secrets."""
    reason: Any = err.reason if isinstance(err, URLError) else err
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "timed out"
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return str(text).splitlines()[0][:120]


def _error_code(response: Any) -> str:
    try:
        return str(response.get("error") or "")
    except Exception:  # a response that is not JSON
        return ""
