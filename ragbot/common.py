"""What every `ragbot` command shares: the global options, exit codes and one-line user errors.

Mistakes a user can fix (bad config, no index, Ollama down, a sync already
running) end with one line on stderr and a non-zero exit code, never a
traceback; `--verbose` shows the logs.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import typer

from rag.config import RagSettings, load_settings

EXIT_USER_ERROR = 2
EXIT_FAILED = 1


class Options:
    """The global options of this invocation (set by the app's callback)."""

    settings_overrides: dict[str, Any] = {}
    verbose = False


def configure_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # pypdf's warnings repeat the sync report's reasons
    for noisy in ("httpx", "httpcore", "sentence_transformers", "urllib3", "filelock", "pypdf"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)
    if not verbose:
        os.environ.setdefault("LANCE_LOG", "error")
        os.environ.setdefault("RUST_LOG", "error")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def fail(message: str, code: int = EXIT_USER_ERROR) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


# Errors whose message tells the user what to do, by module; a module not imported yet raised none of
# them, so checking needs no import (importing the store or the embedder costs seconds at start-up).
_USER_ERRORS = {"rag.config": "ConfigError", "rag.index.catalog": "SyncAlreadyRunning", "rag.index.store": "StoreError",
                "rag.ingest.embedding.base": "EmbeddingModelError", "rag.ingest.embeddings": "EmbeddingModelError"}


def _is_user_error(err: BaseException) -> bool:
    for module_name, class_name in _USER_ERRORS.items():
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(cls, type) and isinstance(err, cls):
            return True
    return False


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can act on into one line and an exit code."""
    try:
        yield
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    except Exception as err:
        if _is_user_error(err):
            raise fail(str(err)) from None
        raise


def settings() -> RagSettings:
    with user_errors():
        return load_settings(**Options.settings_overrides)


def service() -> Any:
    from rag.service import RagService

    return RagService(settings())


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "never"
