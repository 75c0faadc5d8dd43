"""What every embedding backend offers the pipeline, and the names of the backends.

Backends differ in speed, not in what they return: L2-normalised float32 vectors.
Vectors of backends in the same `vector space` are interchangeable in one index
(measured cosine ≥ 0.9999 to torch fp32); the index records its space and refuses
vectors of another. Dynamic int8 (even per channel, after graph optimisation) is not
offered: on ../shared/eval it moved recall@5 by 3.5 points on English and the top-5
by 20% (bench/results/embed_backends.txt), past the 0.5-point bar.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.ingest.embedding.model_info import Prompts, model_reads

if TYPE_CHECKING:  # numpy is imported on first use: rag.config reads BACKENDS, and `ragbot sources` must start fast
    import numpy as np

FP32_SPACE = "fp32"
# The index records the space that built it; an index from before backends existed was torch fp32.
DEFAULT_SPACE = FP32_SPACE
# An ONNX export may stand in for torch fp32 on an fp32 index only this close (worst text of the check set).
FP32_MIN_COSINE = 0.9999


class EmbeddingModelError(Exception):
    """The embedding model could not be loaded; the message says what to set."""


@dataclass(frozen=True)
class BackendSpec:
    name: str  # the EMBEDDING_BACKEND value
    engine: str  # "torch" or "onnx"
    precision: str  # "fp32", "bf16"
    vector_space: str  # indexes record this; vectors of one space are comparable


BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("torch", "torch", "fp32", FP32_SPACE),
        BackendSpec("torch-bf16", "torch", "bf16", FP32_SPACE),  # cosine 0.99998 to fp32 (bench_embed_backends)
        BackendSpec("onnx", "onnx", "fp32", FP32_SPACE),  # checked ≥ FP32_MIN_COSINE at export
        # fp16 autocast, for a GPU: cosine 0.999999 to fp32 (measured with CPU autocast, the same rounding)
        BackendSpec("torch-fp16", "torch", "fp16", FP32_SPACE),
        # the one of the above that suits this machine (rag/ingest/embedding/choice.py); all of them are fp32-space,
        # so what auto chooses may change (another CPU, a GPU) without a rebuild
        BackendSpec("auto", "auto", "auto", FP32_SPACE),
    )
}
DEVICES = ("cpu", "cuda", "auto")


class Embedder(ABC):
    """A loaded model: encodes texts and measures them in the model's own tokens.

    Chunk sizes are counted with the model's tokenizer because the model silently
    drops everything past `max_seq_length`. Chunks are embedded with the passage prompt
    and questions with the query prompt (`prompts`), in every backend.
    """

    model_name: str
    backend: BackendSpec
    dim: int
    max_seq_length: int
    prompts: Prompts = Prompts()
    languages: frozenset[str] | None = None  # from its card or EMBEDDING_LANGUAGES; None: unknown

    @abstractmethod
    def _tokenize_for_counting(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids and character offsets of `text`, without special tokens and without truncation."""

    @abstractmethod
    def _encode(self, texts: list[str], batch_size: int, prompt: str) -> np.ndarray:
        """Vectors of `prompt + text` for each text (the backend decides how the prompt goes in)."""

    @abstractmethod
    def _encode_one(self, text: str, prompt: str) -> np.ndarray:
        """One text on one intra-op thread: a question must not fight a running sync for the cores."""

    def reads(self, script_or_language: str) -> bool:
        """Whether this model can read text in a script ("cjk") or a language ("zh"): `model_reads`."""
        return model_reads(self.languages, script_or_language)

    @property
    def passage_token_limit(self) -> int:
        """Tokens a chunk (title, section and text) may use: the model's limit less the passage prompt's."""
        return self.max_seq_length - self.count_tokens(self.prompts.passage)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize_for_counting(text)[0])

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each model token in `text` (any length: we cut, the model does not see it)."""
        return self._tokenize_for_counting(text)[1]

    def encode(self, texts: list[str], *, batch_size: int = 64, queries: bool = False) -> np.ndarray:
        """Passages (chunks) by default; `queries=True` embeds a batch of questions."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prompt = self.prompts.query if queries else self.prompts.passage
        return np.asarray(self._encode(texts, batch_size, prompt), dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        import numpy as np

        return np.asarray(self._encode_one(text, self.prompts.query), dtype=np.float32)


def normalise(vectors: Any) -> np.ndarray:
    import numpy as np

    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, 1e-12)


ModelLoader = Callable[[], Embedder]
