"""A bounded worker pool: N threads fed by a queue with a maximum depth.

Bolt's listener pool must stay free to ack within Slack's 3 seconds, so slow
work (generation takes 2–60 s) runs here instead. The pool is sized to what the
backend can do in parallel (Ollama's OLLAMA_NUM_PARALLEL); the queue bounds the
wait, and `submit` says no at once when it is full so the caller can tell the
user the bot is busy rather than letting the request vanish.
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
class Accepted:
    starts_now: bool  # a worker is free
    position: int  # 1-based place in the line of jobs waiting for a worker (0 when starting now)


class WorkerPool:
    def __init__(self, name: str, threads: int, max_queue: int) -> None:
        self.name = name
        self.threads = threads
        self.max_queue = max_queue
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._running = 0
        self._closed = False
        self._workers = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(threads)]
        for worker in self._workers:
            worker.start()

    def submit(self, job: Job) -> Accepted | None:
        """Queue `job`; None when the pool is full or shut down (tell the user, never drop silently)."""
        with self._lock:
            if self._closed:
                return None
            busy = self._running + self._waiting
            if busy >= self.threads + self.max_queue:
                return None
            self._waiting += 1
        self._queue.put(job)
        return Accepted(starts_now=busy < self.threads, position=max(0, busy - self.threads + 1))

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._waiting

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                self._waiting -= 1
                self._running += 1
            try:
                job()
            except Exception:  # jobs report their own failures; this only keeps the worker alive
                log.exception("%s job failed", self.name)
            finally:
                with self._lock:
                    self._running -= 1

    def shutdown(self, *, wait: bool = True, timeout: float | None = None) -> None:
        with self._lock:
            self._closed = True
        for _ in self._workers:
            self._queue.put(None)
        if wait:
            for worker in self._workers:
                worker.join(timeout)
