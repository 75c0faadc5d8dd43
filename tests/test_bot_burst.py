"""200 mentions in 4 s: every asker gets an answer or a notice, none gets nothing (issue 17.6).

Through the real Bolt app, the real slack_sdk client and the fake Slack, which answers HTTP 429
`ratelimited` with Retry-After past chat.postMessage's per-channel allowance (about one a second,
docs.slack.dev/apis/web-api/rate-limits; `rate_window` shrinks the minute so the test takes seconds
rather than minutes at the same rate). Most askers are told the bot is busy (2 workers, 20 waiting):
those notices meet the rate limit and must be retried until they are delivered, never dropped.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fakes.fake_slack import FakeSlack
from tests.test_bot_http import corpus, make_bot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(300)

MENTIONS = 200
CHANNELS = [f"C0BURST{i:02d}" for i in range(4)]
SPREAD_S = 4.0
ANSWER = "Receipts go in the finance portal within 30 days [1]."


def test_a_burst_of_mentions_leaves_no_asker_with_nothing(make_bot, caplog: pytest.LogCaptureFixture):  # noqa: F811
    caplog.set_level(logging.WARNING)
    slack = FakeSlack(rate_window=2.0)  # chat.postMessage: 2 per channel per 2 s (1/s), then 429 + Retry-After
    bot = make_bot(reply=ANSWER, slack=slack, WORKER_THREADS=2, QUEUE_MAX=20)
    asked: list[tuple[str, str]] = []
    for i in range(MENTIONS):
        channel = CHANNELS[i % len(CHANNELS)]
        asked.append((channel, slack.add_message(channel, f"<@{slack.bot_user_id}> receipts? #{i}",
                                                 user=f"U0ASK{i:03d}")))

    def ask(i: int) -> int:
        time.sleep(max(0.0, SPREAD_S * i / MENTIONS - (time.monotonic() - started)))
        channel, ts = asked[i]
        return bot.send.mention(channel, ts, f"receipts? #{i}", user=f"U0ASK{i:03d}", event_id=f"EvBURST{i:03d}"
                                ).status

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(ask, range(MENTIONS)))
    assert statuses == [200] * MENTIONS

    def told(channel: str, ts: str) -> bool:
        """An answer (sources and 👍/👎) or a notice: a message with blocks, not a progress placeholder."""
        return any(m.bot_id and m.blocks and not m.streaming for m in slack.thread(channel, ts))

    try:
        slack.wait_for(lambda: all(told(c, ts) for c, ts in asked), timeout=240)
    except TimeoutError:
        nothing = [(c, ts) for c, ts in asked if not told(c, ts)]
        raise AssertionError(f"{len(nothing)} askers got nothing; log: {caplog.text[-3000:]}") from None
    limited = [c for c in slack.calls("chat.postMessage") if c.status == 429]
    assert limited, "the burst never reached Slack's rate limit: the test proves nothing"
    assert all(c.response == {"ok": False, "error": "ratelimited"} for c in limited)
    busy = sum(1 for c, ts in asked if any("busy" in m.text for m in slack.thread(c, ts)))
    answered = sum(1 for c, ts in asked
                   if any(b.get("block_id") == "feedback" for m in slack.thread(c, ts) for b in m.blocks))
    assert busy + answered >= MENTIONS and answered >= 2, (busy, answered)
    assert "could not post" not in caplog.text
    for channel, ts in asked:  # exactly one busy notice or answer each: a retry never posts twice
        finals = [m for m in slack.thread(channel, ts) if m.bot_id and m.blocks]
        assert len(finals) == 1, (channel, ts, [m.text[:60] for m in finals])
