"""`ragbot doctor`: check the set-up before users find out what is wrong.

Kept out of ragbot/cli.py so that the CLI's start-up stays small; only the
embedding-model check loads torch.
"""

from __future__ import annotations

import typer

from rag.config import ConfigError, load_settings
from ragbot import cli


def register(app: typer.Typer) -> None:
    """Add the `doctor` command to the `ragbot` app."""
    app.command("doctor")(doctor)


def doctor() -> None:
    """Check configuration, embedding model, index and Ollama; exit non-zero if something is wrong."""
    problems = 0

    def line(ok: bool, what: str, detail: str) -> None:
        nonlocal problems
        problems += 0 if ok else 1
        typer.echo(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}")

    try:
        s = load_settings(**cli._Options.settings_overrides)
    except ConfigError as err:
        line(False, "config", str(err))
        raise typer.Exit(cli.EXIT_FAILED) from None
    line(True, "config", f"DOCS_DIR={s.docs_dir} LANCEDB_URI={s.lancedb_uri} OLLAMA_HOST={s.ollama_host}")
    line(s.docs_dir.is_dir(), "documents", str(s.docs_dir) if s.docs_dir.is_dir() else f"{s.docs_dir} not found")
    from rag.service import RagService

    svc = RagService(s)
    try:
        emb = svc.embedder
        line(True, "embedding model", f"{emb.model_name} (dim {emb.dim}, max {emb.max_seq_length} tokens)")
    except Exception as err:
        line(False, "embedding model", str(err))
    try:
        count = svc.store.count() if svc.store.exists() else 0
        line(count > 0, "index", f"{svc.document_count()} documents, {count} chunks" if count else
             "empty: run `ragbot ingest`")
    except Exception as err:
        line(False, "index", str(err))
    health = svc.ollama_health()
    line(health.reachable, "ollama", health.message if not health.reachable else f"reachable at {s.ollama_host}")
    if health.reachable:
        line(health.model_pulled, "ollama model", s.ollama_model if health.model_pulled else health.message)
    raise typer.Exit(cli.EXIT_FAILED if problems else 0)
