"""One answer's life in a Slack thread, against a fake Slack that enforces the real streaming rules.

`ThreadReply` drives the real slack_sdk `WebClient` (with the bot's retry handlers) against
`FakeSlack`, which refuses `chat.update` on a streaming message, refuses appends and stops
after a stream ended or expired, and rate-limits per method by tier. Whatever goes wrong,
the thread must end with exactly one complete answer with its sources, and no message
left streaming.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from slack_sdk import WebClient

from bot.app import attach_retry_handlers
from bot.delivery.mrkdwn import markdown_to_mrkdwn
from bot.delivery.render import SlackMessage
from bot.delivery.reply import ThreadReply
from tests.fakes.fake_slack import FakeSlack, Message

pytestmark = pytest.mark.timeout(60)

CHANNEL = "C0GENERAL"
WORDS = " ".join(f"w{i}" for i in range(30))
ANSWER = f"You can carry over **5 days** of leave [1]. {WORDS} END."
SOURCES = "[1] *Leave policy* — Annual leave · updated 2026-03-02 (3 weeks ago)"


def final_messages(raw: str = ANSWER) -> list[SlackMessage]:
    """What render.answer_messages makes of an answer: the body, then sources and feedback buttons."""
    body = markdown_to_mrkdwn(raw)
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "*Sources*"},
                                         {"type": "mrkdwn", "text": SOURCES}]},
        {"type": "actions", "block_id": "feedback", "elements": [
            {"type": "button", "action_id": "feedback_up", "value": "{}",
             "text": {"type": "plain_text", "text": "👍 Helpful"}},
            {"type": "button", "action_id": "feedback_down", "value": "{}",
             "text": {"type": "plain_text", "text": "👎 Not helpful"}}]},
    ]
    return [SlackMessage(text=body, blocks=blocks)]


def shown(msg: Message) -> str:
    """What a person sees: the blocks' texts, and the (streamed) text when no section carries the body."""
    out = [] if any(b.get("type") == "section" for b in msg.blocks) else [msg.text]
    for block in msg.blocks:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out.extend(el.get("text", "") for el in block.get("elements") or [] if el.get("type") == "mrkdwn")
    return "\n".join(out)


@pytest.fixture
def fake() -> Iterator[callable]:
    with ExitStack() as stack:
        yield lambda **kw: stack.enter_context(FakeSlack(**kw))


def reply_for(slack: FakeSlack, **kw) -> tuple[ThreadReply, str]:
    client = attach_retry_handlers(WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5))
    thread_ts = slack.add_message(CHANNEL, "<@U0BOT> how much leave can I carry over?", user="U0ASKER")
    reply = ThreadReply(client, channel=CHANNEL, thread_ts=thread_ts, user_id="U0ASKER",
                        team_id=slack.team_id, update_interval=kw.pop("update_interval", 0.05), **kw)
    return reply, thread_ts


def feed(reply: ThreadReply, text: str = ANSWER, delay: float = 0.01) -> float:
    """Stream `text` word by word as the model would; returns the longest a token() call took."""
    reply.start()
    reply.status("searching 4 documents…")
    slowest = 0.0
    pieces = text.split(" ")
    for i, piece in enumerate(pieces):
        started = time.monotonic()
        reply.token(piece if i == 0 else " " + piece)
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(delay)
    return slowest


def assert_one_complete_answer(slack: FakeSlack, thread_ts: str) -> Message:
    bot = [m for m in slack.thread(CHANNEL, thread_ts) if m.bot_id]
    assert len(bot) == 1, [shown(m)[:80] for m in bot]
    (answer,) = bot
    text = shown(answer)
    assert "carry over" in text and "END" in text, text  # the whole answer, not a cut-off stream
    assert "Leave policy" in text and any(b.get("block_id") == "feedback" for b in answer.blocks)
    assert slack.streaming_messages() == []
    conflicts = [c for c in slack.calls() if (c.response or {}).get("error") == "streaming_state_conflict"]
    assert conflicts == []  # never tried to edit a message that was still streaming
    return answer


# --- the normal life ---------------------------------------------------------------------------------


def test_streamed_answer_ends_with_stop_stream_carrying_sources_and_buttons(fake):
    slack = fake()
    reply, ts = reply_for(slack)
    feed(reply)
    reply.finish(final_messages())
    answer = assert_one_complete_answer(slack, ts)
    (stop,) = slack.calls("chat.stopStream")
    assert any(b.get("block_id") == "feedback" for b in stop.args.get("blocks") or [])
    assert answer.ts == slack.calls("chat.startStream")[0].response["ts"]
    assert slack.calls("chat.update") == []  # nothing needed editing


def test_links_written_by_the_model_are_neutralised_while_streaming_as_in_the_final_text(fake):
    slack = fake()
    reply, ts = reply_for(slack)
    raw = "See [the policy](https://evil.example/steal) and <!channel> now [1]. " + WORDS + " END."
    feed(reply, raw)
    streamed = "".join(
        str(c.args.get("markdown_text") or "") + "".join(ch.get("text", "") for ch in c.args.get("chunks") or [])
        for c in slack.calls() if c.method in ("chat.startStream", "chat.appendStream")
    )
    assert "](" not in streamed and "<!channel>" not in streamed
    assert "the policy (https://evil.example/steal)" in streamed
    reply.finish(final_messages(raw))
    assert "](" not in shown(slack.thread(CHANNEL, ts)[0])


# --- when Slack fails ----------------------------------------------------------------------------------


def test_a_500_on_stop_stream_is_retried_and_the_thread_holds_one_answer(fake):
    slack = fake()
    slack.fail_next("chat.stopStream", "internal_error", status=500)
    reply, ts = reply_for(slack)
    feed(reply)
    reply.finish(final_messages())
    assert_one_complete_answer(slack, ts)


def test_rate_limited_final_stop_is_retried_after_retry_after(fake):
    slack = fake()
    slack.rate_limit("chat.stopStream", times=1, retry_after=1)
    reply, ts = reply_for(slack)
    feed(reply)
    reply.finish(final_messages())
    assert_one_complete_answer(slack, ts)


def test_stop_stream_failing_for_good_still_leaves_one_answer_and_nothing_streaming(fake):
    slack = fake()
    slack.fail_next("chat.stopStream", "internal_error", times=100, status=500)
    reply, ts = reply_for(slack)
    feed(reply)
    reply.finish(final_messages())
    assert_one_complete_answer(slack, ts)


def test_stop_stream_refusing_the_blocks_stops_plainly_then_edits_in_the_sources(fake):
    slack = fake()
    slack.fail_next("chat.stopStream", "invalid_blocks")
    reply, ts = reply_for(slack)
    feed(reply)
    reply.finish(final_messages())
    answer = assert_one_complete_answer(slack, ts)
    assert answer.ts == slack.calls("chat.startStream")[0].response["ts"]


def test_an_append_error_never_switches_to_chat_update_on_a_streaming_message(fake):
    slack = fake()
    slack.fail_next("chat.appendStream", "internal_error", times=2, status=500)
    reply, ts = reply_for(slack)
    feed(reply)
    reply.finish(final_messages())
    assert_one_complete_answer(slack, ts)


def test_a_dropped_connection_on_append_leaves_one_clean_answer(fake):
    slack = fake()
    slack.drop_next("chat.appendStream", processed=True)  # Slack appended, the answer was lost
    reply, ts = reply_for(slack)
    feed(reply)
    reply.finish(final_messages())
    answer = assert_one_complete_answer(slack, ts)
    assert shown(answer).count("w5 ") == 1  # no text appended twice


def test_stream_expiring_mid_answer_is_finished_on_the_same_message(fake):
    slack = fake(stream_ttl=0.15)
    reply, ts = reply_for(slack)
    feed(reply, delay=0.02)
    reply.finish(final_messages())
    answer = assert_one_complete_answer(slack, ts)
    assert answer.ts == slack.calls("chat.startStream")[0].response["ts"]


def test_a_500_on_the_final_update_of_a_non_streamed_answer_is_retried(fake):
    slack = fake(streaming="not_allowed", set_status="not_allowed")
    reply, ts = reply_for(slack)
    feed(reply)
    slack.fail_next("chat.update", "internal_error", status=500)
    reply.finish(final_messages())
    assert_one_complete_answer(slack, ts)


def test_rate_limited_final_update_of_a_non_streamed_answer_is_retried(fake):
    slack = fake(streaming="not_allowed", set_status="not_allowed")
    reply, ts = reply_for(slack)
    feed(reply)
    slack.rate_limit("chat.update", times=1, retry_after=1)
    reply.finish(final_messages())
    assert_one_complete_answer(slack, ts)


def test_a_lost_answer_to_post_message_does_not_post_the_answer_twice(fake):
    slack = fake(streaming="not_allowed", set_status="ok")
    slack.drop_next("chat.postMessage", processed=True)
    reply, ts = reply_for(slack)
    reply.start()
    reply.finish(final_messages())  # nothing streamed: the answer is posted
    assert_one_complete_answer(slack, ts)


# --- rate-limit tiers ----------------------------------------------------------------------------------


def test_past_the_append_tier_the_token_stream_is_never_held_and_the_answer_completes(fake):
    # Tier 4 shrunk to 3 appends a minute: the fourth gets HTTP 429 with Retry-After of about a minute.
    slack = fake(tier_limits={"chat.appendStream": 3})
    reply, ts = reply_for(slack, update_interval=0.02)
    slowest = feed(reply, delay=0.01)
    assert slowest < 5  # a token was never kept waiting for a Retry-After of ~60 s
    started = time.monotonic()
    reply.finish(final_messages())
    assert time.monotonic() - started < 30  # the final message does not wait out the append's limit either
    assert_one_complete_answer(slack, ts)
    assert len([c for c in slack.calls("chat.appendStream") if c.status == 429]) <= 1  # backed off, no hammering


def test_past_the_stream_start_tier_the_answer_is_posted_without_streaming(fake):
    slack = fake(tier_limits={"chat.startStream": 1})
    first, first_ts = reply_for(slack)
    feed(first)
    first.finish(final_messages())
    second, second_ts = reply_for(slack)
    feed(second)
    second.finish(final_messages())
    assert_one_complete_answer(slack, first_ts)
    assert_one_complete_answer(slack, second_ts)
