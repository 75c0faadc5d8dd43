"""Embedding backends: a question needs no torch once a sync exported the model, finds the same
sources, and an index never mixes vectors that are not comparable."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rag.config import ConfigError, load_settings
from rag.embeddings import load_embedder
from ragbot.cli import app
from tests.conftest import SAMPLE_DOCS, UNREACHABLE_OLLAMA

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
QUESTIONS = ["How many days of leave can I carry over?", "差旅費報銷的期限是多久？"]
TEXTS = [
    "Employees may carry over up to five days of annual leave into the next calendar year.",
    "Incident severity levels: SEV1 means customers cannot use the product at all.",
    "第七條 報銷期限與程序：員工應於出差結束後 30 日內提出差旅費報銷申請。",
    "Wi-Fi: connect to Northwind-Corp with your SSO credentials; guests use Northwind-Guest.",
]
runner = CliRunner()


def _ragbot() -> str:
    script = Path(sys.executable).parent / "ragbot"
    return str(script) if script.exists() else shutil.which("ragbot") or "ragbot"


def _cited(output: str) -> list[tuple[str, str]]:
    return [(c["path"], c["section"]) for c in json.loads(output)["citations"]]


def _ask_in_process(index: Path, question: str) -> list[tuple[str, str]]:
    result = runner.invoke(app, ["--index", str(index), "--docs-dir", str(SAMPLE_DOCS), "--ollama-host",
                                 UNREACHABLE_OLLAMA, "ask", "--json", question])
    assert result.exit_code == 0, result.output
    return _cited(result.stdout)


def test_ask_after_an_ingest_embeds_the_question_without_torch_and_finds_the_same_sources(
        sample_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fast: dict[str, list[tuple[str, str]]] = {}
    for question in QUESTIONS:
        env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
        done = subprocess.run(
            [_ragbot(), "--index", str(sample_index), "--docs-dir", str(SAMPLE_DOCS), "--ollama-host",
             UNREACHABLE_OLLAMA, "ask", "--json", question],
            capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        imported = re.findall(r"\|\s+([\w.]+)\s*$", done.stderr, flags=re.MULTILINE)
        assert "onnxruntime" in imported  # the question really was embedded
        assert not [m for m in imported if m.split(".")[0] in {"torch", "transformers", "sentence_transformers"}]
        fast[question] = _cited(done.stdout)

    monkeypatch.setenv("EMBEDDING_CACHE_DIR", str(tmp_path / "no-export"))  # nothing cached: torch
    for question in QUESTIONS:
        assert fast[question] == _ask_in_process(sample_index, question) != []


def test_a_damaged_export_falls_back_to_torch_and_still_answers(sample_index: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch):
    cache = tmp_path / "cache"
    shutil.copytree(os.environ["EMBEDDING_CACHE_DIR"], cache)
    for model_file in cache.rglob("model-*.onnx"):
        model_file.write_bytes(b"not a model")
    monkeypatch.setenv("EMBEDDING_CACHE_DIR", str(cache))
    with_damaged = _ask_in_process(sample_index, QUESTIONS[0])
    monkeypatch.setenv("EMBEDDING_CACHE_DIR", str(tmp_path / "no-export"))
    assert with_damaged == _ask_in_process(sample_index, QUESTIONS[0]) != []


def test_onnx_vectors_match_torch_and_chunk_the_same(sample_index: Path):
    cache = Path(os.environ["EMBEDDING_CACHE_DIR"])
    reference = load_embedder(MODEL, "torch", device="cpu")
    expected = reference.encode(TEXTS)
    for backend, floor in (("onnx", 0.9999), ("torch-bf16", 0.999), ("onnx-int8", 0.95)):
        embedder = load_embedder(MODEL, backend, device="cpu", cache_root=cache)
        cosines = np.sum(embedder.encode(TEXTS, batch_size=3) * expected, axis=1)
        assert cosines.min() >= floor, (backend, cosines)
        query = embedder.encode_query(TEXTS[0])
        assert float(query @ expected[0]) >= floor
        for text in TEXTS:  # the same tokens, so switching backends changes no chunk
            assert embedder.token_offsets(text) == reference.token_offsets(text)


def test_the_index_records_its_backend_and_rebuilds_only_for_incomparable_vectors(index_copy: Path, make_settings):
    from rag.service import RagService

    def ask(backend: str):
        args = ["--index", str(index_copy), "--docs-dir", str(SAMPLE_DOCS), "--ollama-host", UNREACHABLE_OLLAMA]
        return runner.invoke(app, [*args, "ask", "--json", QUESTIONS[0]], env={"EMBEDDING_BACKEND": backend})

    chunks = RagService(make_settings(lancedb_uri=str(index_copy))).store.count()
    # fp32 ONNX ≈ torch fp32: the torch-built index is kept, nothing re-embedded, questions answered.
    report = RagService(make_settings(lancedb_uri=str(index_copy), embedding_backend="onnx")).sync()
    assert report.status == "ok" and report.chunks_embedded == 0
    assert _cited(ask("onnx").stdout)

    refused = ask("onnx-int8")  # int8 vectors drift: the torch index is refused in one line...
    assert refused.exit_code != 0 and "EMBEDDING_BACKEND" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    int8 = make_settings(lancedb_uri=str(index_copy), embedding_backend="onnx-int8")
    report = RagService(int8).sync()  # ...a plain sync does not mix them in...
    assert report.status == "failed" and "EMBEDDING_BACKEND" in report.message and report.chunks_embedded == 0
    report = RagService(int8).sync(full=True)  # ...and `sync --full` rebuilds with them
    assert report.status == "ok" and report.chunks_embedded == chunks, report
    assert _cited(ask("onnx-int8").stdout)

    import lancedb

    meta = lancedb.connect(str(index_copy)).open_table("chunks").schema.metadata
    assert meta[b"embedding_backend"] == b"onnx-int8" and meta[b"embedding_vectors"] == b"int8"
    assert ask("torch").exit_code != 0  # and back: torch cannot search int8 vectors either


def test_unknown_backend_or_device_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMBEDDING_BACKEND", "fast")
    with pytest.raises(ConfigError, match="EMBEDDING_BACKEND"):
        load_settings()
    monkeypatch.setenv("EMBEDDING_BACKEND", "onnx-int8")
    monkeypatch.setenv("EMBEDDING_DEVICE", "tpu")
    with pytest.raises(ConfigError, match="EMBEDDING_DEVICE"):
        load_settings()
