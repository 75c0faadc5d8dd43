"""Keep tokens and the signing secret out of logs and out of messages shown to users."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# Slack token shapes, in case a token we were not configured with shows up in an error
_TOKEN_RE = re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]{6,}")


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return _TOKEN_RE.sub("[redacted]", text)


class RedactingFilter(logging.Filter):
    """Rewrites every record that passes a handler, whatever logger it came from."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redactor(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_redaction(secrets: Iterable[str]) -> Redactor:
    """Attach a redacting filter to every handler of the root logger (call after logging is configured)."""
    redactor = Redactor(secrets)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(redactor))
    return redactor


def describe_exception(err: BaseException, redactor: Redactor | None = None) -> str:
    """A short reason a person can read, never containing a secret."""
    from slack_sdk.errors import SlackApiError

    if isinstance(err, SlackApiError):
        text = f"Slack API error: {err.response.get('error', 'unknown')}"
    else:
        detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        text = f"{type(err).__name__}: {detail}" if detail else type(err).__name__
    return (redactor or Redactor())(text)
