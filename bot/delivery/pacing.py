"""Slack's per-method rate-limit tiers, kept on our side so the bot slows down before Slack says no.

Slack grants each Web API method a tier of calls per minute, per workspace per app
(docs.slack.dev/apis/web-api/rate-limits: Tier 2 20+/min, Tier 3 50+/min, Tier 4
100+/min); the streaming methods' reference pages give chat.startStream and
chat.stopStream Tier 2, chat.appendStream Tier 4, and chat.update is Tier 3. Past the
limit Slack answers HTTP 429 with `Retry-After`. A `Pacer` counts our calls in a
sliding minute and remembers each method's `Retry-After`, so optional calls
(progress edits, stream appends) are skipped or batched instead of hitting the limit,
and calls the answer needs keep their share.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
METHOD_TIER = {
    "chat.startStream": 2,
    "chat.stopStream": 2,
    "chat.appendStream": 4,
    "chat.update": 3,
    "chat.delete": 3,
}
# Share of a method's budget that optional calls may use; the rest is kept for final deliveries.
OPTIONAL_SHARE = 0.7


class Pacer:
    """Counts calls per method in a sliding window and honours `Retry-After`; thread-safe."""

    def __init__(
        self,
        *,
        window: float = 60.0,
        limits: dict[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.limits = {m: TIER_PER_MINUTE[t] for m, t in METHOD_TIER.items()} | (limits or {})
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def _recent(self, method: str, now: float) -> deque[float]:
        calls = self._calls.setdefault(method, deque())
        while calls and now - calls[0] >= self.window:
            calls.popleft()
        return calls

    def wait_needed(self, method: str) -> float:
        """Seconds until Slack's last `Retry-After` for `method` has passed (0 when none)."""
        with self._lock:
            return max(0.0, self._blocked_until.get(method, 0.0) - self._clock())

    def allows(self, method: str, *, optional: bool = True, extra: int = 0) -> bool:
        """Whether a call fits now: not inside a Retry-After, and within its share of the budget.

        `extra` reserves room for that many further calls of the same method.
        """
        with self._lock:
            now = self._clock()
            if self._blocked_until.get(method, 0.0) > now:
                return False
            limit = self.limits.get(method)
            if limit is None:
                return True
            share = limit * OPTIONAL_SHARE if optional else limit
            return len(self._recent(method, now)) + extra < share

    def spent(self, method: str) -> None:
        with self._lock:
            self._recent(method, self._clock()).append(self._clock())

    def retry_after(self, method: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + max(seconds, 0.0)
            self._blocked_until[method] = max(self._blocked_until.get(method, 0.0), until)


_pacers: weakref.WeakKeyDictionary[object, Pacer] = weakref.WeakKeyDictionary()
_pacers_lock = threading.Lock()


def pacer_for(client: object) -> Pacer:
    """The pacer shared by every reply made through `client` (one app in one workspace)."""
    with _pacers_lock:
        pacer = _pacers.get(client)
        if pacer is None:
            pacer = _pacers[client] = Pacer()
        return pacer


def use_pacer(client: object, pacer: Pacer) -> None:
    """Make `pacer` the one `pacer_for(client)` returns (bot/durable/redis_stores.py: a budget shared by replicas)."""
    with _pacers_lock:
        _pacers[client] = pacer
