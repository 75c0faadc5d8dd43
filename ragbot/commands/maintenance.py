"""`ragbot forget`, `rollback`, `release`, `compact` and `history`: looking after the index, saying what was done."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ragbot.common import fail, service, user_errors, when


def register(app: typer.Typer) -> None:
    for command in (forget, rollback, release, compact, history):
        app.command()(command)


def forget(
    path: Annotated[str, typer.Argument(
        metavar="PATH", help="Document path as `ragbot sources` lists it (relative to DOCS_DIR).")],
    undo: Annotated[bool, typer.Option(
        "--undo", help="Bring a withdrawn document back: the next sync indexes it again.")] = False,
) -> None:
    """Withdraw a document from answers now (until its file changes); --undo brings it back."""
    with user_errors():
        svc = service()
        if undo:
            if not svc.unforget(path):
                raise fail(f"{path} is not withdrawn (see `ragbot sources`)")
            typer.echo(f"restored: {path} is indexed again at the next sync (run `ragbot sync` now to do it)")
            return
        if not svc.forget(path):
            raise fail(f"{path} is not indexed (see `ragbot sources`)")
    typer.echo(f"withdrawn: {path} no longer appears in answers; it returns when the file changes, "
               f"or at the next sync after `ragbot forget --undo {path}`")


def _describe(run: Any) -> str:
    r = run.report
    return (f"sync #{run.id} ({r.trigger}, {when(r.started)}: {len(r.added)} added, {len(r.changed)} changed, "
            f"{len(r.renamed)} renamed, {len(r.removed)} removed)")


def rollback() -> None:
    """Undo the last sync: restore the index to the version before it."""
    with user_errors():
        svc = service()
        before = {run.id for run in svc.state.runs(limit=200) if not run.rolled_back}
        documents_before = svc.document_count()
        try:
            current, restored = svc.rollback()
        except ValueError as err:
            raise fail(str(err)) from None
        undone = [run for run in svc.state.runs(limit=200) if run.rolled_back and run.id in before]
        documents_after = svc.document_count()
    typer.echo(f"undid {_describe(undone[0]) if undone else 'the last sync'}")
    typer.echo(f"index version {current} → {restored} (the version before that sync); "
               f"documents in answers: {documents_before} → {documents_after}")
    held = svc.state.held_back()
    if held:
        typer.echo(f"held back by rollback ({len(held)}): answers use the earlier version, or none for a document that "
                   "sync added, until the file changes again; `ragbot sources` and every sync report say so")
        for rec in held:
            typer.echo(f"  {rec.rel_path}{' (withdrawn)' if rec.withdrawn else ''}")
        typer.echo("to index the files as they are now: `ragbot release PATH` (or `--all`), then `ragbot sync`")
    if svc.state.chunking_held():
        typer.echo(f"chunk sizing held back: the index keeps {svc.state.chunking()}; `ragbot release --all` re-chunks")


def release(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="PATH...", help="Documents as `ragbot sources` lists them.")] = None,
    release_all: Annotated[bool, typer.Option("--all", help="Every held-back, quarantined or skipped file.")] = False,
) -> None:
    """Let the next sync index files as they are now: lifts a rollback's pin, a quarantine or a skip."""
    if not paths and not release_all:
        raise fail("name a document (as `ragbot sources` lists it) or pass --all")
    with user_errors():
        released = service().release(None if release_all else list(paths or []))
    if not released:
        what = "nothing is" if release_all else ", ".join(paths or []) + (" is" if len(paths or []) == 1 else " are")
        raise fail(f"{what} held back by rollback, quarantined or skipped (see `ragbot sources`)")
    missing = [p for p in paths or [] if p not in released]
    for name in released:
        typer.echo(f"released: {name}")
    if missing:
        typer.echo(f"not held back, quarantined or skipped: {', '.join(missing)}")
    typer.echo("the next sync indexes them as they are now (run `ragbot sync` to do it now)")


def _size(count: int | None) -> str:
    if count is None:
        return "size not measured (not a local folder)"
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"


def compact() -> None:
    """Merge small index files and delete versions older than KEEP_VERSIONS_HOURS."""
    with user_errors():
        svc = service()
        versions_before, bytes_before = svc.store.footprint()
        if not versions_before:
            typer.echo("no index yet: nothing to compact")
            return
        svc.compact()
        versions_after, bytes_after = svc.store.footprint()
        hours = svc.settings.keep_versions_hours
    if bytes_before is None or bytes_after is None:
        size = _size(None)
    else:
        size = f"{_size(bytes_before)} → {_size(bytes_after)}"
    keep = (f"versions younger than KEEP_VERSIONS_HOURS ({hours:g} h) are kept so `ragbot rollback` can reach them; "
            "their space is freed by a compact after they age out")
    if bytes_before is not None and bytes_after is not None and bytes_after > bytes_before:
        typer.echo(f"index not smaller: {size}: its small files were merged into a new version, kept beside the "
                   f"{versions_after} versions still within reach of rollback; {keep}")
        return
    if bytes_after == bytes_before and versions_after == versions_before:
        typer.echo(f"nothing to compact: {_size(bytes_after)}, {versions_after} versions kept; {keep}")
        return
    typer.echo(f"index compacted: {size}; versions kept {versions_before} → {versions_after}")
    if versions_after >= versions_before:
        typer.echo(keep)


_HISTORY_COLUMNS = ("RUN", "STARTED", "TRIGGER", "STATUS", "ADDED", "CHANGED", "REMOVED", "FAILED", "INDEX VERSION",
                    "NOTES")


def history(limit: Annotated[int, typer.Option(metavar="N", min=1, help="How many runs, newest first.")] = 10) -> None:
    """Recent sync runs, newest first (rollbacks and undone syncs included)."""
    with user_errors():
        runs = service().state.runs(limit=limit)
    if not runs:
        typer.echo("no sync has run yet: run `ragbot ingest`")
        return
    rows = [_HISTORY_COLUMNS]
    for run in runs:
        r = run.report
        status = r.status + (" (undone)" if run.rolled_back else "")
        rows.append((f"#{run.id}", when(r.started), r.trigger, status, str(len(r.added)), str(len(r.changed)),
                     str(len(r.removed)), str(len(r.failed)), _versions(run), _notes(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HISTORY_COLUMNS))]
    numeric = {4, 5, 6, 7}
    for row in rows:
        cells = [cell.rjust(w) if i in numeric else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths,
                                                                                                  strict=True))]
        typer.echo("  ".join(cells).rstrip())


def _versions(run: Any) -> str:
    """"3 → 4"; "new → 1" for a first sync; "4 (unchanged)" for a run that wrote nothing (refused, dry)."""
    if run.version_after is None:
        return "–"
    if run.report.status in ("refused", "dry_run") or run.version_before == run.version_after:
        return f"{run.version_after} (unchanged)"
    before = "new" if run.version_before is None else run.version_before
    return f"{before} → {run.version_after}"


def _notes(r: Any) -> str:
    notes = []
    if r.held_back:
        notes.append(f"{len(r.held_back)} held back by rollback")
    if r.skipped:
        notes.append(f"{len(r.skipped)} skipped")
    return ", ".join(notes)
