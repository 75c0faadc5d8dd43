"""`ragbot sources`: what the bot knows, and how the last sync went."""

from __future__ import annotations

from typing import Annotated

import typer

from rag.index.catalog import DocumentInfo, SyncReport
from ragbot.common import service, user_errors, when


def register(app: typer.Typer) -> None:
    app.command()(sources)


def sources(filter_text: Annotated[str | None, typer.Argument(
        metavar="FILTER", help="Only documents whose path, title or kind contain all these words.")] = None) -> None:
    """List the indexed documents (optionally only those matching the words given), then what the last sync
    could not index and why."""
    with user_errors():
        svc = service()
        docs = svc.documents(filter_text)
        last = svc.last_sync_report()
    if last:
        typer.echo(f"last sync: {when(last.finished or last.started)} — {last.status}"
                   + (f" ({last.message})" if last.message else ""))
    typer.echo(f"docs folder: {svc.settings.docs_dir}")  # the one sync, serve and doctor use
    if not docs:
        typer.echo("no documents match" if filter_text else "no documents indexed yet: run `ragbot ingest`")
    for d in docs:
        typer.echo(f"{d.rel_path}{_flag(d)}\n    {d.title} · {d.kind} · modified {d.modified.date().isoformat()} · "
                   f"synced {when(d.last_synced)} · {d.chunk_count} chunks"
                   + (f"\n    {d.state_note}" if d.state_note else ""))
    if docs:
        typer.echo(f"{len(docs)} document(s)")
    if last and not filter_text:
        _not_documents(last, {d.rel_path for d in docs})


def _flag(d: DocumentInfo) -> str:
    if d.held_back is not None:
        return " [held back by rollback]"
    if d.withdrawn:
        return " [withdrawn]"
    if d.last_error:
        return {"quarantined": " [quarantined]", "skipped": " [skipped]"}.get(d.error_kind or "", " [failed]")
    return ""


def _not_documents(last: SyncReport, listed: set[str]) -> None:
    """What the last sync found but could not index, and why (unsupported types, links, …): never silently
    left out. Files with a record are listed above with their reason."""
    entries = [(p, r) for p, r in last.skipped if p not in listed]
    if not entries:
        return
    typer.echo(f"\nnot indexed at the last sync ({len(entries)}):")
    for path, reason in entries[:50]:
        typer.echo(f"  {path}: {reason}")
    if len(entries) > 50:
        typer.echo(f"  … and {len(entries) - 50} more (`ragbot sync --dry-run` lists them all)")
