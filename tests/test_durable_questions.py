"""Durable questions on one host (no Redis): a question acked by a process killed with -9 mid-answer
is answered once the bot is started again, exactly once, with a note that a restart delayed it.

The real `python -m bot` in HTTP mode behind the fake Slack; the fake Ollama stalls the
answer's stream so the process is killed while it is really answering. `BotProc` is
also used by tests/test_redis_coordination.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import pytest

from bot.durable.jobqueue import RESTART_NOTE
from tests.fakes.fake_ollama import FakeOllama
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.slack_signing import SlackSender
from tests.test_bot_server import DOC, free_port, reply

pytestmark = pytest.mark.timeout(240)

MODEL = "llama3.2:3b"
SECRET = "durable-test-signing-secret"
GENERAL = "C0GENERAL"


def write_docs(root: Path) -> Path:
    docs = root / "docs" / "policies"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "travel-policy.md").write_text(DOC, encoding="utf-8")
    return root / "docs"


class BotProc:
    """One `python -m bot` in HTTP mode; `kill9()` as an OOM killer would, `stop()` as Docker does."""

    def __init__(self, workdir: Path, slack: FakeSlack, ollama: FakeOllama, name: str, **env: str) -> None:
        self.workdir = workdir
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OLLAMA_", "REDIS_"))},
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1",
            "DOCS_DIR": str(workdir / "docs"),
            "LANCEDB_URI": str(workdir / "index"),
            "OLLAMA_HOST": ollama.url,
            "OLLAMA_MODEL": MODEL,
            "SYNC_INTERVAL_MINUTES": "off",
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_API_URL": slack.api_url,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_MODE": "http",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "STREAM_UPDATE_SECONDS": "0.2",
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.sender = SlackSender(self.url + "/slack/events", SECRET, team_id=slack.team_id)
        self.proc: subprocess.Popen | None = None

    def start(self) -> BotProc:
        log = self.log_path.open("a")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot"], cwd=self.workdir, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, timeout: float = 120) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                with urlopen(self.url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (URLError, ConnectionError, TimeoutError, OSError):
                pass
            assert time.monotonic() < deadline, f"{self.name} did not become healthy:\n{self.log()}"
            time.sleep(0.3)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def answers(slack: FakeSlack, channel: str, ts: str) -> list:
    """Final answers in the thread of `ts`: messages with the feedback buttons."""
    return [m for m in slack.thread(channel, ts) if any(b.get("block_id") == "feedback" for b in m.blocks)]


def test_a_question_whose_process_is_killed_mid_answer_is_answered_once_after_the_restart(tmp_path: Path):
    write_docs(tmp_path)
    lease = 3
    with (
        FakeOllama(models=[MODEL], reply=reply, mode="stall", fault_after=3, stall_seconds=120) as ollama,
        FakeSlack() as slack,
    ):
        first = BotProc(tmp_path, slack, ollama, "first", JOB_LEASE_SECONDS=str(lease)).start()
        second = BotProc(tmp_path, slack, ollama, "second", JOB_LEASE_SECONDS=str(lease))
        try:
            first.wait_healthy()
            ts = slack.add_message(GENERAL, "<@U0BOT> hotel limit per night?", user="U0ASKER")
            assert first.sender.mention(GENERAL, ts, "hotel limit per night?").status == 200
            # really mid-answer: the model has started writing and the answer is streaming into the thread
            try:
                slack.wait_for(lambda: slack.calls("chat.startStream"), timeout=60)
            except TimeoutError:
                raise AssertionError(first.log()[-5000:] + repr([c.args for c in slack.calls()])) from None
            first.kill9()
            assert not answers(slack, GENERAL, ts)
            ollama.script.mode = "ok"  # the model answers normally from now on

            second.start()
            try:
                answer = slack.wait_for(lambda: answers(slack, GENERAL, ts), timeout=120)[0]
            except TimeoutError:
                raise AssertionError(second.log()) from None
            time.sleep(2 * lease + 1)  # long enough for a second takeover, if the job had not been removed
            final = answers(slack, GENERAL, ts)
            assert len(final) == 1, [m.text for m in final]
            assert "180 EUR" in answer.text
            assert RESTART_NOTE in json.dumps(answer.blocks, ensure_ascii=False)  # under the answer, for all to see
            # the killed attempt's half-streamed message is gone: the thread shows only the answer
            assert [m.ts for m in slack.thread(GENERAL, ts) if m.bot_id] == [answer.ts]
            assert "taking over the question" in second.log()

            # a question answered normally carries no note and is not answered again
            ts2 = slack.add_message(GENERAL, "<@U0BOT> hotel limit per night elsewhere?", user="U0ASKER")
            assert second.sender.mention(GENERAL, ts2, "hotel limit per night elsewhere?").status == 200
            answer2 = slack.wait_for(lambda: answers(slack, GENERAL, ts2), timeout=60)[0]
            time.sleep(2 * lease + 1)
            assert len(answers(slack, GENERAL, ts2)) == 1 and RESTART_NOTE not in json.dumps(answer2.blocks)
        finally:
            first.stop()
            second.stop()
