"""GROUP_DUPLICATES at index scale (issue 21): each chunk's MinHash sketch, made at ingest, lets grouping rule
out almost every candidate without reading its text, with the same groups as comparing every text.

Through the real pipeline: the contracts of tests/duplicates_corpus.py (one clause copied into every contract)
and the sample documents, ingested with the real model into real LanceDB indexes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.config import load_settings
from rag.index.store import ChunkStore
from rag.retrieval.candidates import Retrieval
from rag.retrieval.duplicates import resemblance, shingles
from rag.retrieval.retrieve import retrieve
from rag.retrieval.shingles import MIN_AGREEING, SKETCH_BYTES, SKETCH_COLUMN, agreeing, sketch
from rag.service import RagService
from tests.conftest import SAMPLE_DOCS, UNREACHABLE_OLLAMA
from tests.duplicates_corpus import EN_CONFIDENTIALITY, ZH_CONFIDENTIALITY, write_contracts

QUESTIONS = [
    "How long do the confidentiality obligations last?", "保密義務在合約終止後持續多久？",
    "What does the Globex supply agreement say about confidentiality?", "東亞物流採購合約的保密條款怎麼規定？",
    "How much notice is needed to terminate?", "Which law governs the agreement?",
]


def agree(a: str, b: str) -> int:
    one, two = (np.frombuffer(sketch(t), dtype="<u2") for t in (a, b))
    return int(agreeing(one[None, :], two)[0])


def test_a_sketch_is_the_same_on_every_machine_and_agrees_as_often_as_the_texts_resemble():
    # Fixed hashes: an index built on one machine is read on another (a change needs SKETCH_VERSION raised).
    assert len(sketch(EN_CONFIDENTIALITY)) == SKETCH_BYTES
    assert sketch(EN_CONFIDENTIALITY).hex()[:32] == "6fe85ac74ff69fd9382da22cbc0622d1"
    assert sketch("") == sketch("— , ;") == b"\xff" * SKETCH_BYTES  # no letters or digits
    assert sketch("Ok") == sketch("o-K") != sketch("ok!?x")  # as shingles(): normalised, letters and digits
    rng = random.Random(7)
    seen = 0
    for base in (EN_CONFIDENTIALITY, ZH_CONFIDENTIALITY) * 100:  # copies with a few characters changed
        chars = list(base)
        for _ in range(rng.randint(0, len(chars) // 25)):
            chars[rng.randrange(len(chars))] = rng.choice("abcxyz的是在0123")
        copy = "".join(chars)
        if resemblance(shingles(base), shingles(copy)) >= 0.7:
            seen += 1
            assert agree(base, copy) >= MIN_AGREEING  # never ruled out: grouping compares its text
    assert seen > 150
    assert agree(EN_CONFIDENTIALITY, ZH_CONFIDENTIALITY) < MIN_AGREEING
    assert agree(EN_CONFIDENTIALITY, "The Supplier must treat as secret any non-public data it receives.") \
        < MIN_AGREEING


@pytest.fixture(scope="module")
def contracts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sketch-contracts")
    docs = write_contracts(root / "docs")
    report = RagService(load_settings(docs_dir=docs, lancedb_uri=str(root / "index"),
                                      ollama_host=UNREACHABLE_OLLAMA)).sync(full=True)
    assert report.status == "ok", report
    return docs, root / "index"


def _service(docs: Path, index: Path) -> RagService:
    return RagService(load_settings(docs_dir=docs, lancedb_uri=str(index), ollama_host=UNREACHABLE_OLLAMA))


class CountingStore:
    """The real store, counting the rows whose columns grouping fetches (their text among them)."""

    def __init__(self, store: ChunkStore) -> None:
        self.store, self.fetched = store, []

    def complete_rows(self, rows: Any) -> set[str]:
        rows = list(rows)
        self.fetched += [r["chunk_id"] for r in rows if not getattr(r, "complete", True)]
        return self.store.complete_rows(rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _search(svc: RagService, question: str, store: Any = None, **options: Any) -> Retrieval:
    s = svc.settings
    return retrieve(question, store=store or svc.store, embed_query=svc.query_embedder.encode_query,
                    multilingual_model=False, top_k=s.top_k, per_doc=s.max_chunks_per_doc, floor=s.relevance_floor,
                    group_duplicates=True, **options)


def _groups(retrieval: Retrieval) -> list[tuple[str, list[str]]]:
    return [(h.row["chunk_id"], [d.row["chunk_id"] for d in h.duplicates]) for h in retrieval.hits]


def test_sketches_give_the_groups_that_comparing_every_text_gives(contracts):
    svc = _service(*contracts)
    assert svc.store.has_sketches
    formed = 0
    for question in QUESTIONS:
        fast = _search(svc, question)
        whole = _search(svc, question, ids_first=False)  # whole rows, no sketches: every text compared
        assert _groups(fast) == _groups(whole), question
        formed += sum(1 for h in fast.hits if h.duplicates)
    assert formed >= 4  # the clause copied into every contract is grouped (en, zh, named en, named zh)


def test_grouping_reads_the_text_only_of_what_it_keeps_and_of_possible_copies(sample_index: Path, contracts):
    """Before: every candidate's row (~160) was fetched for its text. Now: the kept groups' rows and the few
    candidates whose sketches say they may be copies."""
    svc = _service(SAMPLE_DOCS, sample_index)
    for question in ("How many days of annual leave can be carried over to next year?", "台北出差住宿費上限是多少？"):
        counting = CountingStore(svc.store)
        found = _search(svc, question, store=counting)
        kept = {h.row["chunk_id"] for h in found.hits} | {d.row["chunk_id"] for h in found.hits for d in h.duplicates}
        assert len(found.candidates) > 40
        assert len(counting.fetched) <= len(kept) + 10, (len(counting.fetched), len(kept))
        assert kept <= set(counting.fetched) | {h.row["chunk_id"] for h in found.hits if h.row.complete}
        assert not any(SKETCH_COLUMN in c.row for c in found.candidates)  # rows as a whole-rows search returns them

    svc = _service(*contracts)
    counting = CountingStore(svc.store)
    found = _search(svc, QUESTIONS[0], store=counting)
    (clause,) = [h for h in found.hits if h.duplicates]
    assert {d.row["chunk_id"] for d in clause.duplicates} <= set(counting.fetched)
    assert len(counting.fetched) < len(found.candidates)


def test_an_index_from_before_sketches_groups_the_same_and_gains_them_as_documents_are_rewritten(
        contracts, tmp_path: Path):
    import shutil

    import lancedb

    docs, index = contracts
    old = tmp_path / "old-index"
    shutil.copytree(index, old)
    lancedb.connect(str(old)).open_table("chunks").drop_columns([SKETCH_COLUMN])  # as an index built before
    expected = {q: _groups(_search(_service(docs, index), q)) for q in QUESTIONS[:2]}

    svc = _service(docs, old)
    assert not svc.store.has_sketches
    for question, groups in expected.items():
        assert _groups(_search(svc, question)) == groups  # every text compared, as before

    svc.sync(full=True)  # rewrites every document's rows: now with their sketches
    svc = _service(docs, old)
    assert svc.store.has_sketches
    sketches = svc.store.table().to_arrow().column(SKETCH_COLUMN).to_pylist()
    assert sketches and all(isinstance(s, bytes) and len(s) == SKETCH_BYTES for s in sketches)
    for question, groups in expected.items():
        assert _groups(_search(svc, question)) == groups


def test_a_half_migrated_index_compares_the_rows_without_sketches_on_their_text(contracts, tmp_path: Path):
    """Rows written before the column was added have none: they may be copies of anything, so they are read."""
    import shutil

    import lancedb

    docs, index = contracts
    half = tmp_path / "half"
    shutil.copytree(index, half)
    table = lancedb.connect(str(half)).open_table("chunks")
    table.update(where="doc_path LIKE '%/en/%'", values={SKETCH_COLUMN: None})
    svc = _service(docs, half)
    assert svc.store.has_sketches
    grouped = 0
    for question in QUESTIONS:
        found = _search(svc, question)
        assert _groups(found) == _groups(_search(svc, question, ids_first=False)), question  # every text compared
        grouped += sum(1 for h in found.hits if h.duplicates)
    assert grouped >= 4
