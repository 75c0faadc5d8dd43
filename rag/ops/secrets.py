"""The process's own secrets, known once, replaced by `[redacted]` in everything it posts or prints.

Defence in depth behind the docs folder's containment: if a document somehow holds
the bot token or a password (a `.env` copied into the share), neither Slack nor the
terminal ever shows it. The secret values are registered at start (the bot's settings,
plus every environment or `.env` variable whose name says it is a secret); Slack token
shapes and AWS access key ids are caught even when not registered. The Slack side
applies this at its Web API client (bot.delivery.redact), the CLI at its output streams.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

REDACTED = "[redacted]"
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE)
MIN_SECRET_LENGTH = 6  # shorter values ("1", "true") are settings, not secrets, and would mangle text
# Slack tokens (bot, user, app-level, refresh, config) and AWS access key ids, registered or not
TOKEN_SHAPES = re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]{6,}|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
# the start of a token shape that may continue in the next piece of streamed output
_TOKEN_PREFIX = re.compile(r"(?:\bx(?:o(?:x(?:[abposre](?:-[A-Za-z0-9-]*)?)?)?|a(?:p(?:p(?:-[A-Za-z0-9-]*)?)?)?)?"
                           r"|\b(?:A(?:K(?:IA?)?|S(?:IA?)?)?)[0-9A-Z]{0,15})\Z")
NEVER_SCRUBBED = frozenset({"token"})  # request fields that carry our own credential on purpose


class Secrets:
    """A set of secret values and the rule that replaces them; thread-safe."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()
        self.add(*values)

    def add(self, *values: str | None) -> None:
        with self._lock:
            known = set(self._values) | {v.strip() for v in values if v and len(v.strip()) >= MIN_SECRET_LENGTH}
            self._values = tuple(sorted(known, key=len, reverse=True))

    @property
    def values(self) -> tuple[str, ...]:
        return self._values

    def scrub(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return TOKEN_SHAPES.sub(REDACTED, text)

    def scrub_data(self, data: Any) -> Any:
        """`scrub` applied to every string inside dicts, lists and tuples (a Web API payload)."""
        if isinstance(data, str):
            return self.scrub(data)
        if isinstance(data, Mapping):
            return {k: v if k in NEVER_SCRUBBED else self.scrub_data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return type(data)(self.scrub_data(v) for v in data)
        return data

    def held_back(self, text: str) -> int:
        """Length of the end of `text` that could be the start of a secret continued by later output."""
        longest = 0
        for value in self._values:
            for size in range(min(len(value) - 1, len(text)), longest, -1):
                if text.endswith(value[:size]):
                    longest = size
                    break
        match = _TOKEN_PREFIX.search(text)
        if match and match.group(0):
            longest = max(longest, len(match.group(0)))
        return longest


SECRETS = Secrets()  # this process's secrets


def secret_env_values(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> list[str]:
    """Values of environment and `.env` variables whose names mark them as secrets."""
    from dotenv import dotenv_values  # python-dotenv, already required by pydantic-settings

    found: dict[str, str | None] = {}
    if env_file is not None and env_file.is_file():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            found.update(dotenv_values(env_file))
    found.update(os.environ if environ is None else environ)
    return [value for name, value in found.items() if value and SECRET_NAME.search(name)]


def register_secrets(*values: str | None, environ: Mapping[str, str] | None = None,
                     env_file: Path | None = Path(".env")) -> Secrets:
    """Add `values` and the environment's secrets to SECRETS (call at start; more calls only add)."""
    SECRETS.add(*values, *secret_env_values(environ, env_file))
    return SECRETS


def scrub(text: str) -> str:
    return SECRETS.scrub(text)


class ScrubbingStream(io.TextIOBase):
    """A text stream that writes through `secrets.scrub`, holding back a possible secret's first characters
    until the next write shows whether it is one (so an answer streamed token by token is covered too)."""

    def __init__(self, target: TextIO, secrets: Secrets = SECRETS) -> None:
        self.target = target
        self.secrets = secrets
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        keep = self.secrets.held_back(self._pending)
        ready, self._pending = self._pending[: len(self._pending) - keep], self._pending[len(self._pending) - keep:]
        if ready:
            self.target.write(self.secrets.scrub(ready))
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def release(self) -> None:
        """Write whatever is held back (at the end of output)."""
        if self._pending:
            self.target.write(self.secrets.scrub(self._pending))
            self._pending = ""
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.target.fileno()


def scrub_output() -> tuple[ScrubbingStream, ScrubbingStream]:
    """Route sys.stdout and sys.stderr through the scrubber; returns the wrappers (call `restore_output`)."""
    streams = []
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        wrapper = current if isinstance(current, ScrubbingStream) else ScrubbingStream(current)
        setattr(sys, name, wrapper)
        streams.append(wrapper)
    return streams[0], streams[1]


def restore_output() -> None:
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if isinstance(current, ScrubbingStream):
            current.release()
            setattr(sys, name, current.target)
