"""`ragbot eval` and the sync gate score what the asker sees: a shared clause's slot names its other documents.

Six supply agreements share one confidentiality clause (tests/duplicates_corpus.py). With GROUP_DUPLICATES
(on by default) the answer shows the clause once and says "appears in 6 documents: …", so a golden question
expecting any of the six contracts is answered; scored on the ungrouped list, as before, the sixth copy was
past the top 5 and counted as a miss (recall@5 5/6), and the gate could fail a sync the asker saw answered.
Real index, real model, the CLI through its Typer app.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.config import load_settings
from rag.service import RagService
from ragbot.cli import app
from ragbot.eval_command import register
from tests.conftest import UNREACHABLE_OLLAMA
from tests.duplicates_corpus import EN_PARTIES, write_contracts

if not any(c.name == "eval" for c in app.registered_commands):
    register(app)

pytestmark = pytest.mark.timeout(300)
QUESTION = "How long do the confidentiality obligations last?"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("grouped-eval")
    docs = write_contracts(root / "docs")
    golden = root / "golden.jsonl"
    golden.write_text("".join(
        json.dumps({"question": QUESTION, "doc": f"contracts/en/{p.lower()}-supply-agreement.md",
                    "answer": "survive termination"}) + "\n" for p in EN_PARTIES), encoding="utf-8")
    return {"docs": docs, "index": root / "index", "golden": golden}


def eval_json(corpus: dict[str, Path], **env: str) -> dict:
    result = CliRunner().invoke(app, ["--index", str(corpus["index"]), "eval", str(corpus["golden"]), "--json",
                                      "--docs", str(corpus["docs"])], env={"OLLAMA_HOST": UNREACHABLE_OLLAMA, **env})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_eval_counts_the_documents_a_shared_clause_is_listed_in(corpus):
    report = eval_json(corpus)
    assert report["ranking"]["recall@5"] == 1.0, report["failures"]
    assert report["ranking"]["recall@1"] == 1.0  # one slot names all six contracts
    assert report["refusal"]["wrongly_declined"] == 0


def test_without_grouping_the_sixth_copy_is_past_the_top_five(corpus):
    """The setting is honoured: ungrouped, five copies fill the top five, as the asker would then see."""
    report = eval_json(corpus, GROUP_DUPLICATES="0")
    assert report["ranking"]["recall@5"] == pytest.approx(5 / 6, abs=1e-4)


def test_the_sync_gate_scores_the_grouped_answer(corpus, tmp_path: Path):
    settings = load_settings(docs_dir=corpus["docs"], lancedb_uri=str(tmp_path / "index"),
                             ollama_host=UNREACHABLE_OLLAMA, eval_questions=corpus["golden"], eval_min_recall=1.0)
    report = RagService(settings).sync(full=True)
    assert report.status == "ok" and report.golden_error is None
    assert report.golden_recall == 1.0 and not report.golden_broken
