"""The bot end to end over its HTTP endpoint: signed Slack requests in, a fake Slack Web API out.

Real Bolt app behind the real WSGI adapter, real slack_sdk client (pointed at
`FakeSlack`), a real RagService over a small index built once per module, and the
fake Ollama server for generation. Assertions are about what people in Slack see.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from bot.app import build_app
from bot.config import BotSettings
from bot.http.wsgi import slack_wsgi_app
from bot.runtime import BotRuntime
from rag.config import load_settings
from rag.service import RagService
from tests.fakes.fake_ollama import FakeOllama, closed_port_url
from tests.fakes.fake_slack import FakeSlack, Message
from tests.fakes.slack_signing import SlackSender, dm_event, mention_event, serve_wsgi, sign

pytestmark = pytest.mark.timeout(120)

SECRET = "test-signing-secret-0123456789abcdef"
GENERAL = "C0GENERAL"
LEGAL = "C0LEGAL"
ADMIN = "U0ADMIN"
MODEL = "llama3.2:3b"
TWO_YEARS = 2 * 365 * 24 * 3600

DOCS = {
    "policies/leave-policy.md": (
        "# Leave policy\n\n## Annual leave\n\nEvery employee gets 25 days of paid annual leave per calendar "
        "year. Up to 5 unused days of annual leave can be carried over into the next year and must be taken "
        "by 31 March.\n\n## Sick leave\n\nReport sick leave to your manager before 10:00 on the first day.\n"
    ),
    "policies/travel-policy.md": (
        "# Travel policy\n\n## Hotels\n\nThe hotel limit is 180 EUR per night in capital cities and 130 EUR "
        "per night elsewhere. Book hotels through the travel portal.\n"
    ),
    "contracts/acme-msa.md": (
        "# ACME master services agreement\n\n## Termination\n\nEither party may terminate this agreement "
        "with 90 days written notice. Fees already invoiced remain payable after termination.\n"
    ),
    "sops/expense-sop.md": (
        "# Expense report procedure\n\n## Submitting receipts\n\nSubmit expense receipts in the finance "
        "portal within 30 days of purchase. Lost receipts need a signed declaration from your manager.\n"
    ),
}


def write_docs(root: Path) -> None:
    for rel, text in DOCS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    old = time.time() - TWO_YEARS
    os.utime(root / "sops/expense-sop.md", (old, old))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Documents and their index, built once for the module (the model and ingest cost seconds)."""
    root = tmp_path_factory.mktemp("bot-corpus")
    docs, index = root / "docs", root / "index"
    write_docs(docs)
    settings = load_settings(docs_dir=docs, lancedb_uri=str(index), ollama_host=closed_port_url())
    report = RagService(settings).sync(full=True)
    assert report.status == "ok" and len(report.added) == len(DOCS), report
    return docs, index


def cite(title: str, answer: str) -> Callable[[Any], str]:
    """A model reply citing the source numbered `title` in the prompt it was given (or nothing)."""

    def reply(body: Any) -> str:
        data = body if isinstance(body, dict) else json.loads(body)
        prompt = data["messages"][-1]["content"]
        match = re.search(r'<source[-\w]* id="(\d+)">\n\[\d+\] title: ' + re.escape(title), prompt)
        return answer.format(n=match.group(1)) if match else "The documents do not cover this."

    return reply


@dataclass
class Bot:
    slack: FakeSlack
    ollama: FakeOllama | None
    send: SlackSender
    runtime: BotRuntime
    rag: RagService
    url: str
    tmp: Path

    def ask(
        self,
        text: str,
        *,
        channel: str = GENERAL,
        user: str = "U0ASKER",
        thread_ts: str | None = None,
        **kwargs: Any,
    ) -> tuple[str, Any]:
        """Post the question as a person would (it exists in the channel), then deliver the mention event."""
        ts = self.slack.add_message(channel, f"<@{self.slack.bot_user_id}> {text}", user=user, thread_ts=thread_ts)
        sent = self.send.mention(channel, ts, text, user=user, thread_ts=thread_ts, **kwargs)
        return ts, sent

    def answers(self, channel: str, thread_ts: str) -> list[Message]:
        return [m for m in self.slack.thread(channel, thread_ts) if m.bot_id and _is_answer(m)]

    def wait_answer(self, channel: str, thread_ts: str, timeout: float = 30) -> Message:
        self.slack.wait_for(lambda: self.answers(channel, thread_ts), timeout)
        self.wait_idle()
        (answer,) = self.answers(channel, thread_ts)
        return answer

    def wait_idle(self, timeout: float = 30) -> None:
        self.slack.wait_for(
            lambda: (
                self.runtime.answers.running == 0
                and self.runtime.answers.waiting == 0
                and self.runtime.control.running == 0
                and self.runtime.control.waiting == 0
            ),
            timeout,
        )

    def bot_replies(self, channel: str, thread_ts: str) -> list[Message]:
        return [m for m in self.slack.thread(channel, thread_ts) if m.bot_id]

    def command(self, command: str, text: str = "", *, user: str = "U0ASKER", channel: str = GENERAL) -> Any:
        return self.send.command(
            command, text, user_id=user, channel_id=channel, response_url=self.slack.response_url()
        )


def _is_answer(msg: Message) -> bool:
    return any(b.get("block_id") == "feedback" for b in msg.blocks)


def text_of(msg: Message | dict) -> str:
    blocks = msg.blocks if isinstance(msg, Message) else msg.get("blocks") or []
    text = msg.text if isinstance(msg, Message) else str(msg.get("text") or "")
    # a streamed answer's body is its streamed text; chat.stopStream's blocks (sources) come below it
    out = [] if any(b.get("type") == "section" for b in blocks) else [text]
    for block in blocks:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out.extend(el["text"] for el in block.get("elements") or [] if el.get("type") == "mrkdwn")
    return "\n".join(out)


@pytest.fixture
def make_bot(corpus: tuple[Path, Path], tmp_path: Path) -> Iterator[Callable[..., Bot]]:
    stack = ExitStack()

    def start(
        *,
        reply: Any = "",
        slack: FakeSlack | None = None,
        ollama_url: str | None = None,
        ollama_mode: str = "ok",
        token_delay: float = 0.0,
        private_corpus: bool = False,
        rag: dict[str, Any] | None = None,
        warm: bool = True,
        **env: Any,
    ) -> Bot:
        docs, index = corpus
        if private_corpus:  # tests that change documents get their own copy
            docs, index = tmp_path / "docs", tmp_path / "index"
            shutil.copytree(corpus[0], docs)
            shutil.copytree(corpus[1], index)
        fake_ollama = None
        if ollama_url is None:
            fake_ollama = stack.enter_context(
                FakeOllama(models=[MODEL], reply=reply, token_delay=token_delay, mode=ollama_mode)
            )
            ollama_url = fake_ollama.url
        rag_settings = load_settings(**{
            "docs_dir": docs,
            "lancedb_uri": str(index),
            "ollama_host": ollama_url,
            "ollama_model": MODEL,
            "ollama_timeout_seconds": 5.0,
            "ollama_connect_timeout_seconds": 1.0,
            **(rag or {}),
        })
        if private_corpus:  # the copied index remembers the module's folder: move it to the copy
            assert RagService(rag_settings).sync(switch_docs_root=True).status == "ok"
        fake_slack = stack.enter_context(slack or FakeSlack())
        fake_slack.add_user(ADMIN, name="admin")
        settings = BotSettings(
            SLACK_BOT_TOKEN=fake_slack.bot_token,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_MODE="http",
            SLACK_API_URL=fake_slack.api_url,
            ADMIN_USER_IDS=ADMIN,
            STREAM_UPDATE_SECONDS=0.2,
            DEDUP_DB=str(tmp_path / "dedup.sqlite3"),
            FEEDBACK_LOG=str(tmp_path / "feedback.jsonl"),
            **env,
        )
        service = RagService(rag_settings)
        app, runtime = build_app(service, settings)
        stack.callback(runtime.shutdown, timeout=10)
        base = stack.enter_context(serve_wsgi(slack_wsgi_app(app, runtime)))
        runtime.start_background()  # as `ragbot serve` does once it listens
        if warm:
            runtime.warm.wait(60)
        sender = SlackSender(
            base + "/slack/events", SECRET, team_id=fake_slack.team_id, bot_user_id=fake_slack.bot_user_id
        )
        return Bot(
            slack=fake_slack,
            ollama=fake_ollama,
            send=sender,
            runtime=runtime,
            rag=service,
            url=base,
            tmp=tmp_path,
        )

    yield start
    stack.close()


LEAVE_ANSWER = "You can carry over up to **5 days** of annual leave, to be taken by 31 March [{n}]."


# --- mentions ---------------------------------------------------------------------------------------


def test_mention_gets_exactly_one_threaded_answer_citing_the_right_document(make_bot):
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER), token_delay=0.01)
    ts, sent = bot.ask("how many days of annual leave can I carry over?")
    assert sent.status == 200 and sent.seconds < 1.0

    answer = bot.wait_answer(GENERAL, ts)
    assert bot.bot_replies(GENERAL, ts) == [answer]  # one message: progress and stream became the answer
    shown = text_of(answer)
    # the streamed body is markdown (**bold**), a posted one mrkdwn (*bold*)
    assert re.search(r"carry over up to \*\*?5 days\*\*?", shown) and "[1]" in shown
    assert "Leave policy" in shown and "Annual leave" in shown and re.search(r"updated \d{4}-\d\d-\d\d", shown)
    assert "Travel" not in shown and "ACME" not in shown
    assert answer.thread_ts == ts

    slack = bot.slack
    statuses = [c.args["status"] for c in slack.calls("assistant.threads.setStatus")]
    assert statuses[0].startswith("searching 4 documents")
    assert slack.calls("chat.startStream") and len(slack.calls("chat.stopStream")) == 1
    prompt = bot.ollama.requests[-1]
    body = prompt if isinstance(prompt, dict) else json.loads(prompt)
    question = body["messages"][-1]["content"]
    assert "how many days of annual leave" in question and "<@U0BOT>" not in question


def test_streamed_text_goes_out_in_batches_not_per_token(make_bot):
    words = " ".join(f"word{i}" for i in range(60))
    bot = make_bot(reply=cite("Leave policy", words + " [{n}]"), token_delay=0.02)
    ts, _ = bot.ask("how many days of annual leave can I carry over?")
    bot.wait_answer(GENERAL, ts)
    appends = bot.slack.calls("chat.appendStream")
    assert 1 <= len(appends) + 1 < 30  # ~1.2 s of tokens at one batch per 0.2 s, not 120 pieces


def test_same_event_redelivered_with_retry_headers_is_answered_once(make_bot):
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER), token_delay=0.05)
    ts, first = bot.ask("how many days of annual leave can I carry over?", event_id="EvRETRY1")
    # Slack retries while the first answer is still being generated, then once more after it is done
    retry = bot.send.mention(
        GENERAL, ts, "how many days of annual leave can I carry over?", event_id="EvRETRY1", retry_num=1
    )
    assert first.status == 200 and retry.status == 200 and retry.seconds < 1.0
    bot.wait_answer(GENERAL, ts)
    late = bot.send.mention(
        GENERAL,
        ts,
        "how many days of annual leave can I carry over?",
        event_id="EvRETRY1",
        retry_num=2,
        retry_reason="http_error",
    )
    assert late.status == 200
    bot.wait_idle()
    assert len(bot.bot_replies(GENERAL, ts)) == 1
    assert len(bot.ollama.requests) == 1


def test_mention_and_dm_twin_of_one_message_are_answered_once(make_bot):
    bot = make_bot(reply=cite("Travel policy", "The limit is 180 EUR per night in capitals [{n}]."))
    ts = bot.slack.add_message("D0DM", "<@U0BOT> hotel limit per night?", user="U0ASKER")
    bot.send.event(dm_event("D0DM", ts, "<@U0BOT> hotel limit per night?"))
    bot.send.event(mention_event("D0DM", ts, "hotel limit per night?"))
    answer = bot.wait_answer("D0DM", ts)
    assert "180 EUR" in text_of(answer) and "Travel policy" in text_of(answer)
    assert len(bot.bot_replies("D0DM", ts)) == 1


def test_forged_or_stale_signature_gets_401_and_no_answer(make_bot):
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER))
    ts = bot.slack.add_message(GENERAL, "<@U0BOT> leave?", user="U0ASKER")
    body = json.dumps(bot.send.event_body(mention_event(GENERAL, ts, "leave?"))).encode()
    forged = bot.send.post(body, "application/json", signature=sign("not-the-secret", int(time.time()), body))
    stale_ts = int(time.time()) - 600
    stale = bot.send.post(body, "application/json", timestamp=stale_ts, signature=sign(SECRET, stale_ts, body))
    unsigned = bot.send.post(body, "application/json", signature="v0=")
    assert (forged.status, stale.status, unsigned.status) == (401, 401, 401)
    time.sleep(0.5)
    assert bot.bot_replies(GENERAL, ts) == [] and bot.ollama.requests == []
    assert not bot.slack.calls("chat.postMessage") and not bot.slack.calls("chat.startStream")


def test_follow_up_in_a_thread_uses_the_earlier_messages(make_bot):
    bot = make_bot(reply=cite("Leave policy", "Yes, until 31 March [{n}]."))
    root = bot.slack.add_message(GENERAL, "<@U0BOT> how many days of annual leave do I get?", user="U0ASKER")
    bot.slack.add_message(
        GENERAL,
        "You get 25 days per year [1].",
        thread_ts=root,
        bot=True,
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "You get *25 days* per year [1]."}},
            {
                "type": "actions",
                "block_id": "earlier-feedback",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "feedback_up",
                        "value": "{}",
                        "text": {"type": "plain_text", "text": "👍"},
                    }
                ],
            },
        ],
    )
    bot.slack.add_message(GENERAL, "thanks!", thread_ts=root, user="U0OTHER")
    ts, _ = bot.ask("and can I carry unused days over?", thread_ts=root)
    answer = bot.wait_answer(GENERAL, root)
    assert "31 March" in text_of(answer)
    history = bot.ollama.requests[-1]
    messages = (history if isinstance(history, dict) else json.loads(history))["messages"]
    turns = [(m["role"], m["content"]) for m in messages[1:-1]]
    assert ("user", "how many days of annual leave do I get?") in turns
    assert ("assistant", "You get *25 days* per year [1].") in turns
    assert "carry unused days over" in messages[-1]["content"]
    assert answer.thread_ts == root and ts != root


def test_dm_works_like_a_mention(make_bot):
    bot = make_bot(reply=cite("Expense report procedure", "Submit receipts within 30 days [{n}]."))
    ts = bot.slack.add_message("D0DM", "when do I submit expense receipts?", user="U0ASKER")
    bot.send.event(dm_event("D0DM", ts, "when do I submit expense receipts?"))
    answer = bot.wait_answer("D0DM", ts)
    shown = text_of(answer)
    assert "30 days" in shown and "Expense report procedure" in shown
    assert "possibly outdated" in shown and "2 years ago" in shown  # the SOP was last changed two years ago


def test_model_output_cannot_ping_the_channel_or_disguise_links(make_bot):
    hostile = "<!channel> ask <@U0BOSS> or see <https://evil.example|the leave policy>: 5 days [{n}]."
    bot = make_bot(reply=cite("Leave policy", hostile))
    ts, _ = bot.ask("how many days of annual leave can I carry over?")
    answer = bot.wait_answer(GENERAL, ts)
    posted = (
        answer.text
        + text_of(answer)
        + "".join(json.dumps(c.args) for c in bot.slack.calls() if c.method.startswith("chat."))
    )
    assert "<!channel>" not in posted and "<@U0BOSS>" not in posted and "<https://evil" not in posted
    assert "&lt;!channel&gt;" in text_of(answer)


def test_empty_mention_gets_help_not_silence(make_bot):
    bot = make_bot(reply="unused")
    ts, _ = bot.ask("")
    bot.slack.wait_for(lambda: bot.bot_replies(GENERAL, ts))
    assert "/rag-sources" in text_of(bot.bot_replies(GENERAL, ts)[0])
    assert bot.ollama.requests == []


# --- when things go wrong ---------------------------------------------------------------------------


def test_streaming_unavailable_falls_back_to_post_and_throttled_updates(make_bot):
    words = " ".join(f"w{i}" for i in range(40))
    bot = make_bot(
        reply=cite("Leave policy", words + " [{n}]"),
        token_delay=0.02,
        slack=FakeSlack(streaming="not_allowed", set_status="not_allowed"),
    )
    ts, _ = bot.ask("how many days of annual leave can I carry over?")
    answer = bot.wait_answer(GENERAL, ts)
    assert bot.bot_replies(GENERAL, ts) == [answer]  # the placeholder became the answer
    updates = [c for c in bot.slack.calls("chat.update") if c.args.get("ts") == answer.ts]
    assert 2 <= len(updates) < 20  # progress + partial text batches + final, not one per token
    assert any(c.args.get("text", "").startswith("w0") for c in updates)  # partial answer shown while writing
    assert "Leave policy" in text_of(answer)


def test_stream_that_expires_is_recovered_through_its_ts(make_bot):
    words = " ".join(f"w{i}" for i in range(40))
    bot = make_bot(
        reply=cite("Leave policy", words + " [{n}]"), token_delay=0.02, slack=FakeSlack(expire_stream_after=1)
    )
    ts, _ = bot.ask("how many days of annual leave can I carry over?")
    answer = bot.wait_answer(GENERAL, ts)
    (stream_start,) = bot.slack.calls("chat.startStream")
    assert answer.ts == stream_start.response["ts"]  # the streamed message itself became the answer
    assert bot.bot_replies(GENERAL, ts) == [answer]
    assert "Leave policy" in text_of(answer)


def test_ollama_dropping_mid_answer_still_gives_a_cited_answer_with_a_note(make_bot):
    bot = make_bot(
        reply=cite("Leave policy", LEAVE_ANSWER + " More text follows here."),
        ollama_mode="error_midstream",
        token_delay=0.01,
    )
    ts, _ = bot.ask("how many days of annual leave can I carry over?")
    answer = bot.wait_answer(GENERAL, ts)
    shown = text_of(answer)
    assert "unavailable" in shown.lower() and "Leave policy" in shown and "31 March" in shown
    assert bot.bot_replies(GENERAL, ts) == [answer]


def test_ollama_down_gives_the_extractive_answer(make_bot):
    bot = make_bot(ollama_url=closed_port_url())
    ts, _ = bot.ask("what is the hotel limit per night?")
    shown = text_of(bot.wait_answer(GENERAL, ts))
    # a plain sentence for the asker; the internal URL and errno go to the log and `ragbot doctor`
    assert "language model is unavailable" in shown and "180 EUR" in shown and "Travel policy" in shown


def test_nothing_relevant_says_so_and_points_to_rag_sources(make_bot):
    bot = make_bot(reply="should not be asked")
    ts, _ = bot.ask("zebra quantum flute recital seating chart")
    shown = text_of(bot.wait_answer(GENERAL, ts))
    assert "/rag-sources" in shown
    assert bot.ollama.requests == []


def test_rate_limited_slack_calls_are_retried_and_delivered_once(make_bot):
    # Tokens arrive over ~1 s, so the answer streams even on a loaded machine (an answer complete before
    # its first delivery is posted whole, with no stream to stop).
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER), token_delay=0.05)
    bot.slack.rate_limit("chat.stopStream", times=1, retry_after=0)
    ts, _ = bot.ask("how many days of annual leave can I carry over?")
    answer = bot.wait_answer(GENERAL, ts)
    codes = [c.response.get("error") for c in bot.slack.calls("chat.stopStream")]
    assert "ratelimited" in codes and codes[-1] is None
    assert bot.bot_replies(GENERAL, ts) == [answer]


def test_waiting_questions_are_told_their_place_and_a_full_queue_says_busy(make_bot):
    bot = make_bot(
        reply=cite("Leave policy", " ".join(["slow"] * 15) + " [{n}]"),
        token_delay=0.1,
        WORKER_THREADS=1,
        QUEUE_MAX=1,
    )
    first, _ = bot.ask("how many days of annual leave can I carry over?")
    bot.slack.wait_for(lambda: bot.slack.calls("chat.startStream"))
    second, _ = bot.ask("how many days of annual leave do I get?")
    third, sent = bot.ask("what is the hotel limit?")
    assert sent.status == 200
    busy = bot.slack.wait_for(lambda: bot.bot_replies(GENERAL, third))
    assert "busy" in text_of(busy[0]) and not _is_answer(busy[0])
    waiting = bot.slack.wait_for(
        lambda: [
            c.args["status"] for c in bot.slack.calls("assistant.threads.setStatus") if c.args["thread_ts"] == second
        ]
    )
    assert waiting[0] == "waiting for a free slot (number 1 in line)…"
    bot.wait_answer(GENERAL, first)
    bot.wait_answer(GENERAL, second)
    assert bot.answers(GENERAL, third) == []


def test_slow_answers_do_not_delay_slash_command_acks(make_bot):
    """While 10 answers are generating slowly, /rag-sources and /rag-resync are acked within 3 s."""
    bot = make_bot(
        reply=cite("Leave policy", " ".join(["slowly"] * 40) + " [{n}]"),
        token_delay=0.1,
        WORKER_THREADS=10,
        QUEUE_MAX=10,
    )
    with ThreadPoolExecutor(10) as pool:
        asked = list(pool.map(lambda i: bot.ask(f"how many days of annual leave can I carry over? ({i})"), range(10)))
    assert all(sent.status == 200 for _, sent in asked)
    bot.slack.wait_for(lambda: len(bot.slack.calls("chat.startStream")) >= 8, timeout=20)
    assert bot.runtime.answers.running >= 8
    sources = bot.command("/rag-sources", "policy")
    resync = bot.command("/rag-resync", user=ADMIN)
    assert sources.status == 200 and sources.seconds < 3.0
    assert resync.status == 200 and resync.seconds < 3.0 and "Sync started" in resync.text
    assert bot.runtime.answers.running >= 5  # the answers really were still generating
    bot.slack.wait_for(lambda: len(bot.slack.responses) >= 2, timeout=30)
    for ts, _ in asked:
        bot.wait_answer(GENERAL, ts, timeout=60)


# --- slash commands and buttons ---------------------------------------------------------------------


def test_rag_sources_lists_only_matching_documents(make_bot):
    bot = make_bot(reply="unused")
    sent = bot.command("/rag-sources", "policy")
    assert sent.status == 200
    (response,) = bot.slack.wait_for(lambda: bot.slack.responses)
    assert response.body["response_type"] == "ephemeral"
    shown = text_of(response.body)
    assert "Leave policy" in shown and "Travel policy" in shown
    assert "ACME" not in shown and "Expense" not in shown
    assert "2 documents" in shown and "Last sync" in shown


def test_non_admin_resync_is_refused_and_nothing_runs(make_bot):
    bot = make_bot(reply="unused", private_corpus=True)
    before = bot.rag.last_sync_report()
    (bot.tmp / "docs" / "policies" / "new-policy.md").write_text("# New policy\n\nSomething new.\n")
    sent = bot.command("/rag-resync", user="U0NOBODY")
    assert sent.status == 200 and "Only the bot's admins" in sent.text
    time.sleep(1.0)
    after = bot.rag.last_sync_report()
    assert after.started == before.started and bot.rag.sync_running_since() is None
    assert bot.slack.responses == []
    assert not any(d.rel_path == "policies/new-policy.md" for d in bot.rag.documents())


def test_admin_resync_runs_and_reports(make_bot):
    bot = make_bot(reply="unused", private_corpus=True)
    (bot.tmp / "docs" / "policies" / "new-policy.md").write_text("# Remote work policy\n\nWork from home 2 days.\n")
    (bot.tmp / "docs" / "contracts" / "acme-msa.md").unlink()
    sent = bot.command("/rag-resync", user=ADMIN)
    assert sent.status == 200 and "Sync started" in sent.text
    (report,) = bot.slack.wait_for(lambda: bot.slack.responses, timeout=60)
    shown = text_of(report.body)
    assert "1 added" in shown and "1 removed" in shown
    assert "policies/new-policy.md" in shown and "contracts/acme-msa.md" in shown
    assert any(d.rel_path == "policies/new-policy.md" for d in bot.rag.documents())


def test_workspace_admins_may_resync_when_enabled(make_bot):
    bot = make_bot(reply="unused", private_corpus=True, ADMINS_INCLUDE_WORKSPACE_ADMINS=True)
    bot.slack.add_user("U0WSADMIN", is_admin=True)
    bot.slack.add_user("U0MEMBER")
    refused = bot.command("/rag-resync", user="U0MEMBER")
    assert refused.status == 200
    (refusal,) = bot.slack.wait_for(lambda: bot.slack.responses)
    assert "Only the bot's admins" in text_of(refusal.body)
    bot.command("/rag-resync", user="U0WSADMIN")
    bot.slack.wait_for(lambda: len(bot.slack.responses) >= 3, timeout=60)  # "started" + the report
    assert "Sync report" in text_of(bot.slack.responses[-1].body)
    assert [c.args["user"] for c in bot.slack.calls("users.info")] == ["U0MEMBER", "U0WSADMIN"]


def test_channel_scope_keeps_other_folders_out(make_bot):
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER), CHANNEL_SCOPES=f"{LEGAL}=contracts/")
    ts, _ = bot.ask("how many days of annual leave can I carry over?", channel=LEGAL)
    shown = text_of(bot.wait_answer(LEGAL, ts))
    assert "Leave policy" not in shown
    prompts = " ".join(json.dumps(r) if isinstance(r, dict) else str(r) for r in bot.ollama.requests)
    assert "25 days of paid annual leave" not in prompts
    bot.command("/rag-sources", channel=LEGAL)
    (listing,) = bot.slack.wait_for(lambda: bot.slack.responses)
    assert "ACME" in text_of(listing.body) and "Leave policy" not in text_of(listing.body)


def test_feedback_click_is_logged_with_question_sources_and_user(make_bot):
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER))
    ts, _ = bot.ask("how many days of annual leave can I carry over?")
    answer = bot.wait_answer(GENERAL, ts)
    down = next(
        el
        for b in answer.blocks
        if b.get("block_id") == "feedback"
        for el in b["elements"]
        if el["action_id"] == "feedback_down"
    )
    sent = bot.send.block_action(
        {"action_id": "feedback_down", "value": down["value"]},
        user_id="U0CRITIC",
        message=answer.as_api(),
        response_url=bot.slack.response_url(),
    )
    assert sent.status == 200
    (thanks,) = bot.slack.wait_for(lambda: bot.slack.responses)
    assert "feedback was recorded" in thanks.body["text"]
    (record,) = [json.loads(line) for line in (bot.tmp / "feedback.jsonl").read_text().splitlines()]
    assert record["rating"] == "down" and record["user"] == "U0CRITIC"
    assert record["question"] == "how many days of annual leave can I carry over?"
    assert record["sources"] == ["policies/leave-policy.md"] and record["message_ts"] == answer.ts


def get_health(bot: Bot) -> tuple[int, dict]:
    try:
        with urlopen(bot.url + "/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except HTTPError as err:
        return err.code, json.loads(err.read())


def test_health_endpoint_reports_every_check_and_names_no_document(make_bot):
    bot = make_bot(reply="unused")
    status, info = get_health(bot)
    assert status == 200 and info["status"] == "ok" and info["failing"] == []
    checks = info["checks"]
    assert checks["index"]["documents"] == len(DOCS) and checks["last_sync"]["status"] == "ok"
    assert checks["slack_auth"]["ok"] is True and checks["model"]["state"] == "ready"
    shown = json.dumps(info).lower()
    assert not any(word in shown for word in ("leave", "travel", "acme", "expense", "policies", "contracts"))


def test_health_says_503_when_slack_stops_accepting_the_token(make_bot):
    """A revoked token: every Web API call answers invalid_auth, and /healthz must say so at once."""
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER))
    assert get_health(bot)[0] == 200
    bot.slack.bot_token = "xoxb-the-new-one"  # the app was reinstalled: our token is no longer valid
    ts, sent = bot.ask("how many days of annual leave can I carry over?")
    assert sent.status == 200  # still acked: the signature is not the token
    status, info = bot.slack.wait_for(lambda: (h := get_health(bot))[0] == 503 and h, timeout=30)
    assert info["failing"] == ["slack_auth"] and "invalid_auth" in info["checks"]["slack_auth"]["detail"]


def test_health_rechecks_the_token_periodically_and_recovers(make_bot):
    bot = make_bot(reply="unused", SLACK_AUTH_CHECK_SECONDS=0.3)
    token = bot.slack.bot_token
    bot.slack.bot_token = "xoxb-the-new-one"  # nobody asks anything: only the periodic auth.test can notice
    status, info = bot.slack.wait_for(lambda: (h := get_health(bot))[0] == 503 and h, timeout=30)
    assert info["failing"] == ["slack_auth"]
    bot.slack.bot_token = token
    bot.slack.wait_for(lambda: get_health(bot)[0] == 200, timeout=30)


def test_health_says_503_for_a_failed_sync_an_empty_index_and_a_loading_model(make_bot, tmp_path, monkeypatch):
    bot = make_bot(reply="unused", private_corpus=True)
    shutil.rmtree(bot.tmp / "docs")  # the share was unmounted
    assert bot.rag.sync().status in ("failed", "refused")
    status, info = get_health(bot)
    assert status == 503 and info["failing"] == ["last_sync"]
    assert str(bot.tmp) not in json.dumps(info)  # no paths, no error texts

    from bot.http.warmup import WarmUp
    from tests.child_hooks import slowed

    monkeypatch.setattr(WarmUp, "run", slowed(WarmUp.run, 1.5))
    empty = make_bot(reply="unused", rag={"lancedb_uri": str(tmp_path / "empty-index")}, warm=False)
    status, info = get_health(empty)
    assert status == 503 and info["checks"]["model"]["state"] == "loading"
    assert info["checks"]["index"] == {"ok": False, "documents": 0,
                                       "detail": "no documents indexed: check DOCS_DIR and run a sync"}
    assert empty.runtime.warm.wait(60)
    assert get_health(empty)[1]["failing"] == ["index"]


def test_a_request_trickling_in_is_cut_off_and_an_oversized_one_refused():
    """The production server closes a request that has not fully arrived by its deadline, even if never idle."""

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with serve_wsgi(app, request_deadline=1.0, idle_timeout=30) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as big:
            big.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 5000000\r\n\r\n")
            assert big.recv(100).startswith(b"HTTP/1.1 413")
        with socket.create_connection(("127.0.0.1", port), timeout=1) as slow:
            slow.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 100\r\n\r\n")
            started = time.monotonic()
            closed = False
            while not closed and time.monotonic() - started < 10:
                try:
                    slow.sendall(b"x")  # a byte every 0.2 s: never idle, never done
                    if select.select([slow], [], [], 0.2)[0]:
                        closed = slow.recv(100) == b""
                except OSError:  # reset by the server
                    closed = True
            assert closed and time.monotonic() - started < 5


def test_resync_while_a_sync_runs_says_so_and_starts_nothing(make_bot):
    from rag.ops.locks import SyncLock

    bot = make_bot(reply="unused", private_corpus=True)
    holder = SyncLock(bot.rag.settings.resolved_state_dir)
    holder.acquire("schedule")  # e.g. the scheduled sync, or another bot process
    try:
        before = bot.rag.last_sync_report()
        sent = bot.command("/rag-resync", user=ADMIN)
        assert sent.status == 200 and "already running" in sent.text
        time.sleep(0.5)
        assert bot.rag.last_sync_report().started == before.started and bot.slack.responses == []
    finally:
        holder.release()


def test_rag_sources_pages_through_long_lists(make_bot):
    bot = make_bot(reply="unused", private_corpus=True)
    for i in range(20):
        (bot.tmp / "docs" / "policies" / f"rule-{i:02d}.md").write_text(f"# Rule {i:02d}\n\nRule number {i}.\n")
    assert bot.rag.sync().status == "ok"
    bot.command("/rag-sources")
    (first,) = bot.slack.wait_for(lambda: bot.slack.responses)
    assert "page 1 of 2" in text_of(first.body) and "24 documents" in text_of(first.body)
    (button,) = first.body["blocks"][-1]["elements"]
    bot.send.block_action(
        {"action_id": button["action_id"], "value": button["value"]}, response_url=bot.slack.response_url()
    )
    second = bot.slack.wait_for(lambda: bot.slack.responses[1:])[0]
    assert second.body["replace_original"] is True and "page 2 of 2" in text_of(second.body)
    shown = text_of(first.body) + text_of(second.body)
    assert all(f"Rule {i:02d}" in shown for i in range(20)) and "Leave policy" in shown


# --- hostile requests -------------------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"
MALFORMED = [
    ("truncated JSON", b'{"type": "event_callback", "event": {"type": "app_men', "application/json"),
    ("payload= that is not JSON", b"payload=%7Bnot+json", FORM),
    ("a JSON array", b'[{"type": "event_callback"}]', "application/json"),
    ("a payload that is a JSON string", b"payload=%22hello%22", FORM),
    ("non-UTF-8 bytes", b'{"type": "event_callback", "text": "\xff\xfe"}', "application/json"),
    ("a form body sent as JSON", b"command=%2Frag-resync&user_id=U0ADMIN&text=", "application/json"),
]


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_malformed_requests_are_refused_with_one_short_log_line_each(make_bot, caplog, capfd, signed):
    """Unsigned junk gets 401 before anything is parsed; junk signed with the secret gets 400. No tracebacks."""
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER))
    capfd.readouterr()
    caplog.clear()
    caplog.set_level(logging.INFO)
    for name, body, content_type in MALFORMED:
        sent = bot.send.post(body, content_type, signature=None if signed else "v0=" + "0" * 64)
        assert sent.status == (400 if signed else 401), name
    # a timestamp that is not a number is never valid, not even with a signature computed over it
    body = json.dumps(bot.send.event_body(mention_event(GENERAL, "1.2", "leave?"))).encode()
    sent = bot.send.post(body, "application/json", timestamp="soon", signature=sign(SECRET, "soon", body))
    assert sent.status == 401
    assert bot.send.post(b"x" * 10, "application/json", headers={"X-Slack-Request-Timestamp": ""}).status == 401

    requests = len(MALFORMED) + 2
    assert "Traceback" not in capfd.readouterr().err
    logged = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(logged) <= requests, [r.getMessage() for r in logged]
    assert all(r.exc_info is None and "\n" not in r.getMessage() and len(r.getMessage()) < 200 for r in logged)
    assert bot.ollama.requests == [] and not bot.slack.calls("chat.postMessage")

    ts, sent = bot.ask("how many days of annual leave can I carry over?")  # real requests still work
    assert sent.status == 200
    assert "5 days" in text_of(bot.wait_answer(GENERAL, ts))


def test_replayed_slash_command_runs_once_and_a_new_invocation_runs_again(make_bot):
    """A captured signed /rag-resync replayed within the 5-minute window starts nothing; a new one does."""
    bot = make_bot(reply="unused", private_corpus=True)
    runs_before = len(bot.rag.state.runs())
    body = bot.send.command_body("/rag-resync", user_id=ADMIN, channel_id=GENERAL,
                                 response_url=bot.slack.response_url())
    stamp = int(time.time())
    signature = sign(SECRET, stamp, body)
    first = bot.send.post(body, FORM, timestamp=stamp, signature=signature)
    assert first.status == 200 and "Sync started" in first.text
    bot.slack.wait_for(lambda: bot.slack.responses, timeout=60)
    bot.wait_idle()
    for _ in range(2):  # the same bytes, timestamp and signature again, after the first sync finished
        again = bot.send.post(body, FORM, timestamp=stamp, signature=signature)
        assert again.status == 200 and "Sync started" not in again.text
        bot.wait_idle()
    time.sleep(0.5)
    assert len(bot.rag.state.runs()) == runs_before + 1
    assert len(bot.slack.responses) == 1

    assert "Sync started" in bot.command("/rag-resync", user=ADMIN).text  # a new invocation: a new trigger_id
    bot.slack.wait_for(lambda: len(bot.slack.responses) >= 2, timeout=60)
    bot.wait_idle()
    assert len(bot.rag.state.runs()) == runs_before + 2
