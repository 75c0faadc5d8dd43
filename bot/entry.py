"""What the `ragbot` command may call in the bot: its one front door, as `rag/service.py` is the core's.

`ragbot serve` starts the bot, `ragbot doctor` checks its settings and Slack tokens, `ragbot sync` counts the
posted answers the bot will mark. Each goes through here, so the bot's inside (ledger stores, HTTP server,
Slack auth rules) can move without touching the CLI; tests/test_architecture.py holds the CLI to this module.
Imports are deferred: `ragbot sources` and `ask` never load Slack's SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from bot.config import BotSettings
    from rag.index.state import FileRecord
    from rag.service import RagService

SLACK_TIMEOUT_SECONDS = 5  # doctor waits this long per token check


def load_bot_settings() -> BotSettings:
    """The bot's settings, validated as the bot validates them at start (ConfigError names the variable)."""
    from bot.config import load_bot_settings as load

    return load()


def run_bot(rag: RagService, settings: BotSettings) -> None:
    """Start the bot in its configured mode and block until stopped."""
    from bot.http.server import run

    run(rag, settings)


def answers_to_mark(state_dir: Path, files: Mapping[str, FileRecord], redis_url: str | None) -> int:
    """Posted answers the bot will mark after a sync changed `files` (with the bot's own ANSWER_WATCH_DAYS)."""
    from bot.config import answer_watch_days
    from bot.coordination import count_affected

    return count_affected(state_dir, files, watch_days=answer_watch_days(), redis_url=redis_url)


def check_token(variable: str, method: str, token: str, settings: Any) -> tuple[Literal["ok", "warn", "FAIL"], str]:
    """Call one Web API method with a token: ("ok", who), ("FAIL", Slack's reason) or ("warn", unreachable).

    Slack's errors are sorted by the bot's own rule (bot/http/slack_auth.py), so doctor and the running bot
    agree on what is transient."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError, SlackClientError

    from bot.http.slack_auth import NETWORK_ERRORS, classify, describe_network_error

    kwargs = {"base_url": settings.slack_api_url} if settings.slack_api_url else {}
    client = WebClient(token=token, timeout=SLACK_TIMEOUT_SECONDS, retry_handlers=[], **kwargs)
    try:
        response = client.api_call(method)
    except SlackApiError as err:
        transient, reason = classify(err)
        if transient:
            return "warn", f"Slack could not check {variable} now ({reason})"
        return "FAIL", f"Slack rejects {variable} ({reason})"
    except (SlackClientError, *NETWORK_ERRORS) as err:
        return "warn", f"Slack not reachable from here ({describe_network_error(err)}); {variable} not checked"
    if method == "auth.test":
        return "ok", f"Slack accepts {variable} (workspace {response.get('team')}, bot user {response.get('user')})"
    return "ok", f"Slack accepts {variable}"
