"""Crashes are counted per job, in the store, whichever process holds it; a suspect job runs alone in its pool.

Both queue stores (SQLite on a host, a real redis-server with auth for replicas) under the same rules, with
"processes" as queue objects of their own owner that stop renewing when they die. The end-to-end case with
real processes killed by the poison is tests/test_poison_question.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.durable.jobqueue import MAX_ALONE_CRASHES, JobQueue
from bot.durable.jobqueue_redis import RedisJobQueue
from bot.durable.jobqueue_sqlite import SqliteJobQueue
from bot.durable.records import RecordSigner
from bot.workers import WorkerPool

LEASE = 0.3


def event(channel: str, ts: str) -> dict:
    return {"body": {"type": "event_callback", "event": {"type": "app_mention", "channel": channel, "ts": ts,
                                                         "user": "U1", "text": "q"}}}


@pytest.fixture(params=["sqlite", "redis"])
def process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], JobQueue]]:
    """A new "process" (its own owner) on the shared store each call."""
    made: list[JobQueue] = []

    def make() -> JobQueue:
        if request.param == "sqlite":
            queue: JobQueue = SqliteJobQueue(tmp_path / "q.sqlite3", lease_seconds=LEASE)
        else:
            url = request.getfixturevalue("redis_url")
            queue = RedisJobQueue(redis.Redis.from_url(url), lease_seconds=LEASE, max_age_seconds=3600,
                                  signer=RecordSigner("job-attempts-test-secret-0123456789abcdef"))
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.close()


def take(queue: JobQueue) -> dict:
    time.sleep(LEASE + 0.2)  # the dead holder's lease runs out
    return {job.id: job for job in queue.take_expired(10)}


def test_only_the_job_that_keeps_killing_its_process_alone_is_given_up(process):
    first = process()
    assert first.put("C1:1.1", event("C1", "1.1")) and first.put("C1:1.2", event("C1", "1.2"))
    first.start("C1:1.1", alone=False)  # both being answered side by side when the process dies
    first.start("C1:1.2", alone=False)

    second = process()
    jobs = take(second)
    assert {i: (j.attempts, j.crashes, j.alone_crashes, j.suspect) for i, j in jobs.items()} == {
        "C1:1.1": (2, 1, 0, True), "C1:1.2": (2, 1, 0, True)}  # each is a suspect, neither is condemned
    second.start("C1:1.2", alone=True)  # the poison, run alone: the process dies again

    third = process()
    jobs = take(third)
    poison, innocent = jobs["C1:1.2"], jobs["C1:1.1"]
    assert (poison.crashes, poison.alone_crashes, poison.exhausted) == (2, 1, False)
    assert (innocent.crashes, innocent.alone_crashes, innocent.exhausted) == (1, 0, False)  # it was only waiting
    third.start("C1:1.1", alone=True)
    third.done("C1:1.1")  # the innocent one is answered
    third.start("C1:1.2", alone=True)  # and the poison kills its third process

    fourth = process()
    (poison,) = take(fourth).values()
    assert poison.alone_crashes == MAX_ALONE_CRASHES and poison.exhausted and poison.attempts == 4


def test_a_job_given_back_or_never_started_counts_no_crash(process):
    first = process()
    first.put("C1:2.1", event("C1", "2.1"))
    first.put("C1:2.2", event("C1", "2.2"))
    first.start("C1:2.1", alone=False)
    first.release("C1:2.1", 0)  # Slack was down: given back, not a crash
    (a, b) = sorted(take(process()).values(), key=lambda j: j.id)
    assert (a.crashes, b.crashes, a.suspect, b.suspect) == (0, 0, False, False)


def test_a_job_run_alone_waits_for_the_running_ones_and_nothing_starts_beside_it():
    pool = WorkerPool("test", threads=3, max_queue=10)
    log: list[str] = []
    lock = threading.Lock()

    def job(name: str, seconds: float) -> Callable[[], None]:
        def run() -> None:
            with lock:
                log.append(f"+{name}")
            time.sleep(seconds)
            with lock:
                log.append(f"-{name}")
        return run

    pool.submit(job("a", 0.4))
    time.sleep(0.05)
    pool.submit(job("poison", 0.3), alone=True)
    time.sleep(0.05)
    pool.submit(job("b", 0.1))
    deadline = time.monotonic() + 5
    while len(log) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    pool.shutdown()
    assert log == ["+a", "-a", "+poison", "-poison", "+b", "-b"]
