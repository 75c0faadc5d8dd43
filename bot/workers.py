"""A bounded worker pool: N threads fed by a queue with a maximum depth.

Bolt's listener pool must stay free to ack within Slack's 3 seconds, so slow
work (generation takes 2–60 s) runs here instead. The pool is sized to what the
backend can do in parallel (Ollama's OLLAMA_NUM_PARALLEL); the queue bounds the
wait, and `submit` says no at once when it is full so the caller can tell the
user the bot is busy rather than letting the request vanish.

A job submitted `alone` (a question whose process died while answering it, so
perhaps the one that killed it: bot/durable/jobqueue.py) starts only once every running
job has finished, and nothing else starts while it runs; if it kills the process
again, nothing innocent dies with it, and the blame is its own.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Job = Callable[[], None]


@dataclass(frozen=True)
class _Task:
    run: Job
    alone: bool


@dataclass(frozen=True)
class Accepted:
    starts_now: bool  # a worker is free
    position: int  # 1-based place in the line of jobs waiting for a worker (0 when starting now)


class WorkerPool:
    def __init__(self, name: str, threads: int, max_queue: int) -> None:
        self.name = name
        self.threads = threads
        self.max_queue = max_queue
        self._queue: queue.Queue[_Task | None] = queue.Queue()
        self._lock = threading.Lock()
        self._turns = threading.Condition(self._lock)  # who may start: no job beside one running alone
        self._waiting = 0
        self._running = 0
        self._alone_waiting = 0
        self._alone_running = False
        self._closed = False
        self._workers = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(threads)]
        for worker in self._workers:
            worker.start()

    def submit(self, job: Job, *, alone: bool = False) -> Accepted | None:
        """Queue `job`; None when the pool is full or shut down (tell the user, never drop silently).

        `alone`: run it with no other job of this pool running beside it."""
        with self._lock:
            if self._closed:
                return None
            busy = self._running + self._waiting
            if busy >= self.threads + self.max_queue:
                return None
            self._waiting += 1
        self._queue.put(_Task(job, alone))
        return Accepted(starts_now=busy < self.threads, position=max(0, busy - self.threads + 1))

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._waiting

    def _work(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            with self._turns:
                if task.alone:
                    self._alone_waiting += 1
                    self._turns.wait_for(lambda: self._running == 0 and not self._alone_running)
                    self._alone_waiting -= 1
                    self._alone_running = True
                else:
                    self._turns.wait_for(lambda: not self._alone_running and not self._alone_waiting)
                self._waiting -= 1
                self._running += 1
            try:
                task.run()
            except Exception:  # jobs report their own failures; this only keeps the worker alive
                log.exception("%s job failed", self.name)
            finally:
                with self._turns:
                    self._running -= 1
                    if task.alone:
                        self._alone_running = False
                    self._turns.notify_all()

    def shutdown(self, *, wait: bool = True, timeout: float | None = None) -> None:
        with self._lock:
            self._closed = True
        for _ in self._workers:
            self._queue.put(None)
        if wait:
            for worker in self._workers:
                worker.join(timeout)
