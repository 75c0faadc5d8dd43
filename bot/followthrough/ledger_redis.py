"""The answers ledger on Redis (REDIS_URL): every replica records into it and marks from it (rules:
bot/followthrough/ledger.py).

Keys, all under the `{ragbot}` hash tag (one slot on Redis Cluster too):
- `…:ledger:ids` the id counter; `…:ledger:msg` hash "channel ts" → id (one entry per Slack message);
- `…:ledger:answer:<id>` hash: channel, ts, thread_ts, posted, lang, text, blocks, mac;
- `…:ledger:cites:<id>` hash path → [sha256, title, mac]; `…:ledger:notices:<id>` hash path → notice (with mac);
- `…:ledger:posted` sorted set id → posted (the watch window), `…:ledger:pending` id → when it may be
  taken (due, or the end of a courier's claim), `…:ledger:queued` id → how many times it was queued,
  `…:ledger:tries` id → failed edits.

Claiming a notice is one Lua script (compare-and-set on its change key, follow a move, queue the
answer), so replicas marking at once queue each (answer, change) once. A courier's claim is a
later score in `pending`; a replica that dies holding one leaves the answer to whoever looks
after `claim_seconds`. Times are the replicas' clocks (NTP), as in the SQLite store.

Redis is untrusted (bot/durable/records.py): the answer, each citation and each notice carry an HMAC over
their content and their place (answer id, document path), checked before the bot acts on them.
An answer with any part that fails is dropped from the ledger and logged, so the courier can only
ever put the bot's own notice above the bot's own answer, as the bot recorded them. The answer's
keys expire with the watch window (never past the retention, rag/index/privacy.py). Without a signer
(`ragbot sync`, which has no Slack secrets) the ledger can count affected answers and nothing more.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from bot.durable.records import RecordSigner, dropped
from bot.durable.redis_stores import PREFIX
from bot.followthrough.ledger import (
    CLAIM_SECONDS,
    AnswerLedger,
    Change,
    CitedDocument,
    Notice,
    PostedAnswer,
    WatchedCitation,
    kept_blocks,
)
from bot.followthrough.ledger_scripts import CLAIM_CHANGE, CLAIM_DUE, DONE
from rag.index.privacy import PrivacyRule

BATCH = 500  # answers read per pipeline
ANSWER_FIELDS = ("channel", "ts", "thread_ts", "posted", "lang", "text", "blocks")

class RedisLedger(AnswerLedger):
    def __init__(self, client: redis.Redis, *, signer: RecordSigner | None, watch_days: float = 30.0,
                 claim_seconds: float = CLAIM_SECONDS, clock: Callable[[], float] = time.time,
                 prefix: str = PREFIX, rule: PrivacyRule | None = None) -> None:
        super().__init__(watch_days=watch_days, claim_seconds=claim_seconds, clock=clock, rule=rule)
        self.redis = client
        self.signer = signer
        self.p = f"{prefix}:ledger:"
        self._posted, self._pending = self.p + "posted", self.p + "pending"
        self._queued, self._tries, self._msg = self.p + "queued", self.p + "tries", self.p + "msg"
        self._claim_change_script = client.register_script(CLAIM_CHANGE)
        self._claim_due_script = client.register_script(CLAIM_DUE)
        self._done_script = client.register_script(DONE)

    def _keys(self, answer_id: int | str) -> tuple[str, str, str]:
        return (f"{self.p}answer:{answer_id}", f"{self.p}cites:{answer_id}", f"{self.p}notices:{answer_id}")

    def _signer(self) -> RecordSigner:
        if self.signer is None:
            raise RuntimeError("the answers ledger on Redis needs the record key to act (bot/durable/records.py)")
        return self.signer

    def close(self) -> None:
        self.redis.close()

    # -- signatures --------------------------------------------------------------------------------------
    def _answer_mac(self, answer_id: int, f: dict[str, str]) -> str:
        return self._signer().sign("answer", answer_id, *(f[k] for k in ANSWER_FIELDS))

    def _cite_value(self, answer_id: int, path: str, sha: str, title: str) -> str:
        mac = self._signer().sign("cite", answer_id, path, sha, title)
        return json.dumps([sha, title, mac], ensure_ascii=False)

    def _cite(self, answer_id: int, path: str, raw: Any) -> tuple[str, str] | None:
        """(sha256, title) of a citation whose signature holds (any, unchecked, without a signer)."""
        try:
            sha, title, *rest = json.loads(raw)
        except (ValueError, TypeError):
            return None
        if self.signer is not None and not self.signer.verify(rest[0] if rest else "", "cite", answer_id, path,
                                                              sha, title):
            return None
        return str(sha), str(title)

    def _notice_parts(self, answer_id: int, path: str, n: dict[str, Any]) -> list[Any]:
        return [answer_id, path, n.get("key"), n.get("kind"), n.get("title"), n.get("at"), n.get("new_path"),
                n.get("new_kind")]

    def _notice(self, answer_id: int, path: str, raw: Any) -> dict[str, Any] | None:
        """A notice whose signature holds, else None (one someone else wrote is as good as none)."""
        try:
            n = json.loads(raw)
        except (ValueError, TypeError):
            return None
        if not isinstance(n, dict):
            return None
        if self.signer is not None and not self.signer.verify(n.get("mac"), "notice",
                                                              *self._notice_parts(answer_id, path, n)):
            return None
        return n

    # -- recording -------------------------------------------------------------------------------------
    def _record(self, *, channel: str, ts: str, thread_ts: str | None, text: str, blocks: list[dict], lang: str,
                cited: list[CitedDocument]) -> None:
        now = self._clock()
        self._prune(now)
        old = self.redis.hget(self._msg, f"{channel} {ts}")
        if old is not None:
            self.drop(int(old))
        answer_id = int(self.redis.incr(self.p + "ids"))
        answer, cites, _ = self._keys(answer_id)
        fields = {"channel": channel, "ts": ts, "thread_ts": thread_ts or "", "posted": repr(now), "lang": lang,
                  "text": text, "blocks": json.dumps(blocks, ensure_ascii=False)}
        ttl_ms = max(1000, int(self.watch_seconds * 1000))
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(answer, mapping={**fields, "mac": self._answer_mac(answer_id, fields)})
        pipe.hset(cites, mapping={c.path: self._cite_value(answer_id, c.path, c.sha256, c.title) for c in cited})
        pipe.pexpire(answer, ttl_ms)
        pipe.pexpire(cites, ttl_ms)
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
                answer_id = int(raw_id)
                cites, notices = replies[2 * i], replies[2 * i + 1]
                checked = {_text(path): self._cite(answer_id, _text(path), value) for path, value in cites.items()}
                if any(c is None for c in checked.values()):
                    if self.signer is not None:  # only a ledger that can check may drop; a count just skips it
                        self._drop_forged(answer_id, "a citation")
                    continue
                for path, cite in checked.items():
                    sha, title = cite  # type: ignore[misc]
                    notice = self._notice(answer_id, path, notices.get(path.encode()) or notices.get(path))
                    found.append(WatchedCitation(answer_id, path, sha, title, float(when),
                                                 str(notice["key"]) if notice else None))
        return found

    def _claim_change(self, change: Change, now: float) -> bool:
        c = change
        answer, cites, notices = self._keys(c.answer_id)
        notice: dict[str, Any] = {"key": c.key, "kind": c.kind, "title": c.title, "at": c.at, "new_path": c.new_path,
                                  "new_kind": c.new_kind}
        notice["mac"] = self._signer().sign("notice", *self._notice_parts(c.answer_id, c.path, notice))
        moved_cite = self._cite_value(c.answer_id, c.new_path, c.sha256, c.title) if c.new_path else ""
        return bool(self._claim_change_script(
            keys=[answer, notices, cites, self._pending, self._queued, self._tries],
            args=[c.answer_id, c.path, c.key, json.dumps(notice, ensure_ascii=False), c.new_path or "", repr(now),
                  moved_cite]))

    def _prune(self, now: float) -> None:
        for raw_id in self.redis.zrangebyscore(self._posted, "-inf", f"({now - self.watch_seconds!r}"):
            self.drop(int(raw_id))

    def _redact(self) -> int:
        changed = 0
        for raw_id in self.redis.zrange(self._posted, 0, -1):
            answer_id = int(raw_id)
            answer = self._keys(answer_id)[0]
            fields = {_text(k): _text(v) for k, v in self.redis.hgetall(answer).items()}
            if not fields:
                continue
            if not self._answer_holds(answer_id, fields):
                self._drop_forged(answer_id, "its text")
                continue
            blocks = json.loads(fields["blocks"])
            kept = kept_blocks(blocks, self.rule)
            if kept != blocks:
                fields["blocks"] = json.dumps(kept, ensure_ascii=False)
                self.redis.hset(answer, mapping={"blocks": fields["blocks"],
                                                 "mac": self._answer_mac(answer_id, fields)})
                changed += 1
        return changed

    def _answer_holds(self, answer_id: int, fields: dict[str, str]) -> bool:
        if any(k not in fields for k in ANSWER_FIELDS):
            return False
        return self._signer().verify(fields.get("mac"), "answer", answer_id, *(fields[k] for k in ANSWER_FIELDS))

    def _drop_forged(self, answer_id: int, part: str) -> None:
        dropped("the watched answer", answer_id, f"{part} is unsigned or tampered")
        self.drop(answer_id)

    # -- the courier's queue ---------------------------------------------------------------------------
    def claim_due(self, limit: int = 10) -> list[PostedAnswer]:
        now = self._clock()
        self._signer()
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
            raw_fields, raw_notices, tries = replies[3 * i:3 * i + 3]
            if not raw_fields:  # forgotten meanwhile
                self.redis.zrem(self._pending, answer_id)
                continue
            fields = {_text(k): _text(v) for k, v in raw_fields.items()}
            if not self._answer_holds(answer_id, fields):
                self._drop_forged(answer_id, "its text")
                continue
            notices = [(path, self._notice(answer_id, path, raw))
                       for path, raw in ((_text(p), r) for p, r in raw_notices.items())]
            if any(n is None for _, n in notices):
                dropped("a notice of the watched answer", answer_id, "unsigned or tampered; the answer keeps the "
                        "others")
            found = [_notice(path, n) for path, n in notices if n is not None]
            found.sort(key=lambda n: (n.at, n.path))
            out.append(PostedAnswer(id=answer_id, channel=fields["channel"], ts=fields["ts"],
                                    thread_ts=fields["thread_ts"] or None,
                                    posted=datetime.fromtimestamp(float(fields["posted"]), UTC), lang=fields["lang"],
                                    text=fields["text"], blocks=json.loads(fields["blocks"]), notices=found,
                                    tries=int(tries or 0), queued=queued))
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


def _notice(path: str, n: dict[str, Any]) -> Notice:
    return Notice(path=path, kind=n["kind"], title=str(n["title"]), at=datetime.fromtimestamp(float(n["at"]), UTC),
                  new_path=n.get("new_path"), new_kind=n.get("new_kind"))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
