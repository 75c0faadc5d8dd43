"""Messages to an asker that are not an answer ("busy", help, "couldn't start"): delivered, never dropped.

In a burst (200 mentions in 4 s) most askers are told the bot is busy, and Slack lets an
app post about once a second per channel, so these posts meet HTTP 429 with Retry-After.
They used to be one call with the SDK's three retries, made on Bolt's listener thread:
some askers got nothing ("could not post … ratelimited"). Here each goes through
`SlackCaller.must` (Retry-After honoured per channel, retried until the delivery deadline,
bot/delivery/slack_calls.py) on a few threads of its own, so waiting on Slack never holds a
listener, and a post that may have gone through before its connection dropped is looked
for in the thread before it is tried again (no double notice).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_sdk import WebClient

from bot.delivery.pacing import pacer_for
from bot.delivery.render import SlackMessage
from bot.delivery.slack_calls import RetryPolicy, SlackCaller

log = logging.getLogger(__name__)

NOTICE_THREADS = 4  # posts waiting on a Retry-After hold one each; the rest queue here, not on Bolt's threads


class Notices:
    def __init__(self, client: WebClient, *, threads: int = NOTICE_THREADS, policy: RetryPolicy | None = None,
                 redact: Callable[[str], str] = str) -> None:
        self.slack = SlackCaller(client, pacer_for(client), policy or RetryPolicy())
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="notice")
        self._redact = redact
        self._lock = threading.Lock()
        self.pending = 0
        self.failed = 0

    def post(self, channel: str, thread_ts: str | None, message: SlackMessage,
             on_failure: Callable[[], Any] | None = None) -> None:
        """Queue `message` for the thread; `on_failure` runs if it still could not be posted by the deadline."""
        with self._lock:
            self.pending += 1
        try:
            self._pool.submit(self._post, channel, thread_ts, message, on_failure)
        except RuntimeError:  # shutting down: post it here rather than lose it
            self._post(channel, thread_ts, message, on_failure)

    def _post(self, channel: str, thread_ts: str | None, message: SlackMessage,
              on_failure: Callable[[], Any] | None) -> None:
        try:
            result = self.slack.must("chat.postMessage", channel=channel, thread_ts=thread_ts, text=message.text,
                                     blocks=message.blocks,
                                     check=lambda: self._posted(channel, thread_ts, message.text))
            if not result.ok:
                with self._lock:
                    self.failed += 1
                log.error("could not post to %s: %s", channel, self._redact(result.code or "deadline"))
                if on_failure is not None:
                    on_failure()
        except Exception:
            log.exception("posting a notice to %s failed", channel)
        finally:
            with self._lock:
                self.pending -= 1

    def _posted(self, channel: str, thread_ts: str | None, text: str) -> bool:
        """After an ambiguous failure: is our message already in the thread?"""
        if not thread_ts:
            return False
        result = self.slack.once("conversations.replies", channel=channel, ts=thread_ts, limit=200)
        messages = (result.response.get("messages") or []) if result.ok and result.response is not None else []
        return any(m.get("bot_id") and m.get("text") == text for m in messages)

    def shutdown(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
