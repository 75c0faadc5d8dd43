"""`ChunkStore`: typed access to the LanceDB chunks table; every LanceDB call goes through it.

Each write is one LanceDB commit (a new table version), which is what makes per-document
replacement atomic (see `rag.ingest.sync`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from rag.index.store import indexes, search
from rag.index.store.schema import (
    NO_PROMPTS,
    SKETCH_FIELD,
    TABLE,
    IndexMissing,
    IndexOutdated,
    check_built_with,
    chunk_schema,
    has_sketches,
    sql_str,
)
from rag.index.store.search import SearchHit

# lancedb itself is imported where a table is opened: importing it takes 1.5 s, which commands
# that only read the state DB (`ragbot sources`, `history`) must not pay.


class ChunkStore:
    """Thin, typed access to the chunks table; all LanceDB calls live here."""

    def __init__(
        self,
        uri: str,
        *,
        model_name: str,
        dim: int | Callable[[], int],
        read_consistency_seconds: float = 2.0,
        vector_index_min_rows: int = 10_000,
        storage_options: dict[str, str] | None = None,
        backend: str | Callable[[], str] = "torch",
        vector_space: str = "fp32",
        prompts: str = NO_PROMPTS,
    ) -> None:
        self.uri = uri
        self.model_name = model_name
        self._dim = dim  # a callable (load the model) is called only when a new table needs the size
        # EMBEDDING_BACKEND as it ran (auto resolved), recorded in a new table's schema: a callable is asked only
        # then (resolving auto imports torch, which opening an index for a question must not)
        self._backend = backend
        self.vector_space = vector_space  # the backend's vectors are comparable only within one space
        self.prompts = prompts  # the embedding prompts' record: vectors of other prompts are not comparable
        self.vector_index_min_rows = vector_index_min_rows
        self.outdated: str | None = None  # why the opened index should be rebuilt, or None
        from rag.index.store.lancedb_import import import_lancedb

        self._db = import_lancedb().connect(
            uri,
            read_consistency_interval=timedelta(seconds=read_consistency_seconds),
            storage_options=storage_options,
        )
        self._table: Any = None
        self._lock = threading.Lock()
        self._consistency_s = read_consistency_seconds
        self._sketches: tuple[bool, float] | None = None  # has_sketches, and when it was read

    @property
    def backend(self) -> str:
        if not isinstance(self._backend, str):
            self._backend = str(self._backend())
        return self._backend

    @property
    def dim(self) -> int:
        if not isinstance(self._dim, int):
            self._dim = int(self._dim())
        return self._dim

    # -- opening ---------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return TABLE in self._db.list_tables().tables

    def table(self, *, create: bool = False) -> Any:
        with self._lock:
            if self._table is None:
                if self.exists():
                    table = self._db.open_table(TABLE)
                    self.outdated = check_built_with(
                        table.schema, uri=self.uri, model_name=self.model_name,
                        dim=self._dim if isinstance(self._dim, int) else None,
                        backend=self._backend if isinstance(self._backend, str) else "the current backend",
                        vector_space=self.vector_space, prompts=self.prompts)
                elif create:
                    schema = chunk_schema(self.dim, self.model_name, self.backend, self.vector_space, self.prompts)
                    table = self._db.create_table(TABLE, schema=schema)
                else:
                    raise IndexMissing(f"no index at {self.uri}: run `ragbot ingest` (or `ragbot sync`) first")
                self._table = table
            return self._table

    def check_current(self) -> None:
        """Raise `IndexOutdated` when the index should be rebuilt (`sync --full` does)."""
        self.table()
        if self.outdated:
            raise IndexOutdated(self.outdated)

    @property
    def _fts_column(self) -> str:
        return "text" if self.outdated else "search_text"

    def drop(self) -> None:
        with self._lock:
            if self.exists():
                self._db.drop_table(TABLE)
            self._table = None
            self._sketches = None

    # -- writes ----------------------------------------------------------------------------------------
    def replace_documents(self, rel_paths: set[str], rows: list[dict[str, Any]]) -> None:
        """Make `rows` the only chunks of the documents `rel_paths`, in one atomic commit.

        Chunks that already exist (same id) are kept, new ones inserted, and the
        documents' other chunks deleted; other documents are untouched.
        """
        table = self.table(create=True)
        if not rel_paths:
            return
        if SKETCH_FIELD.name not in table.schema.names:  # an index from before sketches: rows written from now on
            table.add_columns(SKETCH_FIELD)              # carry them (GROUP_DUPLICATES reads no text for them)
            self._sketches = None
        where = "doc_path IN (" + ", ".join(sql_str(p) for p in sorted(rel_paths)) + ")"
        if not rows:
            table.delete(where)
            return
        data = pa.Table.from_pylist(rows, schema=table.schema)
        if table.count_rows(where) == 0:  # nothing to replace: a plain append is one commit too, and cheaper
            table.add(data)
            return
        (
            table.merge_insert("chunk_id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(where)
            .execute(data)
        )

    def delete_documents(self, rel_paths: Iterable[str]) -> None:
        paths = list(rel_paths)
        if not paths or not self.exists():
            return
        table = self.table()
        for start in range(0, len(paths), 500):
            batch = paths[start:start + 500]
            table.delete("doc_path IN (" + ", ".join(sql_str(p) for p in batch) + ")")

    def refresh_indexes(self) -> None:
        """Fold a sync's rows into the search indexes (`rag.index.store.indexes.refresh_indexes`)."""
        indexes.refresh_indexes(self.table(create=True), fts_column=self._fts_column,
                                with_positions=not self.outdated, vector_index_min_rows=self.vector_index_min_rows)

    def compact(self, keep: timedelta) -> None:
        """Merge small fragments and delete versions older than `keep` (bounds disk growth)."""
        if self.exists():
            indexes.compact(self.table(), keep)

    def footprint(self) -> tuple[int, int | None]:
        """(versions kept, bytes of the table on disk; None unless the index is a local folder), for `compact`."""
        return indexes.footprint(self.table(), self.uri) if self.exists() else (0, 0)

    # -- reads -----------------------------------------------------------------------------------------
    @property
    def has_sketches(self) -> bool:
        """Whether rows carry MinHash sketches (rag/retrieval/shingles.py) a search can return for GROUP_DUPLICATES.

        Read from the table as it is now: a rollback may bring back a version from before the column.
        """
        now = time.monotonic()
        if self._sketches is None or now - self._sketches[1] > self._consistency_s:
            # Reading the schema took 0.5 ms a question at 100k chunks; the table handle itself is up to
            # READ_CONSISTENCY_SECONDS behind other processes' writes, so the answer is kept as long.
            self._sketches = (has_sketches(self.table().schema), now)
        return self._sketches[0]

    def count(self, where: str | None = None) -> int:
        return self.table().count_rows(where) if self.exists() else 0

    def vectors_by_hash(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Existing vectors for these embed hashes (the embedding cache)."""
        found: dict[str, np.ndarray] = {}
        if not hashes or not self.exists():
            return found
        table = self.table()
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            batch = unique[start:start + 500]
            where = "embed_hash IN (" + ", ".join(sql_str(h) for h in batch) + ")"
            result = table.search().where(where).select(["embed_hash", "vector"]).limit(None).to_arrow()
            for h, v in zip(result.column("embed_hash").to_pylist(), result.column("vector").to_pylist(),
                            strict=True):
                found[h] = np.asarray(v, dtype=np.float32)
        return found

    def document_rows(self, rel_path: str) -> list[dict[str, Any]]:
        if not self.exists():
            return []
        where = f"doc_path = {sql_str(rel_path)}"
        return self.table().search().where(where).limit(None).to_list()

    def chunk_counts(self) -> dict[str, int]:
        if not self.exists():
            return {}
        paths = self.table().search().select(["doc_path"]).limit(None).to_arrow().column("doc_path")
        counts: dict[str, int] = {}
        for path in paths.to_pylist():
            counts[path] = counts.get(path, 0) + 1
        return counts

    def document_summaries(self) -> dict[str, dict[str, Any]]:
        """Per document: its metadata as indexed and its chunk ids (rebuilds the sync records after a rollback)."""
        if not self.exists():
            return {}
        cols = ["doc_path", "doc_sha256", "title", "kind", "format", "link", "modified", "chunk_id"]
        table = self.table().search().select(cols).limit(None).to_arrow()
        docs: dict[str, dict[str, Any]] = {}
        for row in table.to_pylist():
            doc = docs.setdefault(row["doc_path"], {**row, "chunk_ids": []})
            doc["chunk_ids"].append(row["chunk_id"])
        return docs

    def search_vector(self, vector: np.ndarray, limit: int, where: str | None = None,
                      columns: Sequence[str] | None = None) -> list[SearchHit]:
        """Nearest chunks: whole rows, or ids first (`columns`, completed by `complete_rows`)."""
        return search.search_vector(self.table(), vector, limit, where, columns)

    def search_text(self, text: str, limit: int, where: str | None = None,
                    phrases: Sequence[str] = (), columns: Sequence[str] | None = None) -> list[SearchHit]:
        """BM25 over the normalised text: `text` term by term (any may match), each of `phrases` as an exact
        phrase on top. A query object, not a string, so quotes or AND/OR in a question are never parsed."""
        from lancedb.query import BooleanQuery, MatchQuery, Occur, PhraseQuery

        table = self.table()
        column = self._fts_column
        fts: Any = MatchQuery(text, column)
        if phrases and not self.outdated:  # an old index has no positions to match phrases with
            fts = BooleanQuery([(Occur.SHOULD, fts), *((Occur.SHOULD, PhraseQuery(p, column)) for p in phrases)])
        return search.search_text(table, fts, limit, where, columns)

    def complete_rows(self, rows: Iterable[dict[str, Any]]) -> set[str]:
        """Fetch the other columns of ids-first rows; returns the chunk ids deleted since the search."""
        return search.complete_rows(self.table(), rows)

    # -- versions --------------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return int(self.table(create=True).version)

    def restore(self, version: int) -> None:
        self._sketches = None  # the version restored may be from before the column
        table = self.table()
        table.checkout(version)
        table.restore()
