"""Loading the embedding model in the background, after the bot is already taking requests.

Loading the model takes seconds (about 10 s on a small machine); Slack gives up on
an ack after 3 s and retries. So nothing on the ack path waits for it: the server
listens (or the websocket connects) first, then `WarmUp.start()` loads the model
and opens the index in a thread. Answers wait for it (`wait()`); `/healthz` says
"loading" until it is done.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)


class Warmable(Protocol):
    def warm_up(self) -> None: ...


class WarmUp:
    def __init__(self, rag: Warmable) -> None:
        self.rag = rag
        self._done = threading.Event()
        self._started = False
        self._lock = threading.Lock()
        self.error: str | None = None
        self.seconds: float | None = None

    def start(self) -> None:
        """Begin loading in a daemon thread (once)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self.run, name="warm-up", daemon=True).start()

    def run(self) -> None:
        started = time.monotonic()
        try:
            self.rag.warm_up()
        except Exception as err:  # answers will try again and report the reason to the asker
            self.error = f"{type(err).__name__}: {err}"[:300]
            log.error("loading the embedding model failed: %s", self.error)
        else:
            self.seconds = time.monotonic() - started
            log.info("embedding model loaded and index opened in %.1f s", self.seconds)
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the warm-up finished (loaded or failed); False on timeout or if it never started."""
        if not self._started:
            return True  # nothing to wait for: the model loads on first use
        return self._done.wait(timeout)

    @property
    def state(self) -> str:
        """"loading", "ready", "failed" or "not started"."""
        if not self._started:
            return "not started"
        if not self._done.is_set():
            return "loading"
        return "failed" if self.error else "ready"
