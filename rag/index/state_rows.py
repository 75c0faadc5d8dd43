"""The state DB's tables and how its rows map to records (split from rag/index/state.py, which holds the operations).

A file's row says what the index holds for it and, next to that, what keeps it from being
what the folder holds: a failed parse (retried at every sync), a skip or a quarantine (not
read again until the file's bytes change) or a rollback's pin (the earlier version is served
until the file changes or an admin releases it).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Literal

from rag.index.catalog import SyncReport

SCHEMA = """
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
    withdrawn INTEGER NOT NULL DEFAULT 0,
    error_size INTEGER,
    error_mtime_ns INTEGER
);
CREATE TABLE IF NOT EXISTS sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL,
    trigger TEXT NOT NULL,
    version_before INTEGER,
    version_after INTEGER,
    report TEXT NOT NULL DEFAULT '{}',
    rolled_back INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
# Columns added after the first release: (table, column, declaration).
ADDED_COLUMNS = [
    ("files", "error_size", "INTEGER"),
    ("files", "error_mtime_ns", "INTEGER"),
    ("sync_runs", "rolled_back", "INTEGER NOT NULL DEFAULT 0"),
    ("files", "error_kind", "TEXT"),
    ("files", "error_sha256", "TEXT"),
    ("files", "held_back", "TEXT"),
    ("files", "held_sha256", "TEXT"),
    ("sync_runs", "chunking_before", "TEXT"),
]

# What a recorded error means for the next sync:
#   failed       the parse failed: retried at every sync, reported as failed until it succeeds
#   skipped      over a limit (MAX_UNZIPPED_MB, MAX_DOC_CHARS …): not read again until the file changes
#   quarantined  a sync died while parsing it (OOM kill, crash): not read again until the file changes
ErrorKind = Literal["failed", "skipped", "quarantined"]
HELD_UNTIL_CHANGED: tuple[str, ...] = ("skipped", "quarantined")


@dataclass
class FileRecord:
    """What the index holds for one file: size/mtime/sha256 describe the indexed bytes."""

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
    # Size, mtime and hash of the bytes that failed (or were skipped or quarantined): what "unchanged" means
    error_size: int | None = None
    error_mtime_ns: int | None = None
    error_kind: ErrorKind | None = None  # None with a last_error: a record from before kinds, treated as failed
    error_sha256: str | None = None
    # Pinned by `ragbot rollback` at this time: the earlier version stays served although the file differs,
    # until the file changes again or `ragbot release` lets the next sync index the file.
    held_back: datetime | None = None
    held_sha256: str | None = None  # the file's bytes the pin holds back (a touch of them keeps the pin)

    @property
    def held_until_changed(self) -> bool:
        """Skipped or quarantined: the file is not read again until its bytes change."""
        return bool(self.last_error) and self.error_kind in HELD_UNTIL_CHANGED

    @property
    def failing(self) -> bool:
        """A failed parse, retried at every sync."""
        return bool(self.last_error) and not self.held_until_changed


@dataclass
class SyncRun:
    id: int
    report: SyncReport
    version_before: int | None
    version_after: int | None
    rolled_back: bool = False
    chunking_before: str | None = None  # the chunk sizing the index had before this run (rollback restores it)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def file_row(record: FileRecord) -> dict[str, object]:
    values = asdict(record)
    values["modified"] = iso(record.modified)
    values["last_synced"] = iso(record.last_synced)
    values["held_back"] = iso(record.held_back)
    values["chunk_ids"] = json.dumps(record.chunk_ids)
    values["withdrawn"] = int(record.withdrawn)
    return values


def file_record(row: sqlite3.Row) -> FileRecord:
    return FileRecord(
        rel_path=row["rel_path"], size=row["size"], mtime_ns=row["mtime_ns"], sha256=row["sha256"],
        kind=row["kind"], format=row["format"], title=row["title"], link=row["link"],
        modified=dt(row["modified"]) or datetime.fromtimestamp(0, UTC),
        chunk_ids=json.loads(row["chunk_ids"]), last_synced=dt(row["last_synced"]),
        last_error=row["last_error"], withdrawn=bool(row["withdrawn"]),
        error_size=row["error_size"], error_mtime_ns=row["error_mtime_ns"],
        error_kind=row["error_kind"], error_sha256=row["error_sha256"], held_back=dt(row["held_back"]),
        held_sha256=row["held_sha256"],
    )


def run_record(row: sqlite3.Row) -> SyncRun:
    return SyncRun(row["id"], load_report(row["report"]), row["version_before"], row["version_after"],
                   rolled_back=bool(row["rolled_back"]), chunking_before=row["chunking_before"])


def dump_report(report: SyncReport) -> str:
    data = asdict(report)
    data["started"] = iso(report.started)
    data["finished"] = iso(report.finished)
    return json.dumps(data)  # ASCII: a stray undecodable character cannot stop the run being recorded


_PAIRS = ("renamed", "failed", "skipped", "held_back")


def load_report(text: str) -> SyncReport:
    data = json.loads(text)
    data["started"] = dt(data["started"])
    data["finished"] = dt(data.get("finished"))
    for name in _PAIRS:
        data[name] = [tuple(pair) for pair in data.get(name, [])]
    known = SyncReport.__dataclass_fields__
    return SyncReport(**{k: v for k, v in data.items() if k in known})  # a newer version's fields are ignored
