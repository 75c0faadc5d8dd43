"""One SQLite file shared by the threads of a process and by the processes on a host.

The state DB, the answers ledger, the durable question queue and the dedup store all need the same
things: one connection per thread (sqlite3 connections must not cross threads), WAL so readers never
block the writer, a busy timeout so processes queue instead of failing, and `BEGIN IMMEDIATE`
transactions that take the write lock up front (a deferred one can deadlock two writers).

Files that hold what people asked (the question queue, the answers ledger) also overwrite what they
delete (`secure_delete`) and `checkpoint()` after deleting, so a deleted question is gone from the
database file and from its WAL, not just from the table (rag/index/privacy.py).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal


class SqliteFile:
    def __init__(self, path: Path, *, timeout_s: float = 30.0,
                 synchronous: Literal["FULL", "NORMAL"] = "FULL", row_factory: bool = True,
                 foreign_keys: bool = False, secure_delete: bool = False) -> None:
        self.path = path
        self.foreign_keys = foreign_keys
        self.secure_delete = secure_delete
        self.timeout_s = timeout_s
        self.synchronous = synchronous
        self.row_factory = row_factory
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)

    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (autocommit: transactions are explicit)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            if self.foreign_keys:  # a per-connection setting in SQLite
                conn.execute("PRAGMA foreign_keys=ON")
            if self.secure_delete:  # deleted rows are overwritten with zeros, in the pages and the WAL frames
                conn.execute("PRAGMA secure_delete=ON")
            if self.row_factory:
                conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (one fsync) around several statements; rolled back on any error."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def checkpoint(self) -> bool:
        """Copy the WAL into the database and truncate it to nothing, so deleted rows' old versions are gone
        from the WAL file too. False when a reader in another process kept part of it (the next one finishes)."""
        try:
            busy, _, _ = self.conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError:
            return False
        return not busy

    def close(self) -> None:
        """Close this thread's connection (others close with their threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
