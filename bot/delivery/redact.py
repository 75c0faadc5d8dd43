"""Keep tokens and the signing secret out of logs, and out of everything the bot sends to Slack.

The rule itself (which values, which token shapes) is rag.ops.secrets; here it is applied
at the Slack side's choke points: every log record, every Web API call's arguments
(`ScrubbingWebClient`), and every `respond()` to a response_url (`scrub_responses`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookResponse

from rag.ops.secrets import SECRETS, Secrets, register_secrets


class Redactor(Secrets):
    """These secrets and the process's registered ones (rag.ops.secrets.SECRETS) → `[redacted]`."""

    def __call__(self, text: str) -> str:
        return SECRETS.scrub(self.scrub(text))


class ScrubbingWebClient(WebClient):
    """A WebClient whose every call has its arguments scrubbed of secrets: all the bot posts passes here."""

    def api_call(  # type: ignore[override]
        self, api_method: str, *, http_verb: str = "POST", files: dict | None = None, data: Any = None,
        params: dict | None = None, json: dict | None = None, headers: dict | None = None, auth: dict | None = None,
    ) -> SlackResponse:
        return super().api_call(
            api_method, http_verb=http_verb, files=files, data=SECRETS.scrub_data(data),
            params=SECRETS.scrub_data(params), json=SECRETS.scrub_data(json), headers=headers, auth=auth,
        )


class ScrubbingRespond(Respond):
    """Bolt's `respond` (messages to a command's response_url), scrubbed like the Web API calls."""

    def __call__(self, text: str | dict = "", blocks: Any = None, attachments: Any = None,  # type: ignore[override]
                 **kwargs: Any) -> WebhookResponse:
        return super().__call__(SECRETS.scrub_data(text), blocks=SECRETS.scrub_data(blocks),
                                attachments=SECRETS.scrub_data(attachments), **kwargs)


def scrub_responses(context: BoltContext, next: Callable[[], None]) -> None:  # noqa: A002 - Bolt's name
    """Bolt middleware: listeners get a scrubbing `respond`."""
    if context.response_url:
        client = context.client
        context["respond"] = ScrubbingRespond(response_url=context.response_url,
                                              proxy=getattr(client, "proxy", None), ssl=getattr(client, "ssl", None))
    next()


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
    secrets = list(secrets)
    register_secrets(*secrets)
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
