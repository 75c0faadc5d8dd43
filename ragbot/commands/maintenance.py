"""`ragbot forget`, `rollback`, `compact` and `history`: looking after the index."""

from __future__ import annotations

from typing import Annotated

import typer

from ragbot.common import fail, service, user_errors, when


def register(app: typer.Typer) -> None:
    for command in (forget, rollback, compact, history):
        app.command()(command)


def forget(path: Annotated[str, typer.Argument(help="Document path relative to DOCS_DIR.")]) -> None:
    """Withdraw a document from answers now (until its file changes)."""
    with user_errors():
        if not service().forget(path.replace("\\", "/")):
            raise fail(f"{path} is not indexed (see `ragbot sources`)")
    typer.echo(f"withdrawn: {path} (it returns when the file changes or is re-added)")


def rollback() -> None:
    """Restore the index to its state before the last sync."""
    with user_errors():
        try:
            current, restored = service().rollback()
        except ValueError as err:
            raise fail(str(err)) from None
    typer.echo(f"index restored from version {current} to version {restored}")


def compact() -> None:
    """Merge small index files and delete old versions (KEEP_VERSIONS_HOURS)."""
    with user_errors():
        service().compact()
    typer.echo("index compacted")


def history(limit: Annotated[int, typer.Option(help="How many runs.")] = 10) -> None:
    """Recent sync runs."""
    with user_errors():
        runs = service().state.runs(limit=limit)
    for run in runs:
        r = run.report
        typer.echo(f"#{run.id} {when(r.started)} {r.trigger:<10} {r.status:<8} +{len(r.added)} ~{len(r.changed)} "
                   f"−{len(r.removed)} !{len(r.failed)} v{run.version_before}→v{run.version_after}")
