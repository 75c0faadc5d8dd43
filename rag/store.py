"""The LanceDB chunks table: one row per chunk, document metadata denormalised.

Denormalising title/kind/link/modified into every row means retrieval needs one
query and nothing else. The table's schema metadata records which embedding
model (and dimension) built it, so an index is never queried with vectors of
another model. Each write is one LanceDB commit (a new table version), which is
what makes per-document replacement atomic (see `rag.sync`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from rag.embedding.model_info import NO_PROMPTS
from rag.textnorm import TEXT_NORMALIZATION, normalize

# lancedb itself is imported where a table is opened: importing it takes 1.5 s, which commands
# that only read the state DB (`ragbot sources`, `history`) must not pay.

log = logging.getLogger(__name__)

TABLE = "chunks"
SCHEMA_VERSION = "1"
_FTS_INDEX = "text_idx"
MAX_VECTOR_DELTAS = 8  # syncs folded into the vector index before it is rebuilt whole (bench_retrieval decay)
_SELECT = [
    "chunk_id", "doc_path", "title", "kind", "format", "link", "modified", "doc_sha256", "section",
    "page_start", "page_end", "start_char", "end_char", "ordinal", "text", "embed_hash",
]


class StoreError(Exception):
    """The index cannot be used as asked; the message tells the user what to run."""


class IndexModelMismatch(StoreError):
    pass


class IndexMissing(StoreError):
    pass


class IndexOutdated(IndexModelMismatch):
    """Built by an older text normalisation: still searchable, rebuilt by `ragbot sync --full`."""


def chunk_schema(dim: int, model_name: str, backend: str = "torch", vector_space: str = "fp32",
                 prompts: str = NO_PROMPTS) -> pa.Schema:
    return pa.schema(
        [
            pa.field("chunk_id", pa.string(), nullable=False),
            pa.field("doc_path", pa.string(), nullable=False),
            pa.field("title", pa.string()),
            pa.field("kind", pa.string()),
            pa.field("format", pa.string()),
            pa.field("link", pa.string()),
            pa.field("modified", pa.timestamp("us", tz="UTC")),
            pa.field("doc_sha256", pa.string()),
            pa.field("section", pa.string()),
            pa.field("page_start", pa.int32()),
            pa.field("page_end", pa.int32()),
            pa.field("start_char", pa.int64()),
            pa.field("end_char", pa.int64()),
            pa.field("ordinal", pa.int32()),
            pa.field("text", pa.string()),  # as the document says it: what answers show and quote
            pa.field("search_text", pa.string()),  # section + text normalised (rag.textnorm): full-text search
            pa.field("embed_hash", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ],
        metadata={"embedding_model": model_name, "embedding_dim": str(dim), "schema_version": SCHEMA_VERSION,
                  "embedding_backend": backend, "embedding_vectors": vector_space,
                  "embedding_prompts": prompts, "text_normalization": TEXT_NORMALIZATION},
    )


def sql_str(value: str) -> str:
    """Quote a string literal for a LanceDB SQL filter."""
    return "'" + value.replace("'", "''") + "'"


@dataclass
class SearchHit:
    row: dict[str, Any]
    score: float  # cosine similarity for vector hits, BM25 for full-text hits
    rank: int  # 0-based rank within its retriever


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
        backend: str = "torch",
        vector_space: str = "fp32",
        prompts: str = NO_PROMPTS,
    ) -> None:
        self.uri = uri
        self.model_name = model_name
        self._dim = dim  # a callable (load the model) is called only when a new table needs the size
        self.backend = backend  # EMBEDDING_BACKEND, recorded in a new table's schema
        self.vector_space = vector_space  # the backend's vectors are comparable only within one space
        self.prompts = prompts  # query/passage prompts (Prompts.record()): vectors made with others do not compare
        self.vector_index_min_rows = vector_index_min_rows
        self.outdated: str | None = None  # why the opened index should be rebuilt, or None
        import lancedb

        self._db = lancedb.connect(
            uri,
            read_consistency_interval=timedelta(seconds=read_consistency_seconds),
            storage_options=storage_options,
        )
        self._table: Any = None
        self._lock = threading.Lock()

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
                    self._check_model(table.schema)
                elif create:
                    table = self._db.create_table(
                        TABLE, schema=chunk_schema(self.dim, self.model_name, self.backend, self.vector_space,
                                                  self.prompts))
                else:
                    raise IndexMissing(f"no index at {self.uri}: run `ragbot ingest` (or `ragbot sync`) first")
                self._table = table
            return self._table

    def _check_model(self, schema: pa.Schema) -> None:
        meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
        built_with = meta.get("embedding_model")
        built_dim = meta.get("embedding_dim")
        # An index built by this model name has its size: checking it must not load the model.
        ours = self._dim if isinstance(self._dim, int) else None
        if built_with != self.model_name or (ours is not None and built_dim != str(ours)):
            raise IndexModelMismatch(
                f"the index at {self.uri} was built with embedding model {built_with!r} (dim {built_dim}), "
                f"but EMBEDDING_MODEL is {self.model_name!r}{f' (dim {ours})' if ours else ''}: "
                "set EMBEDDING_MODEL back, or rebuild with `ragbot sync --full`"
            )
        built_prompts = meta.get("embedding_prompts", NO_PROMPTS)  # indexes from before prompts had none
        if built_prompts != self.prompts:
            raise IndexModelMismatch(
                f"the index at {self.uri} was built with embedding prompts {built_prompts}, but the model now "
                f"gets {self.prompts} (its sentence-transformers config, EMBEDDING_QUERY_PREFIX/"
                "EMBEDDING_PASSAGE_PREFIX or its family's default): set them back, or rebuild with `ragbot sync --full`"
            )
        self._check_text_normalization(meta)
        built_space = meta.get("embedding_vectors", "fp32")  # indexes from before backends were torch fp32
        if built_space != self.vector_space:
            raise IndexModelMismatch(
                f"the index at {self.uri} was built with EMBEDDING_BACKEND={meta.get('embedding_backend', 'torch')} "
                f"({built_space} vectors), which {self.backend} ({self.vector_space} vectors) cannot search: "
                "set EMBEDDING_BACKEND back, or rebuild with `ragbot sync --full`"
            )

    def _check_text_normalization(self, meta: dict[str, str]) -> None:
        """An index from before `rag.textnorm` (or another version of it) keeps working, matched on its raw
        text; it says so once, and `ragbot sync --full` rebuilds it (`check_current`)."""
        built = meta.get("text_normalization")
        before = "before text normalisation" if built is None else f"with text normalisation {built}"
        self.outdated = None if built == TEXT_NORMALIZATION else (
            f"the index at {self.uri} was built {before} (now {TEXT_NORMALIZATION}): questions can miss text "
            "written in other forms (full-width letters, CJK compatibility ideographs); "
            "run `ragbot sync --full` to rebuild it"
        )
        if self.outdated:
            log.warning("%s", self.outdated)

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

    # -- writes ----------------------------------------------------------------------------------------
    def replace_documents(self, rel_paths: set[str], rows: list[dict[str, Any]]) -> None:
        """Make `rows` the only chunks of the documents `rel_paths`, in one atomic commit.

        Chunks that already exist (same id) are kept, new ones inserted, and the
        documents' other chunks deleted; other documents are untouched.
        """
        table = self.table(create=True)
        if not rel_paths:
            return
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
        """Create the full-text index once, fold new rows into it, add a vector index when it pays.

        Rows not yet indexed are scanned by every search, and that cost grows with each sync
        (full-text p50 ×7 after 1,000 such rows on a 10k index, ×27 at 100k: bench/bench_retrieval.py),
        so every sync that wrote rows folds them in before it ends. lancedb 0.40 has no index-only
        optimisation (pylance's `optimize_indices` would be 210 MB more), so this is `optimize()`,
        which also merges the sync's small fragments: measured 0.25 s at 10k chunks and ~5 s at
        100k on the loaded 2-core machine, +15 MB until the next compaction drops old versions.
        """
        table = self.table(create=True)
        names = {index.name for index in table.list_indices()}
        from lancedb.index import FTS, HnswSq

        if _FTS_INDEX not in names:
            # Positions make phrase queries possible (quoted terms, VND-22, 第十二條: rag.query).
            table.create_index(self._fts_column, config=FTS(base_tokenizer="icu", with_position=not self.outdated),
                               name=_FTS_INDEX)
        rows = table.count_rows()
        has_vector_index = any("vector" in i.columns for i in table.list_indices())
        if rows >= self.vector_index_min_rows and not has_vector_index:
            log.info("creating vector index over %d chunks", rows)
            table.create_index("vector", config=HnswSq(distance_type="cosine"))
        stats = table.index_stats(_FTS_INDEX)
        if stats is not None and stats.num_unindexed_rows > 0:
            table.optimize()
        # `optimize` adds each sync's rows to the vector index as one more delta, and search visits every
        # delta (101 deltas: 12.7 → 43.6 ms at 15k chunks): rebuild it once they pile up.
        vector = next((i.name for i in table.list_indices() if "vector" in i.columns), None)
        deltas = table.index_stats(vector).num_indices if vector else 0
        if deltas > MAX_VECTOR_DELTAS:
            log.info("rebuilding the vector index (%d deltas)", deltas)
            table.create_index("vector", config=HnswSq(distance_type="cosine"), replace=True)

    def compact(self, keep: timedelta) -> None:
        """Merge small fragments and delete versions older than `keep` (bounds disk growth)."""
        if self.exists():
            self.table().optimize(cleanup_older_than=keep)

    def footprint(self) -> tuple[int, int | None]:
        """(versions kept, bytes of the table on disk; None unless the index is a local folder), for `compact`."""
        if not self.exists():
            return 0, 0
        versions = len(self.table().list_versions())
        folder = Path(self.uri.removeprefix("file://")) / f"{TABLE}.lance"
        if "://" in self.uri.removeprefix("file://") or not folder.is_dir():
            return versions, None
        return versions, sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())

    # -- reads -----------------------------------------------------------------------------------------
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

    def search_vector(self, vector: np.ndarray, limit: int, where: str | None = None) -> list[SearchHit]:
        query = self.table().search(vector, vector_column_name="vector").distance_type("cosine")
        query = query.select([*_SELECT, "_distance"]).limit(limit)
        if where:
            query = query.where(where, prefilter=True)
        rows = query.to_list()
        return [SearchHit(row=r, score=1.0 - float(r.pop("_distance")), rank=i) for i, r in enumerate(rows)]

    def search_text(self, text: str, limit: int, where: str | None = None,
                    phrases: Sequence[str] = ()) -> list[SearchHit]:
        """BM25 over the normalised text: `text` term by term (any may match), each of `phrases` as an exact
        phrase on top. A query object, not a string, so quotes or AND/OR in a question are never parsed."""
        from lancedb.query import BooleanQuery, MatchQuery, Occur, PhraseQuery

        table = self.table()
        column = self._fts_column
        fts: Any = MatchQuery(text, column)
        if phrases and not self.outdated:  # an old index has no positions to match phrases with
            fts = BooleanQuery([(Occur.SHOULD, fts), *((Occur.SHOULD, PhraseQuery(p, column)) for p in phrases)])
        query = table.search(fts, query_type="fts").select([*_SELECT, "_score"]).limit(limit)
        if where:
            query = query.where(where, prefilter=True)
        try:
            rows = query.to_list()
        except Exception as err:  # a query the FTS parser rejects, or the index not built yet
            log.warning("full-text search failed (%s); using vector results only", err)
            return []
        return [SearchHit(row=r, score=float(r.pop("_score", 0.0)), rank=i) for i, r in enumerate(rows)]

    # -- versions --------------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return int(self.table(create=True).version)

    def restore(self, version: int) -> None:
        table = self.table()
        table.checkout(version)
        table.restore()


def to_row(chunk: Any, doc: Any, vector: np.ndarray, embed_hash: str) -> dict[str, Any]:
    """One table row from a chunk and its document (duck-typed to avoid an import cycle)."""
    return {
        "chunk_id": chunk.chunk_id,
        "doc_path": doc.rel_path,
        "title": doc.title,
        "kind": doc.kind,
        "format": doc.format,
        "link": doc.link,
        "modified": doc.modified.astimezone(UTC) if doc.modified.tzinfo else doc.modified.replace(tzinfo=UTC),
        "doc_sha256": doc.sha256,
        "section": chunk.section,
        "page_start": chunk.page_start,
        "page_end": chunk.page_end,
        "start_char": chunk.start,
        "end_char": chunk.end,
        "ordinal": chunk.ordinal,
        "text": chunk.text,
        # The section's headings too: article and clause numbers (第十二條, 4.2 Refunds) are headings.
        "search_text": normalize(f"{chunk.section}\n{chunk.text}" if chunk.section else chunk.text),
        "embed_hash": embed_hash,
        "vector": vector.astype(np.float32).tolist(),
    }

