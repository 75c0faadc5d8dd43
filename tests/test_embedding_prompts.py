"""Models that need query/passage prompts get them in every backend, the index remembers them, and the
vector side is trusted on Chinese questions only when the model's languages include Chinese.

The prompted model is a real sentence-transformers model built here: a tiny BERT with random weights
and the bundled MiniLM tokenizer, saved with `prompts` in its config_sentence_transformers.json.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.ingest.embeddings import describe_model, load_embedder, packaged_model_path
from tests.conftest import UNREACHABLE_OLLAMA

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
CHINESE_QUESTION = "差旅費報銷的期限是多久？"
MAX_TOKENS = 64
PROMPTS = {"query": "query: ", "passage": "passage: represent this company document for retrieval: "}


def _card(folder: Path, languages: str) -> None:
    (folder / "README.md").write_text(f"---\nlanguage: {languages}\nlibrary_name: sentence-transformers\n---\n"
                                      "# A test model\n", encoding="utf-8")


@pytest.fixture(scope="module")
def prompted_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentence-transformers model folder declaring PROMPTS, whose card says it reads English and Chinese."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    root = tmp_path_factory.mktemp("prompted-model")
    tokenizer = AutoTokenizer.from_pretrained(str(packaged_model_path(MINILM)))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=48, max_position_embeddings=128)
    BertModel(config).save_pretrained(root / "hf")
    tokenizer.save_pretrained(root / "hf")
    transformer = Transformer(str(root / "hf"), max_seq_length=MAX_TOKENS)
    model = SentenceTransformer(modules=[transformer, Pooling(32, "mean"), Normalize()], prompts=PROMPTS,
                                device="cpu")
    model.save(str(root / "model"))
    _card(root / "model", "\n- en\n- zh")
    return root / "model"


def _reference(model_dir: Path, texts: list[str]) -> np.ndarray:
    """sentence-transformers itself on the prefixed texts, with no prompt of its own."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    return model.encode(texts, prompt="", normalize_embeddings=True, convert_to_numpy=True)


def test_questions_and_chunks_are_embedded_with_the_models_own_prompts_in_every_backend(prompted_model: Path,
                                                                                       tmp_path: Path):
    question, chunk = "How many days of leave can I carry over?", "Employees may carry over five days of leave."
    query_ref, passage_ref, raw = _reference(prompted_model, [PROMPTS["query"] + question,
                                                              PROMPTS["passage"] + chunk, chunk])
    assert float(passage_ref @ raw) < 0.999  # the prompt really changes the vector: this test can fail
    for backend, floor in (("torch", 0.9999), ("onnx", 0.9999), ("torch-bf16", 0.99)):
        embedder = load_embedder(str(prompted_model), backend, device="cpu", cache_root=tmp_path / "onnx")
        assert (embedder.prompts.query, embedder.prompts.passage) == (PROMPTS["query"], PROMPTS["passage"])
        assert float(embedder.encode_query(question) @ query_ref) >= floor, backend
        assert float(embedder.encode([chunk])[0] @ passage_ref) >= floor, backend
        assert float(embedder.encode([question], queries=True)[0] @ query_ref) >= floor, backend


@pytest.fixture(scope="module")
def prompted_index(prompted_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A docs folder with a long English and a long Chinese document, ingested with the prompted model."""
    from rag.config import load_settings
    from rag.service import RagService

    root = tmp_path_factory.mktemp("prompted-index")
    docs = root / "docs"
    docs.mkdir()
    (docs / "travel.txt").write_text("Travel policy\n" + " ".join(
        f"Rule {i}: employees submit travel expense reports with receipts within thirty days." for i in range(40)),
        encoding="utf-8")
    (docs / "leave.txt").write_text("特休假規定\n" + "".join(
        f"第{i}條 員工每年可將未休完的特休假遞延至次年，最多五天，並應於年底前向主管申請。" for i in range(30)),
        encoding="utf-8")
    settings = load_settings(docs_dir=docs, lancedb_uri=str(root / "index"), ollama_host=UNREACHABLE_OLLAMA,
                             embedding_model=str(prompted_model), chunk_tokens=60, chunk_overlap_tokens=10)
    report = RagService(settings).sync(full=True)
    assert report.status == "ok", report
    return docs, root / "index"


def test_every_chunk_fits_the_model_with_its_passage_prompt(prompted_model: Path, prompted_index: tuple[Path, Path]):
    import lancedb

    from rag.ingest.chunking import embed_text_for

    embedder = load_embedder(str(prompted_model), "torch", device="cpu")
    rows = lancedb.connect(str(prompted_index[1])).open_table("chunks").to_arrow().to_pylist()
    assert len(rows) > 4
    for row in rows:  # nothing of a chunk may fall past the model's limit, where it is silently dropped
        seen = PROMPTS["passage"] + embed_text_for(row["title"], (), row["text"])
        assert embedder.count_tokens(seen) + 2 <= MAX_TOKENS, (embedder.count_tokens(seen), row["text"][:40])


def test_the_vector_side_is_trusted_on_chinese_only_when_the_models_languages_include_chinese(
        prompted_model: Path, prompted_index: tuple[Path, Path], make_settings, monkeypatch: pytest.MonkeyPatch):
    from rag.retrieval.retrieve import UNTRUSTED_VECTOR_WEIGHT, VECTOR_WEIGHT
    from rag.service import RagService

    docs, index = prompted_index

    def weight_on_chinese(**overrides: object) -> float:
        settings = make_settings(docs_dir=docs, lancedb_uri=str(index), embedding_model=str(prompted_model),
                                 **overrides)
        return RagService(settings).search(CHINESE_QUESTION).vector_weight

    assert describe_model(str(prompted_model)).languages == {"en", "zh"}
    assert weight_on_chinese() == VECTOR_WEIGHT  # its card: en, zh
    assert weight_on_chinese(embedding_languages=("en",)) == UNTRUSTED_VECTOR_WEIGHT  # the operator knows better
    _card(prompted_model, "en")
    try:
        assert weight_on_chinese() == UNTRUSTED_VECTOR_WEIGHT
    finally:
        _card(prompted_model, "\n- en\n- zh")


def test_minilm_reads_english_only_by_its_card_unless_configured(sample_index: Path, make_settings):
    from rag.retrieval.retrieve import UNTRUSTED_VECTOR_WEIGHT, VECTOR_WEIGHT
    from rag.service import RagService

    assert describe_model(MINILM).languages == {"en"}
    assert RagService(make_settings(lancedb_uri=str(sample_index))).search(
        CHINESE_QUESTION).vector_weight == UNTRUSTED_VECTOR_WEIGHT
    assert RagService(make_settings(lancedb_uri=str(sample_index), embedding_languages=("en", "zh-TW"))).search(
        CHINESE_QUESTION).vector_weight == VECTOR_WEIGHT


def test_e5_models_get_their_family_prefixes_and_configured_prefixes_override_them(tmp_path: Path):
    model = tmp_path / "multilingual-e5-small"
    model.mkdir()
    (model / "config_sentence_transformers.json").write_text('{"prompts": {}}', encoding="utf-8")
    info = describe_model(str(model))
    assert (info.prompts.query, info.prompts.passage) == ("query: ", "passage: ")
    info = describe_model(str(model), query_prefix="")
    assert (info.prompts.query, info.prompts.passage) == ("", "passage: ")
    assert describe_model(MINILM).prompts.record() == describe_model("no/such-model").prompts.record()


def test_changing_the_prompts_asks_for_a_rebuild_and_sync_full_rebuilds(index_copy: Path, make_settings):
    from rag.index.store import IndexModelMismatch
    from rag.service import RagService

    prefixed = make_settings(lancedb_uri=str(index_copy), embedding_query_prefix="query: ",
                             embedding_passage_prefix="passage: ")
    with pytest.raises(IndexModelMismatch, match="EMBEDDING_QUERY_PREFIX.*sync --full"):
        RagService(prefixed).search("How many days of leave can I carry over?")
    report = RagService(prefixed).sync(full=True)
    assert report.status == "ok" and report.chunks_embedded > 0 and report.chunks_reused == 0, report
    assert RagService(prefixed).search("How many days of leave can I carry over?").hits
    with pytest.raises(IndexModelMismatch, match="prompts"):  # and back: the index now has the prompts
        RagService(make_settings(lancedb_uri=str(index_copy))).search("How many days of leave can I carry over?")


def test_bad_prefix_or_language_settings_are_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch):
    from rag.config import ConfigError, load_settings

    monkeypatch.setenv("EMBEDDING_LANGUAGES", "english, chinese!")
    with pytest.raises(ConfigError, match="EMBEDDING_LANGUAGES"):
        load_settings()
    monkeypatch.delenv("EMBEDDING_LANGUAGES")
    monkeypatch.setenv("EMBEDDING_QUERY_PREFIX", "query:\n")
    with pytest.raises(ConfigError, match="EMBEDDING_QUERY_PREFIX"):
        load_settings()

