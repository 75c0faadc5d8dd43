"""Web API calls for one reply: which failures are worth retrying, and retries that know when to stop.

The reply makes two kinds of calls. Optional ones (progress, stream appends) are tried
once: a 429 only records Slack's `Retry-After` in the pacer, so the caller batches or
skips instead of sleeping. Required ones (stopping the stream, the final answer, a
"busy" notice) are retried on transient failures (HTTP 429/5xx, `internal_error`,
dropped connections) until the delivery deadline (`DELIVERY_DEADLINE_S`): a 429 waits
Slack's `Retry-After` (plus a little jitter, so callers it held back together do not
all come back at once) and is not counted as an attempt, since Slack said when to come
back; other failures get bounded exponential backoff and `attempts` tries. A burst of
200 mentions leaves nobody with nothing: Slack lets an app post about once a second per
channel (docs.slack.dev/apis/web-api/rate-limits, chat.postMessage), so a busy channel's
notices take minutes, not a dropped message. chat.postMessage's Retry-After is kept per
channel (its limit is per channel); other methods' per method (their tier is).

A failure is *ambiguous* when Slack may have done the work before it failed (a 5xx
or a lost connection): retrying `chat.postMessage` then could post twice, so callers
pass a `check` that looks for the first attempt's effect before trying again.
"""

from __future__ import annotations

import copy
import http.client
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from bot.delivery.pacing import Pacer

log = logging.getLogger(__name__)

# Error codes Slack documents for conditions that pass (rate limits, its own outages), per method spec.
TRANSIENT_CODES = {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                   "request_timeout", "team_added_to_org"}
# "fatal_error: … It's possible some aspect of the operation succeeded before the error was raised."
AMBIGUOUS_CODES = {"internal_error", "fatal_error", "request_timeout"}


@dataclass(frozen=True)
class Failure:
    code: str
    transient: bool
    ambiguous: bool  # the call may have taken effect anyway
    retry_after: float | None = None


# Seconds one required call may take, retries and waits included: an answer's delivery budget. Slack allows
# about one chat.postMessage per second per channel, so 200 questions in one channel need ~200 s to all be told.
DELIVERY_DEADLINE_S = 300.0
MAX_RATE_LIMITED = 200  # 429s one call may wait out within the deadline (Retry-After is at least 1 s)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries for failures other than a rate limit
    base_delay: float = 0.5
    max_delay: float = 8.0
    deadline: float = DELIVERY_DEADLINE_S


def rate_key(method: str, kwargs: dict[str, Any]) -> str:
    """Where Slack's Retry-After applies: chat.postMessage's limit is per channel, the tiers' per method."""
    channel = kwargs.get("channel")
    return f"{method}:{channel}" if method == "chat.postMessage" and channel else method


def failure_of(err: Exception) -> Failure | None:
    """Classify a failed call; None when `err` is not a Slack or network failure (a bug: re-raise)."""
    if isinstance(err, SlackApiError):
        response = err.response
        status = int(getattr(response, "status_code", 200) or 200)
        data = response.data if isinstance(response.data, dict) else {}
        code = str(data.get("error") or f"http_{status}")
        if status == 429 or code in ("ratelimited", "rate_limited"):
            return Failure("ratelimited", True, False, _retry_after(response))
        if status >= 500:
            return Failure(code, True, True)
        return Failure(code, code in TRANSIENT_CODES, code in AMBIGUOUS_CODES)
    if isinstance(err, URLError | ConnectionError | TimeoutError | http.client.HTTPException):
        return Failure(type(err).__name__, True, True)
    if isinstance(err, SlackClientError | OSError):
        return Failure(type(err).__name__, False, False)
    return None


def _retry_after(response: SlackResponse) -> float:
    headers = getattr(response, "headers", None) or {}
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return 1.0


@dataclass
class Result:
    response: SlackResponse | None = None
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def code(self) -> str:
        return self.failure.code if self.failure else ""


class SlackCaller:
    """Calls through a copy of the bot's client without the SDK's retry handlers: retrying is decided here."""

    def __init__(self, client: WebClient, pacer: Pacer, policy: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = copy.copy(client)
        self.client.retry_handlers = []
        self.pacer = pacer
        self.policy = policy
        self._sleep = sleep

    def once(self, method: str, **kwargs: Any) -> Result:
        """One try; a rate limit is remembered in the pacer, never slept on."""
        self.pacer.spent(method)
        try:
            return Result(response=getattr(self.client, method.replace(".", "_"))(**kwargs))
        except Exception as err:
            failure = failure_of(err)
            if failure is None:
                raise
            if failure.retry_after is not None:
                self.pacer.retry_after(rate_key(method, kwargs), failure.retry_after)
            log.info("%s failed: %s", method, failure.code)
            return Result(failure=failure)

    def must(self, method: str, *, check: Callable[[], bool] | None = None, **kwargs: Any) -> Result:
        """Retry transient failures within the policy's attempts and deadline.

        After an ambiguous failure `check()` says whether the call took effect after all
        (then the result is a success without a response).
        """
        deadline = time.monotonic() + self.policy.deadline
        key = rate_key(method, kwargs)
        result = Result()
        attempt = limited = 0
        while attempt < self.policy.attempts and limited <= MAX_RATE_LIMITED:
            wait = self.pacer.wait_needed(key)
            if wait > deadline - time.monotonic():
                break
            if wait:
                self._sleep(wait + random.uniform(0, min(1.0, wait / 4)))  # not all at the same instant
            result = self.once(method, **kwargs)
            failure = result.failure
            if failure is None or not failure.transient:
                return result
            if failure.ambiguous and check is not None and _checked(check):
                return Result()
            if failure.retry_after is not None:
                limited += 1  # Slack said when to come back: wait for it, within the deadline
                continue
            delay = min(self.policy.max_delay, self.policy.base_delay * 2**attempt) * (0.5 + random.random())
            attempt += 1
            if attempt >= self.policy.attempts or delay > deadline - time.monotonic():
                break
            self._sleep(delay)
        log.warning("%s still failing after retries: %s", method, result.code or "deadline")
        return result


def _checked(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception as err:  # the check is best effort: when unsure, retry
        log.info("could not check whether a call took effect: %s", type(err).__name__)
        return False
