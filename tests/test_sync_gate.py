"""The golden-question gate: EVAL_QUESTIONS evaluated after each sync that changed something.

Real index and sync over a small corpus; the CLI through its Typer app; the Slack report through
the same renderer `/rag-resync` and the report channel use.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.delivery.listings import sync_report_message
from rag.config import ConfigError, load_settings
from rag.service import RagService
from ragbot.cli import app
from tests.test_bot_http import DOCS, text_of, write_docs

pytestmark = pytest.mark.timeout(300)

GOLDEN = [
    {"question": "How many days of annual leave can be carried over?", "doc": "policies/leave-policy.md"},
    {"question": "What is the hotel limit per night in capital cities?", "doc": "policies/travel-policy.md"},
    {"question": "How much notice is needed to terminate the ACME agreement?", "doc": "contracts/acme-msa.md"},
    {"question": "Within how many days must expense receipts be submitted?", "doc": "sops/expense-sop.md"},
]
ACME_Q = GOLDEN[2]["question"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("gate")
    docs, index = root / "docs", root / "index"
    write_docs(docs)
    report = RagService(load_settings(docs_dir=docs, lancedb_uri=str(index))).sync(full=True)
    assert report.status == "ok" and len(report.added) == len(DOCS)
    return docs, index


@pytest.fixture
def corpus(built: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path, Path]:
    """A private copy of the docs and index, and the golden questions file."""
    docs, index = tmp_path / "docs", tmp_path / "index"
    shutil.copytree(built[0], docs)
    shutil.copytree(built[1], index)
    golden = tmp_path / "golden.jsonl"
    golden.write_text("".join(json.dumps(q) + "\n" for q in GOLDEN), encoding="utf-8")
    service = RagService(load_settings(docs_dir=docs, lancedb_uri=str(index)))
    service.state.set_docs_root(str(docs.resolve()))  # the copy is the index's folder now
    return docs, index, golden


def cli_sync(docs: Path, index: Path, golden: Path, *extra: str, **env: str):
    return CliRunner().invoke(app, ["--index", str(index), "--docs-dir", str(docs), "sync", *extra],
                              env={"EVAL_QUESTIONS": str(golden), **env})


def test_a_sync_that_keeps_the_golden_questions_answered_says_nothing_about_them(corpus):
    docs, index, golden = corpus
    leave = docs / "policies" / "leave-policy.md"
    leave.write_text(leave.read_text() + "\nPart-time staff get leave pro rata.\n")
    result = cli_sync(docs, index, golden)
    assert result.exit_code == 0, result.output
    assert "1 changed" in result.output and "golden" not in result.output.lower()
    service = RagService(load_settings(docs_dir=docs, lancedb_uri=str(index)))
    assert service.last_sync_report().golden_recall == 1.0  # it ran, and `ragbot history` keeps it


def test_a_sync_that_breaks_a_golden_question_names_it_in_the_cli_and_slack_reports(corpus):
    docs, index, golden = corpus
    (docs / "contracts" / "acme-msa.md").unlink()
    result = cli_sync(docs, index, golden)
    assert result.exit_code == 0, result.output
    assert "golden questions: recall@5 fell to 0.75 (below EVAL_MIN_RECALL)" in result.output
    assert ACME_Q in result.output and "contracts/acme-msa.md" in result.output
    assert "rolled back" not in result.output

    service = RagService(load_settings(docs_dir=docs, lancedb_uri=str(index)))
    report = service.last_sync_report()
    assert report.golden_broken and ACME_Q in report.golden_broken[0]
    shown = text_of(sync_report_message(report).__dict__)
    assert "fell to 0.75" in shown and ACME_Q in shown


def test_eval_rollback_restores_the_index_and_the_document_answers_again(corpus):
    docs, index, golden = corpus
    (docs / "contracts" / "acme-msa.md").unlink()
    result = cli_sync(docs, index, golden, EVAL_ROLLBACK="1")
    assert result.exit_code == 0, result.output
    assert ACME_Q in result.output and "EVAL_ROLLBACK: the index was rolled back to before this sync" in result.output

    service = RagService(load_settings(docs_dir=docs, lancedb_uri=str(index)))
    hits = service.search("notice to terminate the ACME master services agreement").candidates
    assert hits and hits[0].doc_path == "contracts/acme-msa.md"
    assert any(d.rel_path == "contracts/acme-msa.md" and not d.withdrawn for d in service.documents())


def test_a_missing_golden_file_is_a_configuration_error_naming_the_variable(tmp_path: Path):
    with pytest.raises(ConfigError, match="EVAL_QUESTIONS"):
        load_settings(eval_questions=tmp_path / "nope.jsonl")
