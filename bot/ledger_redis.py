"""The answers ledger on Redis (REDIS_URL): every replica records into it and marks from it (rules: bot/ledger.py).

Keys, all under the `{ragbot}` hash tag (one slot on Redis Cluster too):
- `…:ledger:ids` the id counter; `…:ledger:msg` hash "channel ts" → id (one entry per Slack message);
- `…:ledger:answer:<id>` hash: channel, ts, thread_ts, posted, lang, text, blocks;
- `…:ledger:cites:<id>` hash path → [sha256, title]; `…:ledger:notices:<id>` hash path → notice;
- `…:ledger:posted` sorted set id → posted (the watch window), `…:ledger:pending` id → when it may be
  taken (due, or the end of a courier's claim), `…:ledger:queued` id → how many times it was queued,
  `…:ledger:tries` id → failed edits.

Claiming a notice is one Lua script (compare-and-set on its change key, follow a move, queue the
answer), so replicas marking at once queue each (answer, change) once. A courier's claim is a
later score in `pending`; a replica that dies holding one leaves the answer to whoever looks
after `claim_seconds`. Times are the replicas' clocks (NTP), as in the SQLite store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from bot.ledger import CLAIM_SECONDS, AnswerLedger, Change, CitedDocument, Notice, PostedAnswer, WatchedCitation
from bot.redis_coord import PREFIX

BATCH = 500  # answers read per pipeline

# KEYS: answer, notices, cites, pending, queued, tries; ARGV: id, path, change key, notice, new path or "", now
_CLAIM_CHANGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[2], ARGV[2])
if old and cjson.decode(old)['key'] == ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
if ARGV[5] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[5]) == 0 then
  local cite = redis.call('HGET', KEYS[3], ARGV[2])
  if cite then
    redis.call('HSET', KEYS[3], ARGV[5], cite)
    redis.call('HDEL', KEYS[3], ARGV[2])
  end
end
redis.call('ZADD', KEYS[4], 'NX', ARGV[6], ARGV[1])
redis.call('HINCRBY', KEYS[5], ARGV[1], 1)
redis.call('HDEL', KEYS[6], ARGV[1])
return 1
"""
# KEYS: pending, queued; ARGV: now, claimed until, limit → {id, queued, …}
_CLAIM_DUE = """
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
  table.insert(out, id)
  table.insert(out, redis.call('HGET', KEYS[2], id) or '0')
end
return out
"""
# KEYS: pending, queued, tries; ARGV: id, queued when claimed, now
_DONE = """
if (redis.call('HGET', KEYS[2], ARGV[1]) or '0') == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
else
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
end
return 1
"""


class RedisLedger(AnswerLedger):
    def __init__(self, client: redis.Redis, *, watch_days: float = 30.0, claim_seconds: float = CLAIM_SECONDS,
                 clock: Callable[[], float] = time.time, prefix: str = PREFIX) -> None:
        super().__init__(watch_days=watch_days, claim_seconds=claim_seconds, clock=clock)
        self.redis = client
        self.p = f"{prefix}:ledger:"
        self._posted, self._pending = self.p + "posted", self.p + "pending"
        self._queued, self._tries, self._msg = self.p + "queued", self.p + "tries", self.p + "msg"
        self._claim_change_script = client.register_script(_CLAIM_CHANGE)
        self._claim_due_script = client.register_script(_CLAIM_DUE)
        self._done_script = client.register_script(_DONE)

    def _keys(self, answer_id: int | str) -> tuple[str, str, str]:
        return (f"{self.p}answer:{answer_id}", f"{self.p}cites:{answer_id}", f"{self.p}notices:{answer_id}")

    def close(self) -> None:
        self.redis.close()

    # -- recording -------------------------------------------------------------------------------------
    def record(self, *, channel: str, ts: str, thread_ts: str | None, text: str, blocks: list[dict], lang: str,
               cited: list[CitedDocument]) -> None:
        if not cited:
            return
        now = self._clock()
        self._prune(now)
        old = self.redis.hget(self._msg, f"{channel} {ts}")
        if old is not None:
            self.drop(int(old))
        answer_id = int(self.redis.incr(self.p + "ids"))
        answer, cites, _ = self._keys(answer_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(answer, mapping={"channel": channel, "ts": ts, "thread_ts": thread_ts or "", "posted": repr(now),
                                   "lang": lang, "text": text, "blocks": json.dumps(blocks, ensure_ascii=False)})
        pipe.hset(cites, mapping={c.path: json.dumps([c.sha256, c.title], ensure_ascii=False) for c in cited})
        pipe.hset(self._msg, f"{channel} {ts}", answer_id)
        pipe.zadd(self._posted, {str(answer_id): now})
        pipe.execute()

    def watched(self) -> int:
        return int(self.redis.zcard(self._posted))

    def _watched(self, since: float) -> list[WatchedCitation]:
        found: list[WatchedCitation] = []
        posted = self.redis.zrangebyscore(self._posted, since, "+inf", withscores=True)
        for start in range(0, len(posted), BATCH):
            batch = posted[start:start + BATCH]
            pipe = self.redis.pipeline(transaction=False)
            for raw_id, _ in batch:
                _, cites, notices = self._keys(_text(raw_id))
                pipe.hgetall(cites)
                pipe.hgetall(notices)
            replies = pipe.execute()
            for i, (raw_id, when) in enumerate(batch):
                cites, notices = replies[2 * i], replies[2 * i + 1]
                for path, value in cites.items():
                    sha, title = json.loads(value)
                    notice = notices.get(path)
                    found.append(WatchedCitation(int(raw_id), _text(path), sha, title, float(when),
                                                 json.loads(notice)["key"] if notice else None))
        return found

    def _claim_change(self, change: Change, now: float) -> bool:
        c = change
        answer, cites, notices = self._keys(c.answer_id)
        notice = json.dumps({"key": c.key, "kind": c.kind, "title": c.title, "at": c.at, "new_path": c.new_path},
                            ensure_ascii=False)
        return bool(self._claim_change_script(
            keys=[answer, notices, cites, self._pending, self._queued, self._tries],
            args=[c.answer_id, c.path, c.key, notice, c.new_path or "", repr(now)]))

    def _prune(self, now: float) -> None:
        for raw_id in self.redis.zrangebyscore(self._posted, "-inf", f"({now - self.watch_seconds!r}"):
            self.drop(int(raw_id))

    # -- the courier's queue ---------------------------------------------------------------------------
    def claim_due(self, limit: int = 10) -> list[PostedAnswer]:
        now = self._clock()
        flat = self._claim_due_script(keys=[self._pending, self._queued],
                                      args=[repr(now), repr(now + self.claim_seconds), limit])
        claimed = [(int(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]
        if not claimed:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for answer_id, _ in claimed:
            answer, _, notices = self._keys(answer_id)
            pipe.hgetall(answer)
            pipe.hgetall(notices)
            pipe.hget(self._tries, answer_id)
        replies = pipe.execute()
        out = []
        for i, (answer_id, queued) in enumerate(claimed):
            fields, notices, tries = replies[3 * i:3 * i + 3]
            if not fields:  # forgotten meanwhile
                self.redis.zrem(self._pending, answer_id)
                continue
            out.append(_posted_answer(answer_id, fields, notices, int(tries or 0), queued))
        return out

    def next_due(self) -> float | None:
        first = self.redis.zrange(self._pending, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def pending_count(self) -> int:
        return int(self.redis.zcard(self._pending))

    def done(self, answer: PostedAnswer) -> None:
        self._done_script(keys=[self._pending, self._queued, self._tries],
                          args=[answer.id, str(int(answer.queued)), repr(self._clock())])

    def retry_later(self, answer_id: int, delay: float) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(self._pending, {str(answer_id): self._clock() + delay}, xx=True)
        pipe.hincrby(self._tries, str(answer_id), 1)
        pipe.execute()

    def drop(self, answer_id: int) -> None:
        answer, cites, notices = self._keys(answer_id)
        where = self.redis.hmget(answer, ["channel", "ts"])
        pipe = self.redis.pipeline(transaction=True)
        if where[0] is not None and where[1] is not None:
            pipe.hdel(self._msg, f"{_text(where[0])} {_text(where[1])}")
        pipe.delete(answer, cites, notices)
        pipe.zrem(self._posted, answer_id)
        pipe.zrem(self._pending, answer_id)
        pipe.hdel(self._queued, answer_id)
        pipe.hdel(self._tries, answer_id)
        pipe.execute()


def _posted_answer(answer_id: int, fields: dict[Any, Any], notices: dict[Any, Any], tries: int,
                   queued: float) -> PostedAnswer:
    f = {_text(k): _text(v) for k, v in fields.items()}
    found = []
    for path, raw in notices.items():
        n = json.loads(raw)
        found.append(Notice(path=_text(path), kind=n["kind"], title=n["title"],
                            at=datetime.fromtimestamp(n["at"], UTC), new_path=n["new_path"]))
    found.sort(key=lambda n: (n.at, n.path))
    return PostedAnswer(id=answer_id, channel=f["channel"], ts=f["ts"], thread_ts=f["thread_ts"] or None,
                        posted=datetime.fromtimestamp(float(f["posted"]), UTC), lang=f["lang"], text=f["text"],
                        blocks=json.loads(f["blocks"]), notices=found, tries=tries, queued=queued)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
