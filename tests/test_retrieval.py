"""Retrieval over the sample corpus with the real model and a real LanceDB index."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.index.store import SearchHit
from rag.retrieval.query import query_terms
from rag.retrieval.retrieve import cap_per_document, fuse
from rag.retrieval.scope import Scope


@pytest.fixture
def service(sample_index: Path, make_settings):
    from rag.service import RagService

    return RagService(make_settings(lancedb_uri=str(sample_index)))


def test_answer_in_one_section_returns_that_chunk_with_its_heading_path(service):
    result = service.search("How many days of annual leave can be carried over to next year?")
    top = result.hits[0].row
    assert top["doc_path"] == "policies/leave-policy.md"
    assert top["section"] == "Leave policy › 3. Annual leave › 3.2 Carry-over"
    assert "March 31" in top["text"]
    assert not result.below_floor


def test_chinese_question_finds_the_chinese_document(service):
    result = service.search("台北出差住宿費每晚上限是多少？")
    top = result.hits[0].row
    assert top["doc_path"] == "policies/差旅費報銷辦法.md"
    assert "3,200" in top["text"]
    assert top["section"].endswith("第五條 住宿費")
    # An English-only model gets little say on a Chinese query.
    assert result.vector_weight < result.text_weight


def test_question_the_documents_do_not_answer_is_below_the_floor(service):
    result = service.search("What is the vesting schedule for employee stock options?")
    assert result.below_floor
    assert result.hits == []


def test_no_document_crowds_out_the_others(service):
    """A question naming no document (a question that names one gets its passages: tests/test_named_document.py)."""
    result = service.search("days", top_k=5)
    per_doc: dict[str, int] = {}
    for hit in result.hits:
        per_doc[hit.doc_path] = per_doc.get(hit.doc_path, 0) + 1
    assert max(per_doc.values()) <= service.settings.max_chunks_per_doc


def test_scope_keeps_other_folders_out(service):
    question = "How many days of annual leave can be carried over?"
    result = service.search(question, scope=Scope(path_prefixes=("contracts/",)))
    assert all(h.doc_path.startswith("contracts/") for h in result.candidates)


def test_index_built_by_another_model_is_refused_with_a_clear_message(sample_index: Path):
    from rag.index.store import ChunkStore, IndexModelMismatch

    store = ChunkStore(str(sample_index), model_name="intfloat/multilingual-e5-small", dim=384)
    with pytest.raises(IndexModelMismatch, match="ragbot sync --full"):
        store.table()


def _hit(chunk_id: str, doc: str, rank: int, score: float = 0.5) -> SearchHit:
    return SearchHit(row={"chunk_id": chunk_id, "doc_path": doc, "text": chunk_id}, score=score, rank=rank)


def test_weighted_fusion_lets_the_trusted_retriever_decide():
    vector = [_hit("v1", "a", 0), _hit("t1", "b", 1)]
    text = [_hit("t1", "b", 0), _hit("v1", "a", 1)]
    assert fuse(vector, text, 0.15, 1.0)[0].row["chunk_id"] == "t1"
    assert fuse(vector, text, 1.0, 0.15)[0].row["chunk_id"] == "v1"


def test_cap_per_document_keeps_rank_order():
    cands = fuse([_hit("a1", "a", 0), _hit("a2", "a", 1), _hit("a3", "a", 2), _hit("b1", "b", 3)], [], 1.0, 1.0)
    assert [c.row["chunk_id"] for c in cap_per_document(cands, top_k=3, per_doc=2)] == ["a1", "a2", "b1"]


def test_query_terms_drop_question_words_and_use_cjk_bigrams():
    assert query_terms("What is the carry-over limit?") == ["carry", "over", "limit"]
    assert "住宿" in query_terms("住宿費上限是多少？") and "多少" not in query_terms("住宿費上限是多少？")


def test_vector_index_is_built_only_once_the_table_is_large_enough(tmp_path: Path):
    from datetime import UTC, datetime

    import numpy as np
    import pyarrow as pa

    from rag.index.store import ChunkStore, chunk_schema

    model = "sentence-transformers/all-MiniLM-L6-v2"
    store = ChunkStore(str(tmp_path / "idx"), model_name=model, dim=384, vector_index_min_rows=600)
    rng = np.random.default_rng(3)

    def add(start: int, count: int) -> np.ndarray:
        vectors = rng.standard_normal((count, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        rows = [{"chunk_id": f"c{start + i}", "doc_path": f"d{(start + i) // 10}.md", "title": "t", "kind": "policy",
                 "format": "md", "link": "file:///x", "modified": datetime.now(UTC), "doc_sha256": "0",
                 "section": "", "page_start": None, "page_end": None, "start_char": 0, "end_char": 0,
                 "ordinal": 0, "text": f"chunk number {start + i}", "embed_hash": f"h{start + i}",
                 "vector": vectors[i].tolist()} for i in range(count)]
        store.table(create=True).add(pa.Table.from_pylist(rows, schema=chunk_schema(384, model)))
        return vectors

    add(0, 400)
    store.refresh_indexes()
    assert {i.index_type for i in store.table().list_indices()} == {"FTS"}
    vectors = add(400, 400)
    store.refresh_indexes()
    assert [i.index_type for i in store.table().list_indices() if "vector" in i.columns] == ["IvfHnswSq"]
    store.refresh_indexes()  # a later sync must not rebuild it
    assert len([i for i in store.table().list_indices() if "vector" in i.columns]) == 1
    assert store.search_vector(vectors[7], limit=3)[0].row["chunk_id"] == "c407"


def test_scope_by_kind_ignores_case(service):
    result = service.search("What are the steps when a data breach happens?", scope=Scope(kinds=("sop",)))
    assert result.candidates and {h.row["kind"] for h in result.candidates} == {"SOP"}


def test_chinese_question_words_scattered_over_a_long_chunk_do_not_pass_for_an_answer():
    """A 400-character chunk (CHUNK_SIZING auto) is judged on passage-sized stretches: the question's
    words spread over unrelated sentences must not add up to the coverage of a passage that answers it."""
    from rag.retrieval.query import query_terms
    from rag.retrieval.relevance import question_coverage

    question = "員工出差住宿費每晚上限是多少？"
    filler = "本公司依法辦理各項業務，並定期檢討相關規定之執行情形。" * 4
    scattered = f"員工應遵守{filler}出差前{filler}住宿須{filler}費用每晚{filler}上限另訂。"
    answering = "員工出差住宿費每晚上限為新臺幣兩千元，超過部分自行負擔。"
    terms = query_terms(question)
    assert len(scattered) <= 480  # about a CHUNK_CHARS=400 chunk with its overlap
    assert question_coverage(question, terms, answering) > 0.9
    assert question_coverage(question, terms, scattered) < 0.41  # below the default floor: declined
    # the title and section belong to every stretch of their chunk
    assert question_coverage(question, terms, filler * 4 + answering + filler * 4, header="差旅費報銷辦法") > 0.9
