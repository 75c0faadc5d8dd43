"""👎 asks what was wrong: a modal (views.open) whose comment `ragbot gaps` shows with the question, once.

Real Bolt app over signed HTTP, fake Slack enforcing views.open's published rules
(tests/fakes/slack_views.py), `ragbot gaps` through typer's CliRunner on the same index.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from typer.testing import CliRunner

from bot.listeners.comments import Downvote, comment_view, pack, unpack
from ragbot.cli import app as cli_app
from tests import test_bot_http
from tests.conftest import SAMPLE_DOCS, UNREACHABLE_OLLAMA
from tests.fakes.fake_slack import FakeSlack
from tests.test_bot_http import GENERAL, LEAVE_ANSWER, Bot, cite

corpus = test_bot_http.corpus
make_bot = test_bot_http.make_bot

pytestmark = pytest.mark.timeout(180)

QUESTION = "how many days of annual leave can I carry over?"
COMMENT = "The carry-over rule changed in 2025: it is 10 days now. <!here> *check*"


def down_value(bot: Bot) -> tuple[str, dict]:
    """Ask, and return the 👎 button's value and the answer message as Slack shows it."""
    ts, _ = bot.ask(QUESTION)
    answer = bot.wait_answer(GENERAL, ts)
    (value,) = [el["value"] for b in answer.blocks if b.get("block_id") == "feedback" for el in b["elements"]
                if el["action_id"] == "feedback_down"]
    return value, answer.as_api()


def click_down(bot: Bot, value: str, message: dict | None, trigger_id: str) -> None:
    sent = bot.send.block_action({"action_id": "feedback_down", "value": value}, user_id="U0CRITIC",
                                 message=message, response_url=bot.slack.response_url(), trigger_id=trigger_id)
    assert sent.status == 200
    bot.slack.wait_for(lambda: bot.slack.responses and bot.slack.calls("views.open"))
    bot.wait_idle()


def gaps(bot: Bot) -> str:
    result = CliRunner().invoke(cli_app, ["--index", str(bot.rag.settings.lancedb_uri), "--docs-dir",
                                          str(bot.rag.settings.docs_dir), "gaps", "--days", "1"])
    assert result.exit_code == 0, result.output
    return result.output


def feedback_records(bot: Bot) -> list[dict]:
    return [json.loads(line) for line in (bot.tmp / "feedback.jsonl").read_text(encoding="utf-8").splitlines()]


def test_thumbs_down_opens_a_modal_and_its_comment_shows_once_in_gaps(make_bot):
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER), private_corpus=True)  # its own gaps log
    value, message = down_value(bot)
    click_down(bot, value, message, bot.slack.issue_trigger())

    (call,) = bot.slack.calls("views.open")
    assert call.response and call.response["ok"], call.response  # the fake checked Slack's modal rules
    (view,) = bot.slack.views
    assert view["title"]["text"] == "Not helpful"
    assert "What was wrong or missing?" in json.dumps(view["blocks"])
    assert unpack(view["private_metadata"]).question == QUESTION
    assert "feedback was recorded" in bot.slack.responses[0].body["text"]  # the thanks, as before

    sent = bot.send.view_submission(view, {"comment": {"comment_text": COMMENT}}, user_id="U0CRITIC")
    assert sent.status == 200 and sent.body in (b"", b"{}")  # acked: the modal closes
    confirm = bot.slack.wait_for(lambda: bot.slack.calls("chat.postEphemeral"))[0]
    bot.wait_idle()
    shown = confirm.args["text"]
    assert "10 days now" in shown and "<!here>" not in shown and "&lt;!here&gt;" in shown  # safe_text

    out = gaps(bot)
    assert "Answers marked 👎 (1):" in out  # the vote and its comment are one event
    assert out.count(QUESTION) == 1 and f"“{COMMENT}”" in out  # stored as typed
    down, comment = feedback_records(bot)
    assert (down["rating"], down.get("comment")) == ("down", None)
    assert comment["rating"] == "comment" and comment["comment"] == COMMENT
    assert comment["question"] == QUESTION and comment["sources"] == ["policies/leave-policy.md"]
    assert comment["user"] == "U0CRITIC" and comment["message_ts"] == message["ts"]


def test_expired_trigger_still_records_the_vote_and_thanks(make_bot):
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER), private_corpus=True)
    value, message = down_value(bot)
    click_down(bot, value, message, bot.slack.issue_trigger(age=5))  # past Slack's 3 seconds

    (call,) = bot.slack.calls("views.open")
    assert call.response == {"ok": False, "error": "expired_trigger_id"} and bot.slack.views == []
    assert "feedback was recorded" in bot.slack.responses[0].body["text"]
    (down,) = feedback_records(bot)
    assert down["rating"] == "down" and down["question"] == QUESTION
    out = gaps(bot)
    assert "Answers marked 👎 (1):" in out and QUESTION in out


def test_chinese_question_gets_a_traditional_chinese_modal(make_bot):
    bot = make_bot(reply="unused")
    question = "年假最多可以保留幾天到明年？"
    value = json.dumps({"q": question, "s": ["policies/leave-policy.md"], "m": "llm"}, ensure_ascii=False)
    click_down(bot, value, None, bot.slack.issue_trigger())
    (view,) = bot.slack.views
    assert view["title"]["text"] == "沒幫助" and "哪裡有錯或缺少什麼？" in json.dumps(view, ensure_ascii=False)
    assert view["submit"]["text"] == "送出" and unpack(view["private_metadata"]).question == question


def test_private_metadata_keeps_slacks_3000_characters_with_a_long_question():
    vote = Downvote(question="為什麼" * 2000, sources=[f"docs/{i:04d}.md" for i in range(300)], channel="C1",
                    message_ts="1.2", ref="7@2026-01-01T00:00:00+00:00")
    packed = pack(vote)
    assert len(packed) <= 3000
    back = unpack(packed)
    assert back.question and vote.question.startswith(back.question) and back.ref == vote.ref
    assert unpack("not json") == Downvote(question="")  # a hostile submission is an empty vote, not a crash


def test_fake_slack_refuses_modals_slack_would_refuse():
    with FakeSlack() as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        good = comment_view(Downvote(question="q"))

        def error(trigger: str, view: dict) -> str:
            with pytest.raises(SlackApiError) as err:
                client.views_open(trigger_id=trigger, view=view)
            return err.value.response["error"]

        assert error("not-a-trigger", good) == "invalid_trigger_id"
        assert error(f"{int(time.time())}.1.abcdef", good) == "expired_trigger_id"  # never issued
        assert error(slack.issue_trigger(), {**good, "title": {"type": "plain_text", "text": "x" * 25}}) \
            == "invalid_arguments"
        assert error(slack.issue_trigger(), {**good, "private_metadata": "x" * 3001}) == "invalid_arguments"
        assert error(slack.issue_trigger(), {**good, "blocks": [{"type": "divider"}] * 101}) == "invalid_arguments"
        assert error(slack.issue_trigger(), {**good, "submit": None}) == "invalid_arguments"  # input needs submit
        assert error(slack.issue_trigger(), {**good, "blocks": [{"type": "section", "text": {
            "type": "mrkdwn", "text": "x" * 260_000}}]}) == "view_too_large"
        trigger = slack.issue_trigger()
        assert client.views_open(trigger_id=trigger, view=good)["ok"]
        assert error(trigger, good) == "exchanged_trigger_id"


def test_sync_counts_posted_answers_within_answer_watch_days(index_copy: Path, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path):
    from bot.followthrough.ledger import LEDGER_FILE, CitedDocument
    from bot.followthrough.ledger_sqlite import SqliteLedger
    from rag.config import load_settings
    from rag.service import RagService

    settings = load_settings(docs_dir=SAMPLE_DOCS, lancedb_uri=str(index_copy), ollama_host=UNREACHABLE_OLLAMA)
    path = next(iter(RagService(settings).state.files()))
    five_days_ago = time.time() - 5 * 86400
    ledger = SqliteLedger(settings.resolved_state_dir / LEDGER_FILE, clock=lambda: five_days_ago)
    ledger.record(channel="C1", ts="1.1", thread_ts=None, text="a", blocks=[], lang="en",
                  cited=[CitedDocument(path, "an-older-version", "Doc")])
    ledger.close()

    docs = tmp_path / "docs"  # a copy, so each sync can change a document: a no-op sync says nothing (issue 20)
    shutil.copytree(SAMPLE_DOCS, docs)
    revisions = iter(range(10))

    def sync() -> str:
        edited = docs / "customer-returns-procedure.md"
        edited.write_text(edited.read_text(encoding="utf-8") + f"\nRevision {next(revisions)}.\n", encoding="utf-8")
        result = CliRunner().invoke(cli_app, ["--index", str(index_copy), "--docs-dir", str(docs), "sync"])
        assert result.exit_code == 0, result.output
        return result.output

    monkeypatch.setenv("ANSWER_WATCH_DAYS", "2")  # the bot stopped watching it 3 days ago
    assert "posted answer" not in sync()
    monkeypatch.delenv("ANSWER_WATCH_DAYS")
    assert "1 posted answer cite" in sync()  # the default 30 days
