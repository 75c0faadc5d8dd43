"""`ragbot eval QUESTIONS.jsonl`: golden questions against the index, for a deploy gate.

A company keeps questions with the document (and optionally the passage) that
answers each, or an `unanswerable` flag, and runs them after each sync;
`--min-recall` turns a drop in retrieval quality into a failing exit code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ragbot import common as cli

EXIT_BELOW_BAR = 1


def register(app: typer.Typer) -> None:
    """Add the `eval` command to the `ragbot` app."""
    app.command("eval")(eval_command)


def eval_command(
    questions_file: Annotated[Path, typer.Argument(metavar="QUESTIONS.jsonl", help=(
        'One JSON object per line: {"question": ..., "doc": a path or a list of paths, "answer": "text the '
        'right chunk contains" (optional), "unanswerable": true (optional)}.'))],
    docs: Annotated[Path | None, typer.Option(
        "--docs", metavar="DIR", help="Ingest this documents folder first (a full sync into the index).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    min_recall: Annotated[float | None, typer.Option(
        "--min-recall", metavar="RECALL", min=0.0, max=1.0, help="Exit 1 when recall@k is below this (0–1).")] = None,
    k: Annotated[int, typer.Option(
        "--k", metavar="K", min=1, max=50, help="The k of recall@k for --min-recall and failures.")] = 5,
) -> None:
    """Measure retrieval on golden questions: recall@1/5/10, MRR@10, refusals, failures."""
    from rag.ops.evaluate import QuestionsFileError, evaluate, load_questions, search_with

    try:
        questions = load_questions(questions_file)
    except QuestionsFileError as err:
        raise cli.fail(str(err)) from None
    if docs is not None and not docs.is_dir():
        raise cli.fail(f"--docs {docs} is not a folder")
    from rag.service import RagService

    settings = cli.settings()
    svc = RagService(settings.model_copy(update={"docs_dir": docs}) if docs is not None else settings)
    with cli.user_errors():
        if docs is not None:
            report = svc.sync(full=True, trigger="eval")
            if report.status in ("failed", "refused"):
                raise cli.fail(f"ingesting {docs} {report.status}: {report.message}", cli.EXIT_FAILED)
        indexed = set(svc.store.chunk_counts())
        if not indexed:
            raise cli.fail("the index is empty: run `ragbot ingest` first, or pass --docs DIR")
        result = evaluate(questions, search_with(svc, depth=max(10, k)), k=k, floor=svc.settings.relevance_floor)
    missing = sorted({d for q in questions for d in q.docs if d not in indexed})
    recall = result.recall_at_k
    if as_json:
        payload: dict[str, Any] = {**result.as_dict(), "documents_indexed": len(indexed),
                                   "expected_documents_not_indexed": missing}
        if min_recall is not None:
            payload["min_recall"] = min_recall
            payload["passed"] = recall is not None and recall >= min_recall
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        _print_text(result, len(indexed), missing)
    if min_recall is not None:
        if recall is None:
            raise cli.fail("--min-recall needs at least one answerable question", EXIT_BELOW_BAR)
        if recall < min_recall:
            if not as_json:
                typer.echo(f"\nFAILED: recall@{k} {recall:.3f} is below --min-recall {min_recall:.3f}")
            raise typer.Exit(EXIT_BELOW_BAR)
        if not as_json:
            typer.echo(f"\npassed: recall@{k} {recall:.3f} ≥ --min-recall {min_recall:.3f}")


def _print_text(result: Any, documents: int, missing: list[str]) -> None:
    out = typer.echo
    ranking, refusal = result.ranking, result.refusal
    out(f"{len(result.results)} questions ({ranking.n} answerable, {refusal.unanswerable} unanswerable) "
        f"against {documents} indexed documents")
    if ranking.n:
        recalls = "  ".join(f"recall@{k} {v:.3f}" for k, v in ranking.recall.items())
        extra = "" if result.k in ranking.recall else f"  recall@{result.k} {result.recall_at_k:.3f}"
        out(f"{recalls}{extra}  MRR@10 {ranking.mrr:.3f}")
    parts = []
    if refusal.unanswerable:
        parts.append(f"declined {refusal.correctly_declined}/{refusal.unanswerable} unanswerable "
                     f"({100 * refusal.declined_rate:.0f}%)")
    if refusal.answerable:
        parts.append(f"wrongly declined {refusal.wrongly_declined}/{refusal.answerable} answerable "
                     f"({100 * refusal.wrongly_declined_rate:.0f}%)")
    out(f"refusals at RELEVANCE_FLOOR {result.floor}: " + ", ".join(parts))
    if missing:
        out("expected documents that are not indexed: " + ", ".join(missing))
    failures = result.failures()
    if not failures:
        out("no failures")
        return
    out(f"\nfailures ({len(failures)}):")
    for r, why in failures:
        got = ", ".join(dict.fromkeys(c.doc_path for c in r.top[: result.k])) or "(nothing)"
        out(f"  line {r.question.line}: {r.question.question}\n"
            f"    expected: {r.question.expected}\n    got: {got}\n    why: {why}")
