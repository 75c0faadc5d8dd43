"""Embeddings for the pipeline: which backend, loaded once per process, and the query fast path.

We embed chunks ourselves in batches (not through LanceDB's embedding registry,
which stores the model's absolute path in the schema and has no batch size).
Nothing heavy is imported here: torch and sentence-transformers load only when a
model must run on torch; a question is embedded through a cached ONNX export when
one matches the index (see `rag.ingest.embedding.onnx_export`), which starts in a fraction
of a second instead of ~6 s.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rag.ingest.embedding.base import (
    BACKENDS,
    FP32_MIN_COSINE,
    FP32_SPACE,
    BackendSpec,
    Embedder,
    EmbeddingModelError,
)
from rag.ingest.embedding.choice import AUTO, BackendChoice, choose_backend, torch_installed
from rag.ingest.embedding.model_info import (
    ModelInfo,
    Prompts,
    describe_model,
    model_languages,
    model_reads,
    packaged_model_path,
)

if TYPE_CHECKING:
    from rag.config import RagSettings

__all__ = [
    "BACKENDS", "BackendChoice", "BackendSpec", "Embedder", "EmbeddingModelError", "ModelInfo", "Prompts",
    "backend_choice", "backend_line", "describe_model", "is_multilingual", "load_embedder", "load_query_embedder",
    "model_info", "model_languages", "model_reads", "packaged_model_path", "prepare_query_export", "text_hash",
]

log = logging.getLogger(__name__)


def is_multilingual(model_name: str, languages: tuple[str, ...] | None = None) -> bool:
    """Whether the model reads CJK text, by its card's languages or `languages` (EMBEDDING_LANGUAGES).

    Retrieval trusts the vector side on a Chinese question only then; chunking sizes such text for it.
    """
    return model_reads(model_languages(model_name, languages), "cjk")


def model_info(settings: RagSettings) -> ModelInfo:
    """Prompts and languages of EMBEDDING_MODEL with the EMBEDDING_* overrides: resolve once per process."""
    return describe_model(settings.embedding_model, query_prefix=settings.embedding_query_prefix,
                          passage_prefix=settings.embedding_passage_prefix, languages=settings.embedding_languages)


def text_hash(model_name: str, text: str) -> str:
    """Key of the embedding cache: the same text under the same model never needs re-embedding."""
    return hashlib.sha256(f"{model_name}\0{text}".encode()).hexdigest()[:32]


_loaded: dict[tuple[str, str, str, str, ModelInfo], Embedder] = {}
_load_lock = threading.Lock()


def _once(key: tuple[str, str, str, str, ModelInfo], load: Callable[[], Embedder]) -> Embedder:
    """One loaded model per (model, backend, device, prompts and languages) in this process."""
    with _load_lock:
        if key not in _loaded:
            embedder = load()
            embedder.prompts, embedder.languages = key[4].prompts, key[4].languages
            _loaded[key] = embedder
        return _loaded[key]


def _torch(model_name: str, info: ModelInfo, backend: str = "torch", device: str = "auto") -> Embedder:
    from rag.ingest.embedding.torch_backend import load_torch_embedder

    local = packaged_model_path(model_name)
    return _once((model_name, backend, device, "", info), lambda: load_torch_embedder(
        model_name, str(local) if local else model_name, BACKENDS[backend], device))


def backend_choice(backend: str, device: str = "auto") -> BackendChoice:
    """What EMBEDDING_BACKEND=`backend` runs on this machine, and why (auto decides; imports torch for it).

    Every choice auto can make writes fp32-space vectors, so the index never needs a rebuild when it changes.
    """
    return choose_backend(backend, device)


def backend_line(settings: RagSettings) -> str:
    """`ragbot doctor`'s line: the backend EMBEDDING_BACKEND runs here and why ("torch-bf16 (…: native bf16)")."""
    return backend_choice(settings.embedding_backend, settings.embedding_device).describe(settings.embedding_backend)


def load_embedder(model_name: str, backend: str = "torch", *, device: str = "auto",
                  cache_root: Path | None = None, info: ModelInfo | None = None) -> Embedder:
    """Load `model_name` on `backend` once per process (thread-safe); later calls return the same object.

    `info` (prompts, languages) defaults to what the model's own folder says (`describe_model`).
    `auto` is resolved first (`backend_choice`); the embedder's `backend` is the concrete one.
    The ONNX backends export the model on first use (needs torch once) into `cache_root`.
    """
    info = info or describe_model(model_name)
    if backend == AUTO:
        choice = backend_choice(backend, device)
        log.info("embedding backend %s", choice.describe(backend))
        backend = choice.name
    spec = BACKENDS[backend]
    if spec.engine == "torch":
        return _torch(model_name, info, backend, device)
    if cache_root is None:
        raise EmbeddingModelError(f"EMBEDDING_BACKEND={backend} needs a cache directory for the ONNX export")
    from rag.ingest.embedding.onnx_export import ensure_export

    where = ensure_export(cache_root, model_name, lambda: _torch(model_name, info, "torch", "cpu"))
    if where is None:
        if not torch_installed():
            raise EmbeddingModelError(
                f"EMBEDDING_BACKEND={backend}: torch is not installed and EMBEDDING_CACHE_DIR ({cache_root}) holds no "
                f"ONNX export of {model_name!r}: install torch once (make setup) so that a sync can export it"
            )
        raise EmbeddingModelError(
            f"EMBEDDING_BACKEND={backend}: {model_name!r} could not be exported to ONNX (see the log); "
            "use EMBEDDING_BACKEND=torch"
        )
    return _onnx(where, spec.precision, device, info)


def _onnx(where: Path, precision: str, device: str, info: ModelInfo) -> Embedder:
    from rag.ingest.embedding.onnx_backend import OnnxEmbedder

    return _once((str(where), "onnx-" + precision, device, "onnx", info), lambda: OnnxEmbedder(where, precision,
                                                                                                device=device))


def load_query_embedder(model_name: str, vector_space: str, *, cache_root: Path | None,
                        fallback: Callable[[], Embedder], info: ModelInfo | None = None) -> Embedder:
    """The embedder for questions: the cached ONNX export when it matches the index's vectors.

    An fp32 index (built by torch, torch-bf16 or onnx) takes the export only if it matched torch
    to FP32_MIN_COSINE when it was made; otherwise, or with no export yet, `fallback` (torch).
    """
    if cache_root is not None:
        from rag.ingest.embedding.onnx_backend import read_manifest
        from rag.ingest.embedding.onnx_export import usable_export

        where = usable_export(cache_root, model_name)
        variant = ((read_manifest(where) or {}).get("variants") or {}).get("fp32") if where else None
        matches = vector_space == FP32_SPACE and variant and variant.get("min_cosine", 0) >= FP32_MIN_COSINE
        if where is not None and matches:
            try:
                embedder = _onnx(where, "fp32", "cpu", info or describe_model(model_name))
                embedder.encode_query("ok")  # opens the session now: a damaged file is found here, not mid-question
                return embedder
            except Exception as err:  # a damaged cache must not stop questions: torch still works
                log.warning("cannot use the ONNX export in %s (%s); questions use torch", where, err)
    return fallback()


def prepare_query_export(model_name: str, cache_root: Path, loaded: Callable[[], Embedder],
                         info: ModelInfo | None = None) -> bool:
    """Export once after a sync, so the next `ragbot ask` embeds its question without torch.

    `loaded` is the process's embedder: reused when it is torch on the CPU (the exporter's input).
    """
    from rag.ingest.embedding.onnx_export import ensure_export

    def torch_on_cpu() -> Embedder:
        embedder = loaded()
        if getattr(embedder, "device", None) == "cpu":
            return embedder
        return _torch(model_name, info or describe_model(model_name), "torch", "cpu")

    return ensure_export(cache_root, model_name, torch_on_cpu) is not None
