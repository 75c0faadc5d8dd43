"""`ragbot ingest` and `ragbot sync`: bring the index up to date, with progress and a per-file report."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from rag.catalog import SyncReport
from rag.sync_gate import gate_lines
from ragbot.common import EXIT_FAILED, Options, service, user_errors


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(sync)


def _progress_bar(desc: str) -> tuple[Callable[[int, int, str], None], Callable[[], None]]:
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int, path: str) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=desc, unit="file", file=sys.stderr, leave=False,
                              disable=not sys.stderr.isatty() and not os.environ.get("RAGBOT_PROGRESS"))
        bar["bar"].n = done
        bar["bar"].set_postfix_str(path[-40:], refresh=True)

    def close() -> None:
        if "bar" in bar:
            bar["bar"].close()

    return update, close


def print_report(report: SyncReport) -> None:
    out = typer.echo
    if report.status == "refused":
        out(f"sync refused: {report.message}")
        return
    for path in report.added:
        out(f"+ {path}")
    for path in report.changed:
        out(f"~ {path}")
    for old, new in report.renamed:
        out(f"→ {old} -> {new}")
    for path in report.removed:
        out(f"− {path}")
    for path, reason in report.failed:
        out(f"! {path}: {reason}")
    if report.message:
        out(f"note: {report.message}")
    for line in gate_lines(report):  # EVAL_QUESTIONS (rag/sync_gate.py)
        out(line)
    if report.answers_marked:  # bot/followthrough.py marks them in Slack
        out(f"{report.answers_marked} posted answer{'s' if report.answers_marked != 1 else ''} cite changed "
            "documents; the bot will mark them")
    if report.status == "dry_run":
        out(f"dry run: {len(report.added)} to add, {len(report.changed)} to change, {len(report.renamed)} "
            f"renamed, {len(report.removed)} to remove, {report.unchanged} unchanged; nothing was written")
        return
    out(f"sync {report.status}: {len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.renamed)} renamed, {len(report.removed)} removed, {len(report.failed)} failed, "
        f"{report.unchanged} unchanged; {report.chunks_embedded} chunks embedded, {report.chunks_reused} "
        f"reused; {report.duration_s:.1f}s")


def _run_sync(full: bool, dry_run: bool = False, allow_mass_delete: bool = False) -> None:
    svc = service()
    update, close = _progress_bar("indexing")
    with user_errors():
        try:
            report = svc.sync(full=full, dry_run=dry_run, allow_mass_delete=allow_mass_delete, progress=update,
                              trigger="cli")
        finally:
            close()
    if not dry_run and report.status in ("ok", "partial"):
        from bot.ledger import count_affected

        report.answers_marked = count_affected(svc.settings.resolved_state_dir, svc.state.files())
    print_report(report)
    if report.status in ("failed", "refused"):
        raise typer.Exit(EXIT_FAILED)


def ingest(
    docs_dir: Annotated[Path | None, typer.Argument(help="Documents root (default DOCS_DIR).")] = None,
) -> None:
    """Build the index from a documents folder (re-reads every file)."""
    if docs_dir is not None:
        Options.settings_overrides["docs_dir"] = docs_dir
    _run_sync(full=True)


def sync(
    full: Annotated[bool, typer.Option("--full", help="Re-read every file (rebuild).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    allow_mass_delete: Annotated[bool, typer.Option("--allow-mass-delete")] = False,
) -> None:
    """Index what changed in the documents folder since the last sync."""
    _run_sync(full=full, dry_run=dry_run, allow_mass_delete=allow_mass_delete)
