"""The sync's persistent record: one row per known file, one row per sync run.

SQLite (WAL) on local disk next to the index (or STATE_DIR when the index is on
S3). A file's row is written only after its chunks are committed to LanceDB,
so a crash between the two makes the next sync redo that file, never skip it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rag.catalog import SyncReport

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    rel_path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'document',
    format TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    link TEXT NOT NULL DEFAULT '',
    modified TEXT NOT NULL,
    chunk_ids TEXT NOT NULL DEFAULT '[]',
    last_synced TEXT,
    last_error TEXT,
    withdrawn INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL,
    trigger TEXT NOT NULL,
    version_before INTEGER,
    version_after INTEGER,
    report TEXT NOT NULL DEFAULT '{}'
);
"""


@dataclass
class FileRecord:
    rel_path: str
    size: int
    mtime_ns: int
    sha256: str
    kind: str
    format: str
    title: str
    link: str
    modified: datetime
    chunk_ids: list[str] = field(default_factory=list)
    last_synced: datetime | None = None
    last_error: str | None = None
    withdrawn: bool = False


@dataclass
class SyncRun:
    id: int
    report: SyncReport
    version_before: int | None
    version_after: int | None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class StateDB:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "state.sqlite3"
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(_SCHEMA)

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        yield conn

    # -- files -----------------------------------------------------------------------------------------
    def files(self) -> dict[str, FileRecord]:
        with self._conn() as conn:
            return {row["rel_path"]: _record(row) for row in conn.execute("SELECT * FROM files")}

    def put_file(self, record: FileRecord) -> None:
        values = asdict(record)
        values["modified"] = _iso(record.modified)
        values["last_synced"] = _iso(record.last_synced)
        values["chunk_ids"] = json.dumps(record.chunk_ids)
        values["withdrawn"] = int(record.withdrawn)
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        with self._conn() as conn:
            conn.execute(f"INSERT OR REPLACE INTO files ({columns}) VALUES ({marks})", values)

    def set_error(self, rel_path: str, error: str | None) -> None:
        with self._conn() as conn:
            conn.execute("UPDATE files SET last_error = ? WHERE rel_path = ?", (error, rel_path))

    def delete_file(self, rel_path: str) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM files WHERE rel_path = ?", (rel_path,))

    def clear_files(self) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM files")

    # -- runs ------------------------------------------------------------------------------------------
    def start_run(self, report: SyncReport, version_before: int | None) -> int:
        with self._conn() as conn:
            cur = conn.execute(
                "INSERT INTO sync_runs (started, status, trigger, version_before, report) VALUES (?, ?, ?, ?, ?)",
                (_iso(report.started), report.status, report.trigger, version_before, _dump(report)),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, report: SyncReport, version_after: int | None) -> None:
        with self._conn() as conn:
            conn.execute(
                "UPDATE sync_runs SET finished = ?, status = ?, version_after = ?, report = ? WHERE id = ?",
                (_iso(report.finished), report.status, version_after, _dump(report), run_id),
            )

    def runs(self, limit: int = 20) -> list[SyncRun]:
        with self._conn() as conn:
            rows = conn.execute("SELECT * FROM sync_runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [SyncRun(r["id"], _load(r["report"]), r["version_before"], r["version_after"]) for r in rows]

    def last_report(self) -> SyncReport | None:
        runs = self.runs(limit=1)
        return runs[0].report if runs else None


def _record(row: sqlite3.Row) -> FileRecord:
    return FileRecord(
        rel_path=row["rel_path"], size=row["size"], mtime_ns=row["mtime_ns"], sha256=row["sha256"],
        kind=row["kind"], format=row["format"], title=row["title"], link=row["link"],
        modified=_dt(row["modified"]) or datetime.fromtimestamp(0, UTC),
        chunk_ids=json.loads(row["chunk_ids"]), last_synced=_dt(row["last_synced"]),
        last_error=row["last_error"], withdrawn=bool(row["withdrawn"]),
    )


def _dump(report: SyncReport) -> str:
    data = asdict(report)
    data["started"] = _iso(report.started)
    data["finished"] = _iso(report.finished)
    return json.dumps(data, ensure_ascii=False)


def _load(text: str) -> SyncReport:
    data = json.loads(text)
    data["started"] = _dt(data["started"])
    data["finished"] = _dt(data.get("finished"))
    data["renamed"] = [tuple(pair) for pair in data.get("renamed", [])]
    data["failed"] = [tuple(pair) for pair in data.get("failed", [])]
    return SyncReport(**data)
