"""Bot settings: mode choice, refusing to start without credentials, never echoing secrets."""

from __future__ import annotations

import pytest

from bot.config import BotConfigError, BotSettings, load_bot_settings, parse_channel_scopes
from rag.service import Scope

BOT = "xoxb-1111-2222-SECRETBOTVALUE"
APP = "xapp-1-A1-333-SECRETAPPVALUE"
SIGNING = "8f0c0ffee5ecret5igning"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_MODE",
        "PORT",
        "ADMIN_USER_IDS",
        "CHANNEL_SCOPES",
        "SLACK_API_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_socket_mode_when_app_token_set_else_http(monkeypatch: pytest.MonkeyPatch):
    assert BotSettings(SLACK_BOT_TOKEN=BOT, SLACK_SIGNING_SECRET=SIGNING).mode == "http"
    monkeypatch.setenv("SLACK_APP_TOKEN", APP)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT)
    assert load_bot_settings().mode == "socket"
    assert load_bot_settings(SLACK_MODE="HTTP").mode == "http"


def test_missing_tokens_refuse_to_start_naming_the_variable():
    with pytest.raises(BotConfigError, match="SLACK_APP_TOKEN") as err:
        BotSettings(SLACK_BOT_TOKEN=BOT, SLACK_MODE="socket").check_can_start()
    assert "SLACK_BOT_TOKEN" not in str(err.value)  # only what is actually missing
    with pytest.raises(BotConfigError, match="SLACK_SIGNING_SECRET is not set"):
        BotSettings(SLACK_BOT_TOKEN=BOT, SLACK_MODE="http").check_can_start()
    # only the bot token: Socket Mode is the documented default, so the app-level token is what is missing
    with pytest.raises(BotConfigError) as only_bot:
        BotSettings(SLACK_BOT_TOKEN=BOT).check_can_start()
    assert str(only_bot.value).startswith("cannot start the Slack bot in socket mode: SLACK_APP_TOKEN is not set "
                                          "(Socket Mode, the default, needs the app-level token")
    assert "SLACK_SIGNING_SECRET is not set" not in str(only_bot.value)
    with pytest.raises(BotConfigError, match="SLACK_BOT_TOKEN is not set"):
        BotSettings(SLACK_APP_TOKEN=APP).check_can_start()
    BotSettings(SLACK_BOT_TOKEN=BOT, SLACK_APP_TOKEN=APP).check_can_start()
    BotSettings(SLACK_BOT_TOKEN=BOT, SLACK_SIGNING_SECRET=SIGNING).check_can_start()


def test_swapped_tokens_are_reported_without_their_values():
    with pytest.raises(BotConfigError) as err:
        BotSettings(SLACK_BOT_TOKEN=APP, SLACK_APP_TOKEN=BOT).check_can_start()
    message = str(err.value)
    assert "xoxb-" in message and "xapp-" in message  # says what each should look like
    assert "SECRETBOTVALUE" not in message and "SECRETAPPVALUE" not in message


def test_secrets_never_print():
    settings = BotSettings(SLACK_BOT_TOKEN=BOT, SLACK_APP_TOKEN=APP, SLACK_SIGNING_SECRET=SIGNING)
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for secret in (BOT, APP, SIGNING):
        assert secret not in shown


def test_invalid_values_name_the_variable_not_the_value(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PORT", "not-a-port-SECRETISH")
    with pytest.raises(BotConfigError, match="PORT") as err:
        load_bot_settings()
    assert "SECRETISH" not in str(err.value)


def test_lists_and_channel_scopes_from_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ADMIN_USER_IDS", "U1, U2,,U3")
    monkeypatch.setenv("CHANNEL_SCOPES", "C123=contracts/,kind:contract; C456=/policies/ ;*=policies/")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    settings = load_bot_settings()
    assert settings.admin_user_ids == ("U1", "U2", "U3")
    assert settings.scope_for("C123") == Scope(path_prefixes=("contracts/",), kinds=("contract",))
    assert settings.scope_for("C456") == Scope(path_prefixes=("policies/",))
    assert settings.scope_for("D999") == Scope(path_prefixes=("policies/",))  # `*`: every other channel
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"


def test_bad_channel_scope_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(ValueError, match="C1"):
        parse_channel_scopes("C1=")
    monkeypatch.setenv("CHANNEL_SCOPES", "contracts/")
    with pytest.raises(BotConfigError, match="CHANNEL_SCOPES"):
        load_bot_settings()


def test_secrets_are_redacted_from_logs_and_error_reasons():
    import io
    import logging

    from bot.delivery.redact import RedactingFilter, Redactor, describe_exception

    redactor = Redactor([BOT, SIGNING])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    try:
        logger.error("calling with %s and %s", BOT, "xoxp-9-9-someothertoken")
        try:
            raise RuntimeError(f"auth failed for {SIGNING}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert "SECRETBOTVALUE" not in logged and "someothertoken" not in logged and SIGNING not in logged
    assert "[redacted]" in logged
    assert SIGNING not in describe_exception(RuntimeError(f"bad {SIGNING}"), redactor)
