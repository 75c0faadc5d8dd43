"""The LanceDB chunks table: one row per chunk, document metadata denormalised.

`schema` says what a row is and what built an index, `chunks` holds `ChunkStore` (opening, writes,
reads), `search` the two searches (ids first, whole rows for the few kept), `indexes` their upkeep.
"""

from __future__ import annotations

from rag.index.store.chunks import ChunkStore
from rag.index.store.indexes import FTS_INDEX, MAX_VECTOR_DELTAS
from rag.index.store.schema import (
    ROW_COLUMNS,
    SCHEMA_VERSION,
    TABLE,
    IndexMissing,
    IndexModelMismatch,
    IndexOutdated,
    StoreError,
    chunk_schema,
    sql_str,
    to_row,
)
from rag.index.store.search import ID_COLUMNS, SCOPE_COLUMNS, ChunkRow, SearchHit

__all__ = [
    "FTS_INDEX", "ID_COLUMNS", "MAX_VECTOR_DELTAS", "ROW_COLUMNS", "SCHEMA_VERSION", "SCOPE_COLUMNS", "TABLE",
    "ChunkRow", "ChunkStore", "IndexMissing", "IndexModelMismatch", "IndexOutdated", "SearchHit", "StoreError",
    "chunk_schema", "sql_str", "to_row",
]
