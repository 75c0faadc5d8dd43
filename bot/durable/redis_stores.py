"""What the bot replicas share on Redis when REDIS_URL is set: de-duplication and Slack's rate budget.

- `RedisDedupStore`: the same interface as `bot.durable.dedup.DedupStore` (`claim`, `purge`,
  `close`), each key claimed with SET NX and an expiry, all keys of one claim in one
  Lua script (all or nothing), so a retry or a twin event reaching another replica
  is dropped there too. Redis not answering is `DedupUnavailable`: the middleware
  decides (bot/durable/dedup.py: a Slack retry is dropped, a first delivery answered).
- `RedisPacer`: a `bot.delivery.pacing.Pacer` whose per-minute count is one fixed-window
  counter per method per minute in Redis (INCR + EXPIRE), so N replicas together
  stay within the tier Slack grants the app per workspace. `Retry-After` stays per
  replica (each one hears its own 429s). If Redis fails, each replica falls back to
  counting its own calls, which is what a single replica does anyway.

Jobs are in `bot.durable.jobqueue_redis`, the sync lock in `rag.ops.locks_redis`; every client comes from
`rag.ops.redis_client.connect` (one time-out policy: 200 ms, no retries, a breaker).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from bot.delivery.pacing import OPTIONAL_SHARE, Pacer
from bot.durable.dedup import DedupUnavailable
from rag.ops.redis_client import connect

__all__ = ["PREFIX", "RedisDedupStore", "RedisPacer", "connect"]

log = logging.getLogger(__name__)

PREFIX = "{ragbot}"

# KEYS: the claim keys; ARGV: ttl ms. 1 when none existed (all are set now), else 0 and nothing is set.
_CLAIM = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then return 0 end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, 1, 'PX', tonumber(ARGV[1]))
end
return 1
"""


class RedisDedupStore:
    def __init__(self, client: redis.Redis, *, ttl_seconds: float, prefix: str = PREFIX) -> None:
        self.redis = client
        self.ttl_seconds = ttl_seconds
        self.prefix = f"{prefix}:dedup:"
        self._claim = client.register_script(_CLAIM)

    def claim(self, *keys: str) -> bool:
        """True when none of `keys` was claimed within the TTL; then all of them are claimed now."""
        keys = tuple(dict.fromkeys(k for k in keys if k))
        if not keys:
            return True
        try:
            return bool(self._claim(keys=[self.prefix + k for k in keys], args=[int(self.ttl_seconds * 1000)]))
        except redis.RedisError as err:
            raise DedupUnavailable(f"Redis: {type(err).__name__}") from None

    def purge(self) -> int:
        return 0  # keys expire by themselves

    def close(self) -> None:
        self.redis.close()


class RedisPacer(Pacer):
    """Calls per method per minute counted across every replica (fixed one-minute windows)."""

    def __init__(self, client: redis.Redis, *, prefix: str = PREFIX,
                 wall_clock: Callable[[], float] = time.time, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.redis = client
        self.prefix = f"{prefix}:rate:"
        self._wall = wall_clock

    def _key(self, method: str) -> str:
        return f"{self.prefix}{method}:{int(self._wall() // 60)}"

    def allows(self, method: str, *, optional: bool = True, extra: int = 0) -> bool:
        limit = self.limits.get(method)
        if limit is None or self.wait_needed(method) > 0:
            return super().allows(method, optional=optional, extra=extra)
        try:
            used = int(self.redis.get(self._key(method)) or 0)
        except redis.RedisError:
            return super().allows(method, optional=optional, extra=extra)
        share = limit * OPTIONAL_SHARE if optional else limit
        return used + extra < share

    def spent(self, method: str) -> None:
        super().spent(method)
        if method not in self.limits:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            key = self._key(method)
            pipe.incr(key)
            pipe.expire(key, 120)
            pipe.execute()
        except redis.RedisError as err:
            log.debug("shared rate budget unavailable: %s", err)
