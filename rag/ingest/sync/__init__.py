"""Incremental, crash-safe sync of the docs folder into the index (`ragbot ingest` is a full sync).

One job per module: `scan` (which files exist), `plan` (what changed), `apply` (the writes:
renames, indexing, deletions), `admin` (forget, rollback, compaction), `runner` (one run
under the lock, recorded in the history).

How a crash (kill -9 included) is survived:

1. Change detection reads the state DB (`rag.index.state`) and the folder; only files
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
   recorded next to it (`last_error`), and it is retried and reported at every
   sync until it is indexed. A file over a read limit (rag/ingest/documents/limits.py)
   is skipped, and one whose parse killed the process is quarantined (a marker
   written before each parse: `quarantine`); neither is read again until its
   bytes change or `ragbot release`.
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
scheduled sync does not simply redo the bad batch. Such a pin is recorded
(`held_back`) and reported by every later sync until the file changes or
`ragbot release` lifts it.
"""

from __future__ import annotations

from rag.ingest.sync.apply import Progress
from rag.ingest.sync.plan import SyncPlan
from rag.ingest.sync.runner import Syncer
from rag.ingest.sync.scan import FileStat, SyncRefused, sha256_file

__all__ = ["FileStat", "Progress", "SyncPlan", "SyncRefused", "Syncer", "sha256_file"]
