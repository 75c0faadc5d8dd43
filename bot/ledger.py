"""The ledger of posted answers, so an answer can be marked when a document it cites changes later.

For each answer the bot posted with sources: where it is (channel, message ts, thread),
when, its final message as rendered (text and blocks, so it can be edited in place with
the answer kept), and for each cited document its path, title and the content hash of the
version the answer was written from (the state DB's `FileRecord.sha256`; "" when a sync
rewrote the document while the answer was being written, so the version is unknown).

After a sync, `mark` compares every watched citation with the state DB: a different hash
is a change, a missing or withdrawn record a withdrawal, the same bytes under another path
a move. Each (answer, document) keeps one notice, replaced only when the document's state
changes again, so an answer is marked once per change; answers to mark wait in `pending`
for the bot's courier (bot/followthrough.py), which claims them, so several bot processes
on one host never edit the same answer at once.

SQLite in WAL mode next to the index's state, like the dedup store; answers older than
ANSWER_WATCH_DAYS are forgotten. No Slack here: `ragbot sync` counts affected answers
with it too.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from rag.sqlite_file import SqliteFile
from rag.state import FileRecord

LEDGER_FILE = "answers.sqlite3"
CLAIM_SECONDS = 120.0  # a claimed answer not edited by then (its process died) is free again

ChangeKind = Literal["changed", "withdrawn", "moved"]

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


@dataclass(frozen=True)
class CitedDocument:
    path: str
    sha256: str  # the version the answer was written from; "" when unknown
    title: str


@dataclass(frozen=True)
class Notice:
    path: str
    kind: ChangeKind
    title: str
    at: datetime  # when the document changed (its stated date when after the answer), or was seen gone
    new_path: str | None = None


@dataclass(frozen=True)
class PostedAnswer:
    id: int
    channel: str
    ts: str
    thread_ts: str | None
    posted: datetime
    lang: str
    text: str
    blocks: list[dict]
    notices: list[Notice]
    tries: int = 0


@dataclass(frozen=True)
class Change:
    answer_id: int
    path: str
    key: str  # what the document is now: one notice per (answer, document, key)
    kind: ChangeKind
    title: str
    at: float
    new_path: str | None = None


class AnswerLedger:
    def __init__(self, path: Path, *, watch_days: float = 30.0, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.watch_seconds = watch_days * 86400
        self._clock = clock
        # rag/sqlite_file.py: a connection per thread, WAL, BEGIN IMMEDIATE transactions
        self._db = SqliteFile(path, foreign_keys=True)
        self._conn, self._tx = self._db.conn, self._db.tx
        self._conn().executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- recording -------------------------------------------------------------------------------------
    def record(self, *, channel: str, ts: str, thread_ts: str | None, text: str, blocks: list[dict], lang: str,
               cited: list[CitedDocument]) -> None:
        """Watch a posted answer (its final message) for changes to the documents it cites."""
        if not cited:
            return
        now = self._clock()
        with self._tx() as conn:
            self._prune(conn, now)
            conn.execute("DELETE FROM answers WHERE channel = ? AND ts = ?", (channel, ts))
            cur = conn.execute(
                "INSERT INTO answers (channel, ts, thread_ts, posted, lang, text, blocks) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (channel, ts, thread_ts, now, lang, text, json.dumps(blocks, ensure_ascii=False)))
            conn.executemany("INSERT OR REPLACE INTO citations (answer_id, path, sha256, title) VALUES (?, ?, ?, ?)",
                             [(cur.lastrowid, c.path, c.sha256, c.title) for c in cited])

    def watched(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    # -- after a sync ----------------------------------------------------------------------------------
    def changes(self, files: Mapping[str, FileRecord]) -> list[Change]:
        """Watched citations whose document is no longer the version cited, and not yet noticed as such."""
        return self._changes(self._conn(), files, self._clock())

    def affected(self, files: Mapping[str, FileRecord]) -> int:
        """How many watched answers a `mark` would edit now (what `ragbot sync` reports)."""
        return len({c.answer_id for c in self.changes(files)})

    def mark(self, files: Mapping[str, FileRecord]) -> list[int]:
        """Record a notice for each change and queue its answer for editing; the answer ids queued."""
        now = self._clock()
        with self._tx() as conn:
            self._prune(conn, now)
            changes = self._changes(conn, files, now)
            for c in changes:
                conn.execute(
                    "INSERT OR REPLACE INTO notices (answer_id, path, change_key, kind, title, at, new_path) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", (c.answer_id, c.path, c.key, c.kind, c.title, c.at, c.new_path))
                if c.new_path is not None:  # moved: watch it under its new path from now on
                    conn.execute("UPDATE OR IGNORE citations SET path = ? WHERE answer_id = ? AND path = ?",
                                 (c.new_path, c.answer_id, c.path))
            queued = sorted({c.answer_id for c in changes})
            conn.executemany(
                "INSERT INTO pending (answer_id, due) VALUES (?, ?) ON CONFLICT(answer_id) "
                "DO UPDATE SET due = excluded.due, tries = 0", [(a, now) for a in queued])
        return queued

    def _changes(self, conn: sqlite3.Connection, files: Mapping[str, FileRecord], now: float) -> list[Change]:
        live = {r.sha256: p for p, r in files.items() if not r.withdrawn and r.chunk_ids}
        noticed = {(r["answer_id"], r["path"]): r["change_key"]
                   for r in conn.execute("SELECT answer_id, path, change_key FROM notices")}
        rows = conn.execute(
            "SELECT c.answer_id, c.path, c.sha256, c.title, a.posted FROM citations c "
            "JOIN answers a ON a.id = c.answer_id WHERE a.posted >= ?", (now - self.watch_seconds,))
        changes = []
        for row in rows:
            change = _change_of(row, files.get(row["path"]), live, now)
            if change is not None and noticed.get((change.answer_id, change.path)) != change.key:
                changes.append(change)
        return changes

    # -- the courier's queue ---------------------------------------------------------------------------
    def claim_due(self, limit: int = 10) -> list[PostedAnswer]:
        """Answers due for an edit, claimed for CLAIM_SECONDS so another process leaves them alone."""
        now = self._clock()
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT a.*, p.tries FROM pending p JOIN answers a ON a.id = p.answer_id "
                "WHERE p.due <= ? AND p.claimed_until <= ? ORDER BY p.due LIMIT ?", (now, now, limit)).fetchall()
            conn.executemany("UPDATE pending SET claimed_until = ? WHERE answer_id = ?",
                             [(now + CLAIM_SECONDS, r["id"]) for r in rows])
            return [self._answer(conn, r) for r in rows]

    def next_due(self) -> float | None:
        row = self._conn().execute("SELECT MIN(MAX(due, claimed_until)) FROM pending").fetchone()
        return None if row[0] is None else float(row[0])

    def pending_count(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    def done(self, answer_id: int) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM pending WHERE answer_id = ?", (answer_id,))

    def retry_later(self, answer_id: int, delay: float) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE pending SET due = ?, claimed_until = 0, tries = tries + 1 WHERE answer_id = ?",
                         (self._clock() + delay, answer_id))

    def drop(self, answer_id: int) -> None:
        """Forget an answer (deleted in Slack, or its channel gone): nothing left to edit."""
        with self._tx() as conn:
            conn.execute("DELETE FROM answers WHERE id = ?", (answer_id,))

    def _prune(self, conn: sqlite3.Connection, now: float) -> None:
        conn.execute("DELETE FROM answers WHERE posted < ?", (now - self.watch_seconds,))

    @staticmethod
    def _answer(conn: sqlite3.Connection, row: sqlite3.Row) -> PostedAnswer:
        notices = [
            Notice(path=n["path"], kind=n["kind"], title=n["title"], at=datetime.fromtimestamp(n["at"], UTC),
                   new_path=n["new_path"])
            for n in conn.execute("SELECT * FROM notices WHERE answer_id = ? ORDER BY at, path", (row["id"],))
        ]
        return PostedAnswer(id=row["id"], channel=row["channel"], ts=row["ts"], thread_ts=row["thread_ts"],
                            posted=datetime.fromtimestamp(row["posted"], UTC), lang=row["lang"], text=row["text"],
                            blocks=json.loads(row["blocks"]), notices=notices, tries=row["tries"])


def _change_of(row: sqlite3.Row, record: FileRecord | None, live: Mapping[str, str], now: float) -> Change | None:
    """What happened to one cited document since the answer, or None when it is still the version cited."""
    answer_id, path, cited, title, posted = (row["answer_id"], row["path"], row["sha256"], row["title"],
                                             row["posted"])
    if record is not None and not record.withdrawn and record.sha256 == cited:
        return None
    if record is None or record.withdrawn:
        moved_to = live.get(cited) if cited else None
        if record is None and moved_to and moved_to != path:
            return Change(answer_id, path, f"moved:{moved_to}", "moved", title, now, moved_to)
        return Change(answer_id, path, "withdrawn", "withdrawn", title, now)
    stated = record.modified.timestamp() if record.modified else now
    return Change(answer_id, path, f"changed:{record.sha256}", "changed", title,
                  stated if posted < stated <= now else now)


def count_affected(state_dir: Path, files: Mapping[str, FileRecord], *, watch_days: float) -> int:
    """Posted answers the bot will mark after this sync (0 when no bot ever recorded one; nothing is created).

    `watch_days` is the bot's ANSWER_WATCH_DAYS, so the count is what the bot will really mark.
    """
    path = state_dir / LEDGER_FILE
    if not path.exists():
        return 0
    ledger = AnswerLedger(path, watch_days=watch_days)
    try:
        return ledger.affected(files)
    except sqlite3.Error:
        return 0
    finally:
        ledger.close()
