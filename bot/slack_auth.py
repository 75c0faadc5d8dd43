"""Is the bot's Slack token working, and is Slack reachable at all?

`SlackAuthStatus` is what `/healthz` reports for Slack. It learns from every Web
API answer (`AuthWatchingClient`), so a token revoked at 3 a.m. shows on the next
call that answers `invalid_auth`; and from
`auth.test`, at start-up and every `SLACK_AUTH_CHECK_SECONDS`, so a fixed token
shows too, and a quiet bot is still checked.

`classify()` sorts a start-up failure into "the credentials are wrong" (exit with
one line: retrying cannot help) and "Slack cannot be reached" (retry, saying so).
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from bot.redact import ScrubbingWebClient

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


class SlackUnreachable(Exception):
    """Slack could not be reached, or answered with a transient error: worth retrying."""


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

    def observe(self, ok: bool, detail: str) -> None:
        with self._lock:
            previous = self._state.ok
            self._state = AuthState(ok, detail, time.time())
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
        except SlackApiError:
            pass  # already observed by the client
        except (SlackClientError, *NETWORK_ERRORS) as err:
            self.observe(False, f"Slack not reachable ({describe_network_error(err)})")


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
            self._observe(api_method, err.response)
            raise
        self._observe(api_method, response)
        return response

    def _observe(self, api_method: str, response: Any) -> None:
        status = self.auth_status
        if status is None:
            return
        code = _error_code(response)
        if code in TOKEN_ERRORS:
            status.observe(False, f"Slack rejects the bot token ({code}, from {api_method})")
        elif api_method == "auth.test" and not code:
            status.observe(True, "auth.test ok")


class AuthChecker:
    """auth.test every `interval` seconds in a daemon thread, until `stop()`."""

    def __init__(self, client: WebClient, status: SlackAuthStatus, interval: float) -> None:
        self.client, self.status, self.interval = client, status, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="slack-auth-check", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.status.check(self.client)

    def stop(self) -> None:
        self._stop.set()


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
