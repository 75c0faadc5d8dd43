"""`ragbot sources`: what the bot knows, and how the last sync went."""

from __future__ import annotations

from typing import Annotated

import typer

from ragbot.common import service, user_errors, when


def register(app: typer.Typer) -> None:
    app.command()(sources)


def sources(filter_text: Annotated[str | None, typer.Argument(
        metavar="FILTER", help="Only documents whose path, title or kind contain all these words.")] = None) -> None:
    """List the indexed documents (optionally only those matching the words given)."""
    with user_errors():
        svc = service()
        docs = svc.documents(filter_text)
        last = svc.last_sync_report()
    if last:
        typer.echo(f"last sync: {when(last.finished or last.started)} — {last.status}"
                   + (f" ({last.message})" if last.message else ""))
    if not docs:
        typer.echo("no documents match" if filter_text else "no documents indexed yet: run `ragbot ingest`")
        return
    for d in docs:
        flag = " [withdrawn]" if d.withdrawn else ""
        error = f"\n    last error: {d.last_error}" if d.last_error else ""
        typer.echo(f"{d.rel_path}{flag}\n    {d.title} · {d.kind} · modified {d.modified.date().isoformat()} · "
                   f"synced {when(d.last_synced)} · {d.chunk_count} chunks{error}")
    typer.echo(f"{len(docs)} document(s)")
