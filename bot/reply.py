"""One answer's life in a Slack thread: progress → streamed text → final Block Kit message.

Progress shows as the thread's assistant status ("searching 8 documents…"); when
Slack refuses that, as a placeholder reply that gets edited. The answer streams
with Slack's chat streaming (`chat.startStream`/`appendStream`/`stopStream`),
sent in batches about once per `update_interval` rather than per token. When
streaming is unavailable, or the stream expires mid-answer, the text goes out
through `chat.postMessage` + throttled `chat.update` instead (recovering the
streamed message through its `ts`). The final message replaces whatever was
shown, because the final text has its citation markers renumbered.

Nothing here raises into the generator: a Slack hiccup while streaming is logged
and the final delivery tries again, so generation is never cut short by display.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.chat_stream import ChatStream

from bot.mrkdwn import safe_text
from bot.render import SlackMessage

log = logging.getLogger(__name__)

STREAM_TEXT_LIMIT = 11_000  # chat.appendStream takes up to 12,000 characters per call
FALLBACK_TEXT_LIMIT = 3_800
CURSOR = " ▍"


class ThreadReply:
    def __init__(
        self,
        client: WebClient,
        *,
        channel: str,
        thread_ts: str,
        user_id: str | None,
        team_id: str | None,
        update_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.user_id = user_id
        self.team_id = team_id
        self.update_interval = update_interval
        self._clock = clock
        self._lock = threading.RLock()
        self.status_mode: str = "none"  # "assistant" | "placeholder" | "none"
        self.message_ts: str | None = None  # our visible reply (placeholder, stream or fallback)
        self._placeholder_ts: str | None = None
        self._stream: ChatStream | None = None
        self.streaming_failed = False
        self._raw = ""
        self._pending = ""
        self._last_send = float("-inf")
        self._last_status = ""
        self._started = False
        self.finished = False

    # --- progress -----------------------------------------------------------------------------

    def queued(self, position: int) -> None:
        """Shown while the question waits for a free worker (skipped once work has started)."""
        with self._lock:
            if self._started or self.finished:
                return
            self._show_status(f"waiting for a free slot (number {position} in line)…")

    def start(self) -> None:
        with self._lock:
            self._started = True

    def status(self, text: str) -> None:
        """Progress line from the pipeline, e.g. "searching 8 documents…"."""
        with self._lock:
            if self.finished or self._stream is not None or self._raw:
                return
            self._show_status(text)

    def _show_status(self, text: str) -> None:
        text = text.strip()[:150]
        if not text or text == self._last_status:
            return
        self._last_status = text
        try:
            if self.status_mode in ("none", "assistant"):
                try:
                    self.client.assistant_threads_setStatus(channel_id=self.channel, thread_ts=self.thread_ts,
                                                           status=text)
                    self.status_mode = "assistant"
                    return
                except SlackApiError as err:
                    if self.status_mode == "assistant":
                        raise
                    log.info("thread status unavailable (%s); using a placeholder reply", _code(err))
            if self._placeholder_ts is None:
                resp = self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts,
                                                    text=f"_{safe_text(text)}_")
                self._placeholder_ts = self.message_ts = str(resp["ts"])
                self.status_mode = "placeholder"
            else:
                self.client.chat_update(channel=self.channel, ts=self._placeholder_ts,
                                        text=f"_{safe_text(text)}_")
        except SlackClientError as err:
            log.warning("could not show progress in %s: %s", self.channel, _code(err))

    # --- streaming ----------------------------------------------------------------------------

    def token(self, piece: str) -> None:
        """A piece of the answer as the model writes it (raw text; the final text replaces it)."""
        with self._lock:
            if self.finished or not piece:
                return
            first = not self._raw.strip()
            self._raw += piece
            self._pending += piece
            if (first and self._raw.strip()) or self._clock() - self._last_send >= self.update_interval:
                self._send()

    def _send(self) -> None:
        if not self._pending:
            return
        self._last_send = self._clock()
        if not self.streaming_failed:
            try:
                if self._stream is None:
                    self._stream = self.client.chat_stream(
                        channel=self.channel, thread_ts=self.thread_ts, recipient_team_id=self.team_id,
                        recipient_user_id=self.user_id, buffer_size=1,
                    )
                self._stream.append(markdown_text=safe_text(self._pending)[:STREAM_TEXT_LIMIT])
                self._pending = ""
                if self._stream.ts and self.message_ts != self._stream.ts:
                    self._drop_placeholder()
                    self.message_ts = self._stream.ts
                return
            except SlackClientError as err:
                self.streaming_failed = True
                stream_ts = self._stream.ts if self._stream is not None else None
                self._stream = None
                if stream_ts:
                    self.message_ts = stream_ts  # the stream expired: keep editing the same message
                log.info("chat streaming unavailable (%s); falling back to chat.update", _code(err))
        self._pending = ""
        self._fallback_update()

    def _fallback_update(self) -> None:
        text = safe_text(self._raw)
        if len(text) > FALLBACK_TEXT_LIMIT:
            text = "…" + text[-FALLBACK_TEXT_LIMIT:]
        text += CURSOR
        try:
            if self.message_ts:
                self.client.chat_update(channel=self.channel, ts=self.message_ts, text=text)
            else:
                resp = self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, text=text)
                self.message_ts = str(resp["ts"])
        except SlackClientError as err:
            log.warning("could not show the partial answer in %s: %s", self.channel, _code(err))

    def _drop_placeholder(self) -> None:
        if self._placeholder_ts is None:
            return
        ts, self._placeholder_ts = self._placeholder_ts, None
        try:
            self.client.chat_delete(channel=self.channel, ts=ts)
        except SlackClientError as err:
            log.info("could not remove the placeholder reply: %s", _code(err))

    # --- the end ------------------------------------------------------------------------------

    def finish(self, messages: Sequence[SlackMessage]) -> None:
        """Replace the progress/streamed text with the final message(s); raises only if nothing got posted."""
        with self._lock:
            self.finished = True
            first, rest = messages[0], list(messages[1:])
            if self._stream is not None:
                try:
                    self._stream.stop()
                except SlackClientError as err:
                    log.info("chat.stopStream failed (%s); finishing with chat.update", _code(err))
                self.message_ts = self._stream.ts or self.message_ts
                self._stream = None
            delivered = False
            if self.message_ts:
                try:
                    self.client.chat_update(channel=self.channel, ts=self.message_ts, text=first.text,
                                            blocks=first.blocks)
                    delivered = True
                except SlackClientError as err:
                    log.warning("could not update reply %s (%s); posting the answer anew", self.message_ts,
                                _code(err))
            if not delivered:
                self._post(first)
            for message in rest:
                self._post(message)
            if self.status_mode == "assistant":
                with contextlib.suppress(SlackClientError):
                    self.client.assistant_threads_setStatus(channel_id=self.channel, thread_ts=self.thread_ts,
                                                           status="")

    def fail(self, message: SlackMessage) -> None:
        """Show an error in place of the answer; post it fresh if the answer was already delivered."""
        with self._lock:
            if self.finished:
                self._post(message)
            else:
                self.finish([message])

    def _post(self, message: SlackMessage) -> None:
        self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, text=message.text,
                                     blocks=message.blocks)


def _code(err: Exception) -> str:
    if isinstance(err, SlackApiError):
        return str(err.response.get("error", "error"))
    return type(err).__name__
