"""The bounded worker pool: runs jobs in parallel up to its size, says "full" instead of queueing forever."""

from __future__ import annotations

import threading
import time

from bot.workers import WorkerPool


def test_pool_runs_up_to_its_size_queues_the_rest_and_refuses_beyond():
    gate = threading.Event()
    started: list[int] = []
    pool = WorkerPool("t", threads=2, max_queue=1)

    def job(i: int) -> None:
        started.append(i)
        gate.wait(5)

    try:
        a = pool.submit(lambda: job(1))
        b = pool.submit(lambda: job(2))
        c = pool.submit(lambda: job(3))
        d = pool.submit(lambda: job(4))
        assert a and a.starts_now and b and b.starts_now
        assert c and not c.starts_now and c.position == 1
        assert d is None  # full: the caller must tell the user
        deadline = time.monotonic() + 5
        while len(started) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(started) == [1, 2]
        gate.set()
        deadline = time.monotonic() + 5
        while len(started) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(started) == [1, 2, 3]
    finally:
        gate.set()
        pool.shutdown(timeout=5)


def test_a_failing_job_does_not_kill_the_worker():
    pool = WorkerPool("t", threads=1, max_queue=5)
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    try:
        pool.submit(boom)
        pool.submit(done.set)
        assert done.wait(5)
    finally:
        pool.shutdown(timeout=5)
    assert pool.submit(done.set) is None  # shut down: refuses, never silently drops
