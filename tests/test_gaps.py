"""`ragbot gaps`: what the documents could not answer, as an admin sees it, within the privacy setting."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragbot.cli import app
from tests.conftest import SAMPLE_DOCS, UNREACHABLE_OLLAMA
from tests.fakes.fake_ollama import FakeOllama

MODEL = "llama3.2:3b"
OFF_TOPIC = ["Who won the football world cup final in 1998?", "Who won the 1998 world cup final in football?"]
runner = CliRunner()


def cli(index: Path, *args: str, ollama: str = UNREACHABLE_OLLAMA):
    return runner.invoke(app, ["--index", str(index), "--docs-dir", str(SAMPLE_DOCS), "--ollama-host", ollama,
                               "--model", MODEL, *args])


def test_declined_questions_and_flagged_figures_are_listed_grouped_and_exported(index_copy: Path, tmp_path: Path):
    for question in OFF_TOPIC:
        assert "couldn't find" in cli(index_copy, "ask", question).output
    with FakeOllama(models=[MODEL], reply="You can carry over up to 12 days of annual leave [1].") as fake:
        out = cli(index_copy, "ask", "How many days of leave can I carry over?", ollama=fake.url).output
        assert "Not found in the cited sources: 12 days" in out

    out = cli(index_copy, "gaps", "--days", "1", "--export", str(tmp_path / "q.jsonl")).output
    assert "Declined as not covered by the documents (2)" in out
    assert f"2× {OFF_TOPIC[1]}" in out  # similar questions grouped, newest wording shown
    figures = out.split("Answers with figures found in no source (1):")[1]
    assert "figures 12 days" in figures and "leave-policy.md" in figures
    assert "How many days of leave" not in out  # the default policy keeps no text of answered questions
    rows = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows == [{"question": OFF_TOPIC[1], "doc": "", "from": "declined", "count": 2}]


def test_log_questions_off_keeps_nothing(index_copy: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LOG_QUESTIONS", "off")
    cli(index_copy, "ask", OFF_TOPIC[0])
    out = cli(index_copy, "gaps").output
    assert "Nothing to report" in out and OFF_TOPIC[0] not in out
    assert "LOG_QUESTIONS=off" in out


def test_events_past_the_retention_are_deleted(tmp_path: Path):
    from rag.index.question_log import QuestionLog

    log = QuestionLog(tmp_path / "q.sqlite3", retention_days=30)
    log.record("declined", "old question", at=datetime.now(UTC) - timedelta(days=31))
    log.record("declined", "new question")
    assert [e.question for e in log.events()] == ["new question"]
    assert [e.question for e in log.events(days=365)] == ["new question"]
