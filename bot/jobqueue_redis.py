"""The job queue on Redis (REDIS_URL), for bot replicas on several hosts.

The well-known "visibility timeout" pattern of Celery/Kombu's Redis transport: each
job is a hash (`…:job:<id>`: record, owner, attempts) and a sorted set
(`…:leases`) holds every job scored by the time its lease runs out. Each step is one
Lua script, so it is atomic across replicas, and the scripts read Redis's own clock
(`TIME`), so hosts whose clocks differ still agree on when a lease ran out.

Why not Streams with consumer groups: a stream hands a new entry to whichever
consumer reads first, while here the replica that acked a question answers it (it
already holds it, and it is the one that tells the asker "busy" or its place in the
queue); a lease per job that any replica may take once it runs out is what remains.
All keys share the `{ragbot}` hash tag, so they live in one slot on Redis Cluster too.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import redis

from bot.jobqueue import Job, new_owner

PREFIX = "{ragbot}:jobs"

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "

# KEYS: leases, job key; ARGV: id, record, owner, lease ms
_PUT = _NOW + """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[2], 'record', ARGV[2], 'owner', ARGV[3], 'attempts', 1)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
return 1
"""
# KEYS: leases; ARGV: prefix, owner, lease ms, id…  → ids no longer held
_RENEW = _NOW + """
local lost = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', ARGV[1] .. ':job:' .. id, 'owner') == ARGV[2] then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[3]), id)
  else
    table.insert(lost, id)
  end
end
return lost
"""
# KEYS: leases; ARGV: prefix, owner, lease ms, limit → {id, record, attempts, …}
_TAKE = _NOW + """
local out = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  local key = ARGV[1] .. ':job:' .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'owner', ARGV[2])
    local attempts = redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), id)
    table.insert(out, id)
    table.insert(out, redis.call('HGET', key, 'record'))
    table.insert(out, attempts)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""
# KEYS: leases, job key; ARGV: id, owner, delay ms
_RELEASE = _NOW + """
if redis.call('HGET', KEYS[2], 'owner') == ARGV[2] then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
end
return 1
"""


class RedisJobQueue:
    def __init__(self, client: redis.Redis, *, lease_seconds: float, owner: str | None = None,
                 prefix: str = PREFIX) -> None:
        self.redis = client
        self.lease_seconds = lease_seconds
        self.owner = owner or new_owner()
        self.prefix = prefix
        self._leases = f"{prefix}:leases"
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._put = client.register_script(_PUT)
        self._renew = client.register_script(_RENEW)
        self._take = client.register_script(_TAKE)
        self._release = client.register_script(_RELEASE)

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    @property
    def _lease_ms(self) -> int:
        return int(self.lease_seconds * 1000)

    def put(self, job_id: str, record: dict[str, Any]) -> bool:
        added = self._put(keys=[self._leases, self._key(job_id)],
                          args=[job_id, json.dumps(record), self.owner, self._lease_ms])
        if added:
            with self._lock:
                self._held.add(job_id)
        return bool(added)

    def done(self, job_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self._key(job_id))
        pipe.zrem(self._leases, job_id)
        pipe.execute()
        with self._lock:
            self._held.discard(job_id)

    def release(self, job_id: str, delay: float) -> None:
        self._release(keys=[self._leases, self._key(job_id)], args=[job_id, self.owner, int(delay * 1000)])
        with self._lock:
            self._held.discard(job_id)

    def renew(self) -> None:
        with self._lock:
            held = list(self._held)
        if not held:
            return
        lost = self._renew(keys=[self._leases], args=[self.prefix, self.owner, self._lease_ms, *held])
        with self._lock:
            self._held.difference_update(_text(x) for x in lost)

    def take_expired(self, limit: int) -> list[Job]:
        if limit <= 0:
            return []
        flat = self._take(keys=[self._leases], args=[self.prefix, self.owner, self._lease_ms, limit])
        jobs = [Job(_text(flat[i]), json.loads(_text(flat[i + 1])), int(flat[i + 2]))
                for i in range(0, len(flat), 3)]
        with self._lock:
            self._held.update(job.id for job in jobs)
        return jobs

    def holds(self, job_id: str) -> bool:
        return _text(self.redis.hget(self._key(job_id), "owner") or b"") == self.owner

    def close(self) -> None:
        self.redis.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
