"""At-most-once handling of Slack events, slash commands and clicks across retries, replays and processes.

Slack re-delivers an event it thinks was not acknowledged (HTTP retries, Socket
Mode reconnects), and one message can reach the bot twice under two event ids
(`app_mention` and `message.im`). Each event claims its `event_id` and its
`channel:ts` in one SQLite transaction; whoever inserts first answers, everyone
else acks and drops.

Slash commands and interactions have no event id, but each invocation carries a
`trigger_id` that Slack mints anew for every command typed and every button
clicked. A captured signed request replayed within the signature's 5-minute
window carries the same one, so it claims `trigger:<team>:<trigger_id>` and is
dropped (the TTL, at least 15 minutes, outlives that window); a new `/rag-resync`
has a new trigger_id and runs.

SQLite in WAL mode on local disk is shared safely by all bot processes on the
host and survives restarts; Redis (bot/durable/redis_stores.py) when REDIS_URL is set.

When the store cannot answer (Redis frozen or cut off, a broken disk), a request
Slack marks as a retry (`X-Slack-Retry-Num` > 0, Socket Mode's `retry_attempt`) is
acked and dropped: its first delivery reached a replica and is being answered, and
answering it again is what made one question get three answers. A first delivery
is handled: an answer without de-duplication beats none.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slack_bolt.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from rag.index.sqlite_file import SqliteFile

log = logging.getLogger(__name__)


class DedupUnavailable(Exception):
    """The dedup store did not answer (the message says which, never how to reach it)."""


class DedupStore:
    def __init__(self, path: Path, *, ttl_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._claims_since_purge = 0
        self._claim_lock = threading.Lock()
        self._db = SqliteFile(path, timeout_s=10.0, synchronous="NORMAL", row_factory=False)  # rag/index/sqlite_file.py
        self._conn = self._db.conn
        conn = self._conn()
        conn.execute("CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, expires_at REAL NOT NULL, "
                     "claimed_at REAL NOT NULL, pid INTEGER NOT NULL)")
        conn.execute("CREATE INDEX IF NOT EXISTS claims_expiry ON claims (expires_at)")

    def claim(self, *keys: str) -> bool:
        """True when none of `keys` was claimed within the TTL; then all of them are claimed now."""
        keys = tuple(dict.fromkeys(k for k in keys if k))
        if not keys:
            return True
        with self._claim_lock:  # threads queue here, not in SQLite's busy handler (which sleeps ms steps)
            try:
                return self._claim(keys)
            except sqlite3.Error as err:
                raise DedupUnavailable(f"SQLite: {err}") from None

    def _claim(self, keys: tuple[str, ...]) -> bool:
        now = self._clock()
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for key in keys:
                conn.execute("DELETE FROM claims WHERE key = ? AND expires_at <= ?", (key, now))
                inserted = conn.execute(
                    "INSERT OR IGNORE INTO claims (key, expires_at, claimed_at, pid) VALUES (?, ?, ?, ?)",
                    (key, now + self.ttl_seconds, now, _pid()),
                ).rowcount
                if inserted == 0:
                    conn.execute("ROLLBACK")
                    return False
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._claims_since_purge += 1
        if self._claims_since_purge >= 200:
            self._claims_since_purge = 0
            self.purge()
        return True

    def purge(self) -> int:
        """Drop expired claims so the file stays small."""
        return self._conn().execute("DELETE FROM claims WHERE expires_at <= ?", (self._clock(),)).rowcount

    def close(self) -> None:
        self._db.close()


def _pid() -> int:
    import os

    return os.getpid()


def event_claim_keys(body: dict[str, Any]) -> tuple[str, ...]:
    """`event:<id>` and `msg:<channel>:<ts>` for an Events API payload, () for anything else."""
    if body.get("type") != "event_callback":
        return ()
    event = body.get("event") or {}
    keys = []
    if body.get("event_id"):
        keys.append(f"event:{body.get('team_id', '')}:{body['event_id']}")
    channel, ts = event.get("channel"), event.get("ts")
    if channel and ts:
        keys.append(f"msg:{channel}:{ts}")
    return tuple(keys)


def invocation_claim_keys(body: dict[str, Any]) -> tuple[str, ...]:
    """`trigger:<team>:<trigger_id>` for a slash command or an interaction, () for anything else."""
    if body.get("type") == "event_callback":
        return ()
    trigger_id = body.get("trigger_id")
    if not trigger_id or not isinstance(trigger_id, str):
        return ()
    team = body.get("team_id")  # slash commands
    if not team and isinstance(body.get("team"), dict):  # interactions
        team = body["team"].get("id")
    return (f"trigger:{team or ''}:{trigger_id}",)


class DedupMiddleware(Middleware):
    """Global Bolt middleware: acks and drops what was already claimed (a retry, a twin event, a replay).

    Only events the bot acts on (`is_actionable`) claim anything, so an ignored
    `message` event cannot steal the `channel:ts` of the `app_mention` for the same message.
    Commands and interactions always claim their trigger_id.
    """

    def __init__(self, store: DedupStore, is_actionable: Callable[[dict[str, Any]], bool]) -> None:
        self.store = store
        self.is_actionable = is_actionable
        self.dropped = 0

    def process(self, *, req: BoltRequest, resp: BoltResponse,
                next: Callable[[], BoltResponse]) -> BoltResponse:
        body = req.body or {}
        keys = event_claim_keys(body)
        if keys and not self.is_actionable(body):
            return next()
        keys = keys or invocation_claim_keys(body)
        if not keys:
            return next()
        try:
            fresh = self.store.claim(*keys)
        except DedupUnavailable as err:
            retry = retry_number(req)
            if retry:  # fail closed: the first delivery is being answered somewhere
                self.dropped += 1
                log.warning("dedup store unavailable (%s); Slack's retry %s of %s acked and dropped", err, retry,
                            body.get("event_id") or body.get("command") or body.get("type"))
                return BoltResponse(status=200, body="")
            log.warning("dedup store unavailable (%s); handling %s without de-duplication", err,
                        body.get("event_id") or body.get("command") or body.get("type"))
            return next()
        if fresh:
            return next()
        self.dropped += 1
        if body.get("event_id"):
            retry = retry_number(req)
            log.info("duplicate event %s dropped (retry %s)", body.get("event_id"), retry)
        else:
            log.warning("replayed %s dropped (trigger_id already used)", body.get("command") or body.get("type"))
        return BoltResponse(status=200, body="")


def retry_number(req: BoltRequest) -> int:
    """Which re-delivery this is: Slack's `X-Slack-Retry-Num` (Bolt sets it from Socket Mode's `retry_attempt`
    too), 0 for a first delivery or when absent or not a number."""
    raw = (req.headers.get("x-slack-retry-num") or [""])[0]
    try:
        return max(0, int(str(raw).strip()))
    except ValueError:
        return 0
