"""Three bot replicas sharing a real Redis (REDIS_URL): questions, retries, syncs and kill -9.

A real `redis-server` (Debian's package; .ci/run installs it) on a free loopback port
with its files in a temporary folder, three `python -m bot` processes in HTTP mode
behind the fake Slack and the fake Ollama. Skipped, saying why, only when the
redis-server binary is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.jobqueue import RESTART_NOTE
from tests.fakes.fake_ollama import FakeOllama
from tests.fakes.fake_slack import FakeSlack
from tests.test_durable_questions import GENERAL, MODEL, BotProc, answers, free_port, reply, write_docs

pytestmark = pytest.mark.timeout(300)

ADMIN = "U0ADMIN"
LEASE = 3


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
    port = free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


def more_docs(root: Path, count: int) -> None:
    """Documents enough to make a sync last a few seconds (each chunk is embedded)."""
    folder = root / "docs" / "sops"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        body = " ".join(f"Step {j} of procedure {i}: check item {i * 100 + j} and record it." for j in range(60))
        (folder / f"procedure-{i}.md").write_text(f"# Procedure {i}\n\n{body}\n", encoding="utf-8")


def test_three_replicas_answer_once_sync_once_and_survive_kill_9(tmp_path: Path, redis_url: str):
    write_docs(tmp_path)
    env = {"REDIS_URL": redis_url, "JOB_LEASE_SECONDS": str(LEASE), "SYNC_LOCK_LEASE_SECONDS": str(LEASE),
           "ADMIN_USER_IDS": ADMIN, "WORKER_THREADS": "3"}
    with FakeOllama(models=[MODEL], reply=reply) as ollama, FakeSlack() as slack:
        # each replica's own SQLite files apart, as on separate hosts: only Redis is shared between them
        bots = [BotProc(tmp_path, slack, ollama, f"replica{i}", **env, DEDUP_DB=str(tmp_path / f"dedup{i}.db"),
                        JOBS_DB=str(tmp_path / f"jobs{i}.db")).start() for i in range(3)]
        try:
            for bot in bots:
                bot.wait_healthy(timeout=180)

            # 30 mentions, each delivered to one replica and retried by "Slack" on another
            asked = [slack.add_message(GENERAL, f"<@U0BOT> hotel limit per night? ({i})", user="U0ASKER")
                     for i in range(30)]

            def deliver(i: int) -> None:
                ts = asked[i]
                first, retry = bots[i % 3], bots[(i + 1) % 3]
                assert first.sender.mention(GENERAL, ts, f"hotel limit per night? ({i})",
                                            event_id=f"EvQ{i}").status == 200
                assert retry.sender.mention(GENERAL, ts, f"hotel limit per night? ({i})", event_id=f"EvQ{i}",
                                            retry_num=1).status == 200

            with ThreadPoolExecutor(6) as pool:
                list(pool.map(deliver, range(30)))
            for ts in asked:
                slack.wait_for(lambda ts=ts: answers(slack, GENERAL, ts), timeout=120)
            time.sleep(2 * LEASE + 1)  # room for any duplicate to show up
            assert all(len(answers(slack, GENERAL, ts)) == 1 for ts in asked)
            # the three replicas together kept within Slack's tier for starting and stopping streams
            over = [c.method for c in slack.calls() if c.status == 429]
            assert not [m for m in over if m in ("chat.startStream", "chat.stopStream")], over

            # two /rag-resync at once on two replicas: one sync runs, the other is told it is running
            more_docs(tmp_path, 40)
            with ThreadPoolExecutor(2) as pool:
                acks = list(pool.map(lambda b: b.sender.command("/rag-resync", user_id=ADMIN,
                                                                response_url=slack.response_url()), bots[:2]))
            assert all(a.status == 200 for a in acks)
            texts = lambda: [json.dumps(r.body) for r in slack.responses]  # noqa: E731
            slack.wait_for(lambda: any("Sync report" in t for t in texts()), timeout=120)
            time.sleep(1)
            said = texts() + [a.body.decode() for a in acks]
            assert sum("Sync report" in t for t in texts()) == 1, said
            assert any("already running" in t for t in said), said

            # kill -9 the replica that is answering: another one answers, once, within the lease
            ollama.script.mode, ollama.script.fault_after, ollama.script.stall_seconds = "stall", 3, 120
            ts = slack.add_message(GENERAL, "<@U0BOT> hotel limit in capitals?", user="U0ASKER")
            assert bots[1].sender.mention(GENERAL, ts, "hotel limit in capitals?").status == 200
            # mid-answer: its first words are in the thread (streamed, or posted when the shared stream budget
            # is spent by the 30 answers above)
            slack.wait_for(lambda: slack.thread(GENERAL, ts), timeout=60)
            bots[1].kill9()
            killed = time.monotonic()
            ollama.script.mode = "ok"
            answer = slack.wait_for(lambda: answers(slack, GENERAL, ts), timeout=60)[0]
            assert time.monotonic() - killed < LEASE + 30
            time.sleep(2 * LEASE + 1)
            assert len(answers(slack, GENERAL, ts)) == 1
            assert RESTART_NOTE in json.dumps(answer.blocks, ensure_ascii=False)

            # kill -9 the sync holder: the next sync is not blocked past the lease
            import redis

            r = redis.Redis.from_url(redis_url)
            more_docs(tmp_path, 80)
            before = len(slack.responses)
            assert bots[0].sender.command("/rag-resync", "full", user_id=ADMIN,
                                          response_url=slack.response_url()).status == 200
            deadline = time.monotonic() + 60
            while not r.exists("{ragbot}:sync-lock"):
                assert time.monotonic() < deadline, bots[0].log()[-3000:]
                time.sleep(0.05)
            bots[0].kill9()
            killed = time.monotonic()
            while True:
                ack = bots[2].sender.command("/rag-resync", user_id=ADMIN, response_url=slack.response_url())
                if "Sync started" in ack.body.decode():
                    break
                assert time.monotonic() - killed < LEASE + 5, ack.body.decode()  # blocked no longer than the lease
                time.sleep(0.5)
            slack.wait_for(lambda: any("Sync report" in json.dumps(x.body) for x in slack.responses[before:]),
                           timeout=120)
        finally:
            for bot in bots:
                bot.stop()
