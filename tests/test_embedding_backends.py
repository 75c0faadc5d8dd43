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
from rag.ingest.embedding import choice
from rag.ingest.embeddings import backend_choice, load_embedder
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
    for backend, floor in (("onnx", 0.9999), ("torch-bf16", 0.999)):
        embedder = load_embedder(MODEL, backend, device="cpu", cache_root=cache)
        cosines = np.sum(embedder.encode(TEXTS, batch_size=3) * expected, axis=1)
        assert cosines.min() >= floor, (backend, cosines)
        query = embedder.encode_query(TEXTS[0])
        assert float(query @ expected[0]) >= floor
        for text in TEXTS:  # the same tokens, so switching backends changes no chunk
            assert embedder.token_offsets(text) == reference.token_offsets(text)


def test_the_index_records_its_backend_and_refuses_vectors_it_cannot_compare(index_copy: Path, make_settings,
                                                                             tmp_path: Path):
    from rag.index.store import ChunkStore, IndexModelMismatch
    from rag.service import RagService

    def ask(backend: str):
        args = ["--index", str(index_copy), "--docs-dir", str(SAMPLE_DOCS), "--ollama-host", UNREACHABLE_OLLAMA]
        return runner.invoke(app, [*args, "ask", "--json", QUESTIONS[0]], env={"EMBEDDING_BACKEND": backend})

    # fp32 ONNX ≈ torch fp32: the torch-built index is kept, nothing re-embedded, questions answered.
    report = RagService(make_settings(lancedb_uri=str(index_copy), embedding_backend="onnx")).sync(full=True)
    assert report.status == "ok" and report.chunks_embedded == 0, report
    assert _cited(ask("onnx").stdout)

    import lancedb

    meta = lancedb.connect(str(index_copy)).open_table("chunks").schema.metadata
    # Built under the default (auto): what auto ran on this machine is recorded, never "auto".
    built = backend_choice("auto").name
    assert meta[b"embedding_backend"] == built.encode() and meta[b"embedding_vectors"] == b"fp32"
    # Vectors of another space (a future backend) are refused with what to set, never mixed in.
    ChunkStore(str(tmp_path / "other"), model_name=MODEL, dim=384, vector_space="int8").table(create=True)
    with pytest.raises(IndexModelMismatch, match="EMBEDDING_BACKEND.*sync --full"):
        ChunkStore(str(tmp_path / "other"), model_name=MODEL, dim=384).table()


def test_unknown_backend_or_device_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMBEDDING_BACKEND", "fast")
    with pytest.raises(ConfigError, match="EMBEDDING_BACKEND"):
        load_settings()
    monkeypatch.setenv("EMBEDDING_BACKEND", "onnx-int8")  # measured and not offered (recall -3.5 points)
    with pytest.raises(ConfigError, match="EMBEDDING_BACKEND"):
        load_settings()
    monkeypatch.setenv("EMBEDDING_BACKEND", "onnx")
    monkeypatch.setenv("EMBEDDING_DEVICE", "tpu")
    with pytest.raises(ConfigError, match="EMBEDDING_DEVICE"):
        load_settings()


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A pretend machine for EMBEDDING_BACKEND=auto: torch present or not, a GPU or not, the CPU's bf16 as torch
    detects it and as /proc/cpuinfo lists it. The real probes are replaced; nothing else is."""

    def make(*, torch: bool = True, gpu: str | None = None, torch_flags: tuple[str, ...] = (),
             cpuinfo: str | None = "flags\t\t: fpu sse2 avx2 avx512f\n") -> None:
        monkeypatch.setattr(choice, "torch_installed", lambda: torch)
        monkeypatch.setattr(choice, "cuda_device", lambda device: gpu if device != "cpu" else None)
        monkeypatch.setattr(choice, "torch_bf16_flags", lambda: torch_flags)
        proc = tmp_path / "cpuinfo"
        if cpuinfo is not None:
            proc.write_text(cpuinfo)
        else:
            proc.unlink(missing_ok=True)
        monkeypatch.setattr(choice, "CPUINFO", proc)  # missing when None: not Linux
        choice.choose_backend.cache_clear()

    yield make
    choice.choose_backend.cache_clear()


def test_auto_takes_bf16_only_where_the_cpu_has_it_natively(machine):
    with_bf16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
    machine(torch_flags=("avx512_bf16", "amx_bf16"), cpuinfo=with_bf16)
    chosen = backend_choice("auto", "auto")
    assert chosen.name == "torch-bf16" and "avx512_bf16, amx_bf16" in chosen.reason
    assert chosen.describe("auto").startswith("torch-bf16 (EMBEDDING_BACKEND=auto: this CPU has native bf16")

    machine(torch_flags=())  # AVX-512 without bf16: autocast would emulate it, slower than fp32
    assert backend_choice("auto").name == "torch"
    assert "no native bf16" in backend_choice("auto").reason

    machine(torch_flags=("amx_bf16",))  # torch sees it, the kernel has not enabled it
    assert backend_choice("auto").name == "torch"
    assert "/proc/cpuinfo does not list it" in backend_choice("auto").reason

    machine(torch_flags=("avx512_bf16",), cpuinfo=None)  # no /proc/cpuinfo (not Linux): torch decides
    assert backend_choice("auto").name == "torch-bf16"


def test_auto_takes_fp16_on_a_gpu_and_onnx_without_torch(machine):
    machine(gpu="NVIDIA H100", torch_flags=("avx512_bf16",))
    assert backend_choice("auto", "auto") == choice.BackendChoice("torch-fp16", "a CUDA GPU (NVIDIA H100)")
    assert backend_choice("auto", "cpu").name == "torch"  # EMBEDDING_DEVICE=cpu: the CPU's own rule
    machine(torch=False)
    assert backend_choice("auto").name == "onnx"
    # An explicit backend is never second-guessed.
    assert backend_choice("torch", "auto") == choice.BackendChoice("torch", "set explicitly")


def test_every_backend_auto_can_choose_is_comparable_so_a_changed_choice_needs_no_rebuild():
    from rag.ingest.embeddings import BACKENDS

    for name in ("torch", "torch-bf16", "torch-fp16", "onnx", "auto"):
        assert BACKENDS[name].vector_space == "fp32", name


def test_the_real_probe_agrees_with_the_kernel():
    """On this machine: auto's bf16 decision matches what /proc/cpuinfo lists (the cross-check's own input)."""
    choice.choose_backend.cache_clear()
    native, why = choice.cpu_native_bf16()
    flags = choice._cpuinfo_flags()
    if flags is not None:
        assert native == any(flag in flags for flag in choice.BF16_FLAGS), why


def test_an_index_built_by_one_choice_is_synced_and_searched_under_another_without_re_embedding(
        index_copy: Path, make_settings, machine):
    """The sample index was built by auto on this machine; on a machine where auto means another backend the same
    index is kept (nothing re-embedded, questions answered), and a new index records the backend that built it."""
    import lancedb

    from rag.service import RagService

    built = lancedb.connect(str(index_copy)).open_table("chunks").schema.metadata[b"embedding_backend"].decode()
    other = "torch" if built == "torch-bf16" else "torch-bf16"
    machine(torch_flags=("avx512_bf16",) if other == "torch-bf16" else (), cpuinfo=None)
    assert backend_choice("auto").name == other
    svc = RagService(make_settings(lancedb_uri=str(index_copy)))
    report = svc.sync(full=True)
    assert report.status == "ok" and report.chunks_embedded == 0, report
    assert svc.embedder.backend.name == other
    assert svc.ask(QUESTIONS[0]).citations

    fresh = make_settings(lancedb_uri=str(index_copy.parent / "fresh"))
    assert RagService(fresh).sync(full=True).status == "ok"
    meta = lancedb.connect(str(index_copy.parent / "fresh")).open_table("chunks").schema.metadata
    assert meta[b"embedding_backend"] == other.encode() and meta[b"embedding_vectors"] == b"fp32"


def test_doctor_says_which_backend_auto_chose_and_why(sample_index: Path):
    result = runner.invoke(app, ["--index", str(sample_index), "--docs-dir", str(SAMPLE_DOCS), "--ollama-host",
                                 UNREACHABLE_OLLAMA, "doctor"])
    lines = [line for line in result.output.splitlines() if "embedding backend" in line]
    assert lines == [f"ok   embedding backend: {backend_choice('auto').describe('auto')}"], result.output
    assert "EMBEDDING_BACKEND=auto: " in lines[0]
