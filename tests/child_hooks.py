"""`ragbot` or the bot in a child process, with the hooks the crash and start-up tests need.

Product code reads no test switch: a test runs `python -m tests.child_hooks ragbot ARGS…` (or `bot`) and sets
- RAGBOT_TEST_PAUSE_AT / RAGBOT_TEST_PAUSE_SECONDS: pause a sync at that named point (rag/ingest/sync/apply.py
  checkpoint), printing "PAUSED name" to stderr, so the test can kill -9 it exactly there;
- RAGBOT_TEST_WARMUP_DELAY_SECONDS: the embedding model takes this much longer to load (acks must not wait).
In-process tests get the same pause through tests/conftest.py (`install_pause`).
"""

from __future__ import annotations

import os
import runpy
import sys
import time
from collections.abc import Callable
from typing import Any


def pause_from_env(name: str) -> None:
    if os.environ.get("RAGBOT_TEST_PAUSE_AT") == name:
        print(f"PAUSED {name}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("RAGBOT_TEST_PAUSE_SECONDS", "30")))


def install_pause() -> None:
    from rag.ingest.sync import apply

    if pause_from_env not in apply.CHECKPOINT_OBSERVERS:
        apply.CHECKPOINT_OBSERVERS.append(pause_from_env)


def slowed(load: Callable[[Any], None], seconds: float) -> Callable[[Any], None]:
    """`WarmUp.run` made slow, for real: the warm-up thread sleeps before loading the model."""

    def run(self: Any) -> None:
        time.sleep(seconds)
        load(self)

    return run


def slow_warm_up(seconds: float) -> None:
    from bot.http.warmup import WarmUp

    WarmUp.run = slowed(WarmUp.run, seconds)  # type: ignore[method-assign]


if __name__ == "__main__":
    target = sys.argv.pop(1)
    install_pause()
    if delay := float(os.environ.get("RAGBOT_TEST_WARMUP_DELAY_SECONDS", "0")):
        slow_warm_up(delay)
    if target == "ragbot":
        from ragbot.cli import main

        main()
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
