"""A Slack outage at start, or a token Slack refuses, leaves a health endpoint that says so (issues 20, 17).

The real process (`python -m bot`) against the fake Slack: /healthz answers from the first
second in HTTP mode and in Socket Mode, 503 naming `slack_auth` (or `slack_connection`) with
the reason, while the bot retries with exactly one log line per attempt (no slack_sdk ERROR
lines, no Bolt warning), connects when Slack comes back, and stops on SIGTERM. In-process:
/healthz recovers within seconds once Slack answers again (not at the next 300 s check), and
answers within its own deadline while Redis or Ollama hang.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from tests.fakes.fake_slack import FakeSlack
from tests.servers import RedisServer
from tests.test_rollback_pins import rolled_back  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(180)

SECRET = "startup-test-signing-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(base: str, timeout: float = 10) -> tuple[int, dict]:
    try:
        with urlopen(base + "/healthz", timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except HTTPError as err:
        return err.code, json.loads(err.read())


@contextmanager
def bot(tmp_path: Path, api_url: str, **env: str) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`python -m bot` with Slack at `api_url`; yields (base URL, process, log) once the port listens."""
    (tmp_path / "docs").mkdir(exist_ok=True)
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OLLAMA_"))}
    environ |= {"HF_HUB_OFFLINE": "1", "DOCS_DIR": str(tmp_path / "docs"), "LANCEDB_URI": str(tmp_path / "index"),
                "OLLAMA_HOST": "http://127.0.0.1:9", "SYNC_INTERVAL_MINUTES": "off", "SLACK_API_URL": api_url,
                "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "INFO", **env}
    log_path = tmp_path / "bot.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot"], cwd=tmp_path, env=environ, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", proc, log_path
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def attempts(log_path: Path) -> list[str]:
    return [line for line in log_path.read_text().splitlines() if re.search(r"\(attempt \d+", line)]


def wait_for_attempts(log_path: Path, proc: subprocess.Popen, n: int) -> list[str]:
    deadline = time.monotonic() + 60
    while len(lines := attempts(log_path)) < n:
        assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.1)
    return lines


def assert_one_line_per_attempt(log_path: Path) -> None:
    logged = log_path.read_text()
    lines = attempts(log_path)
    numbers = [int(re.search(r"\(attempt (\d+)", line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert numbers == sorted(set(numbers)), logged  # each attempt exactly once
    noisy = [line for line in logged.splitlines()
             if (" WARNING " in line or " ERROR " in line) and " rag." not in line]  # the sync says its own
    assert noisy == lines, logged  # no slack_sdk ERROR, no Bolt warning, nothing else per attempt
    assert "will be unused" not in logged and "slack_sdk" not in logged and "Traceback" not in logged


MODES = [pytest.param({"SLACK_SIGNING_SECRET": SECRET, "SLACK_MODE": "http"}, id="http"),
         pytest.param({"SLACK_APP_TOKEN": "xapp-1-A0FAKE-fake-app-token"}, id="socket")]


@pytest.mark.parametrize("mode", MODES)
def test_slack_unreachable_at_start_health_says_slack_auth_and_each_attempt_is_one_line(tmp_path: Path,
                                                                                         mode: dict[str, str]):
    closed = free_port()  # nobody listens there: connection refused
    with bot(tmp_path, f"http://127.0.0.1:{closed}/api/", SLACK_BOT_TOKEN="xoxb-1-unreachable", **mode) as (
            base, proc, log_path):
        status, info = health(base)
        assert status == 503 and "slack_auth" in info["failing"], info
        lines = wait_for_attempts(log_path, proc, 2)
        status, info = health(base)
        assert status == 503 and info["checks"]["slack_auth"]["ok"] is False
        assert "not reachable" in info["checks"]["slack_auth"]["detail"]
        assert "connection refused" in info["checks"]["slack_auth"]["detail"]
        assert f"Slack is not reachable at http://127.0.0.1:{closed}/api/ (connection refused); retrying in" in lines[0]
        if "SLACK_MODE" in mode:
            with pytest.raises(HTTPError) as refused:  # Slack's requests are not taken before the bot can answer
                urlopen(base + "/slack/events", data=b"{}", timeout=5)
            assert refused.value.code == 503
    assert_one_line_per_attempt(log_path)


@pytest.mark.parametrize("mode", MODES)
def test_a_token_slack_rejects_keeps_health_answering_with_the_reason_and_is_retried(tmp_path: Path,
                                                                                     mode: dict[str, str]):
    with FakeSlack() as slack, bot(tmp_path, slack.api_url, SLACK_BOT_TOKEN="xoxb-1-revoked-SECRET", **mode) as (
            base, proc, log_path):
        lines = wait_for_attempts(log_path, proc, 2)
        status, info = health(base)
        assert status == 503 and "slack_auth" in info["failing"]
        assert info["checks"]["slack_auth"]["detail"].startswith("Slack rejected SLACK_BOT_TOKEN (invalid_auth)")
        assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth)" in lines[0] and " ERROR " in lines[0]
        assert len(slack.calls("auth.test")) == len(attempts(log_path))  # one call per attempt: no SDK retries
    assert_one_line_per_attempt(log_path)
    assert "SECRET" not in log_path.read_text()


def test_a_rejected_app_token_shows_as_slack_connection_and_is_retried(tmp_path: Path):
    with FakeSlack() as slack, bot(tmp_path, slack.api_url, SLACK_BOT_TOKEN=slack.bot_token,
                                   SLACK_APP_TOKEN="xapp-1-A0FAKE-revoked") as (base, proc, log_path):
        lines = wait_for_attempts(log_path, proc, 2)
        status, info = health(base)
        assert status == 503 and "slack_connection" in info["failing"]
        assert info["checks"]["slack_connection"]["detail"] == "Slack rejects SLACK_APP_TOKEN (invalid_auth)"
        assert info["checks"]["slack_auth"]["ok"] is True  # the bot token is fine: the reason is the right one
        assert "Slack rejected SLACK_APP_TOKEN (invalid_auth)" in lines[0]
    assert_one_line_per_attempt(log_path)


def test_the_bot_connects_when_slack_comes_back(tmp_path: Path):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api/"
    with bot(tmp_path, api, SLACK_BOT_TOKEN="xoxb-fake-bot-token-000", SLACK_SIGNING_SECRET=SECRET,
             SLACK_MODE="http") as (base, proc, log_path):
        wait_for_attempts(log_path, proc, 1)
        with FakeSlack(port=port):
            deadline = time.monotonic() + 30
            while "listening for Slack on" not in log_path.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
            status, info = health(base)
            assert info["checks"]["slack_auth"]["ok"] is True, info
    assert "Slack answers: connected after 2 attempts" in log_path.read_text()


# --- in-process: recovery within seconds, and a deadline whatever hangs -----------------------------------------


def test_health_recovers_within_seconds_after_slack_comes_back(tmp_path: Path):
    """17.6: a failed auth check flagged slack_auth; the next one came SLACK_AUTH_CHECK_SECONDS (300) later."""
    from bot.app import make_client
    from bot.config import BotSettings
    from bot.http.slack_auth import AuthChecker, SlackAuthStatus

    with FakeSlack() as slack:
        settings = BotSettings(SLACK_BOT_TOKEN=slack.bot_token, SLACK_APP_TOKEN=slack.app_token,
                               SLACK_API_URL=slack.api_url)
        client = make_client(settings)
        status = SlackAuthStatus()
        client.auth_status = status
        status.check(client)
        assert status.state.ok is True
        slack.drop_next("auth.test", times=3)  # unreachable: the connections drop (the SDK retries twice)
        status.check(client)
        assert status.state.ok is False and "not reachable" in status.state.detail
        checker = AuthChecker(client, status, interval=300)
        checker.start()
        try:
            deadline = time.monotonic() + 12
            while status.state.ok is not True:  # the drops are used up: Slack is back
                assert time.monotonic() < deadline, status.state
                time.sleep(0.1)
        finally:
            checker.stop()


def test_any_answer_slack_carries_out_shows_it_is_back_and_an_app_token_error_is_not_the_bot_tokens(
        tmp_path: Path):
    from slack_sdk.errors import SlackApiError

    from bot.app import make_client
    from bot.config import BotSettings
    from bot.http.slack_auth import SlackAuthStatus

    with FakeSlack() as slack:
        client = make_client(BotSettings(SLACK_BOT_TOKEN=slack.bot_token, SLACK_API_URL=slack.api_url))
        status = client.auth_status = SlackAuthStatus()
        status.observe(False, "Slack not reachable (timed out)")
        client.chat_postMessage(channel="C1", text="hello")
        assert status.state.ok is True
        with pytest.raises(SlackApiError):
            client.apps_connections_open(app_token="xapp-1-wrong")
        assert status.state.ok is True  # the app token was refused, not the bot token


class Silent:
    """A port that accepts connections and never answers: a frozen (SIGSTOPped) Redis or a hung Ollama."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            with suppress(OSError):
                self.conns.append(self.sock.accept()[0])

    def close(self) -> None:
        self._stop.set()
        for conn in self.conns:
            conn.close()
        self.sock.close()


def test_health_answers_within_its_deadline_while_redis_and_ollama_hang(tmp_path: Path):
    """17.3: with Redis frozen /healthz took 5 s (the sync lease's socket timeout); each check now has a deadline."""
    from bot.http.health import HEALTH_DEADLINE_S, BotHealth
    from bot.http.slack_auth import SlackAuthStatus
    from bot.http.warmup import WarmUp
    from rag.config import load_settings
    from rag.service import RagService

    redis, ollama = Silent(), Silent()
    try:
        settings = load_settings(docs_dir=tmp_path, lancedb_uri=str(tmp_path / "index"),
                                 ollama_host=f"http://127.0.0.1:{ollama.port}",
                                 redis_url=f"redis://127.0.0.1:{redis.port}/0")
        rag = RagService(settings)
        auth = SlackAuthStatus()
        auth.observe(True, "auth.test ok")
        view = BotHealth(rag, auth, WarmUp(rag), mode="socket")
        for _ in range(3):  # again and again, as a monitor asks: each within the deadline, no pile of threads
            started = time.monotonic()
            info = view.info()
            took = time.monotonic() - started
            assert took < HEALTH_DEADLINE_S + 0.5, took
            checks = info["checks"]
            assert not checks["redis"]["ok"] and not checks["last_sync"]["ok"], checks  # timed out, or said so
            assert not checks["ollama"]["ok"] and "ollama" in info["degraded"]  # answers still come, quoted
            assert {"redis", "last_sync"} <= set(info["failing"]) and "ollama" not in info["failing"]
        hanging = [t for t in threading.enumerate() if t.name.startswith("health-")]
        assert len(hanging) <= 4, [t.name for t in hanging]  # one per check at most, however often asked
    finally:
        redis.close()
        ollama.close()


def test_a_frozen_redis_does_not_stall_healthz_of_the_running_bot(tmp_path: Path, redis_server: RedisServer):
    """The reporter's case end to end: a running bot, its Redis SIGSTOPped, /healthz asked."""
    redis_url = redis_server.url
    with FakeSlack() as slack, bot(tmp_path, slack.api_url, SLACK_BOT_TOKEN=slack.bot_token,
                                   SLACK_SIGNING_SECRET=SECRET, SLACK_MODE="http", REDIS_URL=redis_url) as (
            base, proc, log_path):
        deadline = time.monotonic() + 60
        while "listening for Slack on" not in log_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        assert health(base)[1]["checks"]["redis"]["ok"] is True
        redis_server.freeze()
        try:
            started = time.monotonic()
            status, info = health(base)
            took = time.monotonic() - started
        finally:
            redis_server.thaw()
        assert took < 3.0, took
        assert status == 503 and not info["checks"]["redis"]["ok"] and "redis" in info["failing"], info
        deadline = time.monotonic() + 20
        while not health(base)[1]["checks"]["redis"]["ok"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_health_counts_documents_held_back_by_a_rollback(rolled_back):  # noqa: F811
    """Issue 20: a rollback's pin is visible in /healthz too (a count, no names; not a failure: an admin chose it)."""
    from bot.http.health import _last_sync

    check = _last_sync(rolled_back)
    assert check["held_back"] == len(rolled_back.state.held_back()) >= 1 and check["ok"] is True
    assert "travel" not in json.dumps(check)


def test_the_wsgi_factory_answers_health_at_once_and_slack_once_connected(tmp_path: Path):
    """`bot.http.startup.create_app()` for another server: health before Slack answers, Slack's requests after."""
    code = (
        "import io, json, time\n"
        "from bot.http.startup import create_app\n"
        "app = create_app()\n"
        "def get(path, method='GET'):\n"
        "    seen = []\n"
        "    env = {'REQUEST_METHOD': method, 'PATH_INFO': path, 'CONTENT_LENGTH': '2',\n"
        "           'wsgi.input': io.BytesIO(b'{}')}\n"
        "    body = b''.join(app(env, lambda status, headers: seen.append(status)))\n"
        "    return seen[0], body\n"
        "events = get('/slack/events', 'POST')[0]\n"
        "print('first', events, get('/healthz')[0], flush=True)\n"
        "deadline = time.monotonic() + 60\n"
        "while json.loads(get('/healthz')[1])['checks']['slack_auth']['ok'] is not True or "
        "get('/slack/events', 'POST')[0].startswith('503'):\n"
        "    assert time.monotonic() < deadline\n"
        "    time.sleep(0.2)\n"
        "print('then', get('/slack/events', 'POST')[0], flush=True)\n"
        "import os; os._exit(0)  # the app's threads (a sync in native code) would abort an interpreter teardown\n"
    )
    (tmp_path / "docs").mkdir()
    with FakeSlack() as slack:
        slack.fail_next("auth.test", "service_unavailable", times=2, status=503)  # Slack is out for a few seconds
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OLLAMA_"))}
        env |= {"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1",
                "DOCS_DIR": str(tmp_path / "docs"), "LANCEDB_URI": str(tmp_path / "index"),
                "OLLAMA_HOST": "http://127.0.0.1:9", "SYNC_INTERVAL_MINUTES": "off", "SLACK_API_URL": slack.api_url,
                "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SECRET}
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    first, then = done.stdout.splitlines()[:2]
    assert first == "first 503 Service Unavailable 503 Service Unavailable"
    assert then == "then 401 Unauthorized"  # the real guard: an unsigned request is refused, no longer "starting"


def test_health_answers_within_its_deadline_while_the_index_store_hangs(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    """17.3: LanceDB on an S3 endpoint that accepts and never answers: the index check times out, once."""
    from bot.http.health import HEALTH_DEADLINE_S, BotHealth
    from bot.http.slack_auth import SlackAuthStatus
    from bot.http.warmup import WarmUp
    from rag.config import load_settings
    from rag.service import RagService

    s3 = Silent()
    try:
        for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                            "AWS_ENDPOINT": f"http://127.0.0.1:{s3.port}", "AWS_ALLOW_HTTP": "true"}.items():
            monkeypatch.setenv(name, value)
        settings = load_settings(docs_dir=tmp_path, lancedb_uri="s3://ragbot/index", state_dir=tmp_path / "state",
                                 ollama_host="http://127.0.0.1:9")
        rag = RagService(settings)
        view = BotHealth(rag, SlackAuthStatus(), WarmUp(rag), mode="socket")
        for _ in range(2):
            started = time.monotonic()
            info = view.info()
            assert time.monotonic() - started < HEALTH_DEADLINE_S + 0.5
            assert info["checks"]["index"]["timed_out"] and "index" in info["failing"]
        assert len(s3.conns) == 1  # the second request waited on the first probe instead of starting another
    finally:
        s3.close()
