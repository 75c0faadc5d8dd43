"""`ragbot doctor`: check the set-up before users find out what is wrong.

Each check prints one line: `ok`, `warn` (works, but not as users expect), `FAIL`
(something will not work) or `skip`, and the exit code is 1 when anything failed.
The quick checks come first and import no torch; loading the embedding model is
the last check, and `--skip-model` leaves it out. Secrets are never printed: a
Slack check reports Slack's error code, never a token.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import typer

from rag.config import ConfigError, RagSettings, load_settings
from ragbot.common import EXIT_FAILED, Options

Status = Literal["ok", "warn", "FAIL", "skip"]
CONTAINER_UID = 10001  # the Dockerfile's user


@dataclass(frozen=True)
class Check:
    status: Status
    what: str
    detail: str


def register(app: typer.Typer) -> None:
    """Add the `doctor` command to the `ragbot` app."""
    app.command("doctor")(doctor)


def doctor(
    skip_model: Annotated[bool, typer.Option("--skip-model", help="Do not load the embedding model (the slow check).")]
    = False,
) -> None:
    """Check settings, documents, index, links, Ollama, Slack and the embedding model; exit 1 if one fails."""
    failed = False

    def report(check: Check) -> None:
        nonlocal failed
        failed = failed or check.status == "FAIL"
        typer.echo(f"{check.status:<4} {check.what}: {check.detail}")

    # The same validation `ragbot serve` and `python -m bot` run at start: the core's settings, then the bot's.
    try:
        s = load_settings(**Options.settings_overrides)
    except ConfigError as err:
        report(Check("FAIL", "config", str(err)))
        raise typer.Exit(EXIT_FAILED) from None
    from bot.entry import load_bot_settings
    from rag.ingest.embeddings import backend_line
    from rag.service import RagService

    svc = RagService(s)  # its settings hold the docs root sync and serve use (maybe the index's own folder)
    try:
        bot: Any = load_bot_settings()
    except ConfigError as err:
        bot = err
        report(Check("FAIL", "config", str(err)))
    else:
        report(Check("ok", "config", describe_config(s, svc.settings)))
    checks: list[tuple[str, Callable[[], Check]]] = [
        ("documents", lambda: check_documents(svc.settings)), ("index", lambda: check_index(svc)),
        ("links", lambda: check_links(s)), ("ollama", lambda: check_ollama(svc)), ("slack", lambda: check_slack(bot)),
    ]
    if not skip_model:
        checks.append(("embedding model", lambda: check_embedding_model(svc)))
        checks.append(("embedding backend", lambda: Check("ok", "embedding backend", backend_line(s))))  # issue 21
        if s.rerank_model:
            checks.append(("reranking model", lambda: check_reranking_model(svc)))
    for what, run in checks:
        try:
            report(run())
        except ConfigError as err:  # names the variable, never its value
            report(Check("FAIL", what, str(err)))
        except Exception as err:  # a check that breaks is a finding, not a traceback
            report(Check("FAIL", what, (str(err).strip() or type(err).__name__).splitlines()[0]))
    raise typer.Exit(EXIT_FAILED if failed else 0)


def describe_config(given: RagSettings, effective: RagSettings) -> str:
    """The settings every other line depends on; the docs root is the one sync and serve use (`effective`:
    without DOCS_DIR, the folder the index was built from), so this line and `documents:` agree."""
    docs = effective.docs_dir
    origin = ""
    if not given.docs_dir_explicit:
        origin = " (the index's own folder)" if docs != given.docs_dir else " (default: the bundled sample)"
    return f"DOCS_DIR={docs}{origin} LANCEDB_URI={effective.lancedb_uri} OLLAMA_HOST={effective.ollama_host}"


def _uid() -> str:
    return f"uid {os.getuid()}" if hasattr(os, "getuid") else "this user"


def _unreadable_hint() -> str:
    if hasattr(os, "getuid") and os.getuid() == CONTAINER_UID:
        return " (the container's user: make the folder readable by it, e.g. chmod -R o+rX, or set the share's uid=)"
    return ""


def check_documents(s: RagSettings) -> Check:
    """The docs folder exists, this user can list it, and it is not the bundled sample by accident."""
    docs = s.docs_dir
    if not docs.exists():
        return Check("FAIL", "documents", f"DOCS_DIR={docs} not found")
    if not docs.is_dir():
        return Check("FAIL", "documents", f"DOCS_DIR={docs} is not a folder")
    try:
        with os.scandir(docs) as entries:
            count = sum(1 for _ in entries)
    except PermissionError:
        return Check("FAIL", "documents", f"DOCS_DIR={docs} is not readable by {_uid()}{_unreadable_hint()}")
    if count == 0:
        return Check("warn", "documents", f"DOCS_DIR={docs} is empty (an unmounted share?)")
    from rag.ingest.sync.roots import bundled_samples, real_root

    if real_root(docs) == bundled_samples():  # the one rule for "the bundled samples" (rag/ingest/sync/roots.py)
        return Check("warn", "documents", f"DOCS_DIR={docs} is the bundled sample; set DOCS_DIR (in .env, "
                                          "with or without Docker) to your documents folder")
    return Check("ok", "documents", f"{docs} readable by {_uid()}")


def check_index(svc: Any) -> Check:
    """Documents and last sync from the state database (no model, no vector search)."""
    s = svc.settings
    if not (s.resolved_state_dir / "state.sqlite3").exists():  # opening it would create an empty one
        return Check("FAIL", "index", f"none at {s.lancedb_uri}: run `ragbot ingest`")
    count = svc.document_count()
    if count == 0:
        return Check("FAIL", "index", f"empty at {s.lancedb_uri}: run `ragbot ingest`")
    detail = f"{count} documents"
    last = svc.last_sync_report()
    if last is not None:
        detail += f", last sync {last.status}"
    root = _remembered_docs_root(s.resolved_state_dir)
    if root is not None and Path(root).resolve() != s.docs_dir.resolve():
        from rag.ingest.sync.roots import bundled_samples  # the sample documents give way without the option

        if root == bundled_samples():
            return Check("warn", "index", f"{detail}, built from the sample documents ({root}): the next sync "
                                          f"replaces them with DOCS_DIR={s.docs_dir}")
        return Check("FAIL", "index", f"{detail}, built from {root}, not DOCS_DIR={s.docs_dir}: syncs refuse it; "
                                      "set DOCS_DIR back, or move the index with `ragbot sync --switch-docs-root`")
    status: Status = "warn" if last is not None and last.status not in ("ok", "partial") else "ok"
    return Check(status, "index", detail)


def _remembered_docs_root(state_dir: Path) -> str | None:
    """The folder the index was built from, where this version of the index records it (read-only)."""
    import rag.index.state

    read = getattr(rag.index.state, "remembered_docs_root", None)
    return read(state_dir) if read is not None else None


def check_links(s: RagSettings) -> Check:
    """Without DOCS_BASE_URL, answers in Slack cite titles that cannot be opened."""
    if not s.docs_base_url:
        return Check("warn", "links", "DOCS_BASE_URL is not set: answers in Slack name their sources without links "
                                      "(file paths open only on this machine); set it to where people open the "
                                      "documents, e.g. https://files.example.com/docs")
    # an address that is not http(s) is refused with the other settings (rag/config.py)
    return Check("ok", "links", f"citations link to {s.docs_base_url.rstrip('/')}/<path>")


def check_ollama(svc: Any) -> Check:
    """Reachable, and the model pulled (named, with the command that pulls it)."""
    s = svc.settings
    health = svc.ollama_health()
    if not health.reachable:
        return Check("FAIL", "ollama", f"{health.message} (answers fall back to quoted passages)")
    # an OpenAI-compatible server (rag/answering/generate_openai.py): its own words say it all
    if s.llm_api == "openai":
        status = "ok" if health.model_pulled else "FAIL"
        return Check(status, "llm model", health.message + ("" if health.model_pulled else
                                                            " (until then answers are quoted passages)"))
    if not health.model_pulled:
        pull = f"ollama pull {s.ollama_model}"
        if urlparse(s.ollama_host).hostname == "ollama":  # the compose service
            pull = f"docker compose exec ollama {pull}"
        return Check("FAIL", "ollama model", f"'{s.ollama_model}' is not pulled on {s.ollama_host}: run `{pull}` "
                                             "(until then answers are quoted passages)")
    return Check("ok", "ollama model", f"'{s.ollama_model}' on {s.ollama_host}")


def check_slack(bot: Any) -> Check:
    """The tokens the chosen mode needs, then Slack's own word on them when Slack can be reached."""
    if isinstance(bot, Exception):
        return Check("skip", "slack", "the Slack settings are invalid (see config)")
    if bot.slack_bot_token is None:
        return Check("skip", "slack", "SLACK_BOT_TOKEN is not set (the CLI and the scheduled sync need no Slack)")
    bot.check_can_start()  # raises BotConfigError naming the variables, never their values
    if not Options.verbose:  # slack_sdk logs each failed request at ERROR; the check says it in one line
        logging.getLogger("slack_sdk").setLevel(logging.CRITICAL)
    from bot.entry import check_token

    problems = [check_token("SLACK_BOT_TOKEN", "auth.test", bot.slack_bot_token.get_secret_value(), bot)]
    if bot.mode == "socket" and bot.slack_app_token is not None and problems[0][0] != "warn":
        problems.append(check_token("SLACK_APP_TOKEN", "apps.connections.open",
                                    bot.slack_app_token.get_secret_value(), bot))
    fails = [p for kind, p in problems if kind == "FAIL"]
    if fails:
        return Check("FAIL", "slack", "; ".join(fails))
    unreachable = [p for kind, p in problems if kind == "warn"]
    if unreachable:
        return Check("warn", "slack", f"{bot.mode} mode, tokens set; {unreachable[0]}")
    return Check("ok", "slack", f"{bot.mode} mode; " + "; ".join(p for _, p in problems))


def check_embedding_model(svc: Any) -> Check:
    """Loads the model (torch): the one slow check."""
    emb = svc.embedder
    return Check("ok", "embedding model", f"{emb.model_name} (dim {emb.dim}, max {emb.max_seq_length} tokens)")


def check_reranking_model(svc: Any) -> Check:
    """RERANK_MODEL loads and scores a pair (torch); a failure here is what questions would log each time."""
    reranker = svc.reranker
    reranker.score("doctor", ["doctor"])
    return Check("ok", "reranking model", f"{reranker.model_name} (max {reranker.cross_encoder.max_seq_length} "
                                          f"tokens), the first {reranker.candidates} candidates of each question")
