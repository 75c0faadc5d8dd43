"""Socket Mode: the handler is built from config, and the same listeners answer over a (fake) websocket."""

from __future__ import annotations

from pathlib import Path

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import build_app
from bot.config import BotConfigError, BotSettings
from bot.http.server import build_socket_mode_handler, run
from rag.config import load_settings
from rag.service import RagService
from tests.fakes.fake_ollama import FakeOllama, closed_port_url
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.slack_signing import event_envelope, mention_event

pytestmark = pytest.mark.timeout(120)

MODEL = "llama3.2:3b"
DOC = (
    "# Travel policy\n\n## Hotels\n\nThe hotel limit is 180 EUR per night in capital cities and 130 EUR per "
    "night elsewhere. Book hotels through the travel portal.\n"
)


def socket_settings(slack: FakeSlack, tmp_path: Path, **extra: object) -> BotSettings:
    return BotSettings(
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_APP_TOKEN=slack.app_token,
        SLACK_API_URL=slack.api_url,
        DEDUP_DB=str(tmp_path / "dedup.sqlite3"),
        FEEDBACK_LOG=str(tmp_path / "feedback.jsonl"),
        STREAM_UPDATE_SECONDS=0.2,
        **extra,
    )


def test_socket_mode_handler_is_built_from_config_without_connecting(tmp_path: Path):
    rag = RagService(
        load_settings(docs_dir=tmp_path, lancedb_uri=str(tmp_path / "index"), ollama_host=closed_port_url())
    )
    with FakeSlack() as slack:
        settings = socket_settings(slack, tmp_path)
        assert settings.mode == "socket"
        app, runtime = build_app(rag, settings)
        try:
            handler = build_socket_mode_handler(app, settings)
            assert isinstance(handler, SocketModeHandler)
            assert handler.app_token == slack.app_token
            assert handler.client.web_client is app.client
            assert (
                handler.client.web_client.base_url == slack.api_url
            )  # SLACK_API_URL reaches Socket Mode too
            assert not handler.client.is_connected()
            assert [c.method for c in slack.calls()] == ["auth.test"]  # no websocket opened yet
        finally:
            runtime.shutdown(timeout=5)


def test_run_refuses_to_start_without_the_app_token_and_never_shows_the_bot_token(tmp_path: Path):
    rag = RagService(load_settings(docs_dir=tmp_path, lancedb_uri=str(tmp_path / "index")))
    settings = BotSettings(SLACK_BOT_TOKEN="xoxb-1-2-VERYSECRET", SLACK_MODE="socket")
    with pytest.raises(BotConfigError, match="SLACK_APP_TOKEN") as err:
        run(rag, settings)
    assert "VERYSECRET" not in str(err.value)


def test_mention_over_the_websocket_is_acked_answered_once_despite_a_retry(tmp_path: Path):
    docs = tmp_path / "docs"
    (docs / "policies").mkdir(parents=True)
    (docs / "policies" / "travel-policy.md").write_text(DOC, encoding="utf-8")

    def reply(request: dict) -> str:
        return "The limit is 180 EUR per night in capital cities [1]."

    with FakeOllama(models=[MODEL], reply=reply, token_delay=0.05) as ollama, FakeSlack() as slack:
        rag = RagService(
            load_settings(
                docs_dir=docs, lancedb_uri=str(tmp_path / "index"), ollama_host=ollama.url, ollama_model=MODEL
            )
        )
        assert rag.sync(full=True).status == "ok"
        settings = socket_settings(slack, tmp_path, ADMIN_USER_IDS="U0ADMIN")
        app, runtime = build_app(rag, settings)
        handler = build_socket_mode_handler(app, settings)
        try:
            handler.connect()
            slack.wait_for(
                lambda: slack.socket_mode is not None and slack.socket_mode.connections, timeout=10
            )
            ws = slack.socket_mode
            ts = slack.add_message("C0GENERAL", "<@U0BOT> hotel limit per night?", user="U0ASKER")
            body = event_envelope(mention_event("C0GENERAL", ts, "hotel limit per night?", team=slack.team_id),
                                  team_id=slack.team_id, event_id="EvSOCKET1")
            first = ws.send("events_api", body)
            retry = ws.send("events_api", body, retry_attempt=1, retry_reason="timeout")
            slack.wait_for(lambda: first in ws.acks and retry in ws.acks, timeout=10)

            def answers() -> list:
                return [m for m in slack.thread("C0GENERAL", ts) if m.bot_id]

            slack.wait_for(
                lambda: any(b.get("block_id") == "feedback" for m in answers() for b in m.blocks), timeout=30
            )
            slack.wait_for(lambda: runtime.answers.running == 0 and runtime.answers.waiting == 0)
            assert len(answers()) == 1 and len(ollama.requests) == 1

            refused = ws.send(
                "slash_commands",
                {
                    "command": "/rag-resync",
                    "text": "",
                    "user_id": "U0NOBODY",
                    "channel_id": "C0GENERAL",
                    "team_id": slack.team_id,
                    "response_url": slack.response_url(),
                    "trigger_id": "t",
                },
            )
            slack.wait_for(lambda: refused in ws.acks, timeout=10)
            assert "Only the bot's admins" in ws.acks[refused]["text"]
        finally:
            handler.close()
            runtime.shutdown(timeout=10)
