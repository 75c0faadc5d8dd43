"""Slack-side settings, read once from the environment / `.env`.

Secrets are `SecretStr` so a settings object can be printed or logged without
leaking them, and every error names the variable but never echoes its value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag.config import ConfigError, check_web_url, problem_message
from rag.service import Scope


class BotConfigError(ConfigError):
    """The bot cannot start with this configuration; the message names the variable to fix.

    A `ConfigError`, so `ragbot serve` reports it like any other configuration mistake.
    """


SlackMode = Literal["socket", "http"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class BotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      populate_by_name=True)

    # Credentials (never printed)
    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")

    # Transport
    slack_mode_setting: SlackMode | None = Field(None, alias="SLACK_MODE")
    port: int = Field(3000, alias="PORT", ge=1, le=65535)
    host: str = Field("0.0.0.0", alias="HOST")
    slack_api_url: str | None = Field(None, alias="SLACK_API_URL")

    # Permissions
    admin_user_ids: Annotated[tuple[str, ...], NoDecode] = Field((), alias="ADMIN_USER_IDS")
    admins_include_workspace_admins: bool = Field(False, alias="ADMINS_INCLUDE_WORKSPACE_ADMINS")

    # Behaviour
    sync_report_channel: str | None = Field(None, alias="SYNC_REPORT_CHANNEL")
    channel_scopes: Annotated[dict[str, Scope], NoDecode] = Field(default_factory=dict,
                                                                  alias="CHANNEL_SCOPES")
    worker_threads: int = Field(2, alias="WORKER_THREADS", ge=1, le=64)
    queue_max: int = Field(20, alias="QUEUE_MAX", ge=0, le=10_000)
    stream_update_seconds: float = Field(1.0, alias="STREAM_UPDATE_SECONDS", ge=0.1, le=30)
    thread_history_messages: int = Field(10, alias="THREAD_HISTORY_MESSAGES", ge=0, le=100)
    # Follow-through (bot/followthrough/watcher.py): posted answers are watched this long for changed documents
    answer_watch_days: float = Field(30.0, alias="ANSWER_WATCH_DAYS", ge=0)
    # ...and how often a replica looks for index versions written elsewhere (CLI, sync writer, other replicas)
    answer_check_seconds: float = Field(60.0, alias="ANSWER_CHECK_SECONDS", ge=0.5, le=3600)
    # Where admin digests go (falls back to SYNC_REPORT_CHANNEL), and when the weekly gaps digest is posted
    admin_channel: str | None = Field(None, alias="ADMIN_CHANNEL")
    gaps_digest_cron: str | None = Field(None, alias="GAPS_DIGEST_CRON")

    # Local files (default: inside the index's state directory)
    feedback_log: Path | None = Field(None, alias="FEEDBACK_LOG")
    dedup_db: Path | None = Field(None, alias="DEDUP_DB")
    dedup_ttl_minutes: float = Field(60.0, alias="DEDUP_TTL_MINUTES", ge=15)
    # Durable questions (bot/durable/jobqueue.py): a question whose process stops renewing this lease is taken over.
    # On Redis when REDIS_URL is set (read with the core's settings: one rule for both)
    jobs_db: Path | None = Field(None, alias="JOBS_DB")
    job_lease_seconds: float = Field(60.0, alias="JOB_LEASE_SECONDS", ge=1, le=3600)
    # With REDIS_URL: the key that signs what the bot keeps in Redis (bot/durable/records.py; checked at start there);
    # blank: derived from SLACK_SIGNING_SECRET, else SLACK_BOT_TOKEN
    redis_record_secret: SecretStr | None = Field(None, alias="REDIS_RECORD_SECRET")

    log_level: str = Field("INFO", alias="LOG_LEVEL")

    # Health: how often auth.test re-checks the token (a failing call flags it at once anyway)
    slack_auth_check_seconds: float = Field(300.0, alias="SLACK_AUTH_CHECK_SECONDS", ge=0.1)

    @field_validator("slack_bot_token", "slack_app_token", "slack_signing_secret", "slack_mode_setting",
                     "slack_api_url", "sync_report_channel", "feedback_log", "dedup_db", "admin_channel",
                     "gaps_digest_cron", "jobs_db", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("gaps_digest_cron")
    @classmethod
    def _digest_cron(cls, value: str | None) -> str | None:
        from rag.ops.cron import check_crontab  # the one rule, APScheduler's own parser (SYNC_CRON too)

        return check_crontab(value) if value is not None else None

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = {"WARN": "WARNING"}.get(value.strip().upper(), value.strip().upper())
        if value not in LOG_LEVELS:
            raise ValueError("must be one of " + ", ".join(LOG_LEVELS))
        return value

    @field_validator("feedback_log", "dedup_db", "jobs_db")
    @classmethod
    def _a_file(cls, value: Path | None) -> Path | None:
        if value is not None and value.is_dir():
            raise ValueError("is a folder; it must be a file path (blank: inside the index's state folder)")
        return value

    @property
    def digest_channel(self) -> str | None:
        """ADMIN_CHANNEL, else SYNC_REPORT_CHANNEL."""
        return self.admin_channel or self.sync_report_channel

    @field_validator("slack_mode_setting", mode="before")
    @classmethod
    def _mode_lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())
        return value

    @field_validator("channel_scopes", mode="before")
    @classmethod
    def _parse_scopes(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_channel_scopes(value)
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        check_web_url(value, "Slack's Web API, e.g. https://slack.com/api/ (blank: slack.com)")
        value = value.strip()
        return value if value.endswith("/") else value + "/"

    @property
    def mode(self) -> SlackMode:
        """SLACK_MODE when set; else Socket Mode (the documented default), or HTTP when only the signing secret
        (HTTP mode's credential) is there and no app-level token."""
        if self.slack_mode_setting:
            return self.slack_mode_setting
        return "http" if self.slack_signing_secret and not self.slack_app_token else "socket"

    def scope_for(self, channel_id: str | None) -> Scope | None:
        """The channel's configured restriction; `*` is the default for channels not listed."""
        if channel_id and channel_id in self.channel_scopes:
            return self.channel_scopes[channel_id]
        return self.channel_scopes.get("*")

    def check_can_start(self) -> None:
        """Raise `BotConfigError` naming every missing or malformed credential for the chosen mode."""
        problems: list[str] = []
        bot = _secret(self.slack_bot_token)
        if not bot:
            problems.append("SLACK_BOT_TOKEN is not set (the bot token, xoxb-…, from OAuth & Permissions)")
        elif not bot.startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN does not look like a bot token (it should start with xoxb-)")
        if self.mode == "socket":
            app = _secret(self.slack_app_token)
            if not app:
                problems.append("SLACK_APP_TOKEN is not set (Socket Mode, the default, needs the app-level token, "
                                "xapp-…, from Basic Information › App-Level Tokens, scope connections:write); "
                                "or set SLACK_MODE=http with SLACK_SIGNING_SECRET")
            elif not app.startswith("xapp-"):
                problems.append("SLACK_APP_TOKEN does not look like an app-level token "
                                "(it should start with xapp-)")
        elif not _secret(self.slack_signing_secret):
            problems.append("SLACK_SIGNING_SECRET is not set (HTTP mode needs it to verify requests; "
                            "Basic Information › App Credentials)")
        if self.gaps_digest_cron and not self.digest_channel:
            problems.append("GAPS_DIGEST_CRON is set but there is no channel to post the digest to: set "
                            "ADMIN_CHANNEL (or SYNC_REPORT_CHANNEL)")
        if problems:
            raise BotConfigError(f"cannot start the Slack bot in {self.mode} mode: " + "; ".join(problems))

    def secret_values(self) -> list[str]:
        """The configured secrets, for redaction from logs and messages."""
        values = [_secret(s) for s in (self.slack_bot_token, self.slack_app_token, self.slack_signing_secret)]
        return [v for v in values if v and len(v) >= 6]


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value().strip() if value is not None else ""


def parse_channel_scopes(text: str) -> dict[str, Scope]:
    """`C123=contracts/,kind:contract;C456=policies/` → {channel: Scope}.

    Each entry is a channel id (or `*` for every channel not listed), `=`, then a
    comma list of folder prefixes and `kind:<kind>` items.
    """
    scopes: dict[str, Scope] = {}
    for entry in text.split(";"):
        entry = entry.strip()
        if not entry:
            continue
        channel, sep, spec = entry.partition("=")
        channel = channel.strip()
        if not sep or not channel:
            raise ValueError(f"entry {entry!r} must look like C0123456789=folder/,kind:contract")
        prefixes: list[str] = []
        kinds: list[str] = []
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            if item.lower().startswith("kind:"):
                kinds.append(item[5:].strip())
            else:
                prefixes.append(item.lstrip("/"))
        if not prefixes and not kinds:
            raise ValueError(f"entry for {channel} names no folder or kind")
        scopes[channel] = Scope(path_prefixes=tuple(prefixes), kinds=tuple(kinds))
    return scopes


def describe_error(err: ValidationError) -> str:
    """One line per variable, by environment name, never including the rejected value."""
    lines = []
    for problem in err.errors():
        loc = problem.get("loc") or ()
        name = str(loc[0]) if loc else "configuration"
        field = BotSettings.model_fields.get(name)
        if field is not None and field.alias:
            name = field.alias
        lines.append(f"{name}: {problem_message(problem)}")
    return "; ".join(lines)


def answer_watch_days() -> float:
    """ANSWER_WATCH_DAYS as the bot reads it, for `ragbot sync`'s count of the answers the bot will mark.

    A sync has already succeeded when this is asked, so a broken bot setting elsewhere (the bot says so
    when it starts) does not fail it: the count then uses the default.
    """
    try:
        return load_bot_settings().answer_watch_days
    except BotConfigError:
        return float(BotSettings.model_fields["answer_watch_days"].default)


def load_bot_settings(**overrides: object) -> BotSettings:
    """Read settings from env/.env; overrides use the environment names (e.g. PORT=3001)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return BotSettings(**clean)
    except ValidationError as err:
        raise BotConfigError(f"invalid Slack bot configuration: {describe_error(err)}") from None
