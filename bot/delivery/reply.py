"""One answer's life in a Slack thread: progress → streamed text → one final message with its sources.

Slack's rules it follows (method specs in slack-ruby/slack-api-ref, rate limits on
docs.slack.dev): a message that is streaming cannot be edited (`chat.update` answers
`streaming_state_conflict`); a stream takes appends only until `chat.stopStream` or
until Slack expires it (`message_not_in_streaming_state`); `chat.stopStream` takes
`blocks` rendered under the streamed text; each method has a per-minute tier.

- Progress shows as the thread's assistant status, or a placeholder reply when Slack
  refuses that. The answer streams (`chat.startStream`/`appendStream`), in batches
  about once per `update_interval`, through the same link rule as the final text.
- A courier thread makes every call while the answer is written: the model's tokens
  are only buffered, so generation never waits on Slack, and a `Retry-After` makes
  the courier batch or skip (see bot.delivery.pacing), never sleep.
- The end: a stream whose text is exactly the answer is stopped with the sources and
  buttons as `blocks`. Otherwise (text differs, an append may have gone wrong, the
  stop refused the blocks) the stream is stopped plainly and then edited into the
  final message; a stream that cannot be stopped is deleted and the answer posted.
  Required calls are retried (bot.delivery.slack_calls), so the thread ends with one complete
  answer and no message left streaming.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from slack_sdk import WebClient

from bot.delivery.final_message import NOT_STREAMING, FinalDelivery
from bot.delivery.mrkdwn import markdown_to_mrkdwn, safe_text, stream_cut, stream_markdown
from bot.delivery.pacing import Pacer, pacer_for
from bot.delivery.slack_calls import RetryPolicy, SlackCaller

log = logging.getLogger(__name__)

RAW_PIECE = 4_000  # model characters per streaming call; escaping at most triples them
FALLBACK_TEXT_LIMIT = 3_800
CURSOR = " ▍"
START_TRIES = 3  # rate-limited stream starts before the answer is shown without streaming


class ThreadReply(FinalDelivery):
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
        pacer: Pacer | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.slack = SlackCaller(client, pacer or pacer_for(client), policy or RetryPolicy())
        self.channel = channel
        self.thread_ts = thread_ts
        self.user_id = user_id
        self.team_id = team_id
        self.update_interval = update_interval
        self._clock = clock
        self._cond = threading.Condition()
        self._courier: threading.Thread | None = None
        self._closing = False
        self._started = False
        self.finished = False
        # progress
        self._statuses: deque[str] = deque()
        self._last_status = ""
        self.status_mode = "none"  # "assistant" | "placeholder" | "none"
        self._placeholder_ts: str | None = None
        # the answer as written so far; raw[:sent] is on screen
        self._raw = ""
        self._sent = 0
        self._last_send = float("-inf")
        self._stream_ts: str | None = None
        self._stream = "none"  # none | live | ended (stopped or expired: editable) | off (not used)
        self._start_failures = 0
        self._exact = True  # the stream holds exactly stream_markdown(raw[:sent])
        self._appends_ok = True
        self._partial_ts: str | None = None  # a message showing partial text through chat.update
        # Slack message metadata put on every final message (bot.durable.jobqueue: which question it answers)
        self.metadata: dict | None = None
        self.final_ts: str | None = None  # the delivered message carrying the sources (bot/followthrough/watcher.py)

    # --- what the pipeline calls (any thread; never blocks on Slack) ----------------------------

    def queued(self, position: int) -> None:
        """Shown while the question waits for a free worker (skipped once work has started)."""
        with self._cond:
            if not self._started and not self.finished:
                self._queue_status(f"waiting for a free slot (number {position} in line)…")

    def start(self) -> None:
        with self._cond:
            self._started = True

    def status(self, text: str) -> None:
        """Progress line from the pipeline, e.g. "searching 8 documents…"."""
        with self._cond:
            if not self.finished and not self._raw:
                self._queue_status(text)

    def token(self, piece: str) -> None:
        """A piece of the answer as the model writes it; only buffered here."""
        with self._cond:
            if self.finished or not piece:
                return
            self._raw += piece
            self._wake()

    def _queue_status(self, text: str) -> None:
        text = text.strip()[:150]
        if text and text != (self._statuses[-1] if self._statuses else self._last_status):
            self._statuses.append(text)
            self._wake()

    def _wake(self) -> None:
        if self._courier is None:
            self._courier = threading.Thread(target=self._run, name=f"reply-{self.thread_ts}", daemon=True)
            self._courier.start()
        self._cond.notify_all()

    # --- the courier ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closing and (wait := self._idle_for()) != 0:
                    self._cond.wait(wait)
                if self._closing:
                    return
                status = self._statuses.popleft() if self._statuses else None
            try:
                if status is not None:
                    self._show_status(status)
                else:
                    self._send_text()
            except Exception:  # the final delivery still happens; never lose the courier silently
                log.exception("showing progress in %s failed", self.channel)
                with self._cond:
                    self._last_send = self._clock()

    def _idle_for(self) -> float | None:
        """0 when there is work now, else how long to sleep (None: until woken)."""
        if self._statuses and not self._raw:
            return 0
        if stream_cut(self._raw) <= self._sent or self._stream == "off" and not self._appends_ok:
            return None
        due = self._last_send + self.update_interval - self._clock()
        if not self._raw[: self._sent].strip():
            due = 0  # the first words show at once
        for method in self._next_methods():
            due = max(due, self.slack.pacer.wait_needed(method))
        return max(0.0, due) or 0

    def _next_methods(self) -> tuple[str, ...]:
        if self._stream == "live":
            return ("chat.appendStream",)
        if self._stream == "none":
            return ("chat.startStream",)
        return ("chat.update",)

    def _show_status(self, text: str) -> None:
        self._last_status = text
        if self.status_mode in ("none", "assistant"):
            result = self.slack.once("assistant.threads.setStatus", channel_id=self.channel,
                                     thread_ts=self.thread_ts, status=text)
            if result.ok or self.status_mode == "assistant":
                self.status_mode = "assistant" if result.ok else self.status_mode
                return
            log.info("thread status unavailable (%s); using a placeholder reply", result.code)
        shown = f"_{safe_text(text)}_"
        if self._placeholder_ts is None:
            result = self.slack.once("chat.postMessage", channel=self.channel, thread_ts=self.thread_ts, text=shown)
            if result.ok and result.response is not None:
                self._placeholder_ts = str(result.response["ts"])
                self.status_mode = "placeholder"
        elif self.slack.pacer.allows("chat.update"):
            self.slack.once("chat.update", channel=self.channel, ts=self._placeholder_ts, text=shown)

    def _send_text(self) -> None:
        with self._cond:
            raw, sent = self._raw, self._sent
            self._last_send = self._clock()
        cut = stream_cut(raw[: sent + RAW_PIECE])
        if cut <= sent:
            return
        if self._stream == "none":
            self._start_stream(raw, sent, cut)
        elif self._stream == "live":
            self._append(raw, sent, cut)
        else:
            self._show_partial(raw[:cut], cut)

    def _start_stream(self, raw: str, sent: int, cut: int) -> None:
        pacer = self.slack.pacer
        if not (pacer.allows("chat.startStream") and pacer.allows("chat.stopStream")):
            log.info("streaming budget spent; showing the answer without streaming")
            self._stream = "off"
            self._show_partial(raw[:cut], cut)
            return
        result = self.slack.once(
            "chat.startStream", channel=self.channel, thread_ts=self.thread_ts,
            recipient_team_id=self.team_id, recipient_user_id=self.user_id,
            markdown_text=stream_markdown(raw[sent:cut]),
        )
        if result.ok and result.response is not None:
            self._stream_ts, self._stream = str(result.response["ts"]), "live"
            with self._cond:
                self._sent = cut
            self._drop_placeholder(required=False)
            return
        failure = result.failure
        assert failure is not None
        self._start_failures += 1
        if failure.ambiguous:
            # a stream may exist that we cannot address: find it so that it gets stopped
            found = self._find_own(lambda text: text.startswith(stream_markdown(raw[sent:cut])[:200]))
            if found:
                self._stream_ts, self._stream, self._exact = found, "live", False
                with self._cond:
                    self._sent = cut
                return
        if not failure.transient or self._start_failures >= START_TRIES:
            log.info("chat streaming unavailable (%s); showing the answer through chat.update", failure.code)
            self._stream = "off"
            self._show_partial(raw[:cut], cut)

    def _append(self, raw: str, sent: int, cut: int) -> None:
        if not self._appends_ok or not self.slack.pacer.allows("chat.appendStream"):
            return  # batch: the text waits for the next round, or for the final message
        assert self._stream_ts is not None
        result = self.slack.once("chat.appendStream", channel=self.channel, ts=self._stream_ts,
                                 markdown_text=stream_markdown(raw[sent:cut]))
        failure = result.failure
        if failure is None:
            with self._cond:
                self._sent = cut
        elif failure.code in NOT_STREAMING:
            # Slack ended the stream (expiry, or the user stopped it): it is an ordinary message now
            log.info("the stream in %s ended early (%s); continuing with chat.update", self.channel, failure.code)
            self._stream, self._partial_ts = "ended", self._stream_ts
            self._show_partial(raw[:cut], cut)
        elif failure.ambiguous:
            self._exact = False  # the text may or may not be there; the final message is rewritten whole
            with self._cond:
                self._sent = cut
        elif not failure.transient:
            self._exact, self._appends_ok = False, False  # still streaming: leave it to the final stop

    def _show_partial(self, raw: str, cut: int) -> None:
        """Partial text by chat.update on our message (never while it streams); skipped past the budget."""
        text = markdown_to_mrkdwn(raw)
        if len(text) > FALLBACK_TEXT_LIMIT:
            text = "…" + text[-FALLBACK_TEXT_LIMIT:]
        text += CURSOR
        target = self._partial_ts or self._placeholder_ts
        if target is None:
            result = self.slack.once("chat.postMessage", channel=self.channel, thread_ts=self.thread_ts, text=text)
            if result.ok and result.response is not None:
                self._partial_ts = str(result.response["ts"])
        elif self.slack.pacer.allows("chat.update"):
            result = self.slack.once("chat.update", channel=self.channel, ts=target, text=text)
            if result.ok:
                self._partial_ts = target
        else:
            return
        with self._cond:
            self._sent = cut

    # --- the end ------------------------------------------------------------------------------------
