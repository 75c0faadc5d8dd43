"""A poison question (answering it kills the process) is given up alone; the innocent one beside it is answered.

Two `python -m bot` replicas in HTTP mode share a real redis-server (with auth) and one index on this
host, behind the fake Slack and the fake Ollama. When the fake Ollama is asked the poison question it
kills, with SIGKILL as an OOM killer would, the process holding that question's job (the owner Redis
records); the test restarts every killed replica, as Kubernetes would. An innocent question is being
answered by the same process the first time. Before: every takeover ran both together, so the poison
took the innocent one down each time, on whichever replica, and both ended with "couldn't answer after
5 tries". Now the crash is counted per job in Redis, a question whose process died under it runs alone,
so the innocent one is answered and only the poison is given up.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import redis

from bot.durable.jobqueue import RESTART_NOTE
from tests.fakes.fake_ollama import FakeOllama
from tests.fakes.fake_slack import FakeSlack
from tests.servers import RedisServer
from tests.test_durable_questions import GENERAL, MODEL, BotProc, answers, write_docs

pytestmark = pytest.mark.timeout(480)

LEASE = 3
POISON = "hotel limit per night elsewhere, for booking code P-7?"  # about the documents: it reaches the model
INNOCENT = "hotel limit per night in capitals?"
# long enough, at the fake's pace, to be mid-answer when the poison arrives
ANSWER = "The limit is 180 EUR per night in capital cities and 130 EUR elsewhere, booked via the portal [1]. " * 3


def test_a_poison_question_is_given_up_alone_and_the_innocent_one_beside_it_is_answered(
        tmp_path: Path, redis_server: RedisServer):
    write_docs(tmp_path)
    store = redis.Redis.from_url(redis_server.url)
    bots: list[BotProc] = []
    poison_job: list[str] = []
    kills: list[int] = []

    def reply(body: dict) -> str:
        if POISON in body["messages"][-1]["content"] and poison_job:
            owner = (store.hget(f"{{ragbot}}:jobs:job:{poison_job[0]}", "owner") or b"").decode()
            pid = int(owner.split(":")[1]) if owner.count(":") >= 2 else 0
            if pid in {b.proc.pid for b in bots if b.proc is not None and b.proc.poll() is None}:
                kills.append(pid)
                os.kill(pid, signal.SIGKILL)  # what answering this question does to its process
        return ANSWER

    env = {"REDIS_URL": redis_server.url, "JOB_LEASE_SECONDS": str(LEASE), "WORKER_THREADS": "2",
           "READ_CONSISTENCY_SECONDS": "1"}
    with FakeOllama(models=[MODEL], reply=reply, token_delay=0.15) as ollama, FakeSlack() as slack:
        bots.extend(BotProc(tmp_path, slack, ollama, name, **env).start() for name in ("first", "second"))
        try:
            for bot in bots:
                bot.wait_healthy(timeout=240)
            first = bots[0]
            innocent_ts = slack.add_message(GENERAL, f"<@U0BOT> {INNOCENT}", user="U0ASKER")
            assert first.sender.mention(GENERAL, innocent_ts, INNOCENT).status == 200
            slack.wait_for(lambda: slack.calls("chat.startStream") or slack.calls("chat.postMessage"), timeout=60)
            poison_ts = slack.add_message(GENERAL, f"<@U0BOT> {POISON}", user="U0ASKER")
            poison_job.append(f"{GENERAL}:{poison_ts}")
            assert first.sender.mention(GENERAL, poison_ts, POISON).status == 200  # the same process, both running

            def settled() -> bool:
                for bot in bots:  # a killed replica comes back, as a Deployment's pod would
                    if bot.proc is not None and bot.proc.poll() is not None:
                        bot.start()
                given_up = [m for m in slack.thread(GENERAL, poison_ts) if "couldn't answer" in m.text]
                return bool(answers(slack, GENERAL, innocent_ts) and given_up)

            deadline = time.monotonic() + 400
            while not settled():
                assert time.monotonic() < deadline, (len(kills), [b.log()[-3000:] for b in bots])
                time.sleep(0.5)
            time.sleep(2 * LEASE + 1)  # room for anything more to show up

            (innocent,) = answers(slack, GENERAL, innocent_ts)
            assert "180 EUR" in innocent.text and RESTART_NOTE in json.dumps(innocent.blocks, ensure_ascii=False)
            assert "couldn't answer" not in json.dumps([m.text for m in slack.thread(GENERAL, innocent_ts)])
            assert not answers(slack, GENERAL, poison_ts)
            (given_up,) = [m for m in slack.thread(GENERAL, poison_ts) if "couldn't answer" in m.text]
            assert "after 3 tries" in given_up.text, given_up.text  # once beside the innocent one, twice alone
            assert len(kills) == 3, kills
            assert not store.exists(f"{{ragbot}}:jobs:job:{poison_job[0]}")
        finally:
            for bot in bots:
                bot.stop()
