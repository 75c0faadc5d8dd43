"""Retrieval does not decay with syncs: rows a sync adds are in the indexes when the sync ends.

Unindexed rows are searched by brute force (full-text p50 6 → 43 ms after 1,000 such rows on a
10k index, bench/bench_retrieval.py), so a sync must not leave them for the daily compaction.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rag.service import RagService
from tests.conftest import SAMPLE_DOCS


def test_rows_added_by_an_incremental_sync_are_indexed_when_it_ends(index_copy: Path, tmp_path: Path,
                                                                     make_settings):
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE_DOCS, docs)
    settings = make_settings(lancedb_uri=str(index_copy), docs_dir=docs)
    service = RagService(settings)
    assert service.sync(switch_docs_root=True).status == "ok"  # the copied folder: nothing re-embedded
    (docs / "policies" / "parking.md").write_text(
        "# Parking policy\n\nStaff park in the zeppelin garage on level minus two; visitors get a ticket "
        "from reception.\n", encoding="utf-8")
    report = service.sync()
    assert report.status == "ok" and report.added == ["policies/parking.md"]

    table = service.store.table()
    stats = table.index_stats("text_idx")
    assert stats is not None and stats.num_unindexed_rows == 0
    hits = service.store.search_text("zeppelin garage", limit=3)
    assert hits and hits[0].row["doc_path"] == "policies/parking.md"
