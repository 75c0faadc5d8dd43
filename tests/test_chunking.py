"""Chunks fit the embedding model, follow sections, and stay sensible for Chinese text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rag.chunking import chunk_document
from rag.documents import Block, Document
from rag.embeddings import load_embedder
from rag.prompt import PromptSource, build_messages


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("sentence-transformers/all-MiniLM-L6-v2")


def _doc(blocks: list[Block], title: str = "Leave policy") -> Document:
    return Document(rel_path="policies/leave.md", title=title, kind="policy", format="md",
                    modified=datetime(2026, 1, 5, tzinfo=UTC), sha256="0" * 64, size=1, link="file:///x", blocks=blocks)


def _chunks(embedder, blocks, **kw):
    return chunk_document(_doc(blocks), embedder.token_offsets, max_tokens=kw.get("max_tokens", 180),
                          overlap_tokens=kw.get("overlap", 30), model_max_tokens=embedder.max_seq_length)


def test_model_is_loaded_once_per_process(embedder):
    assert load_embedder("sentence-transformers/all-MiniLM-L6-v2") is embedder


def test_every_chunk_fits_the_model_so_no_tail_is_lost(embedder):
    long_title_path = ("Leave policy", "3. Annual leave and other forms of paid time off", "3.2 Carry-over rules")
    english = " ".join(f"Rule {i}: unused days carry over only with written approval from the manager."
                       for i in range(200))
    chinese = "員工出差報銷應於返回後三十日內提出申請，並檢附發票或收據正本。" * 120
    chunks = _chunks(embedder, [Block(english, long_title_path), Block(chinese, ("差旅費報銷辦法", "第七條"))])
    for chunk in chunks:
        assert embedder.count_tokens(chunk.embed_text) + 2 <= embedder.max_seq_length
    # Everything was kept: the last words of both paragraphs are in some chunk.
    assert any("Rule 199" in c.text for c in chunks)
    assert any(c.text.endswith("收據正本。") for c in chunks)


def test_chinese_chunks_are_neither_crumbs_nor_walls(embedder):
    chinese = "住宿費每晚上限為新台幣三千二百元，超過部分由員工自行負擔。" * 80
    chunks = _chunks(embedder, [Block(chinese, ("差旅費報銷辦法", "第五條 住宿費"))])
    sizes = [len(c.text) for c in chunks]
    assert len(chunks) > 5
    assert min(sizes[:-1]) >= 100 and max(sizes) <= 400
    assert " " not in chunks[0].text  # no spaces pushed into CJK text


def test_windows_overlap_and_end_on_sentences(embedder):
    text = " ".join(f"Sentence {i} explains one specific detail of the carry-over rule." for i in range(60))
    chunks = _chunks(embedder, [Block(text, ("Leave policy",))])
    assert len(chunks) >= 3
    for first, second in zip(chunks, chunks[1:], strict=False):
        assert first.text.endswith(".")
        tail = first.text.split(". ")[-1]
        assert tail in second.text  # the overlap repeats the end of the previous chunk


def test_sections_are_never_mixed_and_keep_their_path_and_pages(embedder):
    blocks = [
        Block("Employees get 20 days.", ("Leave policy", "3. Annual leave", "3.1 Entitlement"), page=3),
        Block("Up to 5 days carry over.", ("Leave policy", "3. Annual leave", "3.2 Carry-over"), page=3),
        Block("They must be used by March 31.", ("Leave policy", "3. Annual leave", "3.2 Carry-over"), page=4),
    ]
    chunks = _chunks(embedder, blocks)
    assert [c.section for c in chunks] == ["Leave policy › 3. Annual leave › 3.1 Entitlement",
                                           "Leave policy › 3. Annual leave › 3.2 Carry-over"]
    assert (chunks[1].page_start, chunks[1].page_end) == (3, 4)
    assert "March 31" in chunks[1].text and "20 days" not in chunks[1].text
    assert chunks[1].embed_text.startswith("Leave policy › Leave policy › 3. Annual leave › 3.2 Carry-over\n")


def test_sources_that_do_not_fit_the_context_are_dropped_from_the_end():
    sources = [PromptSource(n, f"Doc {n}", "", None, datetime(2026, 1, 1, tzinfo=UTC), "word " * 400)
               for n in range(1, 6)]
    _, kept_all = build_messages("Question?", sources, num_ctx=8192, answer_tokens=512)
    _, kept_few = build_messages("Question?", sources, num_ctx=2800, answer_tokens=256)  # counted high: rag/tokens
    assert [s.number for s in kept_all] == [1, 2, 3, 4, 5]
    assert [s.number for s in kept_few] == [1, 2]
