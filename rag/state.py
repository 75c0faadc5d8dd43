"""The sync's persistent record: one row per known file, one row per sync run.

SQLite (WAL) on local disk next to the index (or STATE_DIR when the index is on
S3). A file's row is written only after its chunks are committed to LanceDB,
so a crash between the two makes the next sync redo that file, never skip it.
Rows are written in batches, one transaction each: a sync of 10,000 files must
not pay 10,000 fsyncs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from rag.catalog import SyncReport
from rag.config import RagSettings
from rag.sqlite_file import SqliteFile

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
DOCS_ROOT = "docs_root"  # the real path of the folder the index was built from
CHUNKING = "chunking"  # how the indexed chunks were sized (rag.chunking.Sizing.signature)
# Columns added after the first release: (table, column, declaration).
_ADDED_COLUMNS = [
    ("files", "error_size", "INTEGER"),
    ("files", "error_mtime_ns", "INTEGER"),
    ("sync_runs", "rolled_back", "INTEGER NOT NULL DEFAULT 0"),
]


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
    # Size and mtime of the bytes that failed to parse: not retried until the file changes again.
    error_size: int | None = None
    error_mtime_ns: int | None = None


@dataclass
class SyncRun:
    id: int
    report: SyncReport
    version_before: int | None
    version_after: int | None
    rolled_back: bool = False


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class StateDB:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "state.sqlite3"
        self._db = SqliteFile(self.path)  # per-thread connections, WAL, BEGIN IMMEDIATE (rag/sqlite_file.py)
        self._conn, self._tx = self._db.conn, self._db.tx
        self._conn().executescript(_SCHEMA)
        with self._tx() as conn:  # serialised: two processes may open a new database at once
            for table, column, decl in _ADDED_COLUMNS:
                known = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in known:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    # -- files -----------------------------------------------------------------------------------------
    def files(self) -> dict[str, FileRecord]:
        return {row["rel_path"]: _record(row) for row in self._conn().execute("SELECT * FROM files")}

    def put_file(self, record: FileRecord) -> None:
        self.put_files([record])

    def put_files(self, records: Iterable[FileRecord]) -> None:
        self.write_files(put=records)

    def put_synced(self, records: Iterable[FileRecord], planned: dict[str, FileRecord], *,
                   moved_from: dict[str, str] | None = None) -> set[str]:
        """Record what a sync wrote, except documents withdrawn meanwhile (`forget` takes no sync lock).

        `planned` are the records the sync started from. A record now withdrawn that was not
        withdrawn then (or was, for other bytes) was forgotten while the sync ran: it stays
        withdrawn (a renamed one under its new path) and its path is returned, so the sync takes
        its rows out again. `moved_from` maps a renamed record's new path to its old one, whose
        row is replaced. One transaction, so a `forget` lands either before it (and is seen here)
        or after it (and deletes the rows itself).
        """
        wanted = {r.rel_path: r for r in records}
        moved_from = moved_from or {}
        if not wanted:
            return set()
        with self._tx() as conn:
            withdrawn: dict[str, tuple[str, int]] = {}
            sources = [moved_from.get(p, p) for p in wanted]
            for start in range(0, len(sources), 500):
                batch = sources[start:start + 500]
                marks = ", ".join("?" * len(batch))
                query = f"SELECT rel_path, sha256, mtime_ns FROM files WHERE withdrawn = 1 AND rel_path IN ({marks})"
                withdrawn.update((r["rel_path"], (r["sha256"], r["mtime_ns"])) for r in conn.execute(query, batch))
            skipped: set[str] = set()
            rows = []
            for path, ours in wanted.items():
                source = moved_from.get(path, path)
                before = planned.get(source)
                now = withdrawn.get(source)
                seen_by_plan = before is not None and before.withdrawn and (before.sha256, before.mtime_ns) == now
                if not ours.withdrawn and now is not None and not seen_by_plan:
                    skipped.add(path)
                    if source == path:
                        continue  # the withdrawn record stays as it is
                    ours = replace(ours, withdrawn=True, chunk_ids=[])
                rows.append(_row(ours))
            if moved_from:
                conn.executemany("DELETE FROM files WHERE rel_path = ?", [(old,) for old in moved_from.values()])
            if rows:
                columns = ", ".join(rows[0])
                marks = ", ".join(f":{k}" for k in rows[0])
                conn.executemany(f"INSERT OR REPLACE INTO files ({columns}) VALUES ({marks})", rows)
        return skipped

    def count_answerable(self) -> int:
        """Documents that can appear in answers (indexed, not withdrawn): one COUNT, asked per question."""
        row = self._conn().execute(
            "SELECT COUNT(*) FROM files WHERE withdrawn = 0 AND chunk_ids != '[]'"
        ).fetchone()
        return int(row[0])

    def get_file(self, rel_path: str) -> FileRecord | None:
        row = self._conn().execute("SELECT * FROM files WHERE rel_path = ?", (rel_path,)).fetchone()
        return _record(row) if row else None

    def write_files(self, *, put: Iterable[FileRecord] = (), delete: Iterable[str] = ()) -> None:
        """Insert/replace and delete file rows in one transaction (a rename moves a row atomically)."""
        rows = [_row(r) for r in put]
        gone = [(p,) for p in delete]
        if not rows and not gone:
            return
        with self._tx() as conn:
            if gone:
                conn.executemany("DELETE FROM files WHERE rel_path = ?", gone)
            if rows:
                columns = ", ".join(rows[0])
                marks = ", ".join(f":{k}" for k in rows[0])
                conn.executemany(f"INSERT OR REPLACE INTO files ({columns}) VALUES ({marks})", rows)

    def set_error(self, rel_path: str, error: str | None, *, size: int | None = None,
                  mtime_ns: int | None = None) -> None:
        """Record a failed parse of the file's current bytes; its indexed version stays as it is."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE files SET last_error = ?, error_size = ?, error_mtime_ns = ? WHERE rel_path = ?",
                (error, size, mtime_ns, rel_path),
            )

    def delete_file(self, rel_path: str) -> None:
        self.delete_files([rel_path])

    def delete_files(self, rel_paths: Iterable[str]) -> None:
        self.write_files(delete=rel_paths)

    def replace_files(self, records: Iterable[FileRecord]) -> None:
        """Swap the whole file table in one transaction (after a rollback or a rebuild)."""
        rows = [_row(r) for r in records]
        with self._tx() as conn:
            conn.execute("DELETE FROM files")
            if rows:
                columns = ", ".join(rows[0])
                marks = ", ".join(f":{k}" for k in rows[0])
                conn.executemany(f"INSERT INTO files ({columns}) VALUES ({marks})", rows)

    # -- the docs root ---------------------------------------------------------------------------------
    def docs_root(self) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (DOCS_ROOT,)).fetchone()
        return str(row[0]) if row else None

    def set_docs_root(self, root: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (DOCS_ROOT, root))

    # -- how the chunks were sized ---------------------------------------------------------------------
    def chunking(self) -> str | None:
        """The chunk sizing the indexed documents were cut with; None before it was recorded."""
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (CHUNKING,)).fetchone()
        return str(row[0]) if row else None

    def set_chunking(self, signature: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (CHUNKING, signature))

    # -- runs ------------------------------------------------------------------------------------------
    def start_run(self, report: SyncReport, version_before: int | None) -> int:
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO sync_runs (started, status, trigger, version_before, report) "
                "VALUES (?, ?, ?, ?, ?)",
                (_iso(report.started), report.status, report.trigger, version_before, _dump(report)),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, report: SyncReport, version_after: int | None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE sync_runs SET finished = ?, status = ?, version_after = ?, report = ? WHERE id = ?",
                (_iso(report.finished), report.status, version_after, _dump(report), run_id),
            )

    def record_run(self, report: SyncReport) -> None:
        """A run that never got going (it crashed before it could start): history must still show it."""
        self.finish_run(self.start_run(report, None), report, None)

    def mark_rolled_back(self, run_id: int) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE sync_runs SET rolled_back = 1 WHERE id = ?", (run_id,))

    def runs(self, limit: int = 20) -> list[SyncRun]:
        rows = self._conn().execute("SELECT * FROM sync_runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [
            SyncRun(r["id"], _load(r["report"]), r["version_before"], r["version_after"],
                    rolled_back=bool(r["rolled_back"]))
            for r in rows
        ]

    def unfinished_runs(self) -> list[SyncRun]:
        """Runs still marked running: under the sync lock, these are runs whose process died."""
        rows = self._conn().execute("SELECT * FROM sync_runs WHERE status = 'running' ORDER BY id").fetchall()
        return [SyncRun(r["id"], _load(r["report"]), r["version_before"], r["version_after"],
                        rolled_back=bool(r["rolled_back"])) for r in rows]

    def last_report(self) -> SyncReport | None:
        runs = self.runs(limit=1)
        return runs[0].report if runs else None


def with_remembered_docs_root(settings: RagSettings) -> RagSettings:
    """Without DOCS_DIR (env, .env or --docs-dir), use the folder the index was built from."""
    if settings.docs_dir_explicit:
        return settings
    remembered = remembered_docs_root(settings.resolved_state_dir)
    if remembered is None or Path(remembered) == settings.docs_dir:
        return settings
    return settings.model_copy(update={"docs_dir": Path(remembered)})


def remembered_docs_root(directory: Path) -> str | None:
    """The docs root recorded in the state DB in `directory`, read without creating anything."""
    path = directory / "state.sqlite3"
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (DOCS_ROOT,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:  # an older state DB without the table, or one being created
        return None
    return str(row[0]) if row else None


def _row(record: FileRecord) -> dict[str, object]:
    values = asdict(record)
    values["modified"] = _iso(record.modified)
    values["last_synced"] = _iso(record.last_synced)
    values["chunk_ids"] = json.dumps(record.chunk_ids)
    values["withdrawn"] = int(record.withdrawn)
    return values


def _record(row: sqlite3.Row) -> FileRecord:
    return FileRecord(
        rel_path=row["rel_path"], size=row["size"], mtime_ns=row["mtime_ns"], sha256=row["sha256"],
        kind=row["kind"], format=row["format"], title=row["title"], link=row["link"],
        modified=_dt(row["modified"]) or datetime.fromtimestamp(0, UTC),
        chunk_ids=json.loads(row["chunk_ids"]), last_synced=_dt(row["last_synced"]),
        last_error=row["last_error"], withdrawn=bool(row["withdrawn"]),
        error_size=row["error_size"], error_mtime_ns=row["error_mtime_ns"],
    )


def _dump(report: SyncReport) -> str:
    data = asdict(report)
    data["started"] = _iso(report.started)
    data["finished"] = _iso(report.finished)
    return json.dumps(data)  # ASCII: a stray undecodable character cannot stop the run being recorded


def _load(text: str) -> SyncReport:
    data = json.loads(text)
    data["started"] = _dt(data["started"])
    data["finished"] = _dt(data.get("finished"))
    data["renamed"] = [tuple(pair) for pair in data.get("renamed", [])]
    data["failed"] = [tuple(pair) for pair in data.get("failed", [])]
    data["skipped"] = [tuple(pair) for pair in data.get("skipped", [])]
    return SyncReport(**data)
