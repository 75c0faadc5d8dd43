"""`ragbot gaps`: the questions the documents could not answer, for an admin to close the gaps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ragbot.common import service, user_errors


def register(app: typer.Typer) -> None:
    app.command()(gaps)


def gaps(
    days: Annotated[float, typer.Option("--days", min=0.01, help="Look back this many days.")] = 7,
    export: Annotated[Path | None, typer.Option(
        "--export", metavar="FILE.jsonl",
        help="Also write declined and 👎 questions in `ragbot eval`'s format, to fill in the expected document.")]
    = None,
) -> None:
    """Declined questions, 👎 answers, flagged figures and stale sources cited: grouped, counted, newest first."""
    from rag.ops.gaps import export_questions, index_report, report_lines

    with user_errors():
        svc = service()
        report = index_report(svc, days)  # this index's documents: not a previous docs folder's
    for line in report_lines(report):
        typer.echo(line)
    if svc.settings.log_questions == "off":
        typer.echo("(LOG_QUESTIONS=off: nothing is recorded)")
    if export is not None:
        written = export_questions(report, export)
        typer.echo(f"wrote {written} question(s) to {export}: fill in each one's \"doc\", then `ragbot eval {export}`")
