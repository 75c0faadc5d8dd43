"""The end of one answer's life in a thread: one final message with its sources, however the stream went.

A stream whose text is exactly the answer is stopped with the sources and buttons as `blocks`. Otherwise
(text differs, an append may have gone wrong, the stop refused the blocks) the stream is stopped plainly and
then edited into the final message; a stream that cannot be stopped is deleted and the answer posted. Required
calls are retried (bot/delivery/slack_calls.py), so the thread ends with one complete answer and no message left
streaming. `FinalDelivery` is the part of `ThreadReply` (bot/delivery/reply.py) that does this, on the state
the streaming part leaves: the stream's, placeholder's and partial message's ts, the text sent so far.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from bot.delivery.mrkdwn import markdown_to_mrkdwn, split_sections, stream_markdown
from bot.delivery.render import SlackMessage
from bot.delivery.slack_calls import Result, SlackCaller

log = logging.getLogger(__name__)

MARKDOWN_LIMIT = 12_000  # spec chat.startStream/appendStream/stopStream: markdown_text ≤ 12,000 characters
NOT_STREAMING = {"message_not_in_streaming_state", "stopped_by_user"}


class FinalDelivery:
    """Delivers the final message(s); mixed into ThreadReply, whose streaming sets the attributes below."""

    slack: SlackCaller
    channel: str
    thread_ts: str
    metadata: dict[str, Any] | None
    status_mode: str
    finished: bool
    final_ts: str | None
    _cond: threading.Condition
    _closing: bool
    _courier: threading.Thread | None
    _stream: str
    _stream_ts: str | None
    _partial_ts: str | None
    _placeholder_ts: str | None
    _raw: str
    _sent: int
    _exact: bool

    def finish(self, messages: Sequence[SlackMessage]) -> None:
        """Make the thread show the final message(s); raises only if the answer could not be delivered."""
        with self._cond:
            self.finished = self._closing = True
            self._cond.notify_all()
            courier = self._courier
        if courier is not None and courier is not threading.current_thread():
            courier.join(timeout=120)
        first, rest = messages[0], list(messages[1:])
        try:
            self._deliver(first, alone=not rest)
            for message in rest:
                self.final_ts = self._post(message)
        finally:
            if self.status_mode == "assistant":
                self.slack.once("assistant.threads.setStatus", channel_id=self.channel,
                                thread_ts=self.thread_ts, status="")

    def fail(self, message: SlackMessage) -> None:
        """Show an error in place of the answer; post it fresh if the answer was already delivered."""
        if self.finished:
            self._post(message)
        else:
            self.finish([message])

    def _deliver(self, first: SlackMessage, *, alone: bool) -> None:
        target = self._partial_ts or self._placeholder_ts
        if self._stream == "live":
            if self._stop_stream(first, alone=alone):
                self.final_ts = self._stream_ts
                return
            if self._stream == "live":  # could not stop it: remove it rather than leave a second answer
                self._delete(self._stream_ts)
                target = None
            else:
                target = self._stream_ts
        if target is not None:
            if self.slack.must("chat.update", channel=self.channel, ts=target, text=first.text,
                               blocks=first.blocks, **self._marked()).ok:
                self.final_ts = target
                if target != self._placeholder_ts:
                    self._drop_placeholder(required=True)
                return
            self._delete(target)
        self.final_ts = self._post(first)
        self._drop_placeholder(required=True)

    def _stop_stream(self, first: SlackMessage, *, alone: bool) -> bool:
        """Stop the stream; True when that alone delivered the final message (sources as `blocks`)."""
        rest = stream_markdown(self._raw[self._sent:])
        body, tail = _split_body(first)
        if self._exact and alone and body == _sections_of(self._raw) and len(rest) <= MARKDOWN_LIMIT:
            result = self.slack.must("chat.stopStream", channel=self.channel, ts=self._stream_ts,
                                     markdown_text=rest or None, blocks=tail, **self._marked())
            if result.ok:
                self._stream = "ended"
                self._drop_placeholder(required=True)
                return True
            log.warning("chat.stopStream with the sources failed (%s); stopping plainly", result.code)
            if result.code in NOT_STREAMING:
                self._stream = "ended"  # the stop went through before failing, or Slack ended it
                return False
        result = self.slack.must("chat.stopStream", channel=self.channel, ts=self._stream_ts)
        if result.ok or result.code in NOT_STREAMING:
            self._stream = "ended"
        return False

    def _post(self, message: SlackMessage) -> str | None:
        """Post `message` in the thread; its ts (None when only a check found that it went through)."""
        result = self.slack.must(
            "chat.postMessage", channel=self.channel, thread_ts=self.thread_ts, text=message.text,
            blocks=message.blocks, check=lambda: self._find_own(lambda text: text == message.text) is not None,
            **self._marked(),
        )
        if not result.ok:
            raise RuntimeError(f"could not post the answer ({result.code})")
        return str(result.response["ts"]) if result.response is not None else None

    def _marked(self) -> dict:
        return {"metadata": self.metadata} if self.metadata else {}

    def _delete(self, ts: str | None) -> Result:
        return self.slack.must("chat.delete", channel=self.channel, ts=ts) if ts else Result()

    def _drop_placeholder(self, *, required: bool) -> None:
        if self._placeholder_ts is None:
            return
        call = self.slack.must if required else self.slack.once
        if call("chat.delete", channel=self.channel, ts=self._placeholder_ts).ok:
            self._placeholder_ts = None

    def _find_own(self, matches: Callable[[str], bool]) -> str | None:
        """The ts of a bot message in this thread whose text `matches` (after an ambiguous failure)."""
        result = self.slack.once("conversations.replies", channel=self.channel, ts=self.thread_ts, limit=200)
        if not result.ok or result.response is None:
            return None
        known = {self.thread_ts, self._placeholder_ts, self._partial_ts, self._stream_ts}
        for msg in result.response.get("messages") or []:
            if msg.get("bot_id") and msg.get("ts") not in known and matches(str(msg.get("text") or "")):
                return str(msg["ts"])
        return None


def _split_body(message: SlackMessage) -> tuple[list[str], list[dict]]:
    """The leading section texts (the answer's body) and the blocks after them (sources, buttons)."""
    body: list[str] = []
    for i, block in enumerate(message.blocks):
        text = block.get("text")
        if block.get("type") != "section" or not isinstance(text, dict):
            return body, list(message.blocks[i:])
        body.append(str(text.get("text") or ""))
    return body, []


def _sections_of(raw: str) -> list[str]:
    """The body render.answer_messages makes of this text, to tell whether the stream already shows it."""
    return split_sections(markdown_to_mrkdwn(raw.strip()))
