"""A sync's embedding at a lower CPU priority, so that questions answered meanwhile keep their speed.

On 2 cores a sync's torch batches take both cores, and a question's embedding and searches wait
their turn: retrieval p95 at 100k chunks went from ~38 ms idle to ~104 ms under a concurrent ingest
(bench/bench_retrieval.py, which measures this side by side). Linux keeps a nice value per thread, and
a thread inherits it from the thread that starts it, so the batches (and the model load) run on one
worker thread that lowers its own priority first: torch's OpenMP workers and onnxruntime's pool are
started from it and inherit it. The sync still has the whole machine when nothing else runs; it yields
only when a question needs the CPU. Elsewhere (macOS) nice applies to the whole process, which must
keep its priority, so there the worker runs at normal priority.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

NICENESS = 10  # CFS weight 110 vs 1024: a question gets ~90% of a contended core (nice 19: ~98%, but starves)
_worker: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _lower_priority() -> None:
    if sys.platform != "linux":
        return
    try:
        os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS)  # this thread only
    except OSError as err:  # a sandbox that forbids it: the sync still runs, only at normal priority
        log.info("cannot lower the embedding thread's priority: %s", err)


def worker() -> ThreadPoolExecutor:
    """The one low-priority thread that runs batch embedding (started on first use, kept)."""
    global _worker
    with _lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-low-priority",
                                         initializer=_lower_priority)
        return _worker


class LowPriorityEmbedder:
    """An embedder whose model loads and whose `encode` runs on the low-priority worker; all else as is."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._embedder = worker().submit(load).result()

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        return worker().submit(self._embedder.encode, *args, **kwargs).result()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder, name)
