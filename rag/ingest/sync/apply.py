"""The writes of one sync: renames, new and changed documents, deletions, record-only touches.

Each step commits to LanceDB first and records the files in the state DB after (see the
package docstring for why that order survives a crash).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from rag.config import RagSettings
from rag.index.catalog import SyncReport
from rag.index.state import FileRecord, StateDB
from rag.index.store import ChunkStore, to_row
from rag.ingest.chunking import Chunk, Sizing, TooManyChunks, chunk_document
from rag.ingest.documents import Document, DocumentError, document_link, load_document
from rag.ingest.documents.limits import ReadLimits, chunks_over_limit
from rag.ingest.documents.loading import title_from_stem
from rag.ingest.documents.model import DocumentSkipped
from rag.ingest.embeddings import Embedder, is_multilingual, text_hash
from rag.ingest.sync.plan import SyncPlan
from rag.ingest.sync.quarantine import ParseMarker
from rag.ingest.sync.scan import FileStat

log = logging.getLogger("rag.ingest.sync")

Progress = Callable[[int, int, str], None]  # (files done, files to process, current path)
BATCH_CHUNKS = 512
BATCH_DOCS = 200


# Observers of a sync's named points (before_read, before_embed, before_write, after_write, before_delete…):
# the crash tests register one that pauses there, so a kill -9 lands exactly at that point (tests/child_hooks.py).
CHECKPOINT_OBSERVERS: list[Callable[[str], None]] = []


def checkpoint(name: str) -> None:
    for observe in CHECKPOINT_OBSERVERS:
        observe(name)


@dataclass
class _Batch:
    """Parsed documents waiting for one commit; `rebuilt` are --full re-reads of unchanged bytes."""

    rebuilt: set[str]
    items: list[tuple[FileStat, Document, list[Chunk], str | None]] = field(default_factory=list)
    chunks: int = 0

    def add(self, st: FileStat, doc: Document, chunks: list[Chunk], moved_from: str | None) -> None:
        self.items.append((st, doc, chunks, moved_from))
        self.chunks += len(chunks)


def chunk_sizing(settings: RagSettings) -> Sizing:
    """How this configuration sizes chunks; a sync re-chunks everything when its signature changes."""
    return Sizing.from_settings(settings, multilingual_model=is_multilingual(settings.embedding_model,
                                                                                settings.embedding_languages))


def _same_content(before: FileRecord | None, after: FileRecord) -> bool:
    if before is None:
        return False
    keys = ("sha256", "kind", "format", "title", "link", "modified", "chunk_ids")
    return all(getattr(before, k) == getattr(after, k) for k in keys)


@dataclass
class Applier:
    settings: RagSettings
    store: ChunkStore
    state: StateDB
    embedder_factory: Callable[[], Embedder]

    # -- renames ---------------------------------------------------------------------------------------
    def apply_renames(self, plan: SyncPlan, records: dict[str, FileRecord], report: SyncReport,
                      progress: Progress | None) -> None:
        """Re-point renamed documents to their new path, one commit per batch (old rows out, new in).

        The file is parsed again, so its title and kind follow its new name and folder; its
        vectors come from the embedding cache (nothing is embedded unless the title changed).
        """
        stats = {s.rel_path: s for s in plan.touched}
        jobs: list[tuple[FileStat, str]] = []
        for old, new in plan.renamed:
            stat, rec = stats[new], records[old]
            if rec.withdrawn:  # a move is not a change: it stays withdrawn under its new name
                link = document_link(stat.path, new, self.settings.docs_base_url)
                moved = replace(rec, rel_path=new, size=stat.size, mtime_ns=stat.mtime_ns, link=link,
                                last_synced=datetime.now(UTC))
                self.state.write_files(put=[moved], delete=[old])
                continue
            if not rec.chunk_ids and rec.held_until_changed:  # skipped or quarantined: so under its new name too
                link = document_link(stat.path, new, self.settings.docs_base_url)
                moved = replace(rec, rel_path=new, size=stat.size, mtime_ns=stat.mtime_ns, link=link,
                                error_size=stat.size, error_mtime_ns=stat.mtime_ns)
                self.state.write_files(put=[moved], delete=[old])
                report.skipped.append((new, rec.last_error or ""))
                continue
            if not rec.chunk_ids:  # never indexed (failed parse): index it as new
                self.state.delete_file(old)
                plan.to_index.append(stat)
                continue
            jobs.append((stat, old))
        self._index(jobs, records, report, progress, renames=True)

    def _move_rows(self, stat: FileStat, old: str, records: dict[str, FileRecord], reason: str,
                   report: SyncReport, kind: str) -> None:
        """A renamed file that cannot be parsed now: move its last good rows, and say why."""
        if kind == "failed":
            report.failed.append((stat.rel_path, reason))
        else:
            report.skipped.append((stat.rel_path, reason))
        log.info("renamed %s -> %s, but cannot read it: %s", old, stat.rel_path, reason)
        rows = self.store.document_rows(old)
        link = document_link(stat.path, stat.rel_path, self.settings.docs_base_url)
        for row in rows:
            row["chunk_id"] = hashlib.sha256(f"{stat.rel_path}\0{row['chunk_id']}".encode()).hexdigest()[:24]
            row["doc_path"], row["link"] = stat.rel_path, link
        moved = replace(records[old], rel_path=stat.rel_path, size=stat.size, mtime_ns=stat.mtime_ns, link=link,
                        chunk_ids=[r["chunk_id"] for r in rows], last_synced=datetime.now(UTC), last_error=reason,
                        error_size=stat.size, error_mtime_ns=stat.mtime_ns, error_kind=kind,  # type: ignore[arg-type]
                        error_sha256=stat.sha256)
        checkpoint("before_rename_write")
        self.store.replace_documents({old, stat.rel_path}, rows)
        forgotten = self.state.put_synced([moved], records, moved_from={stat.rel_path: old})
        self.store.delete_documents(forgotten)

    # -- new and changed documents ---------------------------------------------------------------------
    def index_files(self, stats: list[FileStat], records: dict[str, FileRecord], report: SyncReport,
                    progress: Progress | None, *, rebuilt: set[str] | None = None) -> None:
        self._index([(st, None) for st in stats], records, report, progress, rebuilt=rebuilt or set())

    def _index(self, jobs: list[tuple[FileStat, str | None]], records: dict[str, FileRecord], report: SyncReport,
               progress: Progress | None, *, renames: bool = False, rebuilt: set[str] | None = None) -> None:
        """Parse, chunk, embed what the cache lacks, and write in batches; `jobs` pairs a file with the
        path it was renamed from (or None)."""
        if not jobs:
            return
        embedder = self.embedder_factory()
        sizing = chunk_sizing(self.settings)
        limits = ReadLimits.from_settings(self.settings)
        marker = ParseMarker(self.settings.resolved_state_dir)
        batch = _Batch(rebuilt or set())
        for done, (st, moved_from) in enumerate(jobs, start=1):
            if progress and not renames:
                progress(done - 1, len(jobs), st.rel_path)
            marker.begin(st.rel_path, st.size, st.mtime_ns, st.sha256)  # a kill while parsing quarantines it
            checkpoint("before_read")
            try:
                doc = load_document(st.path, self.settings.docs_dir, base_url=self.settings.docs_base_url,
                                    max_bytes=self.settings.max_file_bytes, limits=limits)
                chunks = chunk_document(doc, embedder.token_offsets, sizing,  # room for its prompt
                                        model_max_tokens=embedder.passage_token_limit, max_chunks=limits.max_chunks)
                if not chunks:
                    raise DocumentError(st.rel_path, "no text to index")
            except Exception as err:  # a parser bug must not stop the other files either
                reason, kind = _failure(st.rel_path, err, limits)
                if moved_from is not None:
                    self._move_rows(st, moved_from, records, reason, report, kind)
                else:
                    self._record_failure(st, records.get(st.rel_path), reason, report, kind)
                continue
            finally:
                marker.end()  # also on Ctrl-C: an interrupted parse is not the file's fault
            batch.add(st, doc, chunks, moved_from)
            if batch.chunks >= BATCH_CHUNKS or len(batch.items) >= BATCH_DOCS:
                self._write_batch(batch, embedder, report, records)
                batch = _Batch(batch.rebuilt)
        if batch.items:
            self._write_batch(batch, embedder, report, records)
        if progress and not renames:
            progress(len(jobs), len(jobs), "")

    def _write_batch(self, batch: _Batch, embedder: Embedder, report: SyncReport,
                     records: dict[str, FileRecord]) -> None:
        items = batch.items
        hashes = [[text_hash(embedder.model_name, c.embed_text) for c in chunks] for _, _, chunks, _ in items]
        flat = [h for doc_hashes in hashes for h in doc_hashes]
        cached = self.store.vectors_by_hash(flat)
        todo: dict[str, str] = {}
        for (_, _, chunks, _), doc_hashes in zip(items, hashes, strict=True):
            for chunk, h in zip(chunks, doc_hashes, strict=True):
                if h not in cached and h not in todo:
                    todo[h] = chunk.embed_text
        checkpoint("before_embed")
        if todo:
            vectors = embedder.encode(list(todo.values()), batch_size=self.settings.embedding_batch_size)
            cached.update(zip(todo.keys(), vectors, strict=True))
        report.chunks_embedded += len(todo)
        report.chunks_reused += len(flat) - len(todo)
        rows = [
            to_row(chunk, doc, cached[h], h)
            for (_, doc, chunks, _), doc_hashes in zip(items, hashes, strict=True)
            for chunk, h in zip(chunks, doc_hashes, strict=True)
        ]
        moved_from = {doc.rel_path: old for _, doc, _, old in items if old is not None}
        checkpoint("before_rename_write" if moved_from else "before_write")
        self.store.replace_documents({doc.rel_path for _, doc, _, _ in items} | set(moved_from.values()), rows)
        checkpoint("after_write")
        now = datetime.now(UTC)
        synced = [
            FileRecord(
                rel_path=doc.rel_path, size=doc.size, mtime_ns=st.mtime_ns, sha256=doc.sha256, kind=doc.kind,
                format=doc.format, title=doc.title, link=doc.link, modified=doc.modified,
                chunk_ids=[c.chunk_id for c in chunks], last_synced=now,
            )
            for st, doc, chunks, _ in items
        ]
        for rec in synced:  # a --full rebuild reports only what re-reading really changed
            if rec.rel_path in batch.rebuilt:
                if _same_content(records.get(rec.rel_path), rec):
                    report.unchanged += 1
                else:
                    report.changed.append(rec.rel_path)
        forgotten = self.state.put_synced(synced, records, moved_from=moved_from)
        self.store.delete_documents(forgotten)  # `forget` ran while this batch was prepared

    def _record_failure(self, st: FileStat, previous: FileRecord | None, reason: str,
                        report: SyncReport, kind: str = "failed") -> None:
        """A failed file is reported at every sync until it is indexed (`still_failing` when its bytes failed
        before); a skipped one (over a limit) is reported and not read again until it changes."""
        if kind == "failed":
            report.failed.append((st.rel_path, reason))
            if previous is not None and previous.failing and (
                (previous.error_size, previous.error_mtime_ns) == (st.size, st.mtime_ns)
                or (st.sha256 is not None and previous.error_sha256 == st.sha256)
            ):
                report.still_failing.append(st.rel_path)
        else:
            report.skipped.append((st.rel_path, reason))
        log.info("cannot index %s: %s", st.rel_path, reason)  # the report says it; logging it louder says it twice
        for listed in (report.added, report.changed):
            if st.rel_path in listed:
                listed.remove(st.rel_path)
        if previous is not None:  # keep the last good version indexed
            self.state.set_error(st.rel_path, reason, size=st.size, mtime_ns=st.mtime_ns, kind=kind, sha256=st.sha256)
            return
        self.state.put_file(FileRecord(
            rel_path=st.rel_path, size=st.size, mtime_ns=st.mtime_ns, sha256=st.sha256 or "",
            kind="document", format=st.path.suffix.lstrip(".").lower(), title=title_from_stem(st.path.stem),
            link=document_link(st.path, st.rel_path, self.settings.docs_base_url),
            modified=datetime.fromtimestamp(st.mtime_ns / 1e9, UTC), last_error=reason,
            error_size=st.size, error_mtime_ns=st.mtime_ns, error_kind=kind, error_sha256=st.sha256,  # type: ignore[arg-type]
        ))

    # -- deletions and touches -------------------------------------------------------------------------
    def remove(self, removed: list[str]) -> None:
        if not removed:
            return
        checkpoint("before_delete")
        self.store.delete_documents(removed)
        self.state.delete_files(removed)

    def record_touched(self, plan: SyncPlan, records: dict[str, FileRecord]) -> None:
        """Same bytes, new stat: the records follow (a touch of the bytes a rollback held back keeps the pin)."""
        renamed_to = {new for _, new in plan.renamed}
        updated = []
        for st in plan.touched:
            rec = records.get(st.rel_path)
            if st.rel_path in renamed_to or rec is None:
                continue
            keep_pin = rec.held_back is not None and st.sha256 == rec.held_sha256
            updated.append(replace(rec, size=st.size, mtime_ns=st.mtime_ns, last_error=None, error_size=None,
                                   error_mtime_ns=None, error_kind=None, error_sha256=None,
                                   held_back=rec.held_back if keep_pin else None,
                                   held_sha256=rec.held_sha256 if keep_pin else None))
        for st in plan.pin_touched:
            rec = records[st.rel_path]
            updated.append(replace(rec, size=st.size, mtime_ns=st.mtime_ns))
        for st in plan.held_touched:
            rec = records[st.rel_path]
            updated.append(replace(rec, error_size=st.size, error_mtime_ns=st.mtime_ns))
        self.store.delete_documents(self.state.put_synced(updated, records))


def _failure(rel_path: str, err: Exception, limits: ReadLimits) -> tuple[str, str]:
    """(reason, kind) for a file that could not be indexed: over a limit is "skipped", else "failed"."""
    if isinstance(err, TooManyChunks):
        return chunks_over_limit(rel_path, err.count, limits).reason, "skipped"
    if isinstance(err, DocumentSkipped):
        return err.reason, "skipped"
    if isinstance(err, MemoryError):  # it may not be so lucky next time: the kill would quarantine it
        return "ran out of memory while reading it; quarantined, not read again until the file changes", "quarantined"
    if isinstance(err, DocumentError):
        return err.reason, "failed"
    return f"{type(err).__name__}: {err}", "failed"
