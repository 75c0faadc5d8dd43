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

Redis is untrusted (bot/durable/records.py): each job carries an HMAC over its id, its record
and when it was stored, checked before it is answered; a job that fails (written by
someone else, changed, or moved to another id) is deleted and logged, never answered.
A job key expires after the retention (rag/index/privacy.py), answered or not.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import redis

from bot.durable.jobqueue import RUNNING_ALONE, RUNNING_SHARED, Job, event_job_id, new_owner
from bot.durable.records import RecordSigner, dropped

PREFIX = "{ragbot}:jobs"

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "

# KEYS: leases, job key; ARGV: id, record, owner, lease ms, mac, created, ttl ms
_PUT = _NOW + """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[2], 'record', ARGV[2], 'owner', ARGV[3], 'attempts', 1, 'mac', ARGV[5],
           'created', ARGV[6], 'running', '', 'crashes', 0, 'alone', 0)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[7]))
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
return 1
"""
# KEYS: job key; ARGV: owner, running
_START = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then redis.call('HSET', KEYS[1], 'running', ARGV[2]) end
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
# KEYS: leases; ARGV: prefix, owner, lease ms, limit → {id, record, attempts, crashes, alone, mac, created, …}
# A job that was being answered when its holder died has a crash counted (an alone crash if it ran alone).
_TAKE = _NOW + """
local out = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  local key = ARGV[1] .. ':job:' .. id
  if redis.call('EXISTS', key) == 1 then
    local running = redis.call('HGET', key, 'running') or ''
    local crashes = tonumber(redis.call('HGET', key, 'crashes') or '0') or 0
    local alone = tonumber(redis.call('HGET', key, 'alone') or '0') or 0
    if running ~= '' then crashes = crashes + 1 end
    if running == 'alone' then alone = alone + 1 end
    redis.call('HSET', key, 'owner', ARGV[2], 'running', '', 'crashes', crashes, 'alone', alone)
    local attempts = redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), id)
    table.insert(out, id)
    table.insert(out, redis.call('HGET', key, 'record') or '')
    table.insert(out, attempts)
    table.insert(out, crashes)
    table.insert(out, alone)
    table.insert(out, redis.call('HGET', key, 'mac') or '')
    table.insert(out, redis.call('HGET', key, 'created') or '')
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""
# KEYS: leases, job key; ARGV: id, owner, delay ms
_RELEASE = _NOW + """
if redis.call('HGET', KEYS[2], 'owner') == ARGV[2] then
  redis.call('HSET', KEYS[2], 'running', '')
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
end
return 1
"""


class RedisJobQueue:
    def __init__(self, client: redis.Redis, *, lease_seconds: float, signer: RecordSigner, max_age_seconds: float,
                 owner: str | None = None, prefix: str = PREFIX) -> None:
        self.redis = client
        self.lease_seconds = lease_seconds
        self.signer = signer
        self.max_age_seconds = max_age_seconds
        self.owner = owner or new_owner()
        self.prefix = prefix
        self._leases = f"{prefix}:leases"
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._put = client.register_script(_PUT)
        self._start = client.register_script(_START)
        self._renew = client.register_script(_RENEW)
        self._take = client.register_script(_TAKE)
        self._release = client.register_script(_RELEASE)

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    @property
    def _lease_ms(self) -> int:
        return int(self.lease_seconds * 1000)

    def put(self, job_id: str, record: dict[str, Any]) -> bool:
        text, created = json.dumps(record), repr(time.time())
        mac = self.signer.sign("job", job_id, text, created)
        added = self._put(keys=[self._leases, self._key(job_id)],
                          args=[job_id, text, self.owner, self._lease_ms, mac, created,
                                max(1000, int(self.max_age_seconds * 1000))])
        if added:
            with self._lock:
                self._held.add(job_id)
        return bool(added)

    def start(self, job_id: str, *, alone: bool) -> None:
        self._start(keys=[self._key(job_id)], args=[self.owner, RUNNING_ALONE if alone else RUNNING_SHARED])

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
        jobs = []
        for i in range(0, len(flat), 7):
            job_id, text, attempts, crashes, alone, mac, created = flat[i:i + 7]
            job = self._checked(_text(job_id), _text(text), _text(mac), _text(created))
            if job is not None:
                jobs.append(Job(job.id, job.record, int(attempts), int(crashes), int(alone)))
        with self._lock:
            self._held.update(job.id for job in jobs)
        return jobs

    def _checked(self, job_id: str, text: str, mac: str, created: str) -> Job | None:
        """The job when its signature, its id and its age hold; else it is deleted and logged, and None."""
        reason = "unsigned or tampered"
        record: Any = None
        if self.signer.verify(mac, "job", job_id, text, created):
            try:
                record = json.loads(text)
                age = time.time() - float(created)
            except ValueError:
                record, age = None, 0.0
            if not isinstance(record, dict) or not isinstance(record.get("body"), dict) \
                    or event_job_id(record["body"]) != job_id:
                record, reason = None, "its question is not the one its id names"
            elif age > self.max_age_seconds:
                record, reason = None, "older than the retention"
        if record is None:
            dropped("the queued question", job_id, reason)
            self._forget(job_id)
            return None
        return Job(job_id, record, 1)

    def _forget(self, job_id: str) -> None:
        with contextlib.suppress(redis.RedisError):  # it expires anyway
            self.done(job_id)

    def holds(self, job_id: str) -> bool:
        return _text(self.redis.hget(self._key(job_id), "owner") or b"") == self.owner

    def close(self) -> None:
        self.redis.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
