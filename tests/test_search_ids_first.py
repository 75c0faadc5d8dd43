"""Retrieval reads ids and scores first and whole rows only for what it keeps: same answers, nothing lost.

Compared within one run against the whole-rows path (`ids_first=False`, how retrieval read rows
before), on the sample corpus with the real model and a real LanceDB index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rag.index.store import ID_COLUMNS, ROW_COLUMNS
from rag.retrieval.candidates import Retrieval
from rag.retrieval.retrieve import retrieve
from rag.retrieval.scope import Scope

QUESTIONS = [
    "How many days of annual leave can be carried over to next year?",
    "台北出差住宿費每晚上限是多少？",
    "What does the travel policy say about hotels?",  # names its document: the title boost decides
    "What are the steps when a data breach happens?",
    "notice to terminate the ACME master services agreement",
]
SCOPES = [None, Scope(path_prefixes=("policies/",)), Scope(kinds=("sop",)), Scope(path_prefixes=("contracts/",))]


@pytest.fixture(scope="module")
def service(sample_index: Path):
    from rag.config import load_settings
    from rag.service import RagService
    from tests.conftest import SAMPLE_DOCS, UNREACHABLE_OLLAMA

    return RagService(load_settings(docs_dir=SAMPLE_DOCS, lancedb_uri=str(sample_index),
                                    ollama_host=UNREACHABLE_OLLAMA))


def _search(service: Any, question: str, scope: Scope | None, *, ids_first: bool, group: bool) -> Retrieval:
    s = service.settings
    return retrieve(question, store=service.store, embed_query=service.query_embedder.encode_query,
                    multilingual_model=False, top_k=s.top_k, per_doc=s.max_chunks_per_doc, floor=s.relevance_floor,
                    scope=scope, group_duplicates=group, ids_first=ids_first)


@pytest.mark.parametrize("group", [False, True], ids=["capped", "duplicates-grouped"])
@pytest.mark.parametrize("scope", SCOPES, ids=["all", "policies", "kind-sop", "contracts"])
def test_ids_first_finds_the_same_hits_in_the_same_order_with_whole_rows(service, scope, group):
    for question in QUESTIONS:
        before = _search(service, question, scope, ids_first=False, group=group)
        after = _search(service, question, scope, ids_first=True, group=group)
        assert [dict(h.row) for h in after.hits] == [dict(h.row) for h in before.hits], question
        assert [(h.relevance, h.vector_score, h.text_score) for h in after.hits] == \
            [(h.relevance, h.vector_score, h.text_score) for h in before.hits]
        assert [[d.doc_path for d in h.duplicates] for h in after.hits] == \
            [[d.doc_path for d in h.duplicates] for h in before.hits]
        assert (after.best_relevance, after.below_floor) == (before.best_relevance, before.below_floor)
        assert [c.row["chunk_id"] for c in after.candidates] == [c.row["chunk_id"] for c in before.candidates]
        assert all(scope is None or scope.admits(c.doc_path, c.row["kind"]) for c in after.candidates)


def test_a_hit_carries_what_an_answer_cites_and_other_candidates_fetch_theirs_when_read(service):
    question = "How many days of annual leave can be carried over to next year?"
    before = _search(service, question, None, ids_first=False, group=False)
    after = _search(service, question, None, ids_first=True, group=False)
    assert after.hits and all(set(ROW_COLUMNS) <= h.row.keys() for h in after.hits)  # fetched, not on demand
    top = after.hits[0].row
    assert top["section"] == "Leave policy › 3. Annual leave › 3.2 Carry-over" and top["modified"] is not None
    assert top["link"] == before.hits[0].row["link"] and top["page_start"] == before.hits[0].row["page_start"]
    rest = after.candidates[len(after.hits):]
    assert rest and set(rest[-1].row.keys()) < set(ROW_COLUMNS)  # not read yet
    whole = {c.row["chunk_id"]: dict(c.row) for c in before.candidates}
    assert [dict(c.row, text=c.row["text"]) for c in rest] == [whole[c.row["chunk_id"]] for c in rest]
    assert rest[-1].row.get("section") == whole[rest[-1].row["chunk_id"]]["section"]


def test_rows_a_sync_deleted_rewrote_or_compacted_between_search_and_fetch(index_copy: Path, make_settings):
    from rag.service import RagService

    svc = RagService(make_settings(lancedb_uri=str(index_copy)))
    store = svc.store
    vector = svc.query_embedder.encode_query("annual leave carry-over travel hotel expenses")
    hits = store.search_vector(vector, 12, columns=ID_COLUMNS)
    docs = list(dict.fromkeys(h.row["doc_path"] for h in hits))
    assert len(docs) >= 3
    deleted, rewritten = docs[0], docs[1]
    rows = store.document_rows(rewritten)
    for row in rows:
        row["text"] += " (amended)"
    store.delete_documents([deleted])
    store.replace_documents({rewritten}, rows)  # the same chunk ids at new row addresses
    store.table().optimize()  # compaction: every row id the search returned now points nowhere

    gone = store.complete_rows(h.row for h in hits)
    assert gone == {h.row["chunk_id"] for h in hits if h.row["doc_path"] == deleted}
    now = {r["chunk_id"]: r for path in docs[1:] for r in store.document_rows(path)}
    for hit in hits:
        if hit.row["doc_path"] != deleted:
            assert {k: hit.row[k] for k in ROW_COLUMNS} == {k: now[hit.row["chunk_id"]][k] for k in ROW_COLUMNS}
    assert all(h.row["text"].endswith("(amended)") for h in hits if h.row["doc_path"] == rewritten)
