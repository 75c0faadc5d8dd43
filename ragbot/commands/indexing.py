"""`ragbot ingest` and `ragbot sync`: bring the index up to date, with progress and a per-file report."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from rag.index.catalog import SyncReport, one_line
from rag.ops.sync_gate import gate_lines
from ragbot.common import EXIT_FAILED, Options, _is_user_error, fail, service, user_errors


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
    if report.status == "failed":  # one line, like every other error (`-v` shows the traceback)
        typer.secho(f"error: sync failed: {report.message}", err=True, fg=typer.colors.RED)
        return
    for path in report.added:
        out(f"+ {path}")
    for path in report.changed:
        out(f"~ {path}")
    for old, new in report.renamed:
        out(f"→ {old} -> {new}")
    for path in report.removed:
        out(f"− {path}")
    still = set(report.still_failing)
    for path, reason in report.failed:
        out(f"! {path}: {reason}" + (" (still failing; retried at each sync)" if path in still else ""))
    for path, reason in report.skipped:
        out(f"skipped {path}: {reason}")
    for path, note in report.held_back:
        out(f"held back {path}: {note}")
    if report.message:
        out(f"note: {report.message}")
    for line in gate_lines(report):  # EVAL_QUESTIONS (rag/ops/sync_gate.py)
        out(line)
    if report.answers_marked:  # bot/followthrough/watcher.py marks them in Slack
        out(f"{report.answers_marked} posted answer{'s' if report.answers_marked != 1 else ''} cite changed "
            "documents; the bot will mark them")
    if report.status == "dry_run":
        out(f"dry run: {len(report.added)} to add, {len(report.changed)} to change, {len(report.renamed)} "
            f"renamed, {len(report.removed)} to remove, {report.unchanged} unchanged; nothing was written")
        return
    held = f", {len(report.held_back)} held back by rollback" if report.held_back else ""
    if not report.has_changes and not report.failed and report.chunks_embedded == 0:
        out(f"sync {report.status}: nothing changed ({report.unchanged} documents up to date{held}"
            f"{', re-read and found identical' if report.trigger == 'ingest' else ''}); {report.duration_s:.1f}s")
    else:
        out(f"sync {report.status}: {len(report.added)} added, {len(report.changed)} changed, "
            f"{len(report.renamed)} renamed, {len(report.removed)} removed, {len(report.failed)} failed, "
            f"{report.unchanged} unchanged{held}; {report.chunks_embedded} chunks embedded, {report.chunks_reused} "
            f"reused; {report.duration_s:.1f}s")
    if report.mostly_failed:
        new = len(report.failed) - len(report.still_failing)
        typer.secho(f"error: most files failed ({new} of {report.tried} tried)", err=True, fg=typer.colors.RED)
    if report.yields_nothing:
        typer.secho(f"warning: the docs folder yields no documents ({len(report.skipped)} skipped, "
                    f"{len(report.failed)} failed): answers have nothing to cite. Check DOCS_DIR and the reasons "
                    "above", err=True, fg=typer.colors.YELLOW)


def _run_sync(full: bool, dry_run: bool = False, allow_mass_delete: bool = False, switch_docs_root: bool = False,
              trigger: str = "cli") -> None:
    svc = service()
    update, close = _progress_bar("indexing")
    with user_errors():
        try:
            report = svc.sync(full=full, dry_run=dry_run, allow_mass_delete=allow_mass_delete,
                              switch_docs_root=switch_docs_root, progress=update, trigger=trigger)
        except Exception as err:  # recorded as failed in the history; the user gets one line
            if Options.verbose or _is_user_error(err):
                raise
            raise fail(f"sync failed: {one_line(err)}", EXIT_FAILED) from None
        finally:
            close()
    if not dry_run and report.status in ("ok", "partial") and report.has_changes:  # a no-op sync changed nothing
        from bot.entry import answers_to_mark

        report.answers_marked = answers_to_mark(svc.settings.resolved_state_dir, svc.state.files(),
                                                svc.settings.redis_url)
    print_report(report)
    if not report.succeeded or (trigger == "ingest" and report.yields_nothing):
        raise typer.Exit(EXIT_FAILED)


SwitchOption = Annotated[bool, typer.Option(
    "--switch-docs-root", help="Index this folder although the index was built from another one; the other "
    "folder's documents leave the index in this sync.")]
MassDeleteOption = Annotated[bool, typer.Option(
    "--allow-mass-delete", help="Remove documents even when more than MASS_DELETE_FRACTION of them are gone.")]


def ingest(
    docs_dir: Annotated[Path | None, typer.Argument(
        metavar="DOCS_DIR", help="Documents folder to index (default: DOCS_DIR).")] = None,
    switch_docs_root: SwitchOption = False,
    allow_mass_delete: MassDeleteOption = False,
) -> None:
    """Build the index from a documents folder (re-reads every file); exits 1 when it yields no document."""
    if docs_dir is not None:
        Options.settings_overrides["docs_dir"] = docs_dir
    _run_sync(full=True, allow_mass_delete=allow_mass_delete, switch_docs_root=switch_docs_root, trigger="ingest")


def sync(
    full: Annotated[bool, typer.Option("--full", help="Re-read every file (rebuild).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    allow_mass_delete: MassDeleteOption = False,
    switch_docs_root: SwitchOption = False,
) -> None:
    """Index what changed in the documents folder since the last sync."""
    _run_sync(full=full, dry_run=dry_run, allow_mass_delete=allow_mass_delete, switch_docs_root=switch_docs_root)
