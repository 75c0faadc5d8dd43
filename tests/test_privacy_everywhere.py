"""LOG_QUESTIONS and QUESTION_RETENTION_DAYS hold in every store the bot writes, SQLite WALs and Redis included.

The real Bolt app over HTTP (tests/test_bot_http.py's `make_bot`) with its own state folder, the fake
Slack and the fake Ollama; with SQLite next to the index or with a real redis-server (auth on). A
unique question is answered and 👎'd with a comment by a unique user, another unique question is
declined; then every byte of every file the bot wrote (and every Redis key and value) is searched for
them: with LOG_QUESTIONS=off none may be there once the answers are out, and past the retention none
may be there after the bot's privacy job ran. Before, feedback.jsonl kept question, user and comment,
the answers ledger kept the question in its stored buttons (and its WAL), and nothing but the gaps log
was ever pruned.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
import redis

from tests import test_bot_http
from tests.test_bot_http import GENERAL, LEAVE_ANSWER, Bot, cite

corpus = test_bot_http.corpus
make_bot = test_bot_http.make_bot

pytestmark = pytest.mark.timeout(180)

QUESTION = "how many days of annual leave can I carry over? ref QZX7F3K9"
DECLINED = "what does the cafeteria charge for espresso? ref DQW4P2M8"
USER = "U0PRIV8K2Q"
COMMENT = "CMT5Z9QR the carry-over rule changed last year"
PLANTED = (b"QZX7F3K9", b"DQW4P2M8", USER.encode(), b"CMT5Z9QR")


def planted_in_files(root: Path) -> dict[str, list[str]]:
    """{file: planted strings found}, every file under `root` but the documents, read as raw bytes."""
    found: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file() and "docs" not in path.relative_to(root).parts:
            data = path.read_bytes()
            hits = [p.decode() for p in PLANTED if p in data]
            if hits:
                found[str(path.relative_to(root))] = hits
    return found


def planted_in_redis(url: str) -> dict[str, list[str]]:
    client = redis.Redis.from_url(url)
    found: dict[str, list[str]] = {}
    for key in client.scan_iter("{ragbot}*"):
        kind = client.type(key).decode()
        value = {"string": lambda k: client.get(k), "hash": lambda k: client.hgetall(k),
                 "zset": lambda k: client.zrange(k, 0, -1), "list": lambda k: client.lrange(k, 0, -1),
                 "set": lambda k: client.smembers(k)}[kind](key)
        data = key + repr(value).encode()
        hits = [p.decode() for p in PLANTED if p in data or p in data.decode("unicode_escape").encode(
            "utf-8", "replace")]
        if hits:
            found[key.decode()] = hits
    return found


def run_the_bot_path(bot: Bot, *, comment_form: bool = True) -> None:
    """Asked and answered, 👎 with a comment by USER, and a question the documents cannot answer.

    With LOG_QUESTIONS=off the bot asks for no comment (`comment_form=False`: it would be dropped)."""
    ts, _ = bot.ask(QUESTION, user=USER)
    answer = bot.wait_answer(GENERAL, ts)
    (value,) = [el["value"] for b in answer.blocks if b.get("block_id") == "feedback" for el in b["elements"]
                if el["action_id"] == "feedback_down"]
    sent = bot.send.block_action({"action_id": "feedback_down", "value": value}, user_id=USER,
                                 message=answer.as_api(), response_url=bot.slack.response_url(),
                                 trigger_id=bot.slack.issue_trigger())
    assert sent.status == 200
    if comment_form:
        bot.slack.wait_for(lambda: bot.slack.views)
        bot.wait_idle()
        sent = bot.send.view_submission(bot.slack.views[-1], {"comment": {"comment_text": COMMENT}}, user_id=USER)
        assert sent.status == 200
        bot.slack.wait_for(lambda: bot.slack.calls("chat.postEphemeral"))
    else:
        bot.wait_idle()
        assert bot.slack.calls("views.open") == []
    declined_ts, _ = bot.ask(DECLINED, user=USER)
    bot.slack.wait_for(lambda: bot.bot_replies(GENERAL, declined_ts) and not bot.slack.streaming_messages())
    bot.wait_idle()
    time.sleep(0.5)  # the last job's removal from the queue follows its answer


def start_bot(make_bot, request: pytest.FixtureRequest, store: str, **rag: object) -> tuple[Bot, str | None]:
    url = request.getfixturevalue("redis_url") if store == "redis" else None
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER), private_corpus=True,
                   rag={**rag, **({"redis_url": url} if url else {})})
    return bot, url


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_log_questions_off_keeps_no_question_comment_or_user_id_anywhere(
        make_bot, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture, store: str):
    caplog.set_level(logging.INFO)
    bot, url = start_bot(make_bot, request, store, log_questions="off")
    run_the_bot_path(bot, comment_form=False)
    assert planted_in_files(bot.tmp) == {}
    if url:
        assert planted_in_redis(url) == {}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not [p for p in PLANTED if p.decode() in logged]  # nor in what the bot logs
    assert (bot.tmp / "feedback.jsonl").exists()  # the vote itself is counted, without who or what


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_past_the_retention_every_store_forgets_what_was_asked(make_bot, request: pytest.FixtureRequest,
                                                               store: str):
    retention_s = 12.0
    bot, url = start_bot(make_bot, request, store, log_questions="all", question_retention_days=retention_s / 86400)
    started = time.monotonic()
    run_the_bot_path(bot)
    kept = planted_in_files(bot.tmp)
    assert "feedback.jsonl" in kept and any(name.endswith("gaps.sqlite3") for name in kept), kept
    if url:
        assert planted_in_redis(url)  # LOG_QUESTIONS=all: the watched answer keeps its question, for now
    else:
        assert any("answers.sqlite3" in name for name in kept), kept
    time.sleep(max(0.0, retention_s + 1 - (time.monotonic() - started)))
    from bot.jobs import apply_privacy_rule

    apply_privacy_rule(bot.runtime)  # the bot's scheduled job (bot/jobs.py)
    assert planted_in_files(bot.tmp) == {}
    if url:
        assert planted_in_redis(url) == {}
    assert json.loads(json.dumps(bot.runtime.feedback.read())) == []
