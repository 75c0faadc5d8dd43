"""The answers ledger in SQLite (WAL) next to the index's state: one host, the default (rules:
bot/followthrough/ledger.py).

Several bot processes on the host share the file; each step is one `BEGIN IMMEDIATE`
transaction (rag/index/sqlite_file.py), which is what makes a notice's claim atomic. Deleted rows
are overwritten and the WAL truncated after pruning, so a forgotten answer is gone from disk.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

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
from rag.index.privacy import PrivacyRule
from rag.index.sqlite_file import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    thread_ts TEXT,
    posted REAL NOT NULL,
    lang TEXT NOT NULL DEFAULT 'en',
    text TEXT NOT NULL,
    blocks TEXT NOT NULL,
    UNIQUE (channel, ts)
);
CREATE INDEX IF NOT EXISTS answers_posted ON answers (posted);
CREATE TABLE IF NOT EXISTS citations (
    answer_id INTEGER NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    title TEXT NOT NULL,
    PRIMARY KEY (answer_id, path)
);
CREATE INDEX IF NOT EXISTS citations_path ON citations (path);
CREATE TABLE IF NOT EXISTS notices (
    answer_id INTEGER NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    change_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    at REAL NOT NULL,
    new_path TEXT,
    PRIMARY KEY (answer_id, path)
);
CREATE TABLE IF NOT EXISTS pending (
    answer_id INTEGER PRIMARY KEY REFERENCES answers(id) ON DELETE CASCADE,
    due REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    tries INTEGER NOT NULL DEFAULT 0
);
"""


class SqliteLedger(AnswerLedger):
    def __init__(self, path: Path, *, watch_days: float = 30.0, claim_seconds: float = CLAIM_SECONDS,
                 clock: Callable[[], float] = time.time, rule: PrivacyRule | None = None) -> None:
        super().__init__(watch_days=watch_days, claim_seconds=claim_seconds, clock=clock, rule=rule)
        self.path = path
        # rag/index/sqlite_file.py: a connection per thread, WAL, BEGIN IMMEDIATE transactions; deletions overwritten
        self._db = SqliteFile(path, foreign_keys=True, secure_delete=True)
        self._conn, self._tx = self._db.conn, self._db.tx
        conn = self._conn()
        conn.executescript(_SCHEMA)
        if "new_kind" not in {row[1] for row in conn.execute("PRAGMA table_info(notices)")}:
            with contextlib.suppress(sqlite3.OperationalError):  # another process may have added it meanwhile
                conn.execute("ALTER TABLE notices ADD COLUMN new_kind TEXT")  # a ledger from before new_kind

    def close(self) -> None:
        self._db.close()

    def _record(self, *, channel: str, ts: str, thread_ts: str | None, text: str, blocks: list[dict], lang: str,
                cited: list[CitedDocument]) -> None:
        now = self._clock()
        with self._tx() as conn:
            conn.execute("DELETE FROM answers WHERE posted < ?", (now - self.watch_seconds,))
            conn.execute("DELETE FROM answers WHERE channel = ? AND ts = ?", (channel, ts))
            cur = conn.execute(
                "INSERT INTO answers (channel, ts, thread_ts, posted, lang, text, blocks) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (channel, ts, thread_ts, now, lang, text, json.dumps(blocks, ensure_ascii=False)))
            conn.executemany("INSERT OR REPLACE INTO citations (answer_id, path, sha256, title) VALUES (?, ?, ?, ?)",
                             [(cur.lastrowid, c.path, c.sha256, c.title) for c in cited])

    def watched(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def _watched(self, since: float) -> list[WatchedCitation]:
        rows = self._conn().execute(
            "SELECT c.answer_id, c.path, c.sha256, c.title, a.posted, n.change_key FROM citations c "
            "JOIN answers a ON a.id = c.answer_id "
            "LEFT JOIN notices n ON n.answer_id = c.answer_id AND n.path = c.path WHERE a.posted >= ?", (since,))
        return [WatchedCitation(r["answer_id"], r["path"], r["sha256"], r["title"], r["posted"], r["change_key"])
                for r in rows]

    def _claim_change(self, change: Change, now: float) -> bool:
        c = change
        with self._tx() as conn:
            won = conn.execute(
                "INSERT INTO notices (answer_id, path, change_key, kind, title, at, new_path, new_kind) "
                "SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM answers WHERE id = ?) "
                "ON CONFLICT (answer_id, path) DO UPDATE SET change_key = excluded.change_key, kind = excluded.kind, "
                "title = excluded.title, at = excluded.at, new_path = excluded.new_path, new_kind = excluded.new_kind "
                "WHERE notices.change_key != excluded.change_key",
                (c.answer_id, c.path, c.key, c.kind, c.title, c.at, c.new_path, c.new_kind, c.answer_id)).rowcount
            if not won:
                return False
            if c.new_path is not None:  # moved: watch it under its new path from now on
                conn.execute("UPDATE OR IGNORE citations SET path = ? WHERE answer_id = ? AND path = ?",
                             (c.new_path, c.answer_id, c.path))
            conn.execute("INSERT INTO pending (answer_id, due) VALUES (?, ?) ON CONFLICT (answer_id) "
                         "DO UPDATE SET due = excluded.due, tries = 0", (c.answer_id, now))
            return True

    def _prune(self, now: float) -> None:
        with self._tx() as conn:
            gone = conn.execute("DELETE FROM answers WHERE posted < ?", (now - self.watch_seconds,)).rowcount
        if gone:
            self._db.checkpoint()

    def _redact(self) -> int:
        changed = 0
        with self._tx() as conn:
            for row in conn.execute("SELECT id, blocks FROM answers").fetchall():
                blocks = json.loads(row["blocks"])
                kept = kept_blocks(blocks, self.rule)
                if kept != blocks:
                    conn.execute("UPDATE answers SET blocks = ? WHERE id = ?",
                                 (json.dumps(kept, ensure_ascii=False), row["id"]))
                    changed += 1
        if changed:
            self._db.checkpoint()
        return changed

    # -- the courier's queue ---------------------------------------------------------------------------
    def claim_due(self, limit: int = 10) -> list[PostedAnswer]:
        now = self._clock()
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT a.*, p.tries, p.due FROM pending p JOIN answers a ON a.id = p.answer_id "
                "WHERE p.due <= ? AND p.claimed_until <= ? ORDER BY p.due LIMIT ?", (now, now, limit)).fetchall()
            conn.executemany("UPDATE pending SET claimed_until = ? WHERE answer_id = ?",
                             [(now + self.claim_seconds, r["id"]) for r in rows])
            return [self._answer(conn, r) for r in rows]

    def next_due(self) -> float | None:
        row = self._conn().execute("SELECT MIN(MAX(due, claimed_until)) FROM pending").fetchone()
        return None if row[0] is None else float(row[0])

    def pending_count(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    def done(self, answer: PostedAnswer) -> None:
        with self._tx() as conn:
            if not conn.execute("DELETE FROM pending WHERE answer_id = ? AND due = ?",
                                (answer.id, answer.queued)).rowcount:  # queued again meanwhile: free now
                conn.execute("UPDATE pending SET claimed_until = 0 WHERE answer_id = ?", (answer.id,))

    def retry_later(self, answer_id: int, delay: float) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE pending SET due = ?, claimed_until = 0, tries = tries + 1 WHERE answer_id = ?",
                         (self._clock() + delay, answer_id))

    def drop(self, answer_id: int) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM answers WHERE id = ?", (answer_id,))
        self._db.checkpoint()

    @staticmethod
    def _answer(conn: sqlite3.Connection, row: sqlite3.Row) -> PostedAnswer:
        notices = [
            Notice(path=n["path"], kind=n["kind"], title=n["title"], at=datetime.fromtimestamp(n["at"], UTC),
                   new_path=n["new_path"], new_kind=n["new_kind"])
            for n in conn.execute("SELECT * FROM notices WHERE answer_id = ? ORDER BY at, path", (row["id"],))
        ]
        return PostedAnswer(id=row["id"], channel=row["channel"], ts=row["ts"], thread_ts=row["thread_ts"],
                            posted=datetime.fromtimestamp(row["posted"], UTC), lang=row["lang"], text=row["text"],
                            blocks=json.loads(row["blocks"]), notices=notices, tries=row["tries"],
                            queued=row["due"])
