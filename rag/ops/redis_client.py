"""The one way every part of ragbot talks to Redis (REDIS_URL), with one time-out policy.

Redis is shared with other replicas and may freeze or be cut off (a paused VM, a
partition, a full disk under `appendfsync`). The bot acks Slack within 3 seconds, and
some Redis calls (de-duplication, storing the question) sit on that path, so:

- every command, connect included, gives up after `TIMEOUT_S` (200 ms: a healthy Redis
  answers in about a millisecond), and is never retried by the client;
- once a call has failed that way, every call in this process fails at once for
  `COOLDOWN_S` (a circuit breaker shared by all clients of one URL), so a request that
  needs Redis twice waits for it once, and background loops do not pile up waits.

Callers decide what a failure means (drop a Slack retry, answer without a durable
record, say why a command cannot run); this module only makes failures fast and clear.
`redis://`, `rediss://` (TLS; `?ssl_ca_certs=/path/ca.crt` for a private CA) and
`unix://` URLs are accepted, with `user:password@` for an ACL user.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlsplit

TIMEOUT_S = 0.2
COOLDOWN_S = 2.0
SCHEMES = ("redis://", "rediss://", "unix://")

_breakers: dict[str, _Breaker] = {}
_breakers_lock = threading.Lock()


class _Breaker:
    """Open (every call fails at once) for COOLDOWN_S after a call timed out or lost its connection."""

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = cooldown_s
        self.open_until = 0.0

    def check(self) -> None:
        if time.monotonic() < self.open_until:
            import redis

            raise redis.ConnectionError(f"Redis did not answer within {TIMEOUT_S * 1000:.0f} ms a moment ago; "
                                        f"not waiting for it again for {self.cooldown_s:g} s")

    def trip(self) -> None:
        self.open_until = time.monotonic() + self.cooldown_s


def _guarded(base: type, breaker: _Breaker) -> type:
    """`base` (the URL's connection class: plain, TLS or unix socket) with the breaker around its I/O."""
    import redis

    failures = (redis.ConnectionError, redis.TimeoutError, OSError)

    class Guarded(base):  # type: ignore[misc, valid-type]
        def connect(self) -> None:
            breaker.check()
            try:
                super().connect()
            except failures:
                breaker.trip()
                raise

        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            breaker.check()
            try:
                super().send_packed_command(command, check_health)
            except failures:
                breaker.trip()
                raise

        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().read_response(*args, **kwargs)
            except failures:
                breaker.trip()
                raise

    Guarded.__name__ = f"Guarded{base.__name__}"
    return Guarded


def connect(url: str, *, timeout_s: float = TIMEOUT_S) -> Any:
    """A redis.Redis for REDIS_URL under the policy above (no network until the first command)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                  retry=Retry(NoBackoff(), 0), retry_on_error=[], health_check_interval=0)
    with _breakers_lock:
        breaker = _breakers.setdefault(url, _Breaker(COOLDOWN_S))
    pool = client.connection_pool
    pool.connection_class = _guarded(pool.connection_class, breaker)
    return client


def check_redis_url(value: str | None) -> str | None:
    """REDIS_URL's rule, shared by the core's and the bot's settings: blank is unset, else a Redis URL."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not value.startswith(SCHEMES):
        raise ValueError("must be a Redis URL such as rediss://ragbot:PASSWORD@redis:6379/0 (or redis://, unix://)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError("is not a valid Redis URL (check the host, port and any %-escapes in the password)") \
            from None
    return value


def secrets_of(url: str | None) -> list[str]:
    """The password in REDIS_URL as written and decoded, to be registered as secrets (never logged or posted)."""
    if not url:
        return []
    try:
        from urllib.parse import unquote

        password = urlsplit(url).password
    except ValueError:
        return []
    return list(dict.fromkeys([password, unquote(password)])) if password else []


def describe(url: str) -> str:
    """REDIS_URL for a log line: scheme, user, host and port; never the password."""
    try:
        parts = urlsplit(url)
        user = f"{parts.username}@" if parts.username else ""
        where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"
        return f"{parts.scheme}://{user}{where}"
    except ValueError:
        return "REDIS_URL"
