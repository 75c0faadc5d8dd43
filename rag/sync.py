"""Incremental, crash-safe sync of the docs folder into the index (`ragbot ingest` is a full sync).

How a crash (kill -9 included) is survived:

1. Change detection reads the state DB (`rag.state`) and the folder; only files
   whose size or mtime changed are hashed, only files whose bytes changed are
   parsed and embedded. A renamed file (same bytes, new path) has its rows moved,
   not re-embedded.
2. Documents are written in batches. Each batch is ONE LanceDB `merge_insert`
   keyed on `chunk_id`, whose `when_not_matched_by_source_delete` is limited to
   the batch's documents: a single atomic commit (a new table version) in which
   every document of the batch goes from its old chunks to its new ones. A
   reader, or a crash, sees either the commit or not: each document answers
   from its old or its new version, never from neither, never from both.
   Chunk ids are derived from path, position and text, so redoing a batch
   updates the same rows instead of adding duplicates.
3. A file is recorded in the state DB as synced only after its batch commit
   (one SQLite transaction per batch). If the process dies in between, the next
   sync sees the file as changed and redoes it; its vectors come from the
   embedding cache (the rows just written, looked up by model + text hash), so
   the redo costs a parse, not an embed.
4. Renames are one commit per batch too (old rows out, the same rows under the
   new path in), then the records move in one transaction; a crash in between
   is detected as the same rename again, or re-indexed from the cache.
5. Deletions are one commit per 500 documents, and the state rows go after it:
   a crash in between deletes them again next time.
6. A file that fails to parse keeps its previous good chunks; the failure is
   recorded next to it (`last_error`) and reported once, and the file is not
   retried until it changes again.
7. The lock is an `flock`, released by the OS when the process dies; the next
   sync records the dead run as "failed (interrupted)" with the index version
   it left, so history stays true and `rollback` can undo it.

A missing, unreadable or suddenly empty docs folder (an unmounted share) never
deletes the index; deleting more than MASS_DELETE_FRACTION of the documents
(or all of them) needs `allow_mass_delete`.

Withdrawal (`forget`) and rollback stick: a withdrawn document stays out of
the index, even through `--full`, until its file's bytes change; after a
rollback, documents the undone sync brought in or changed keep their restored
version (new ones are withdrawn) until their file changes again, so the next
scheduled sync does not simply redo the bad batch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rag.catalog import SyncReport
from rag.chunking import Chunk, chunk_document
from rag.config import RagSettings
from rag.documents import Document, DocumentError, document_link, iter_document_paths, load_document
from rag.embeddings import Embedder, text_hash
from rag.locks import SyncLock
from rag.state import FileRecord, StateDB
from rag.store import ChunkStore, IndexModelMismatch, to_row

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (files done, files to process, current path)
BATCH_CHUNKS = 512
BATCH_DOCS = 200


def _checkpoint(name: str) -> None:
    """Test hook: pause at a named point so a crash test can kill -9 the process exactly there."""
    if os.environ.get("RAGBOT_TEST_PAUSE_AT") == name:
        print(f"PAUSED {name}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("RAGBOT_TEST_PAUSE_SECONDS", "30")))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class FileStat:
    path: Path
    rel_path: str
    size: int
    mtime_ns: int
    sha256: str | None = None


@dataclass
class SyncPlan:
    """What a sync would do; a dry run prints it and stops."""

    to_index: list[FileStat] = field(default_factory=list)  # added or changed
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    touched: list[FileStat] = field(default_factory=list)  # same bytes, new stat or path: record-only change
    unchanged: int = 0
    mass_delete_blocked: bool = False


class SyncRefused(Exception):
    """The sync would do harm (empty or missing source); the index is kept as it is."""


@dataclass
class Syncer:
    settings: RagSettings
    store: ChunkStore
    state: StateDB
    embedder_factory: Callable[[], Embedder]
    lock: SyncLock

    # -- planning --------------------------------------------------------------------------------------
    def scan(self) -> list[FileStat]:
        """Stat every document file under the docs root (no reading, no hashing)."""
        root = self.settings.docs_dir
        try:
            paths = iter_document_paths(root, self.settings.include_globs, self.settings.exclude_globs)
        except (FileNotFoundError, NotADirectoryError) as err:
            raise SyncRefused(f"docs folder {root} is missing or not a folder ({err.__class__.__name__}); "
                              "the index was kept as it is (DOCS_DIR)") from None
        except PermissionError:
            raise SyncRefused(f"docs folder {root} is not readable; the index was kept as it is") from None
        stats = []
        for path in paths:
            try:
                st = path.stat()
            except OSError:
                continue
            stats.append(FileStat(path, path.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
        return stats

    def plan(self, stats: list[FileStat], records: dict[str, FileRecord], *, full: bool,
             allow_mass_delete: bool) -> SyncPlan:
        plan = SyncPlan()
        if not stats and records and not allow_mass_delete:
            raise SyncRefused(
                f"docs folder {self.settings.docs_dir} is empty but {len(records)} documents are indexed "
                "(an unmounted share?); nothing was deleted. Run `ragbot sync --allow-mass-delete` "
                "if the folder really is meant to be empty."
            )
        on_disk = {s.rel_path for s in stats}
        missing = {p: r for p, r in records.items() if p not in on_disk}
        missing_by_sha = {r.sha256: p for p, r in missing.items() if r.sha256}
        for st in stats:
            rec = records.get(st.rel_path)
            if rec and not full and rec.size == st.size and rec.mtime_ns == st.mtime_ns:
                plan.unchanged += 1
                continue
            if rec and not full and rec.last_error and (rec.error_size, rec.error_mtime_ns) == (
                st.size, st.mtime_ns,
            ):
                plan.unchanged += 1  # still the bytes that failed to parse: retried when the file changes
                continue
            st.sha256 = sha256_file(st.path)
            if rec and rec.sha256 == st.sha256 and (not full or rec.withdrawn):
                plan.touched.append(st)  # same bytes: a touch, or a withdrawn file that did not change
                plan.unchanged += 1
            elif rec is None and not full and st.sha256 in missing_by_sha:
                old = missing_by_sha.pop(st.sha256)
                del missing[old]
                plan.renamed.append((old, st.rel_path))
                plan.touched.append(st)
            else:
                plan.to_index.append(st)
                indexed_before = rec is not None and bool(rec.chunk_ids or rec.withdrawn)
                (plan.changed if indexed_before else plan.added).append(st.rel_path)
        plan.removed = sorted(missing)
        threshold = self.settings.mass_delete_fraction * max(1, len(records))
        too_many = (len(records) >= 4 and len(plan.removed) > threshold) or (plan.removed and not stats)
        if too_many and not allow_mass_delete:
            plan.mass_delete_blocked = True
        return plan

    # -- running ---------------------------------------------------------------------------------------
    def run(self, *, trigger: str = "manual", full: bool = False, dry_run: bool = False,
            allow_mass_delete: bool = False, progress: Progress | None = None) -> SyncReport:
        """One sync under the lock; raises `SyncAlreadyRunning` when another one holds it."""
        self.lock.acquire(trigger)
        try:
            return self._run_locked(trigger=trigger, full=full, dry_run=dry_run,
                                    allow_mass_delete=allow_mass_delete, progress=progress)
        finally:
            self.lock.release()

    def _run_locked(self, *, trigger: str, full: bool, dry_run: bool, allow_mass_delete: bool,
                    progress: Progress | None) -> SyncReport:
        report = SyncReport(started=datetime.now(UTC), trigger=trigger)
        if full and not dry_run:
            self._reset_if_other_model()
        records = self.state.files()
        try:
            plan = self.plan(self.scan(), records, full=full, allow_mass_delete=allow_mass_delete)
        except SyncRefused as err:
            report.status, report.message, report.finished = "refused", str(err), datetime.now(UTC)
            if not dry_run:
                self.state.finish_run(self.state.start_run(report, None), report, None)
            log.error("sync refused: %s", err)
            return report
        report.added, report.changed, report.renamed = plan.added, plan.changed, plan.renamed
        report.unchanged = plan.unchanged
        report.removed = [] if plan.mass_delete_blocked else plan.removed
        if plan.mass_delete_blocked:
            report.message = (
                f"{len(plan.removed)} of {len(records)} documents are gone from the docs folder; they were "
                "NOT removed (more than MASS_DELETE_FRACTION). Re-run with --allow-mass-delete if intended."
            )
        if dry_run:
            report.status, report.finished = "dry_run", datetime.now(UTC)
            return report

        version_before = self.store.version if self.store.exists() else None
        self._close_interrupted_runs(version_before)
        run_id = self.state.start_run(report, version_before)
        try:
            self._apply_renames(plan, records)
            self._index_files(plan.to_index, records, report, progress)
            if not plan.mass_delete_blocked:
                self._remove(plan.removed)
            self._record_touched(plan, records)
            if plan.to_index or plan.renamed or report.removed or not self.store.exists() or full:
                self.store.refresh_indexes()
            report.status = "partial" if report.failed or plan.mass_delete_blocked else "ok"
        except Exception as err:
            report.status, report.message = "failed", f"{type(err).__name__}: {err}"
            log.exception("sync failed")
        report.finished = datetime.now(UTC)
        try:
            version_after = self.store.version if self.store.exists() else None
        except Exception:  # the report must still be recorded
            log.exception("cannot read the index version")
            version_after = None
        self.state.finish_run(run_id, report, version_after)
        log.info("sync %s: +%d ~%d →%d −%d !%d, %d chunks embedded, %d reused, %.1fs", report.status,
                 len(report.added), len(report.changed), len(report.renamed), len(report.removed),
                 len(report.failed), report.chunks_embedded, report.chunks_reused, report.duration_s)
        return report

    def _close_interrupted_runs(self, version_now: int | None) -> None:
        """Record syncs whose process died (kill -9, power loss) as failed; this run finishes their work.

        Their last commit is the current version, so `rollback` can still undo them.
        """
        for run in self.state.unfinished_runs():
            run.report.status = "failed"
            run.report.message = "interrupted: the process stopped before the end (the next sync finished the job)"
            self.state.finish_run(run.id, run.report, version_now)

    def _reset_if_other_model(self) -> None:
        try:
            if self.store.exists():
                self.store.table()
        except IndexModelMismatch:
            log.warning("rebuilding the index for embedding model %s", self.store.model_name)
            self.store.drop()
            self.state.replace_files(r for r in self.state.files().values() if r.withdrawn)

    def _apply_renames(self, plan: SyncPlan, records: dict[str, FileRecord]) -> None:
        """Move renamed documents' rows to their new path, one commit per batch; nothing is re-embedded."""
        stats = {s.rel_path: s for s in plan.touched}
        moves: list[tuple[str, FileRecord, list[dict]]] = []
        for old, new in plan.renamed:
            stat, rec = stats[new], records[old]
            link = document_link(stat.path, new, self.settings.docs_base_url)
            moved = replace(rec, rel_path=new, size=stat.size, mtime_ns=stat.mtime_ns, link=link,
                            last_synced=datetime.now(UTC))
            if rec.withdrawn:  # a move is not a change: it stays withdrawn under its new name
                self.state.write_files(put=[moved], delete=[old])
                continue
            rows = self.store.document_rows(old)
            if not rows:  # never indexed (failed parse), or a crash after moving the rows: index it as new
                self.state.delete_file(old)
                plan.to_index.append(stat)
                continue
            for row in rows:
                row["chunk_id"] = hashlib.sha256(f"{new}\0{row['chunk_id']}".encode()).hexdigest()[:24]
                row["doc_path"], row["link"] = new, link
            moved.chunk_ids = [r["chunk_id"] for r in rows]
            moves.append((old, moved, rows))
            if len(moves) >= BATCH_DOCS:
                self._commit_moves(moves, records)
                moves = []
        if moves:
            self._commit_moves(moves, records)

    def _commit_moves(self, moves: list[tuple[str, FileRecord, list[dict]]], records: dict[str, FileRecord]) -> None:
        _checkpoint("before_rename_write")
        paths = {old for old, _, _ in moves} | {rec.rel_path for _, rec, _ in moves}
        self.store.replace_documents(paths, [row for _, _, rows in moves for row in rows])
        forgotten = self.state.put_synced([rec for _, rec, _ in moves], records,
                                          moved_from={rec.rel_path: old for old, rec, _ in moves})
        self.store.delete_documents(forgotten)

    def _index_files(self, stats: list[FileStat], records: dict[str, FileRecord], report: SyncReport,
                     progress: Progress | None) -> None:
        if not stats:
            return
        embedder = self.embedder_factory()
        pending: list[tuple[FileStat, Document, list[Chunk]]] = []
        pending_chunks = 0
        for done, st in enumerate(stats, start=1):
            if progress:
                progress(done - 1, len(stats), st.rel_path)
            try:
                doc = load_document(st.path, self.settings.docs_dir, base_url=self.settings.docs_base_url,
                                    max_bytes=self.settings.max_file_bytes)
                chunks = chunk_document(
                    doc, embedder.token_offsets, max_tokens=self.settings.chunk_tokens,
                    overlap_tokens=self.settings.chunk_overlap_tokens,
                    model_max_tokens=embedder.max_seq_length,
                )
                if not chunks:
                    raise DocumentError(st.rel_path, "no text to index")
            except DocumentError as err:
                self._record_failure(st, records.get(st.rel_path), err.reason, report)
                continue
            except Exception as err:  # a parser bug must not stop the other files
                self._record_failure(st, records.get(st.rel_path), f"{type(err).__name__}: {err}", report)
                continue
            pending.append((st, doc, chunks))
            pending_chunks += len(chunks)
            if pending_chunks >= BATCH_CHUNKS or len(pending) >= BATCH_DOCS:
                self._write_batch(pending, embedder, report, records)
                pending, pending_chunks = [], 0
        if pending:
            self._write_batch(pending, embedder, report, records)
        if progress:
            progress(len(stats), len(stats), "")

    def _write_batch(self, batch: list[tuple[FileStat, Document, list[Chunk]]], embedder: Embedder,
                     report: SyncReport, records: dict[str, FileRecord]) -> None:
        hashes = [[text_hash(embedder.model_name, c.embed_text) for c in chunks] for _, _, chunks in batch]
        flat = [h for doc_hashes in hashes for h in doc_hashes]
        cached = self.store.vectors_by_hash(flat)
        todo: dict[str, str] = {}
        for (_, _, chunks), doc_hashes in zip(batch, hashes, strict=True):
            for chunk, h in zip(chunks, doc_hashes, strict=True):
                if h not in cached and h not in todo:
                    todo[h] = chunk.embed_text
        _checkpoint("before_embed")
        if todo:
            vectors = embedder.encode(list(todo.values()), batch_size=self.settings.embedding_batch_size)
            cached.update(zip(todo.keys(), vectors, strict=True))
        report.chunks_embedded += len(todo)
        report.chunks_reused += len(flat) - len(todo)
        rows = [
            to_row(chunk, doc, cached[h], h)
            for (_, doc, chunks), doc_hashes in zip(batch, hashes, strict=True)
            for chunk, h in zip(chunks, doc_hashes, strict=True)
        ]
        _checkpoint("before_write")
        self.store.replace_documents({doc.rel_path for _, doc, _ in batch}, rows)
        _checkpoint("after_write")
        now = datetime.now(UTC)
        synced = [
            FileRecord(
                rel_path=doc.rel_path, size=doc.size, mtime_ns=st.mtime_ns, sha256=doc.sha256, kind=doc.kind,
                format=doc.format, title=doc.title, link=doc.link, modified=doc.modified,
                chunk_ids=[c.chunk_id for c in chunks], last_synced=now,
            )
            for st, doc, chunks in batch
        ]
        forgotten = self.state.put_synced(synced, records)
        self.store.delete_documents(forgotten)  # `forget` ran while this batch was prepared

    def _record_failure(self, st: FileStat, previous: FileRecord | None, reason: str,
                        report: SyncReport) -> None:
        report.failed.append((st.rel_path, reason))
        log.warning("skipped %s: %s", st.rel_path, reason)
        for listed in (report.added, report.changed):
            if st.rel_path in listed:
                listed.remove(st.rel_path)
        if previous is not None:  # keep the last good version indexed; retry when the file changes again
            self.state.set_error(st.rel_path, reason, size=st.size, mtime_ns=st.mtime_ns)
            return
        self.state.put_file(FileRecord(
            rel_path=st.rel_path, size=st.size, mtime_ns=st.mtime_ns, sha256=st.sha256 or "",
            kind="document", format=st.path.suffix.lstrip(".").lower(), title=st.path.stem,
            link=document_link(st.path, st.rel_path, self.settings.docs_base_url),
            modified=datetime.fromtimestamp(st.mtime_ns / 1e9, UTC), last_error=reason,
            error_size=st.size, error_mtime_ns=st.mtime_ns,
        ))

    def _remove(self, removed: list[str]) -> None:
        if not removed:
            return
        _checkpoint("before_delete")
        self.store.delete_documents(removed)
        self.state.delete_files(removed)

    def _record_touched(self, plan: SyncPlan, records: dict[str, FileRecord]) -> None:
        renamed_to = {new for _, new in plan.renamed}
        updated = []
        for st in plan.touched:
            rec = records.get(st.rel_path)
            if st.rel_path in renamed_to or rec is None:
                continue
            updated.append(replace(rec, size=st.size, mtime_ns=st.mtime_ns, last_error=None, error_size=None,
                                   error_mtime_ns=None))
        self.store.delete_documents(self.state.put_synced(updated, records))

    # -- other operations ------------------------------------------------------------------------------
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
            st = path.stat()
            rec.size, rec.mtime_ns, rec.sha256 = st.st_size, st.st_mtime_ns, sha256_file(path)
        except OSError:
            pass  # the file is gone already: the next sync removes the record
        rec.withdrawn, rec.chunk_ids, rec.last_error = True, [], None
        rec.error_size = rec.error_mtime_ns = None
        self.state.put_file(rec)
        self.store.delete_documents([key])
        return True

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
                self._record_rollback(run.id, current, run.version_before)
                return current, run.version_before
            raise ValueError("no earlier sync to roll back to")
        finally:
            self.lock.release()

    def _record_rollback(self, run_id: int, current: int, restored: int) -> None:
        now = datetime.now(UTC)
        report = SyncReport(started=now, finished=now, status="ok", trigger="rollback",
                            message=f"index restored from version {current} to version {restored} "
                                    f"(undoing sync #{run_id})")
        self.state.finish_run(self.state.start_run(report, current), report, self.store.version)
        self.state.mark_rolled_back(run_id)

    def _records_from_index(self) -> None:
        """Re-derive the file records from the restored table, so the rollback sticks.

        A restored document keeps the stat of the file the undone sync saw, so the
        next sync leaves it alone until the file changes; a document the undone sync
        added is withdrawn; one it only renamed is found again by the next sync.
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
            records.append(FileRecord(
                rel_path=rel_path, size=prev.size if prev else -1, mtime_ns=prev.mtime_ns if prev else -1,
                sha256=doc["doc_sha256"], kind=doc["kind"], format=doc["format"], title=doc["title"],
                link=doc["link"], modified=doc["modified"], chunk_ids=doc["chunk_ids"], last_synced=now,
            ))
        for rel_path, prev in before.items():
            if rel_path in restored:
                continue
            if prev.withdrawn or not prev.chunk_ids:
                records.append(prev)  # withdrawn, or never indexed (failed parse): as it was
            elif prev.sha256 not in restored_shas:  # the undone sync added it: out until the file changes
                records.append(replace(prev, withdrawn=True, chunk_ids=[], last_error=None))
        self.store.delete_documents(withdraw)
        self.state.replace_files(records)

    def compact(self) -> None:
        """Merge small fragments and drop versions older than KEEP_VERSIONS_HOURS (not during a sync)."""
        self.lock.acquire("compact")
        try:
            self.store.compact(timedelta(hours=self.settings.keep_versions_hours))
        finally:
            self.lock.release()
