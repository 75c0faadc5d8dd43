"""Keeping the chunks table's search indexes current, and its disk use bounded."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from rag.index.store.schema import TABLE

log = logging.getLogger(__name__)

FTS_INDEX = "text_idx"
MAX_VECTOR_DELTAS = 8  # syncs folded into the vector index before it is rebuilt whole (bench_retrieval decay)


def refresh_indexes(table: Any, *, fts_column: str, with_positions: bool, vector_index_min_rows: int) -> None:
    """Create the full-text index once, fold new rows into it, add a vector index when it pays.

    Rows not yet indexed are scanned by every search, and that cost grows with each sync
    (full-text p50 ×7 after 1,000 such rows on a 10k index, ×27 at 100k: bench/bench_retrieval.py),
    so every sync that wrote rows folds them in before it ends. lancedb 0.40 has no index-only
    optimisation (pylance's `optimize_indices` would be 210 MB more), so this is `optimize()`,
    which also merges the sync's small fragments: measured 0.25 s at 10k chunks and ~5 s at
    100k on the loaded 2-core machine, +15 MB until the next compaction drops old versions.
    """
    names = {index.name for index in table.list_indices()}
    from lancedb.index import FTS, HnswSq

    if FTS_INDEX not in names:
        # Positions make phrase queries possible (quoted terms, VND-22, 第十二條: rag.retrieval.query).
        table.create_index(fts_column, config=FTS(base_tokenizer="icu", with_position=with_positions),
                           name=FTS_INDEX)
    rows = table.count_rows()
    has_vector_index = any("vector" in i.columns for i in table.list_indices())
    if rows >= vector_index_min_rows and not has_vector_index:
        log.info("creating vector index over %d chunks", rows)
        table.create_index("vector", config=HnswSq(distance_type="cosine"))
    stats = table.index_stats(FTS_INDEX)
    if stats is not None and stats.num_unindexed_rows > 0:
        table.optimize()
    # `optimize` adds each sync's rows to the vector index as one more delta, and search visits every
    # delta (101 deltas: 12.7 → 43.6 ms at 15k chunks): rebuild it once they pile up.
    vector = next((i.name for i in table.list_indices() if "vector" in i.columns), None)
    deltas = table.index_stats(vector).num_indices if vector else 0
    if deltas > MAX_VECTOR_DELTAS:
        log.info("rebuilding the vector index (%d deltas)", deltas)
        table.create_index("vector", config=HnswSq(distance_type="cosine"), replace=True)


def compact(table: Any, keep: timedelta) -> None:
    """Merge small fragments and delete versions older than `keep` (bounds disk growth)."""
    table.optimize(cleanup_older_than=keep)


def footprint(table: Any, uri: str) -> tuple[int, int | None]:
    """(versions kept, bytes of the table on disk; None unless the index is a local folder)."""
    versions = len(table.list_versions())
    folder = Path(uri.removeprefix("file://")) / f"{TABLE}.lance"
    if "://" in uri.removeprefix("file://") or not folder.is_dir():
        return versions, None
    return versions, sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
