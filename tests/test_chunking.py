"""Chunks fit the embedding model, follow sections, and are sized for what can read them (CHUNK_SIZING)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rag.answering.prompt import PromptSource, build_messages
from rag.config import ConfigError, load_settings
from rag.ingest.chunking import Sizing, chunk_document
from rag.ingest.documents import Block, Document
from rag.ingest.embeddings import load_embedder
from rag.language.textnorm import normalize


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


# -- sizing follows what can read the text (CHUNK_SIZING) ---------------------------------------------------
ZH_CLAUSES = ["員工出差報銷應於返回後{n}日內提出申請，並檢附發票或收據正本。",
              "住宿費每晚上限為新台幣{n}百元，超過部分由員工自行負擔。",
              "搭乘高鐵或飛機須事先經部門主管核准，第{n}次以後改由處長核定。",
              "膳雜費按出差日數計算，每日{n}百元，當日往返者減半支給。"]


def _zh_paragraph(i: int, sentences: int = 6) -> str:
    return "".join(ZH_CLAUSES[(i + k) % len(ZH_CLAUSES)].format(n=10 * i + k) for k in range(sentences))


def _laid_out(blocks: list[Block]) -> Document:
    """A document whose text is its blocks one per line, each block's offsets pointing into it."""
    text, placed = "", []
    for block in blocks:
        start = len(text) + (1 if text else 0)
        text = f"{text}\n{block.text}" if text else block.text
        placed.append(Block(block.text, block.heading_path, block.page, start, start + len(block.text)))
    doc = _doc(placed, title="差旅費報銷辦法")
    doc.text = text
    return doc


def _sizing(chunk_sizing: str, multilingual: bool = False) -> Sizing:
    return Sizing.from_settings(load_settings(chunk_sizing=chunk_sizing), multilingual_model=multilingual)


def _cut(embedder, doc: Document, sizing: Sizing):
    return chunk_document(doc, embedder.token_offsets, sizing, model_max_tokens=embedder.max_seq_length)


def test_a_chinese_document_falls_to_far_fewer_readable_chunks_when_the_model_cannot_read_it(embedder):
    doc = _laid_out([Block(_zh_paragraph(i), ("差旅費報銷辦法", "第五條 住宿費")) for i in range(12)])
    by_tokens, auto = _cut(embedder, doc, _sizing("tokens")), _cut(embedder, doc, _sizing("auto"))
    assert len(auto) * 2 <= len(by_tokens)  # ~180 characters each before: a 1000-char splitter's 4x
    sizes = [len(c.text) for c in auto]
    assert max(sizes) <= 400 and min(sizes[:-1]) >= 200  # CHUNK_CHARS: a readable passage, not a wall
    for chunk in auto:
        # The model sees only what fits its window, cut here on purpose rather than silently by the model.
        assert embedder.count_tokens(chunk.embed_text) + 2 <= embedder.max_seq_length
        header = "差旅費報銷辦法 › 差旅費報銷辦法 › 第五條 住宿費\n"
        assert chunk.embed_text.startswith(header + normalize(chunk.text[:50]))
    assert any(len(c.embed_text) < len(c.text) for c in auto)
    # Nothing lost for full-text search and the reader: every paragraph's last clause is in some chunk.
    for i in range(12):
        assert any(_zh_paragraph(i)[-30:] in c.text for c in auto)
    assert len({c.chunk_id for c in auto}) == len(auto)


def test_chinese_sections_sized_in_characters_keep_their_section_pages_and_exact_spans(embedder):
    long_article = _zh_paragraph(0, sentences=30)  # ~900 characters: cut into overlapping windows
    doc = _laid_out([
        Block(long_article, ("差旅費報銷辦法", "第五條 住宿費"), page=3),
        Block(_zh_paragraph(1, 2), ("差旅費報銷辦法", "第六條 交通費"), page=4),
        Block(_zh_paragraph(2, 2), ("差旅費報銷辦法", "第六條 交通費"), page=5),
    ])
    chunks = _cut(embedder, doc, _sizing("auto"))
    fifth = [c for c in chunks if c.section.endswith("第五條 住宿費")]
    sixth = [c for c in chunks if c.section.endswith("第六條 交通費")]
    assert len(fifth) >= 3 and len(sixth) == 1 and len(fifth) + len(sixth) == len(chunks)
    assert all(c.text in long_article for c in fifth)  # never a clause of 第六條 in a 第五條 chunk
    assert all((c.page_start, c.page_end) == (3, 3) for c in fifth)
    assert (sixth[0].page_start, sixth[0].page_end) == (4, 5)
    for chunk in chunks:  # citations quote exactly what the span points at
        assert doc.text[chunk.start:chunk.end] == chunk.text
    for first, second in zip(fifth, fifth[1:], strict=False):
        assert first.text.endswith("。") and first.text[-20:] in second.text  # ends on a sentence; overlaps


def test_english_text_and_multilingual_models_keep_the_token_budget(embedder):
    english = _laid_out([Block(" ".join(f"Rule {i}: unused days carry over only with written approval."
                                        for i in range(80)), ("Leave policy", "3. Carry-over"))])
    assert _cut(embedder, english, _sizing("auto")) == _cut(embedder, english, _sizing("tokens"))
    chinese = _laid_out([Block(_zh_paragraph(i), ("差旅費報銷辦法",)) for i in range(6)])
    assert _cut(embedder, chinese, _sizing("auto", multilingual=True)) == _cut(embedder, chinese, _sizing("tokens"))
    assert _sizing("auto", multilingual=True).signature == _sizing("tokens").signature  # nothing to re-chunk


def test_whether_the_model_reads_chinese_comes_from_its_languages_as_for_retrieval():
    from rag.ingest.sync.apply import chunk_sizing

    chinese = _zh_paragraph(0)
    assert chunk_sizing(load_settings()).in_chars(chinese)  # all-MiniLM-L6-v2's card: English only
    assert not chunk_sizing(load_settings()).in_chars("Unused days carry over with approval.")
    assert not chunk_sizing(load_settings(embedding_languages=("en", "zh"))).in_chars(chinese)


def test_an_unknown_chunk_sizing_is_refused_at_start_naming_the_variable(monkeypatch):
    monkeypatch.setenv("CHUNK_SIZING", "characters")
    with pytest.raises(ConfigError, match="CHUNK_SIZING"):
        load_settings()
    monkeypatch.setenv("CHUNK_SIZING", "auto")
    monkeypatch.setenv("CHUNK_CHARS", "10")
    with pytest.raises(ConfigError, match="CHUNK_CHARS"):
        load_settings()


def test_changing_chunk_sizing_makes_the_next_sync_re_chunk_and_reuse_unchanged_vectors(tmp_path, make_settings):
    from rag.service import RagService

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "travel.md").write_text("# 差旅費報銷辦法\n\n## 第五條 住宿費\n\n"
                                    + "\n\n".join(_zh_paragraph(i) for i in range(10)) + "\n", encoding="utf-8")
    (docs / "leave.md").write_text("# Leave policy\n\n## Carry-over\n\n" + " ".join(
        f"Rule {i}: unused days carry over only with written approval." for i in range(60)) + "\n", encoding="utf-8")

    def synced(chunk_sizing: str):
        svc = RagService(make_settings(docs_dir=docs, chunk_sizing=chunk_sizing))
        report = svc.sync()
        assert report.status == "ok"
        return report, {p: [r["chunk_id"] for r in svc.store.document_rows(p)] for p in ("travel.md", "leave.md")}

    _, before = synced("tokens")
    report, after = synced("auto")  # a plain sync, no file touched
    assert "chunk sizing changed" in (report.message or "")
    assert len(after["travel.md"]) * 2 <= len(before["travel.md"])
    assert sorted(after["leave.md"]) == sorted(before["leave.md"])  # English: same chunks, not re-embedded
    assert report.chunks_embedded == len(after["travel.md"]) and report.changed == ["travel.md"]

    again, same = synced("auto")  # recorded: the next sync has nothing to do
    assert again.chunks_embedded == 0 and not again.changed and not again.message and same == after

    back, restored = synced("tokens")  # and back: the old chunks' vectors are still cached
    assert "chunk sizing changed" in (back.message or "")
    assert sorted(restored["travel.md"]) == sorted(before["travel.md"])
