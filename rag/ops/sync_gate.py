"""The golden-question gate: every sync that changed something ends with `ragbot eval` on EVAL_QUESTIONS.

A sync can make the bot worse without failing: a policy moved into a scanned PDF,
a section renamed, a document deleted by mistake. With `EVAL_QUESTIONS` set, the
questions are asked again right after the sync (`rag.ops.evaluate`, exactly as
`ragbot eval` scores them); when recall@5 falls below `EVAL_MIN_RECALL` the sync
report lists the questions that now fail, and with `EVAL_ROLLBACK=1` the index
is restored to before the sync (`RagService.rollback`, which makes the rollback
stick until the files change again). The outcome is written into the report and
into the sync's history entry, so the CLI, Slack and `ragbot history` say the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rag.index.catalog import SyncReport, one_line

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.index.state import StateDB
    from rag.ops.evaluate import SearchOutcome

log = logging.getLogger(__name__)

GATE_K = 5  # recall@5, as the README and `ragbot eval --min-recall` use


def gate_applies(settings: Settings, report: SyncReport) -> bool:
    """Only a sync that wrote something can have broken an answer; dry runs, refusals, no-ops are skipped."""
    return settings.eval_questions is not None and report.status in ("ok", "partial") and report.has_changes


def run_gate(report: SyncReport, *, settings: Settings, state: StateDB,
             search: Callable[[int], Callable[[str], SearchOutcome]], rollback: Callable[[], Any]) -> None:
    """Evaluate the golden questions after `report`'s sync; fill in its golden_* fields (never raises).

    It gets the index's parts, not the service, so the gate and the service that runs it are not a circle:
    `search(depth)` makes the question search (`rag.ops.evaluate.search_with`), `rollback` undoes the sync.
    """
    if not gate_applies(settings, report):
        return
    from rag.ops.evaluate import QuestionsFileError, evaluate, load_questions

    assert settings.eval_questions is not None
    try:
        questions = load_questions(settings.eval_questions)
        result = evaluate(questions, search(max(10, GATE_K)), k=GATE_K, floor=settings.relevance_floor)
    except QuestionsFileError as err:
        report.golden_error = f"EVAL_QUESTIONS: {err}"
    except Exception as err:  # the sync itself went fine: say why the gate did not run, keep the index
        log.exception("golden-question gate failed")
        report.golden_error = f"the golden-question check failed: {one_line(err)}"
    else:
        report.golden_recall = result.recall_at_k
        if result.recall_at_k is not None and result.recall_at_k < settings.eval_min_recall:
            report.golden_broken = [f"{r.question.question} ({why}; expected {r.question.expected})"
                                    for r, why in result.failures()]
            log.warning("golden questions: recall@%d %.2f below EVAL_MIN_RECALL %.2f after sync; %d fail",
                        GATE_K, result.recall_at_k, settings.eval_min_recall, len(report.golden_broken))
            if settings.eval_rollback:
                _roll_back(rollback, report)
    _save(state, report)


def _roll_back(rollback: Callable[[], Any], report: SyncReport) -> None:
    try:
        rollback()
    except Exception as err:
        log.exception("EVAL_ROLLBACK: rollback after the failed golden questions failed")
        report.golden_error = f"EVAL_ROLLBACK: the rollback failed: {one_line(err)}"
    else:
        report.golden_rolled_back = True


def _save(state: StateDB, report: SyncReport) -> None:
    """Write the gate's outcome into this sync's history entry (the runner saved it before the gate ran)."""
    try:
        for run in state.runs(limit=10):
            if run.report.started == report.started and run.report.trigger == report.trigger:
                state.finish_run(run.id, report, run.version_after)
                return
    except Exception:  # the report in hand still says it; only `ragbot history` would miss it
        log.exception("could not record the golden-question outcome in the sync history")


def gate_lines(report: SyncReport) -> list[str]:
    """What the sync report says about the gate: nothing when it passed or did not run (one rule, CLI and Slack)."""
    lines = []
    if report.golden_error:
        lines.append(report.golden_error)
    if report.golden_broken:
        recall = report.golden_recall or 0.0
        lines.append(f"golden questions: recall@{GATE_K} fell to {recall:.2f} (below EVAL_MIN_RECALL); "
                     f"{len(report.golden_broken)} question{'s' if len(report.golden_broken) != 1 else ''} "
                     "broke:")
        lines.extend(f"  {q}" for q in report.golden_broken)
        if report.golden_rolled_back:
            lines.append("EVAL_ROLLBACK: the index was rolled back to before this sync "
                         "(it stays so until the files change again)")
    return lines
