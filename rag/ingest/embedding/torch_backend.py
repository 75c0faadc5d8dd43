"""sentence-transformers on torch: fp32 (the reference), bf16 autocast (CPUs with native bf16: 1.67× fp32,
cosine 0.99998) or fp16 autocast (GPUs; cosine 0.999999). EMBEDDING_BACKEND=auto picks (rag/ingest/embedding/choice.py).

Importing torch and sentence-transformers takes seconds, so this module is imported
only when a model must really run on torch (ingest without an ONNX export, or a
model the exporter cannot handle).
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

import numpy as np

from rag.ingest.embedding.base import BackendSpec, Embedder, EmbeddingModelError

log = logging.getLogger(__name__)


def resolve_torch_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise EmbeddingModelError("EMBEDDING_DEVICE is cuda but torch sees no CUDA device: set it to cpu or auto")
    return device


class TorchEmbedder(Embedder):
    def __init__(self, model_name: str, model: Any, backend: BackendSpec, device: str) -> None:
        import torch

        self.model_name = model_name
        self.model = model  # sentence_transformers.SentenceTransformer
        self.backend = backend
        self.device = device
        self.dim = int(model.get_embedding_dimension() or 0)
        self.max_seq_length = int(model.max_seq_length)
        self._torch = torch
        self._batch_threads = torch.get_num_threads()

    @property
    def tokenizer(self) -> Any:  # a transformers fast tokenizer
        return self.model.tokenizer

    def _tokenize_for_counting(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return list(enc["input_ids"]), [tuple(span) for span in enc["offset_mapping"]]

    def _precision(self, one_question: bool = False) -> contextlib.AbstractContextManager[Any]:
        dtype = {"bf16": self._torch.bfloat16, "fp16": self._torch.float16}.get(self.backend.precision)
        # One question on one CPU thread is faster in fp32: bf16 autocast's conversions cost more than they save
        # on a batch of one (11.9 vs 15.8 ms, bench/results/embed_backends.txt); the vectors are comparable.
        if dtype is not None and not (one_question and self.device == "cpu"):
            return self._torch.autocast(device_type=self.device, dtype=dtype)
        return contextlib.nullcontext()

    def _run(self, texts: list[str], batch_size: int, prompt: str, one_question: bool = False) -> np.ndarray:
        # The prompt goes through sentence-transformers, which leaves it out of pooling where the model says so
        # (include_prompt=False); an explicit "" also stops its default_prompt_name from applying twice.
        with self._precision(one_question):
            vectors = self.model.encode(
                texts, prompt=prompt, batch_size=batch_size, normalize_embeddings=True, convert_to_tensor=True,
                show_progress_bar=False,
            )
        return vectors.float().cpu().numpy()

    def _encode(self, texts: list[str], batch_size: int, prompt: str) -> np.ndarray:
        # A thread that first runs torch adopts the last global thread count: a query's 1 must not stick here.
        if self._torch.get_num_threads() != self._batch_threads:
            self._torch.set_num_threads(self._batch_threads)
        return self._run(texts, batch_size, prompt)

    def _encode_one(self, text: str, prompt: str) -> np.ndarray:
        if self.device != "cpu":
            return self._run([text], 1, prompt)[0]
        torch = self._torch
        previous = torch.get_num_threads()
        torch.set_num_threads(1)  # per calling thread once initialised (OpenMP ICV); restored for the global default
        try:
            return self._run([text], 1, prompt, one_question=True)[0]
        finally:
            torch.set_num_threads(previous)


def load_torch_embedder(model_name: str, source: str, backend: BackendSpec, device: str) -> TorchEmbedder:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer  # slow import: only when needed

    resolved = resolve_torch_device(device)
    try:
        model = SentenceTransformer(source, device=resolved)
    except Exception as err:  # the hub unreachable, a typo in the name, a corrupt cache
        raise EmbeddingModelError(
            f"cannot load embedding model {model_name!r} (EMBEDDING_MODEL): {type(err).__name__}: {err}. "
            "Offline machines need the model in the Hugging Face cache or a local path."
        ) from None
    embedder = TorchEmbedder(model_name, model, backend, resolved)
    log.info("embedding model %s loaded on torch %s/%s (dim %d, max %d tokens)", model_name, resolved,
             backend.precision, embedder.dim, embedder.max_seq_length)
    return embedder
