"""`python -m bot` as deployed: gunicorn in HTTP mode, the websocket in Socket Mode, scheduled sync, SIGTERM.

Each test starts the real process against the fake Slack and fake Ollama on
127.0.0.1, waits for /healthz, gets a question answered, checks the start-up
sync report reached SYNC_REPORT_CHANNEL, and stops it with SIGTERM as Docker does.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import pytest

from tests.fakes.fake_ollama import FakeOllama
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.slack_signing import SlackSender, event_envelope, mention_event

pytestmark = pytest.mark.timeout(180)

MODEL = "llama3.2:3b"
SECRET = "server-test-signing-secret"
REPORTS = "C0REPORTS"
DOC = (
    "# Travel policy\n\n## Hotels\n\nThe hotel limit is 180 EUR per night in capital cities and 130 EUR per "
    "night elsewhere. Book hotels through the travel portal.\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reply(request: dict) -> str:
    return "The limit is 180 EUR per night in capital cities [1]."


@contextmanager
def bot_process(tmp_path: Path, slack: FakeSlack, ollama: FakeOllama, **env: str) -> Iterator[str]:
    """Run `python -m bot` until the block ends; yields its base URL once /healthz answers."""
    docs = tmp_path / "docs" / "policies"
    docs.mkdir(parents=True)
    (docs / "travel-policy.md").write_text(DOC, encoding="utf-8")
    port = free_port()
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OLLAMA_"))},
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "DOCS_DIR": str(tmp_path / "docs"),
        "LANCEDB_URI": str(tmp_path / "index"),
        "OLLAMA_HOST": ollama.url,
        "OLLAMA_MODEL": MODEL,
        "SYNC_INTERVAL_MINUTES": "off",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_API_URL": slack.api_url,
        "SYNC_REPORT_CHANNEL": REPORTS,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "STREAM_UPDATE_SECONDS": "0.2",
        "LOG_LEVEL": "INFO",
        **env,
    }
    log = (tmp_path / "bot.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=environ, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "bot.log").read_text()
            try:
                with urlopen(base + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (URLError, ConnectionError, TimeoutError, OSError):
                pass
            assert time.monotonic() < deadline, (
                "bot did not become healthy:\n" + (tmp_path / "bot.log").read_text()
            )
            time.sleep(0.3)
        yield base
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=45) == 0, (tmp_path / "bot.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
    logged = (tmp_path / "bot.log").read_text()
    assert slack.bot_token not in logged and SECRET not in logged and slack.app_token not in logged


def wait_for_report_and_answer(slack: FakeSlack, ask) -> None:
    # the start-up sync indexed the folder and reported it, since something changed
    report = slack.wait_for(lambda: [m for m in slack.bot_messages(REPORTS)], timeout=60)[0]
    assert "1 added" in report.text
    ts = slack.add_message("C0GENERAL", "<@U0BOT> hotel limit per night?", user="U0ASKER")
    ask(ts)
    answer = slack.wait_for(
        lambda: [
            m
            for m in slack.thread("C0GENERAL", ts)
            if m.blocks and any(b.get("block_id") == "feedback" for b in m.blocks)
        ],
        timeout=60,
    )[0]
    assert "180 EUR" in answer.text and "Travel policy" in json.dumps(answer.blocks)


def test_http_mode_serves_slack_through_gunicorn(tmp_path: Path):
    with (
        FakeOllama(models=[MODEL], reply=reply) as ollama,
        FakeSlack() as slack,
        bot_process(tmp_path, slack, ollama, SLACK_SIGNING_SECRET=SECRET, SLACK_MODE="http") as base,
    ):
        sender = SlackSender(base + "/slack/events", SECRET, team_id=slack.team_id)

        def ask(ts: str) -> None:
            assert sender.mention("C0GENERAL", ts, "hotel limit per night?").status == 200

        wait_for_report_and_answer(slack, ask)
        with urlopen(base + "/healthz", timeout=5) as resp:
            assert json.loads(resp.read())["documents"] == 1
        unsigned = sender.post(b"{}", "application/json", signature="v0=forged")
        assert unsigned.status == 401
    assert "gunicorn" in (tmp_path / "bot.log").read_text().lower()


def test_socket_mode_process_connects_answers_and_stops_on_sigterm(tmp_path: Path):
    with (
        FakeOllama(models=[MODEL], reply=reply) as ollama,
        FakeSlack() as slack,
        bot_process(tmp_path, slack, ollama, SLACK_APP_TOKEN=slack.app_token) as base,
    ):
        slack.wait_for(lambda: slack.socket_mode is not None and slack.socket_mode.connections, timeout=30)
        with urlopen(base + "/healthz", timeout=5) as resp:
            assert json.loads(resp.read())["slack_connected"] is True

        def ask(ts: str) -> None:
            body = event_envelope(mention_event("C0GENERAL", ts, "hotel limit per night?", team=slack.team_id),
                                  team_id=slack.team_id, event_id="EvPROC1")
            slack.socket_mode.send("events_api", body)

        wait_for_report_and_answer(slack, ask)
