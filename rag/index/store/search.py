"""Vector and full-text search over the chunks table, ids first and whole rows only for what is kept.

Reading a row's columns costs per column and per row (at 100k chunks, 80 whole rows took the vector
search from ~3.4 to ~10.7 ms), and retrieval keeps only the top 5–10 of ~160 candidates. So a search
can return just the columns fusion and the per-document cap need (`ID_COLUMNS`) plus the row id,
and `complete_rows` fetches the other columns of the few kept rows in one take. The rows of the
candidates not kept complete themselves, all at once, the first time any caller reads a column they
lack (diagnostics and `ragbot eval` read them; answers never do), so nothing of the row is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rag.index.store.schema import ROW_COLUMNS, sql_str

log = logging.getLogger(__name__)

# What fusion (chunk id), the per-document cap and the title boost (document path and title) read of
# every candidate; a scope's check also reads the kind (`SCOPE_COLUMNS`).
ID_COLUMNS = ("chunk_id", "doc_path", "title")
SCOPE_COLUMNS = (*ID_COLUMNS, "kind")


@dataclass
class SearchHit:
    row: dict[str, Any]
    score: float  # cosine similarity for vector hits, BM25 for full-text hits
    rank: int  # 0-based rank within its retriever


class ChunkRow(dict):  # type: ignore[type-arg]
    """A hit's row from an ids-first search: the columns asked for, the rest fetched when first read.

    Reading a column of `ROW_COLUMNS` it lacks completes every row of the same search still missing
    columns, in one take; `complete_rows` completes chosen rows first (the ones retrieval keeps).
    """

    def __init__(self, values: dict[str, Any], row_id: int, batch: _RowBatch) -> None:
        super().__init__(values)
        self.row_id = row_id
        self.batch = batch
        self.complete = False
        self.gone = False  # deleted from the index between the search and the fetch

    def __missing__(self, key: str) -> Any:
        if key in ROW_COLUMNS and not self.complete:
            self.batch.complete_all()
            if dict.__contains__(self, key):
                return dict.__getitem__(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


class _RowBatch:
    """The rows of one search, so that a lazy read completes them together."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.rows: list[ChunkRow] = []

    def complete_all(self) -> None:
        complete_rows(self.table, self.rows)


def _hits(table: Any, result: Any, score_column: str, *, similarity: bool,
          columns: Sequence[str] | None) -> list[SearchHit]:
    scores = [float(s) if s is not None else 0.0 for s in result.column(score_column).to_pylist()]
    if similarity:
        scores = [1.0 - s for s in scores]  # cosine distance → similarity
    if columns is None:
        rows: list[dict[str, Any]] = result.drop_columns([score_column]).to_pylist()
    else:
        batch = _RowBatch(table)
        row_ids = result.column("_rowid").to_pylist()
        values = result.select(list(columns)).to_pylist()
        rows = batch.rows = [ChunkRow(v, int(r), batch) for v, r in zip(values, row_ids, strict=True)]
    return [SearchHit(row=row, score=score, rank=i) for i, (row, score) in enumerate(zip(rows, scores, strict=True))]


def search_vector(table: Any, vector: Any, limit: int, where: str | None = None,
                  columns: Sequence[str] | None = None) -> list[SearchHit]:
    """Nearest chunks by cosine similarity; whole rows, or only `columns` (ids first) when given."""
    query = table.search(vector, vector_column_name="vector").distance_type("cosine")
    query = query.select([*(columns or ROW_COLUMNS), "_distance"]).limit(limit)
    if columns is not None:
        query = query.with_row_id(True)
    if where:
        query = query.where(where, prefilter=True)
    return _hits(table, query.to_arrow(), "_distance", similarity=True, columns=columns)


def search_text(table: Any, fts: Any, limit: int, where: str | None = None,
                columns: Sequence[str] | None = None) -> list[SearchHit]:
    """BM25 for the full-text query object `fts`; whole rows, or only `columns` (ids first) when given.

    A query the FTS parser rejects, or an index not built yet, gives no hits (logged): the vector side answers.
    """
    query = table.search(fts, query_type="fts").select([*(columns or ROW_COLUMNS), "_score"]).limit(limit)
    if columns is not None:
        query = query.with_row_id(True)
    if where:
        query = query.where(where, prefilter=True)
    try:
        result = query.to_arrow()
    except Exception as err:
        log.warning("full-text search failed (%s); using vector results only", err)
        return []
    return _hits(table, result, "_score", similarity=False, columns=columns)


def complete_rows(table: Any, rows: Iterable[dict[str, Any]]) -> set[str]:
    """Fill in the missing columns of these ids-first rows (others are left as they are), in one take.

    Returns the chunk ids no longer in the index. Row ids belong to the table version the search read:
    a sync that compacted or rewrote rows since makes some point nowhere (or elsewhere), so every fetched
    row is matched by its chunk id, and the ones not found that way are looked up by chunk id.
    """
    todo = [r for r in rows if isinstance(r, ChunkRow) and not r.complete]
    if not todo:
        return set()
    wanted = {dict.__getitem__(r, "chunk_id") for r in todo}
    # Only the columns the rows lack (and the chunk id to match them by): Lance reads column by column, and
    # at 100k chunks 10 rows took 4.1 ms with all 16 columns, 2.0 ms with two.
    held = set.intersection(*(set(dict.keys(r)) for r in todo))
    needed = ["chunk_id", *(c for c in ROW_COLUMNS if c not in held)]
    found: dict[str, dict[str, Any]] = {}
    try:
        taken = table.take_row_ids(list(dict.fromkeys(r.row_id for r in todo))).select(needed)
        found = {row["chunk_id"]: row for row in taken.to_arrow().to_pylist() if row["chunk_id"] in wanted}
    except Exception as err:  # row ids of a version since compacted away: the chunk ids below find them
        log.info("fetching rows by row id failed (%s); looking them up by chunk id", err)
    missing = sorted(wanted - found.keys())
    for start in range(0, len(missing), 500):
        where = "chunk_id IN (" + ", ".join(sql_str(c) for c in missing[start:start + 500]) + ")"
        result = table.search().where(where).select(list(ROW_COLUMNS)).limit(None).to_arrow()  # all: rewritten
        found.update((row["chunk_id"], row) for row in result.to_pylist())
    gone = set()
    for row in todo:
        row.complete = True
        full = found.get(dict.__getitem__(row, "chunk_id"))
        if full is None:
            row.gone = True
            gone.add(dict.__getitem__(row, "chunk_id"))
        else:
            row.update(full)
    return gone
