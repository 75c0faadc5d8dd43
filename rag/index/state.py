"""The sync's persistent record: one row per known file, one row per sync run.

SQLite (WAL) on local disk next to the index (or STATE_DIR when the index is on
S3). A file's row is written only after its chunks are committed to LanceDB,
so a crash between the two makes the next sync redo that file, never skip it.
Rows are written in batches, one transaction each: a sync of 10,000 files must
not pay 10,000 fsyncs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from rag.config import RagSettings
from rag.index.catalog import SyncReport
from rag.index.sqlite_file import SqliteFile
from rag.index.state_rows import (
    ADDED_COLUMNS,
    SCHEMA,
    FileRecord,
    SyncRun,
    dump_report,
    file_record,
    file_row,
    iso,
    run_record,
)

__all__ = ["FileRecord", "StateDB", "SyncRun", "remembered_docs_root", "with_remembered_docs_root"]

DOCS_ROOT = "docs_root"  # the real path of the folder the index was built from
DOCS_ROOT_SINCE = "docs_root_since"  # when the index started serving that folder (`gaps` starts there)
CHUNKING = "chunking"  # how the indexed chunks were sized (rag.ingest.chunking.Sizing.signature)
CHUNKING_HELD = "chunking_held"  # "1": a rollback restored chunks of another sizing than the configured one


class StateDB:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "state.sqlite3"
        self._db = SqliteFile(self.path)  # per-thread connections, WAL, BEGIN IMMEDIATE (rag/index/sqlite_file.py)
        self._conn, self._tx = self._db.conn, self._db.tx
        self._conn().executescript(SCHEMA)
        with self._tx() as conn:  # serialised: two processes may open a new database at once
            for table, column, decl in ADDED_COLUMNS:
                known = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in known:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    # -- files -----------------------------------------------------------------------------------------
    def files(self) -> dict[str, FileRecord]:
        return {row["rel_path"]: file_record(row) for row in self._conn().execute("SELECT * FROM files")}

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
                rows.append(file_row(ours))
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
        return file_record(row) if row else None

    def write_files(self, *, put: Iterable[FileRecord] = (), delete: Iterable[str] = ()) -> None:
        """Insert/replace and delete file rows in one transaction (a rename moves a row atomically)."""
        rows = [file_row(r) for r in put]
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
                  mtime_ns: int | None = None, kind: str = "failed", sha256: str | None = None) -> None:
        """Record a failed (or skipped, or quarantined) read of the file's current bytes; its indexed
        version stays as it is. `kind` says what the next sync does (rag.index.state_rows.ErrorKind)."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE files SET last_error = ?, error_size = ?, error_mtime_ns = ?, error_kind = ?, "
                "error_sha256 = ? WHERE rel_path = ?",
                (error, size, mtime_ns, kind if error else None, sha256 if error else None, rel_path),
            )

    def held_back(self) -> list[FileRecord]:
        """Documents a rollback pinned: the earlier version is served although the file differs."""
        rows = self._conn().execute("SELECT * FROM files WHERE held_back IS NOT NULL ORDER BY rel_path")
        return [file_record(r) for r in rows]

    def held_back_among(self, rel_paths: list[str]) -> set[str]:
        """Which of these documents a rollback pinned and still serves (not withdrawn)."""
        if not rel_paths:
            return set()
        marks = ", ".join("?" * len(rel_paths))
        rows = self._conn().execute(f"SELECT rel_path FROM files WHERE rel_path IN ({marks}) AND held_back IS NOT NULL "
                                    "AND withdrawn = 0", rel_paths)
        return {r[0] for r in rows}

    def quarantined(self) -> list[FileRecord]:
        """Files a sync died while parsing (an OOM kill, a crash): not parsed again until they change."""
        rows = self._conn().execute("SELECT * FROM files WHERE error_kind = 'quarantined' AND last_error IS NOT NULL "
                                    "ORDER BY rel_path")
        return [file_record(r) for r in rows]

    def delete_file(self, rel_path: str) -> None:
        self.delete_files([rel_path])

    def delete_files(self, rel_paths: Iterable[str]) -> None:
        self.write_files(delete=rel_paths)

    def replace_files(self, records: Iterable[FileRecord]) -> None:
        """Swap the whole file table in one transaction (after a rollback or a rebuild)."""
        rows = [file_row(r) for r in records]
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
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (DOCS_ROOT,)).fetchone()
            if row is None or row[0] != root:  # a first root, or a switch: `gaps` starts here
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             (DOCS_ROOT_SINCE, iso(datetime.now(UTC))))
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (DOCS_ROOT, root))

    def docs_root_since(self) -> datetime | None:
        """When the index started serving its docs root (None: before this was recorded)."""
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (DOCS_ROOT_SINCE,)).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    # -- how the chunks were sized ---------------------------------------------------------------------
    def chunking(self) -> str | None:
        """The chunk sizing the indexed documents were cut with; None before it was recorded."""
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (CHUNKING,)).fetchone()
        return str(row[0]) if row else None

    def set_chunking(self, signature: str, *, held: bool = False) -> None:
        """`held`: a rollback restored chunks cut with `signature`, which the configuration no longer asks
        for; the next syncs leave them so (and say so) until `ragbot release --all`."""
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (CHUNKING, signature))
            if held:
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')", (CHUNKING_HELD,))
            else:
                conn.execute("DELETE FROM meta WHERE key = ?", (CHUNKING_HELD,))

    def chunking_held(self) -> bool:
        return self._conn().execute("SELECT 1 FROM meta WHERE key = ?", (CHUNKING_HELD,)).fetchone() is not None

    # -- runs ------------------------------------------------------------------------------------------
    def start_run(self, report: SyncReport, version_before: int | None, *, chunking_before: str | None = None) -> int:
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO sync_runs (started, status, trigger, version_before, report, chunking_before) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (iso(report.started), report.status, report.trigger, version_before, dump_report(report),
                 chunking_before),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, report: SyncReport, version_after: int | None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE sync_runs SET finished = ?, status = ?, version_after = ?, report = ? WHERE id = ?",
                (iso(report.finished), report.status, version_after, dump_report(report), run_id),
            )

    def record_run(self, report: SyncReport) -> None:
        """A run that never got going (it crashed before it could start): history must still show it."""
        self.finish_run(self.start_run(report, None), report, None)

    def mark_rolled_back(self, run_id: int) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE sync_runs SET rolled_back = 1 WHERE id = ?", (run_id,))

    def runs(self, limit: int = 20) -> list[SyncRun]:
        rows = self._conn().execute("SELECT * FROM sync_runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [run_record(r) for r in rows]

    def unfinished_runs(self) -> list[SyncRun]:
        """Runs still marked running: under the sync lock, these are runs whose process died."""
        rows = self._conn().execute("SELECT * FROM sync_runs WHERE status = 'running' ORDER BY id").fetchall()
        return [run_record(r) for r in rows]

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
