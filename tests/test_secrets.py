"""The bot's own secrets never reach Slack or the terminal, even when a document holds them.

Containment keeps `.env` out of the index; these tests bypass it on purpose (the
secrets are written into a document in the docs folder) to check the defence behind
it: everything sent to the fake Slack, and everything `ragbot ask` prints, is scrubbed.
The Ollama-down notice is checked here too: the asker gets a plain sentence, not an
internal URL and errno (those go to the log and `ragbot doctor`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.config import load_settings
from rag.ops.secrets import ScrubbingStream, Secrets
from rag.service import RagService
from ragbot.cli import app as cli
from tests import test_bot_http
from tests.fakes.fake_ollama import closed_port_url
from tests.test_bot_http import GENERAL, SECRET, cite, text_of

corpus = test_bot_http.corpus  # the bot's fixtures: a real Bolt app over HTTP, fake Slack and Ollama
make_bot = test_bot_http.make_bot

pytestmark = pytest.mark.timeout(180)

BOT_TOKEN = "xoxb-fake-bot-token-000"  # FakeSlack's default bot token, which the bot is configured with
QUESTION = "what are the slack credentials in the deploy notes?"


def deploy_notes(token: str, signing_secret: str) -> str:
    return (f"# Deploy notes {signing_secret}\n\n## Slack credentials\n\nThe Slack bot token is {token} and the "
            f"signing secret is {signing_secret}. Rotate the slack credentials every 90 days.\n")


def everything_sent(slack) -> str:
    return json.dumps([c.args for c in slack.calls()]) + json.dumps([r.body for r in slack.responses])


def add_deploy_notes(bot) -> None:
    docs = Path(bot.rag.settings.docs_dir)
    (docs / "ops").mkdir(exist_ok=True)
    (docs / "ops/deploy-notes.md").write_text(deploy_notes(bot.slack.bot_token, SECRET), encoding="utf-8")
    report = bot.rag.sync(switch_docs_root=True)  # the copied index remembers the fixture's docs folder
    assert report.status == "ok" and "ops/deploy-notes.md" in report.added, report


def test_a_model_repeating_the_token_and_signing_secret_posts_neither(make_bot):
    bot = make_bot(reply=cite(f"Deploy notes {SECRET}", f"The token is {BOT_TOKEN}, the secret {SECRET} [{{n}}]."),
                   private_corpus=True)
    add_deploy_notes(bot)
    ts, _ = bot.ask(QUESTION)
    answer = bot.wait_answer(GENERAL, ts)
    bot.command("/rag-sources", "deploy")
    bot.slack.wait_for(lambda: bot.slack.responses)
    bot.wait_idle()
    sent = everything_sent(bot.slack)
    assert BOT_TOKEN not in sent and SECRET not in sent
    assert "[redacted]" in text_of(answer) and "[redacted]" in json.dumps(bot.slack.responses[-1].body)


def test_quoted_passages_when_the_model_is_down_hide_the_secrets_and_the_internal_url(make_bot, caplog):
    down = closed_port_url()
    bot = make_bot(ollama_url=down, private_corpus=True)
    add_deploy_notes(bot)
    with caplog.at_level(logging.WARNING):
        ts, _ = bot.ask(QUESTION)
        shown = text_of(bot.wait_answer(GENERAL, ts))
    sent = everything_sent(bot.slack)
    assert BOT_TOKEN not in sent and SECRET not in sent
    assert "rotate the slack credentials" in shown.lower()  # the passage is still quoted
    assert "language model is unavailable" in shown.lower()
    assert down not in sent and "refused" not in sent.lower()  # no internal URL or errno for the asker
    assert any(down in r.getMessage() for r in caplog.records)  # the detail is in the log


def test_ragbot_ask_prints_no_configured_secret(tmp_path: Path):
    docs, index = tmp_path / "docs", tmp_path / "index"
    (docs / "ops").mkdir(parents=True)
    signing = "cli-signing-secret-9f8e7d6c5b4a"
    (docs / "ops/deploy-notes.md").write_text(deploy_notes(BOT_TOKEN, signing), encoding="utf-8")
    RagService(load_settings(docs_dir=docs, lancedb_uri=str(index), ollama_host=closed_port_url())).sync(full=True)
    args = ["--index", str(index), "--docs-dir", str(docs), "--ollama-host", closed_port_url()]
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": signing}
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(cli, [*args, "ask", QUESTION, *extra], env=env)
        assert result.exit_code == 0, result.output
        assert "rotate the slack credentials" in result.output.lower()
        assert BOT_TOKEN not in result.output and signing not in result.output
        assert "[redacted]" in result.output


def test_a_secret_split_across_streamed_writes_is_still_scrubbed():
    secrets = Secrets(["sig-secret-0123456789"])
    out: list[str] = []

    class Sink:
        def write(self, text: str) -> None:
            out.append(text)

        def flush(self) -> None:
            pass

    stream = ScrubbingStream(Sink(), secrets)  # type: ignore[arg-type]
    for piece in ["the token xo", "xb-1111-22", "22-abc and sig-sec", "ret-0123456789 ok"]:
        stream.write(piece)
    stream.release()
    assert "".join(out) == "the token [redacted] and [redacted] ok"
