"""Operations besides a sync: withdraw a document (`forget`), undo the last sync, compact the index."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rag.config import RagSettings
from rag.index.catalog import SyncReport, held_back_note
from rag.index.state import FileRecord, StateDB
from rag.index.store import ChunkStore
from rag.ingest.sync.scan import sha256_file
from rag.ops.locks import SyncLock


@dataclass
class IndexAdmin:
    settings: RagSettings
    store: ChunkStore
    state: StateDB
    lock: SyncLock

    def normalise_path(self, path: str) -> str:
        """A path as given by a user (relative, ./-prefixed, absolute, Windows slashes) → the record's key."""
        cleaned = path.strip().replace("\\", "/")
        candidate = Path(cleaned)
        if candidate.is_absolute():
            try:
                return candidate.resolve().relative_to(self.settings.docs_dir.resolve()).as_posix()
            except ValueError:
                return cleaned
        while cleaned.startswith("./"):
            cleaned = cleaned[2:]
        return cleaned

    def forget(self, rel_path: str) -> bool:
        """Withdraw a document now, even while a sync runs; it stays out of answers until its file changes.

        The record is marked first and describes the file's current bytes, so neither a running sync
        (see `StateDB.put_synced`) nor the next one brings it back unless the file changes afterwards.
        """
        key = self.normalise_path(rel_path)
        rec = self.state.get_file(key)
        if rec is None:
            return False
        path = self.settings.docs_dir / key
        try:
            st = os.stat(path, follow_symlinks=False)
            rec.size, rec.mtime_ns, rec.sha256 = st.st_size, st.st_mtime_ns, sha256_file(self.settings.docs_dir, key)
        except OSError:
            pass  # the file is gone already: the next sync removes the record
        rec.withdrawn, rec.chunk_ids, rec.last_error = True, [], None
        rec.error_size = rec.error_mtime_ns = rec.error_kind = rec.error_sha256 = None
        rec.held_back = rec.held_sha256 = None  # withdrawn by an admin now, no longer held back by a rollback
        self.state.put_file(rec)
        self.store.delete_documents([key])
        return True

    def unforget(self, rel_path: str) -> bool:
        """Undo `forget`: the record stops matching its file, so the next sync indexes it again ("+ path").

        Under the sync lock: a running sync could otherwise write the withdrawn record back.
        False when the document is not withdrawn.
        """
        key = self.normalise_path(rel_path)
        self.lock.acquire("forget --undo")
        try:
            rec = self.state.get_file(key)
            if rec is None or not rec.withdrawn:
                return False
            self.state.put_file(replace(rec, withdrawn=False, size=-1, mtime_ns=-1, sha256="", chunk_ids=[],
                                        held_back=None, held_sha256=None))
            return True
        finally:
            self.lock.release()

    def rollback(self) -> tuple[int, int]:
        """Restore the table to the version before the last sync not yet rolled back; returns (from, to)."""
        self.lock.acquire("rollback")
        try:
            for run in self.state.runs(limit=200):
                if run.rolled_back or run.report.trigger == "rollback":
                    continue
                if run.version_before is None or run.version_after in (None, run.version_before):
                    continue  # nothing changed in that run
                current = self.store.version
                try:
                    self.store.restore(run.version_before)
                except Exception as err:
                    raise ValueError(
                        f"cannot restore index version {run.version_before} (before sync #{run.id}): {err}. "
                        "Old versions are deleted by compaction after KEEP_VERSIONS_HOURS."
                    ) from None
                self._records_from_index()
                self._restore_chunking(run.chunking_before)
                self._record_rollback(run.id, current, run.version_before)
                return current, run.version_before
            raise ValueError("no earlier sync to roll back to")
        finally:
            self.lock.release()

    def _record_rollback(self, run_id: int, current: int, restored: int) -> None:
        now = datetime.now(UTC)
        held = [(r.rel_path, held_back_note(r.rel_path, r.held_back, withdrawn=r.withdrawn))
                for r in self.state.held_back()]
        report = SyncReport(started=now, finished=now, status="ok", trigger="rollback",
                            message=f"index restored from version {current} to version {restored} "
                                    f"(undoing sync #{run_id})", held_back=held)
        self.state.finish_run(self.state.start_run(report, current), report, self.store.version)
        self.state.mark_rolled_back(run_id)

    def _records_from_index(self) -> None:
        """Re-derive the file records from the restored table, so the rollback sticks.

        A restored document keeps the stat of the file the undone sync saw, so the
        next sync leaves it alone until the file changes; a document the undone sync
        added is withdrawn; one it only renamed is found again by the next sync. Both
        are pinned (`held_back`, with the bytes held back): every view says so until
        the file changes or `ragbot release` lets the next sync index the file.
        """
        before = self.state.files()
        restored = self.store.document_summaries()
        restored_shas = {doc["doc_sha256"] for doc in restored.values()}
        records: list[FileRecord] = []
        withdraw: list[str] = []
        now = datetime.now(UTC)
        for rel_path, doc in restored.items():
            prev = before.get(rel_path)
            if prev is not None and prev.withdrawn:
                records.append(prev)
                withdraw.append(rel_path)
                continue
            pinned = prev is not None and bool(prev.sha256) and prev.sha256 != doc["doc_sha256"]
            records.append(FileRecord(
                rel_path=rel_path, size=prev.size if prev else -1, mtime_ns=prev.mtime_ns if prev else -1,
                sha256=doc["doc_sha256"], kind=doc["kind"], format=doc["format"], title=doc["title"],
                link=doc["link"], modified=doc["modified"], chunk_ids=doc["chunk_ids"], last_synced=now,
                held_back=now if pinned else None, held_sha256=prev.sha256 if pinned and prev else None,
            ))
        for rel_path, prev in before.items():
            if rel_path in restored:
                continue
            if prev.withdrawn or not prev.chunk_ids:
                records.append(prev)  # withdrawn, or never indexed (failed parse): as it was
            elif prev.sha256 not in restored_shas:  # the undone sync added it: out until the file changes
                records.append(replace(prev, withdrawn=True, chunk_ids=[], last_error=None, held_back=now,
                                       held_sha256=prev.sha256))
        self.store.delete_documents(withdraw)
        self.state.replace_files(records)

    def _restore_chunking(self, before: str | None) -> None:
        """The chunk sizing recorded follows the restored index; held when the configuration asks for another."""
        from rag.ingest.sync.apply import chunk_sizing

        if before is None or before == self.state.chunking():
            return
        self.state.set_chunking(before, held=before != chunk_sizing(self.settings).signature)

    def release(self, rel_paths: list[str] | None) -> list[str]:
        """Let the next sync index these files as they are (all held ones when `rel_paths` is None): a
        rollback's pin, a quarantine or a skip over a limit is lifted. Returns the paths released
        ("chunk sizing" when a rollback's hold on the sizing was lifted). Under the sync lock."""
        self.lock.acquire("release")
        try:
            wanted = None if rel_paths is None else {self.normalise_path(p) for p in rel_paths}
            released: list[FileRecord] = []
            for rec in self.state.files().values():
                if wanted is not None and rec.rel_path not in wanted:
                    continue
                if rec.held_back is not None:
                    gone = replace(rec, withdrawn=False, sha256="", chunk_ids=[]) if rec.withdrawn else rec
                    released.append(replace(gone, size=-1, mtime_ns=-1, held_back=None, held_sha256=None))
                elif rec.held_until_changed:
                    released.append(replace(rec, size=-1, mtime_ns=-1, last_error=None, error_size=None,
                                            error_mtime_ns=None, error_kind=None, error_sha256=None))
            self.state.write_files(put=released)
            names = sorted(r.rel_path for r in released)
            if rel_paths is None and self.state.chunking_held():
                self.state.set_chunking(self.state.chunking() or "", held=False)
                names.append("chunk sizing")
            return names
        finally:
            self.lock.release()

    def compact(self) -> None:
        """Merge small fragments and drop versions older than KEEP_VERSIONS_HOURS (not during a sync)."""
        self.lock.acquire("compact")
        try:
            self.store.compact(timedelta(hours=self.settings.keep_versions_hours))
        finally:
            self.lock.release()
