"""`ragbot`: everything the bot does, without Slack.

This module is the app and its global options; the commands live in
`ragbot.commands` (one module per group), `ragbot.doctor` and
`ragbot.eval_command`. Shared helpers are in `ragbot.common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.ops.secrets import register_secrets, restore_output, scrub_output

# Re-exported for the command modules that import them from here (doctor, eval).
from ragbot.common import EXIT_FAILED, EXIT_USER_ERROR, fail, service, settings, user_errors
from ragbot.common import Options as _Options
from ragbot.common import configure_logging as _configure_logging
from ragbot.global_options import GlobalOptionsAnywhere

__all__ = ["EXIT_FAILED", "EXIT_USER_ERROR", "_Options", "app", "fail", "main", "service", "settings", "user_errors"]

GLOBAL_OPTIONS_EPILOG = ("Global options (--docs-dir, --index, --ollama-host, --model, --embedding-model, --top-k, -v) "
                         "go before or after the command: see `ragbot --help`.")
# Plain help (no rich): no `<bool>` after flags, and `--help` does not import rich.
app = typer.Typer(add_completion=False, no_args_is_help=True, help="`ragbot`: everything the bot does, without Slack.",
                  pretty_exceptions_enable=False, rich_markup_mode=None, cls=GlobalOptionsAnywhere,
                  epilog="Global options also work after the command: `ragbot sync --docs-dir DIR`.")


@app.callback()
def global_options(
    ctx: typer.Context,
    docs_dir: Annotated[Path | None, typer.Option(
        "--docs-dir", metavar="DIR", help="Documents folder (overrides DOCS_DIR).")] = None,
    index: Annotated[str | None, typer.Option(
        "--index", metavar="URI", help="Index: a folder or s3://bucket/prefix (overrides LANCEDB_URI).")] = None,
    ollama_host: Annotated[str | None, typer.Option(
        "--ollama-host", metavar="URL", help="Ollama server (overrides OLLAMA_HOST).")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", metavar="NAME", help="Ollama model that writes answers (overrides OLLAMA_MODEL).")] = None,
    embedding_model: Annotated[str | None, typer.Option(
        "--embedding-model", metavar="NAME", help="Sentence-transformers model (overrides EMBEDDING_MODEL).")] = None,
    top_k: Annotated[int | None, typer.Option(
        "--top-k", metavar="N", help="Sources per answer (overrides TOP_K).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show logs and timings.")] = False,
) -> None:
    """Self-hosted knowledge bot: answers from your documents, with dated citations."""
    scrub_output()  # the one choke point: nothing printed (answers, --json, reports, logs) shows a secret
    ctx.call_on_close(restore_output)
    register_secrets()
    _configure_logging(verbose)
    _Options.verbose = verbose
    _Options.settings_overrides = {
        "docs_dir": docs_dir, "lancedb_uri": index, "ollama_host": ollama_host, "ollama_model": model,
        "embedding_model": embedding_model, "top_k": top_k,
    }


def _register_commands() -> None:
    from ragbot.commands import asking, gaps, indexing, maintenance, serve, sources
    from ragbot.doctor import register as register_doctor
    from ragbot.eval_command import register as register_eval

    indexing.register(app)  # ingest, sync
    maintenance.register(app)  # forget, rollback, compact, history
    asking.register(app)  # ask
    sources.register(app)
    gaps.register(app)
    serve.register(app)
    register_eval(app)
    register_doctor(app)
    for command in app.registered_commands:
        command.epilog = command.epilog or GLOBAL_OPTIONS_EPILOG


_register_commands()


def main() -> None:
    """The `ragbot` script: the app, then a fast exit after commands that loaded torch (see ragbot.exiting)."""
    from ragbot.exiting import run_then_exit

    run_then_exit(app)


if __name__ == "__main__":
    main()
