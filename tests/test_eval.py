"""`ragbot eval`: golden questions against a real index give exact, hand-computed recall and MRR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.ops.evaluate import (
    FloorPoint,
    QuestionsFileError,
    choose_floor,
    floor_sweep,
    parse_questions,
    ranking_metrics,
)
from ragbot.cli import app
from ragbot.eval_command import register

if not any(c.name == "eval" for c in app.registered_commands):
    register(app)

DOCS = {
    "leave-policy.md": """# Leave policy

## Annual leave

Full-time employees receive 25 days of paid annual leave per calendar year.

## Carry-over

Up to 5 days of unused annual leave can be carried over to the next year; they must be taken by March 31.

## Sick leave

Employees who are ill must tell their manager before 10:00 on the first day of sick leave.
""",
    "travel-expenses.md": """# Travel and expenses

## Hotels

Hotel costs are reimbursed up to EUR 150 per night, or EUR 220 per night in London and Paris.

## Expense claims

Expense claims must be submitted within 30 days, with the original receipts attached.
""",
    "it-security.md": """# IT security

## Passwords

Passwords must be at least 14 characters long and are never shared with anyone, including IT staff.

## Lost laptops

A lost or stolen laptop must be reported to the IT service desk within 24 hours.
""",
}

# Ranks of the first right chunk (cap of 2 chunks per document): 1, 1, 2 (the laptop rule in
# it-security.md outranks the expense rule asked for), and a miss (the golden answer is out of date:
# no chunk says "30 days of paid annual leave"). Plus one question nothing in the corpus answers.
QUESTIONS = [
    {"question": "What is the hotel limit per night in London?", "doc": "travel-expenses.md",
     "answer": "EUR 220 per night"},
    {"question": "How long must a password be?", "doc": ["it-security.md", "leave-policy.md"],
     "answer": "at least  14 CHARACTERS"},
    {"question": "Within how many days must a lost laptop or an expense claim be reported?",
     "doc": "./travel-expenses.md"},
    {"question": "How many days of paid annual leave do full-time employees receive?", "doc": "leave-policy.md",
     "answer": "30 days of paid annual leave"},
    {"question": "Who won the football world cup final in 1998?", "unanswerable": True},
]
RECALL_AT_1 = 2 / 4
RECALL_AT_5 = 3 / 4
MRR = (1 + 1 + 1 / 2 + 0) / 4


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    questions = root / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    return {"docs": docs, "index": root / "index", "questions": questions}


def run(corpus: dict[str, Path], *args: str, docs: bool = False):
    argv = ["--index", str(corpus["index"]), "eval", str(corpus["questions"]), *args]
    if docs:
        argv += ["--docs", str(corpus["docs"])]
    return CliRunner().invoke(app, argv)


def test_eval_ingests_and_reports_hand_computed_recall_mrr_and_refusals(corpus):
    result = run(corpus, "--json", docs=True)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["questions"] == 5 and report["answerable"] == 4 and report["unanswerable"] == 1
    assert report["documents_indexed"] == 3
    ranking = report["ranking"]
    assert ranking["recall@1"] == pytest.approx(RECALL_AT_1)
    assert ranking["recall@5"] == pytest.approx(RECALL_AT_5)
    assert ranking["recall@10"] == pytest.approx(RECALL_AT_5)
    assert ranking["mrr@10"] == pytest.approx(MRR)
    assert report["recall@5"] == pytest.approx(RECALL_AT_5)
    refusal = report["refusal"]
    assert refusal["correctly_declined"] == 1 and refusal["declined_rate"] == 1.0
    assert refusal["wrongly_declined"] == 0 and refusal["wrongly_declined_rate"] == 0.0
    # Only the out-of-date golden answer fails at k=5; the rank-2 question fails only at k=1.
    [failure] = report["failures"]
    assert failure["line"] == 4 and failure["rank"] is None
    assert failure["got"][0] == "leave-policy.md"


def test_failures_depend_on_k_and_the_text_report_names_them(corpus):
    result = run(corpus, "--k", "1")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "recall@1 0.500" in out and "recall@5 0.750" in out and "MRR@10 0.625" in out
    assert "declined 1/1 unanswerable" in out and "wrongly declined 0/4 answerable" in out
    assert "failures (2):" in out
    assert "line 3: Within how many days must a lost laptop" in out
    assert "got: it-security.md" in out
    assert "line 4: How many days of paid annual leave" in out


def test_min_recall_gates_a_deploy(corpus):
    above = run(corpus, "--min-recall", "0.8")
    assert above.exit_code == 1
    assert "FAILED: recall@5 0.750 is below --min-recall 0.800" in above.stdout
    below = run(corpus, "--min-recall", "0.7")
    assert below.exit_code == 0, below.output
    assert "passed" in below.stdout
    gated_json = run(corpus, "--json", "--k", "1", "--min-recall", "0.6")
    assert gated_json.exit_code == 1
    assert json.loads(gated_json.stdout)["passed"] is False


def test_bad_questions_file_names_the_line(corpus, tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok?", "doc": "a.md"}\n{"doc": "b.md"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["--index", str(corpus["index"]), "eval", str(bad)])
    assert result.exit_code == 2
    assert "line 2" in result.output and '"question"' in result.output


def test_empty_index_is_a_user_error(tmp_path: Path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "anything?", "doc": "a.md"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["--index", str(tmp_path / "none"), "eval", str(questions)])
    assert result.exit_code == 2
    assert "ragbot ingest" in result.output


def test_questions_need_an_expectation():
    with pytest.raises(QuestionsFileError, match="line 1"):
        parse_questions(['{"question": "What is the leave policy?"}'])
    with pytest.raises(QuestionsFileError, match="not valid JSON"):
        parse_questions(["{nope"])
    parsed = parse_questions(["# comment", "", '{"question": " Q? ", "doc": ".\\\\hr\\\\a.md", "unanswerable": false}'])
    assert parsed[0].question == "Q?" and parsed[0].docs == ("hr/a.md",) and parsed[0].line == 3


def test_ranking_metrics_and_floor_choice():
    m = ranking_metrics([1, 3, None, 12])
    assert m.recall == {1: 0.25, 5: 0.5, 10: 0.5}
    assert m.mrr == pytest.approx((1 + 1 / 3) / 4)
    points = floor_sweep([0.9, 0.6, 0.5, 0.45], [0.2, 0.3, 0.55], [0.3, 0.5, 0.6])
    assert points == [FloorPoint(0.3, 1 / 3, 0.0), FloorPoint(0.5, 2 / 3, 0.25), FloorPoint(0.6, 1.0, 0.5)]
    assert choose_floor(points, max_wrongly_declined=0.1) == points[0]
    assert choose_floor(points, max_wrongly_declined=0.3) == points[1]
