"""Three bot replicas as on three hosts: Redis (REDIS_URL) and the index on S3 are all they share.

A real `redis-server` (Debian's package; .ci/run installs it) and moto's S3 server on loopback
(tests/servers.py), three `python -m bot` processes in HTTP mode behind the fake Slack and the
fake Ollama, each with its own STATE_DIR (sync manifest, SQLite files). Questions, retries, syncs,
answers marked after a document changes, and kill -9. Skipped, saying why, only when the
redis-server binary is absent.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.durable.jobqueue import RESTART_NOTE
from tests.fakes.fake_ollama import FakeOllama
from tests.fakes.fake_slack import FakeSlack
from tests.test_durable_questions import GENERAL, MODEL, BotProc, answers, reply, write_docs

pytestmark = pytest.mark.timeout(300)

ADMIN = "U0ADMIN"
LEASE = 3
READ_CONSISTENCY = 1  # seconds: a replica sees an index version another one wrote within this
LEAVE = ("# Leave policy\n\n## Carry-over\n\nUp to 5 unused days of annual leave carry over to the next year; "
         "they must be taken by 31 March.\n")
LEAVE_NOTICE = re.compile(r"\*Leave policy\* changed on \d{4}-\d\d-\d\d, after this answer")


def more_docs(root: Path, count: int) -> None:
    """Documents enough to make a sync last a few seconds (each chunk is embedded)."""
    folder = root / "docs" / "sops"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        body = " ".join(f"Step {j} of procedure {i}: check item {i * 100 + j} and record it." for j in range(60))
        (folder / f"procedure-{i}.md").write_text(f"# Procedure {i}\n\n{body}\n", encoding="utf-8")


def edits(slack: FakeSlack, ts: str) -> int:
    (msg,) = [m for m in slack.bot_messages(GENERAL) if m.ts == ts]
    return msg.edits


def test_three_replicas_answer_once_sync_once_and_survive_kill_9(tmp_path: Path, redis_url: str, s3_endpoint: str):
    write_docs(tmp_path)
    env = {"REDIS_URL": redis_url, "JOB_LEASE_SECONDS": str(LEASE), "SYNC_LOCK_LEASE_SECONDS": str(LEASE),
           "ADMIN_USER_IDS": ADMIN, "WORKER_THREADS": "3", "LANCEDB_URI": "s3://ragbot/index",
           "READ_CONSISTENCY_SECONDS": str(READ_CONSISTENCY), "ANSWER_CHECK_SECONDS": "1"}
    with FakeOllama(models=[MODEL], reply=reply) as ollama, FakeSlack() as slack:
        # each replica's own state folder (sync manifest, SQLite files), as on separate hosts: only Redis and
        # the index on S3 (AWS_* from the s3_endpoint fixture) are shared between them
        bots = [BotProc(tmp_path, slack, ollama, f"replica{i}", **env, STATE_DIR=str(tmp_path / f"state{i}")).start()
                for i in range(3)]
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
            more_docs(tmp_path, 20)
            leave = tmp_path / "docs" / "policies" / "leave-policy.md"
            leave.write_text(LEAVE, encoding="utf-8")
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

            # every replica answers from the new version once READ_CONSISTENCY_SECONDS have passed
            time.sleep(READ_CONSISTENCY)
            leave_q = "how many days of annual leave carry over?"
            asked_leave = [slack.add_message(GENERAL, f"<@U0BOT> {leave_q}", user="U0ASKER") for _ in bots]
            for bot, ts in zip(bots, asked_leave, strict=True):
                assert bot.sender.mention(GENERAL, ts, leave_q).status == 200
            leave_answers = [slack.wait_for(lambda ts=ts: answers(slack, GENERAL, ts), timeout=60)[0]
                             for ts in asked_leave]
            assert all("Leave policy" in a.text + json.dumps(a.blocks) for a in leave_answers), leave_answers

            # the leave policy changes, one replica syncs: each answer citing it, whichever replica posted it,
            # is edited once with a notice, though every replica looks; the travel answers are left alone
            travel_answers = [answers(slack, GENERAL, ts)[0] for ts in asked[:6]]
            travel_edits = [edits(slack, a.ts) for a in travel_answers]
            leave_edits = [edits(slack, a.ts) for a in leave_answers]
            leave.write_text(LEAVE.replace("Up to 5", "Up to 3"), encoding="utf-8")
            before = len(slack.responses)
            assert bots[2].sender.command("/rag-resync", user_id=ADMIN,
                                          response_url=slack.response_url()).status == 200
            slack.wait_for(lambda: any("Sync report" in json.dumps(x.body) for x in slack.responses[before:]),
                           timeout=120)
            for a in leave_answers:
                slack.wait_for(lambda a=a: LEAVE_NOTICE.search(json.dumps(
                    [m.blocks for m in slack.bot_messages(GENERAL) if m.ts == a.ts], ensure_ascii=False)),
                    timeout=30)
            time.sleep(READ_CONSISTENCY + 3)  # every replica's check has seen the new version by now
            assert [edits(slack, a.ts) - n for a, n in zip(leave_answers, leave_edits, strict=True)] == [1, 1, 1]
            assert [edits(slack, a.ts) for a in travel_answers] == travel_edits

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
            more_docs(tmp_path, 40)
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
