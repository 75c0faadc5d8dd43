"""`python -m bot` as deployed: HTTP mode's server, the websocket in Socket Mode, scheduled sync, SIGTERM.

Each test starts the real process against the fake Slack and fake Ollama on
127.0.0.1, waits for /healthz (or only for the port, where the test is about
start-up), gets a question answered, checks the start-up sync report reached
SYNC_REPORT_CHANNEL, and stops it with SIGTERM as Docker does.
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
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

import pytest

from tests.fakes.fake_ollama import FakeOllama
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.slack_signing import SlackSender, event_envelope, mention_event

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parent.parent

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
def bot_process(tmp_path: Path, slack: FakeSlack, ollama: FakeOllama, *, wait: str = "healthy",
                index_first: bool = False, **env: str) -> Iterator[str]:
    """Run `python -m bot` until the block ends; yields its base URL once /healthz says 200
    (`wait="healthy"`), once its port accepts connections (`wait="listening"`: /healthz answers from the
    start, before Slack is asked) or once Slack's requests are let through (`wait="connected"`).
    `index_first`: the folder was indexed before the start (`ragbot ingest`, then `serve`)."""
    docs = tmp_path / "docs" / "policies"
    docs.mkdir(parents=True)
    (docs / "travel-policy.md").write_text(DOC, encoding="utf-8")
    if index_first:
        from rag.config import load_settings
        from rag.service import RagService

        settings = load_settings(docs_dir=tmp_path / "docs", lancedb_uri=str(tmp_path / "index"))
        assert RagService(settings).sync(full=True).status == "ok"
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
    hooks = ["-m", "tests.child_hooks", "bot"] if "RAGBOT_TEST_WARMUP_DELAY_SECONDS" in env else ["-m", "bot"]
    if hooks[1] == "tests.child_hooks":  # the test hooks live in tests/: the child needs the checkout on its path
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, *hooks], cwd=tmp_path, env=environ, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "bot.log").read_text()
            if wait == "listening":
                with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            elif wait == "connected":
                if "listening for Slack on" in (tmp_path / "bot.log").read_text():
                    break
            else:
                try:
                    with urlopen(base + "/healthz", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except (URLError, ConnectionError, TimeoutError, OSError):
                    pass
            assert time.monotonic() < deadline, (
                "bot did not become healthy:\n" + (tmp_path / "bot.log").read_text()
            )
            time.sleep(0.3 if wait == "healthy" else 0.05)
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


def answers(slack: FakeSlack, ts: str) -> list:
    return [m for m in slack.thread("C0GENERAL", ts) if any(b.get("block_id") == "feedback" for b in m.blocks)]


def wait_for_report_and_answer(slack: FakeSlack, ask) -> None:
    # the start-up sync indexed the folder and reported it, since something changed
    report = slack.wait_for(lambda: [m for m in slack.bot_messages(REPORTS)], timeout=60)[0]
    assert "1 added" in report.text
    ts = slack.add_message("C0GENERAL", "<@U0BOT> hotel limit per night?", user="U0ASKER")
    ask(ts)
    answer = slack.wait_for(lambda: answers(slack, ts), timeout=60)[0]
    assert "180 EUR" in answer.text and "Travel policy" in json.dumps(answer.blocks)


def health(base: str) -> tuple[int, dict]:
    try:
        with urlopen(base + "/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except HTTPError as err:
        return err.code, json.loads(err.read())


def test_http_mode_serves_slack(tmp_path: Path):
    with (
        FakeOllama(models=[MODEL], reply=reply) as ollama,
        FakeSlack() as slack,
        bot_process(tmp_path, slack, ollama, SLACK_SIGNING_SECRET=SECRET, SLACK_MODE="http") as base,
    ):
        sender = SlackSender(base + "/slack/events", SECRET, team_id=slack.team_id)

        def ask(ts: str) -> None:
            assert sender.mention("C0GENERAL", ts, "hotel limit per night?").status == 200

        wait_for_report_and_answer(slack, ask)
        status, info = health(base)
        assert status == 200 and info["checks"]["index"]["documents"] == 1
        assert "travel" not in json.dumps(info).lower()  # counts and states, never a document name
        unsigned = sender.post(b"{}", "application/json", signature="v0=forged")
        assert unsigned.status == 401
    logged = (tmp_path / "bot.log").read_text()
    assert "listening for Slack on http://127.0.0.1:" in logged
    assert f"serving documents from {tmp_path / 'docs'}: 0 documents indexed" in logged


def test_socket_mode_process_connects_answers_and_stops_on_sigterm(tmp_path: Path):
    with (
        FakeOllama(models=[MODEL], reply=reply) as ollama,
        FakeSlack() as slack,
        bot_process(tmp_path, slack, ollama, SLACK_APP_TOKEN=slack.app_token) as base,
    ):
        slack.wait_for(lambda: slack.socket_mode is not None and slack.socket_mode.connections, timeout=30)
        status, info = health(base)
        assert status == 200 and info["checks"]["slack_connection"]["ok"] is True

        def ask(ts: str) -> None:
            body = event_envelope(mention_event("C0GENERAL", ts, "hotel limit per night?", team=slack.team_id),
                                  team_id=slack.team_id, event_id="EvPROC1")
            slack.socket_mode.send("events_api", body)

        wait_for_report_and_answer(slack, ask)


def test_first_requests_after_start_are_acked_while_the_model_still_loads(tmp_path: Path):
    """Slack gives up on an ack after 3 s; loading the model takes longer. Acks never wait for it."""
    with (
        FakeOllama(models=[MODEL], reply=reply) as ollama,
        FakeSlack() as slack,
        bot_process(tmp_path, slack, ollama, wait="connected", index_first=True, SLACK_SIGNING_SECRET=SECRET,
                    SLACK_MODE="http", RAGBOT_TEST_WARMUP_DELAY_SECONDS="8") as base,
    ):
        sender = SlackSender(base + "/slack/events", SECRET, team_id=slack.team_id)
        ts = slack.add_message("C0GENERAL", "<@U0BOT> hotel limit per night?", user="U0ASKER")
        mention = sender.mention("C0GENERAL", ts, "hotel limit per night?")
        command = sender.command("/rag-sources", "", response_url=slack.response_url())
        assert mention.status == 200 and mention.seconds < 3.0
        assert command.status == 200 and command.seconds < 3.0
        status, info = health(base)
        assert status == 503 and info["checks"]["model"]["state"] == "loading"  # the model really was loading
        assert not answers(slack, ts)  # acked at once, answered later
        try:
            answer = slack.wait_for(lambda: answers(slack, ts), timeout=90)[0]
        except TimeoutError:
            raise AssertionError((tmp_path / "bot.log").read_text()) from None
        assert "180 EUR" in answer.text
        assert slack.wait_for(lambda: slack.responses, timeout=60)  # the listing came too
        status, info = health(base)
        assert info["checks"]["model"]["state"] == "ready"


SLOW_CONNECTIONS = 40


def open_slow_connections(port: int, stack: ExitStack) -> list[socket.socket]:
    """Half send headers promising 1 MB and one body byte, a quarter stop mid-headers, a quarter send nothing."""
    socks = []
    for i in range(SLOW_CONNECTIONS):
        sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        if i % 4 < 2:
            sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000000\r\n\r\n{")
        elif i % 4 == 2:
            sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Slack-Sig")
        socks.append(sock)
    return socks


def test_slow_and_idle_connections_do_not_delay_slack_acks(tmp_path: Path):
    with (
        FakeOllama(models=[MODEL], reply=reply) as ollama,
        FakeSlack() as slack,
        bot_process(tmp_path, slack, ollama, SLACK_SIGNING_SECRET=SECRET, SLACK_MODE="http") as base,
        ExitStack() as stack,
    ):
        sender = SlackSender(base + "/slack/events", SECRET, team_id=slack.team_id, timeout=10)
        socks = open_slow_connections(int(base.rsplit(":", 1)[1]), stack)
        time.sleep(0.5)
        for sock in socks[:SLOW_CONNECTIONS // 2]:
            sock.sendall(b"x")  # still "sending": one more byte
        ts = slack.add_message("C0GENERAL", "<@U0BOT> hotel limit per night?", user="U0ASKER")
        mention = sender.mention("C0GENERAL", ts, "hotel limit per night?")
        command = sender.command("/rag-sources", "", response_url=slack.response_url())
        assert mention.status == 200 and mention.seconds < 3.0
        assert command.status == 200 and command.seconds < 3.0
        slack.wait_for(lambda: slack.responses, timeout=30)


def test_unreachable_slack_is_retried_with_one_clear_line_and_stops_on_sigterm(tmp_path: Path):
    port = free_port()  # nobody listens there: connection refused
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DOCS_DIR": str(tmp_path / "docs"),
           "LANCEDB_URI": str(tmp_path / "index"), "SYNC_INTERVAL_MINUTES": "off",
           "SLACK_BOT_TOKEN": "xoxb-1-unreachable-SECRET", "SLACK_SIGNING_SECRET": SECRET, "SLACK_MODE": "http",
           "SLACK_API_URL": f"http://127.0.0.1:{port}/api/", "PORT": str(free_port()), "HOST": "127.0.0.1"}
    (tmp_path / "docs").mkdir()
    log_path = tmp_path / "bot.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot"], cwd=tmp_path, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while log_path.read_text().count("not reachable") < 2:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    logged = log_path.read_text()
    line = next(ln for ln in logged.splitlines() if "not reachable" in ln)
    assert f"Slack is not reachable at http://127.0.0.1:{port}/api/ (connection refused); retrying in" in line
    assert "Traceback" not in logged and "SECRET" not in logged


# A token Slack rejects no longer stops the bot: tests/test_bot_startup.py (health answers, retried).


def test_start_up_failures_are_sorted_into_stop_or_retry():
    """A token Slack rejects stops the bot (retrying cannot help); DNS, refusals, timeouts and 5xx are retried."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from bot.http.slack_auth import classify

    def failure(client: WebClient) -> SlackApiError:
        with pytest.raises(SlackApiError) as err:
            client.auth_test()
        return err.value

    with FakeSlack() as slack:
        assert classify(failure(WebClient(token="xoxb-1-wrong", base_url=slack.api_url))) == (False, "invalid_auth")
        slack.fail_next("auth.test", "internal_error")
        assert classify(failure(WebClient(token=slack.bot_token, base_url=slack.api_url))) == (
            True, "Slack answered internal_error")
    assert classify(URLError(socket.gaierror(-2, "Name or service not known"))) == (True, "Name or service not known")
    assert classify(URLError(ConnectionRefusedError(111, "Connection refused"))) == (True, "connection refused")
    assert classify(TimeoutError("timed out")) == (True, "timed out")
