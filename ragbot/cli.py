"""`ragbot`: everything the bot does, without Slack.

Mistakes a user can fix (bad config, no index, Ollama down, a sync already
running) end with one line on stderr and a non-zero exit code, never a
traceback; `--verbose` shows the logs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from rag.answer import Answer
from rag.catalog import SyncAlreadyRunning, SyncReport
from rag.config import ConfigError, RagSettings, load_settings
from rag.freshness import humanize_age, is_stale

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0],
                  pretty_exceptions_enable=False)
log = logging.getLogger("ragbot")

EXIT_USER_ERROR = 2
EXIT_FAILED = 1


class _Options:
    settings_overrides: dict[str, Any] = {}
    verbose = False


def _configure_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "httpcore", "sentence_transformers", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)
    if not verbose:
        os.environ.setdefault("LANCE_LOG", "error")
        os.environ.setdefault("RUST_LOG", "error")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def fail(message: str, code: int = EXIT_USER_ERROR) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can act on into one line and an exit code."""
    from rag.embeddings import EmbeddingModelError
    from rag.store import StoreError

    try:
        yield
    except (ConfigError, EmbeddingModelError, StoreError) as err:
        raise fail(str(err)) from None
    except SyncAlreadyRunning as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None


def settings() -> RagSettings:
    with user_errors():
        return load_settings(**_Options.settings_overrides)


def service() -> Any:
    from rag.service import RagService

    return RagService(settings())


@app.callback()
def main(
    docs_dir: Annotated[Path | None, typer.Option("--docs-dir", help="Documents root (DOCS_DIR).")] = None,
    index: Annotated[str | None, typer.Option("--index", help="Index location (LANCEDB_URI).")] = None,
    ollama_host: Annotated[str | None, typer.Option("--ollama-host", help="OLLAMA_HOST.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Ollama model (OLLAMA_MODEL).")] = None,
    embedding_model: Annotated[str | None, typer.Option("--embedding-model", help="EMBEDDING_MODEL.")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Sources per answer (TOP_K).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show logs.")] = False,
) -> None:
    """Self-hosted knowledge bot: answers from your documents, with dated citations."""
    _configure_logging(verbose)
    _Options.verbose = verbose
    _Options.settings_overrides = {
        "docs_dir": docs_dir, "lancedb_uri": index, "ollama_host": ollama_host, "ollama_model": model,
        "embedding_model": embedding_model, "top_k": top_k,
    }


# -- indexing --------------------------------------------------------------------------------------------
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
    print_report(report)
    if report.status in ("failed", "refused"):
        raise typer.Exit(EXIT_FAILED)


@app.command()
def ingest(
    docs_dir: Annotated[Path | None, typer.Argument(help="Documents root (default DOCS_DIR).")] = None,
) -> None:
    """Build the index from a documents folder (re-reads every file)."""
    if docs_dir is not None:
        _Options.settings_overrides["docs_dir"] = docs_dir
    _run_sync(full=True)


@app.command()
def sync(
    full: Annotated[bool, typer.Option("--full", help="Re-read every file (rebuild).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    allow_mass_delete: Annotated[bool, typer.Option("--allow-mass-delete")] = False,
) -> None:
    """Index what changed in the documents folder since the last sync."""
    _run_sync(full=full, dry_run=dry_run, allow_mass_delete=allow_mass_delete)


@app.command()
def forget(path: Annotated[str, typer.Argument(help="Document path relative to DOCS_DIR.")]) -> None:
    """Withdraw a document from answers now (until its file changes)."""
    with user_errors():
        if not service().forget(path.replace("\\", "/")):
            raise fail(f"{path} is not indexed (see `ragbot sources`)")
    typer.echo(f"withdrawn: {path} (it returns when the file changes or is re-added)")


@app.command()
def rollback() -> None:
    """Restore the index to its state before the last sync."""
    with user_errors():
        try:
            current, restored = service().rollback()
        except ValueError as err:
            raise fail(str(err)) from None
    typer.echo(f"index restored from version {current} to version {restored}")


@app.command()
def compact() -> None:
    """Merge small index files and delete old versions (KEEP_VERSIONS_HOURS)."""
    with user_errors():
        service().compact()
    typer.echo("index compacted")


@app.command()
def history(limit: Annotated[int, typer.Option(help="How many runs.")] = 10) -> None:
    """Recent sync runs."""
    with user_errors():
        runs = service().state.runs(limit=limit)
    for run in runs:
        r = run.report
        typer.echo(f"#{run.id} {_when(r.started)} {r.trigger:<10} {r.status:<8} +{len(r.added)} ~{len(r.changed)} "
                   f"−{len(r.removed)} !{len(r.failed)} v{run.version_before}→v{run.version_after}")


# -- asking ----------------------------------------------------------------------------------------------
def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "never"


def print_sources(answer: Answer, stale_after_days: int) -> None:
    if answer.notice and answer.mode == "generated":
        typer.echo(f"\n({answer.notice})")
    if not answer.citations:
        return
    typer.echo("\nSources:")
    now = datetime.now(UTC)
    for c in answer.citations:
        where = f" — {c.location}" if c.location else ""
        stale = "  ⚠ possibly outdated" if is_stale(c.modified, now, stale_after_days) else ""
        typer.echo(f"[{c.number}] {c.title}{where} (updated {c.modified.date().isoformat()}, "
                   f"{humanize_age(c.modified, now)}){stale}\n    {c.link}")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in quotes.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Answer a question from the indexed documents, streaming the answer."""
    if not question.strip():
        raise fail("the question is empty")
    svc = service()
    streamed: list[str] = []

    def on_token(piece: str) -> None:
        streamed.append(piece)
        if not as_json:
            typer.echo(piece, nl=False)
            sys.stdout.flush()

    with user_errors():
        answer = svc.ask(question, on_token=on_token)
    if as_json:
        typer.echo(json.dumps(_answer_json(answer), ensure_ascii=False, indent=2))
        return
    if streamed:
        typer.echo("")
    else:
        typer.echo(answer.text)
    print_sources(answer, svc.settings.stale_after_days)
    if _Options.verbose:
        typer.echo(f"\n(retrieval {answer.retrieval_ms:.0f} ms, generation {answer.generation_ms:.0f} ms)")


def _answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "question": answer.question, "answer": answer.text, "mode": answer.mode, "notice": answer.notice,
        "citations": [
            {"n": c.number, "title": c.title, "path": c.rel_path, "section": c.section, "pages": c.pages,
             "modified": c.modified.isoformat(), "link": c.link}
            for c in answer.citations
        ],
        "retrieval_ms": round(answer.retrieval_ms, 1), "generation_ms": round(answer.generation_ms, 1),
    }


@app.command()
def sources(filter_text: Annotated[str | None, typer.Argument(metavar="[FILTER]")] = None) -> None:
    """List the indexed documents (optionally only those matching the words given)."""
    with user_errors():
        svc = service()
        docs = svc.documents(filter_text)
        last = svc.last_sync_report()
    if last:
        typer.echo(f"last sync: {_when(last.finished or last.started)} — {last.status}"
                   + (f" ({last.message})" if last.message else ""))
    if not docs:
        typer.echo("no documents match" if filter_text else "no documents indexed yet: run `ragbot ingest`")
        return
    for d in docs:
        flag = " [withdrawn]" if d.withdrawn else ""
        error = f"\n    last error: {d.last_error}" if d.last_error else ""
        typer.echo(f"{d.rel_path}{flag}\n    {d.title} · {d.kind} · modified {d.modified.date().isoformat()} · "
                   f"synced {_when(d.last_synced)} · {d.chunk_count} chunks{error}")
    typer.echo(f"{len(docs)} document(s)")


# -- serving ---------------------------------------------------------------------------------------------
@app.command()
def serve() -> None:
    """Run the scheduled sync and, when Slack tokens are set, the Slack bot."""
    svc = service()
    with user_errors():
        from bot.config import load_bot_settings

        bot_settings = load_bot_settings()
    if bot_settings.slack_bot_token is not None:
        from bot.server import run

        with user_errors():
            run(svc, bot_settings)
        return
    from rag.scheduler import run_forever

    typer.echo("no SLACK_BOT_TOKEN set: running the scheduled sync only (Ctrl-C to stop)")
    with user_errors():
        run_forever(svc)


# `ragbot eval` and `ragbot doctor` live in their own modules (they use the helpers above, hence registered last).
from ragbot.doctor import register as _register_doctor  # noqa: E402
from ragbot.eval_command import register as _register_eval  # noqa: E402

_register_eval(app)
_register_doctor(app)

if __name__ == "__main__":
    app()
