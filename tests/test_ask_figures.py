"""A generated answer whose figure no source holds is marked where the reader sees it; a correct one is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.fake_ollama import FakeOllama
from tests.test_bot_http import corpus, make_bot  # noqa: F401  (fixtures)

MODEL = "llama3.2:3b"
QUESTION = "How many days of annual leave can I carry over?"


@pytest.fixture
def ask(sample_index: Path, make_settings):
    from rag.service import RagService

    def run(reply: str, **overrides):
        with FakeOllama(models=[MODEL], reply=reply) as fake:
            service = RagService(make_settings(lancedb_uri=str(sample_index), ollama_host=fake.url,
                                               ollama_model=MODEL, **overrides))
            return service.ask(QUESTION)

    return run


def test_a_figure_the_sources_do_not_hold_is_marked_and_counted(ask) -> None:
    answer = ask("You can carry over up to 12 days of annual leave [1].")
    assert answer.unsupported_figures == ["12 days"]
    assert "12 days ⚠" in answer.text
    assert answer.notice and "Not found in the cited sources: 12 days" in answer.notice


def test_a_correct_figure_is_not_marked(ask) -> None:
    answer = ask("You can carry over up to five days of annual leave [1].")
    assert answer.figures_checked == 1
    assert answer.unsupported_figures == []
    assert "⚠" not in answer.text and not answer.notice


def test_both_checks_can_be_turned_off(ask) -> None:
    on = ask("You can carry over up to 12 days of annual leave [1].")
    assert any(p.evidence for c in on.citations for p in c.passages)
    off = ask("You can carry over up to 12 days of annual leave [1].", figure_check=False, evidence_quotes=False)
    assert off.unsupported_figures == [] and "⚠" not in off.text
    assert off.citations and not any(p.evidence for c in off.citations for p in c.passages)


def test_cli_json_lists_each_place_with_its_evidence_and_the_flagged_figures(sample_index: Path) -> None:
    import json

    from typer.testing import CliRunner

    from ragbot.cli import app
    from tests.conftest import SAMPLE_DOCS

    with FakeOllama(models=[MODEL], reply="You can carry over up to 12 days of annual leave [1].") as fake:
        result = CliRunner().invoke(app, ["--index", str(sample_index), "--docs-dir", str(SAMPLE_DOCS),
                                          "--ollama-host", fake.url, "--model", MODEL, "ask", "--json", QUESTION])
    data = json.loads(result.stdout)
    assert data["unsupported_figures"] == ["12 days"] and data["figures_checked"] == 1
    place = data["citations"][0]["places"][0]
    assert place["section"] and place["link"] and "5 days" in place["evidence"]


def test_slack_answer_marks_the_unsupported_figure_where_the_asker_reads_it(make_bot) -> None:  # noqa: F811
    """Through the real Bolt app and the fake Slack: the final message carries the ⚠ and the notice."""
    from tests.test_bot_http import GENERAL, cite, text_of

    bot = make_bot(reply=cite("Leave policy", "You can carry over up to 12 days of annual leave [{n}]."))
    ts, _ = bot.ask("how many days of annual leave can I carry over?")
    shown = text_of(bot.wait_answer(GENERAL, ts))
    assert "12 days ⚠" in shown
    assert "Not found in the cited sources: 12 days" in shown
