"""The job queue in SQLite (WAL) next to the index: one host, the default (the why: bot/durable/jobqueue.py).

Every process on the host shares the file; `take_expired` is one `BEGIN IMMEDIATE`
transaction, so two processes never take the same job. Deleted rows are overwritten
(secure_delete) and the WAL is checkpointed after each `done`, so the question and the
asker's id of an answered job stay nowhere on disk.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.durable.jobqueue import RUNNING_ALONE, RUNNING_SHARED, Job, new_owner
from rag.index.sqlite_file import SqliteFile


class SqliteJobQueue:
    """Jobs in a SQLite file (WAL) next to the index: shared by every process on the host, survives restarts."""

    def __init__(self, path: Path, *, lease_seconds: float, owner: str | None = None,
                 clock: Callable[[], float] = time.time, max_age_seconds: float | None = None) -> None:
        self.path = path
        self.lease_seconds = lease_seconds
        self.owner = owner or new_owner()
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._held: set[str] = set()
        self._lock = threading.Lock()
        # an acked question must survive a power cut too (synchronous FULL); deleted rows are overwritten
        # (secure_delete) and the WAL checkpointed after each `done`, so no answered question stays on disk
        self._db = SqliteFile(path, timeout_s=10.0, row_factory=False, secure_delete=True)
        self._conn = self._db.conn
        conn = self._conn()
        conn.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, record TEXT NOT NULL, owner TEXT NOT NULL,"
                     " lease_until REAL NOT NULL, attempts INTEGER NOT NULL, created REAL NOT NULL)")
        conn.execute("CREATE INDEX IF NOT EXISTS jobs_lease ON jobs (lease_until)")
        have = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
        for column, kind in (("running", "TEXT NOT NULL DEFAULT ''"), ("crashes", "INTEGER NOT NULL DEFAULT 0"),
                             ("alone", "INTEGER NOT NULL DEFAULT 0")):
            if column not in have:  # a queue file written before poison questions were counted
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it meanwhile
                    conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")

    def put(self, job_id: str, record: dict[str, Any]) -> bool:
        now = self._clock()
        inserted = self._conn().execute(
            "INSERT OR IGNORE INTO jobs (id, record, owner, lease_until, attempts, created) VALUES (?, ?, ?, ?, 1, ?)",
            (job_id, json.dumps(record), self.owner, now + self.lease_seconds, now)).rowcount
        if inserted:
            with self._lock:
                self._held.add(job_id)
        return bool(inserted)

    def start(self, job_id: str, *, alone: bool) -> None:
        self._conn().execute("UPDATE jobs SET running = ? WHERE id = ? AND owner = ?",
                             (RUNNING_ALONE if alone else RUNNING_SHARED, job_id, self.owner))

    def done(self, job_id: str) -> None:
        self._conn().execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        with self._lock:
            self._held.discard(job_id)
        self._db.checkpoint()

    def release(self, job_id: str, delay: float) -> None:
        self._conn().execute("UPDATE jobs SET lease_until = ?, running = '' WHERE id = ? AND owner = ?",
                             (self._clock() + delay, job_id, self.owner))
        with self._lock:
            self._held.discard(job_id)

    def renew(self) -> None:
        with self._lock:
            held = list(self._held)
        conn = self._conn()
        until = self._clock() + self.lease_seconds
        for job_id in held:
            if not conn.execute("UPDATE jobs SET lease_until = ? WHERE id = ? AND owner = ?",
                                (until, job_id, self.owner)).rowcount:
                with self._lock:
                    self._held.discard(job_id)  # done elsewhere, or taken over after a stall

    def take_expired(self, limit: int) -> list[Job]:
        if limit <= 0:
            return []
        now = self._clock()
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self.max_age_seconds is not None:  # past the retention: the question may not be kept any longer
                conn.execute("DELETE FROM jobs WHERE created < ?", (now - self.max_age_seconds,))
            rows = conn.execute(
                "SELECT id, record, attempts, running, crashes, alone FROM jobs WHERE lease_until <= ? "
                "ORDER BY created LIMIT ?", (now, limit)).fetchall()
            jobs = []
            for job_id, record, attempts, running, crashes, alone in rows:
                crashes, alone = crashes + bool(running), alone + (running == RUNNING_ALONE)
                conn.execute("UPDATE jobs SET owner = ?, lease_until = ?, attempts = attempts + 1, running = '', "
                             "crashes = ?, alone = ? WHERE id = ?",
                             (self.owner, now + self.lease_seconds, crashes, alone, job_id))
                jobs.append(Job(job_id, json.loads(record), attempts + 1, crashes, alone))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        with self._lock:
            self._held.update(job.id for job in jobs)
        return jobs

    def holds(self, job_id: str) -> bool:
        row = self._conn().execute("SELECT owner FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0] == self.owner)

    def prune(self) -> int:
        """Drop jobs older than the retention (a question nobody could answer in that time); how many."""
        if self.max_age_seconds is None:
            return 0
        gone = self._conn().execute("DELETE FROM jobs WHERE created < ?",
                                    (self._clock() - self.max_age_seconds,)).rowcount
        if gone:
            self._db.checkpoint()
        return gone

    def close(self) -> None:
        self._db.close()
