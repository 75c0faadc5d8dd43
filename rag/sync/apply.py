"""The writes of one sync: renames, new and changed documents, deletions, record-only touches.

Each step commits to LanceDB first and records the files in the state DB after (see the
package docstring for why that order survives a crash).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from rag.catalog import SyncReport
from rag.chunking import Chunk, chunk_document
from rag.config import RagSettings
from rag.documents import Document, DocumentError, document_link, load_document
from rag.embeddings import Embedder, text_hash
from rag.state import FileRecord, StateDB
from rag.store import ChunkStore, to_row
from rag.sync.plan import SyncPlan
from rag.sync.scan import FileStat

log = logging.getLogger("rag.sync")

Progress = Callable[[int, int, str], None]  # (files done, files to process, current path)
BATCH_CHUNKS = 512
BATCH_DOCS = 200


def checkpoint(name: str) -> None:
    """Test hook: pause at a named point so a crash test can kill -9 the process exactly there."""
    if os.environ.get("RAGBOT_TEST_PAUSE_AT") == name:
        print(f"PAUSED {name}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("RAGBOT_TEST_PAUSE_SECONDS", "30")))


@dataclass
class Applier:
    settings: RagSettings
    store: ChunkStore
    state: StateDB
    embedder_factory: Callable[[], Embedder]

    # -- renames ---------------------------------------------------------------------------------------
    def apply_renames(self, plan: SyncPlan, records: dict[str, FileRecord]) -> None:
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
        checkpoint("before_rename_write")
        paths = {old for old, _, _ in moves} | {rec.rel_path for _, rec, _ in moves}
        self.store.replace_documents(paths, [row for _, _, rows in moves for row in rows])
        forgotten = self.state.put_synced([rec for _, rec, _ in moves], records,
                                          moved_from={rec.rel_path: old for old, rec, _ in moves})
        self.store.delete_documents(forgotten)

    # -- new and changed documents ---------------------------------------------------------------------
    def index_files(self, stats: list[FileStat], records: dict[str, FileRecord], report: SyncReport,
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
        checkpoint("before_embed")
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
        checkpoint("before_write")
        self.store.replace_documents({doc.rel_path for _, doc, _ in batch}, rows)
        checkpoint("after_write")
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

    # -- deletions and touches -------------------------------------------------------------------------
    def remove(self, removed: list[str]) -> None:
        if not removed:
            return
        checkpoint("before_delete")
        self.store.delete_documents(removed)
        self.state.delete_files(removed)

    def record_touched(self, plan: SyncPlan, records: dict[str, FileRecord]) -> None:
        renamed_to = {new for _, new in plan.renamed}
        updated = []
        for st in plan.touched:
            rec = records.get(st.rel_path)
            if st.rel_path in renamed_to or rec is None:
                continue
            updated.append(replace(rec, size=st.size, mtime_ns=st.mtime_ns, last_error=None, error_size=None,
                                   error_mtime_ns=None))
        self.store.delete_documents(self.state.put_synced(updated, records))
