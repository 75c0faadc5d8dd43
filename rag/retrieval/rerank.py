"""Optional cross-encoder reranking of the fused shortlist (RERANK_MODEL; off by default).

A cross-encoder reads the question and a passage together, which orders passages better
than comparing two separate vectors, but costs one transformer pass per pair: so only the
first RERANK_CANDIDATES fused candidates are scored and reordered (the rest keep their
fused order after them), which bounds the CPU cost per question (bench/bench_rerank.py).
Its scores only rank: the relevance floor stays on cosine and coverage (rag.retrieval.retrieve),
because a cross-encoder's scale depends on the model (raw logits for ms-marco models,
sigmoid probabilities for others) and means nothing comparable across questions.

The model is loaded lazily, once, from local files only (a folder, or the Hugging Face
cache): nothing is downloaded at run time. RERANK_MODEL is checked at start without
loading anything (`check_rerank_model`); a model that still fails to load or to score at
question time costs that question its reranking, never its answer (`rerank_shortlist`).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.retrieval.candidates import Candidate

__all__ = ["CrossEncoderReranker", "RerankModelError", "Reranked", "check_rerank_model", "pair_passage",
           "rerank_shortlist"]

log = logging.getLogger(__name__)

EXAMPLE_MODEL = "cross-encoder/ms-marco-MiniLM-L6-v2"


class RerankModelError(Exception):
    """The reranking model cannot be loaded; the message is one line naming RERANK_MODEL."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def check_rerank_model(value: str) -> str | None:
    """RERANK_MODEL's rule, checked at start with no model loaded: blank is off; otherwise a local
    model folder (returned absolute) or a full Hugging Face id whose files are in the local cache.

    Bare names (`ms-marco-MiniLM-L6-v2`) are refused rather than guessed: sentence-transformers would
    prefix an organisation, and the id the operator must copy to this machine should be explicit.
    """
    name = value.strip()
    if not name:
        return None
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")):
        if not (path / "config.json").is_file():
            raise ValueError(f"{name} is not a model folder (it has no config.json)")
        return str(path.resolve())
    if name.count("/") != 1:
        raise ValueError(f"{name!r} is neither a model folder nor a full Hugging Face id such as {EXAMPLE_MODEL}")
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(name, "config.json", cache_dir=os.getenv("SENTENCE_TRANSFORMERS_HOME"))
    if not isinstance(cached, str):
        raise ValueError(f"{name!r} is not on this machine (not a folder, not in the Hugging Face cache) and "
                         "models are never downloaded at run time: copy the model here and give its folder")
    return name


def pair_passage(row: dict[str, Any]) -> str:
    """What the cross-encoder reads for a chunk: its title and section (what the chunk is about), then its text."""
    heading = " › ".join(part for part in (str(row.get("title") or ""), str(row.get("section") or "")) if part)
    return f"{heading}\n{row['text']}" if heading else str(row["text"])


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder, loaded on first use (torch is imported only then), once.

    A failed load is remembered, not retried per question: the files will not fix themselves
    before a restart, and each attempt would cost the asker seconds.
    """

    def __init__(self, model_name: str, *, candidates: int, device: str = "auto") -> None:
        self.model_name = model_name
        self.candidates = candidates  # RERANK_CANDIDATES: how many fused candidates are scored
        self.device = device
        self._model: Any = None
        self._error: str | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()  # one scoring at a time: concurrent ones only share the same cores

    @property
    def cross_encoder(self) -> Any:
        """The loaded `sentence_transformers.CrossEncoder`; raises RerankModelError (one line) when it cannot load."""
        with self._load_lock:
            if self._model is None:
                if self._error is not None:
                    raise RerankModelError(self._error)
                try:
                    self._model = self._load()
                except Exception as err:
                    self._error = f"RERANK_MODEL={self.model_name} cannot be loaded: {_first_line(err)}"
                    raise RerankModelError(self._error) from None
            return self._model

    def _load(self) -> Any:
        from sentence_transformers import CrossEncoder
        from transformers.utils import logging as hf_logging

        from rag.ingest.embedding.torch_backend import resolve_torch_device

        shown = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # "Loading weights" would land in the middle of a CLI line or a log
        try:
            model = CrossEncoder(self.model_name, device=resolve_torch_device(self.device), local_files_only=True)
        finally:
            if shown:
                hf_logging.enable_progress_bar()
        log.info("reranking model %s loaded (max %d tokens)", self.model_name, model.max_seq_length)
        return model

    def warm_up(self) -> None:
        """Load now rather than on the first question; a model that cannot load is logged, never raised:
        answers keep the fused order."""
        try:
            self.score("warm up", ["warm up"])
        except Exception as err:
            log.warning("reranking unavailable, answers keep the fused order: %s", _first_line(err))

    def score(self, question: str, passages: list[str]) -> list[float]:
        """One score per passage, higher is better (the model's own scale)."""
        model = self.cross_encoder
        with self._run_lock:
            scores = model.predict([(question, p) for p in passages], batch_size=max(1, len(passages)),
                                   show_progress_bar=False, convert_to_numpy=True)
        return [float(s) for s in scores]


@dataclass
class Reranked:
    candidates: list[Candidate]  # the shortlist in the cross-encoder's order, then the rest in fused order
    scored: int  # pairs the cross-encoder scored (0 when it failed)
    ms: float
    error: str | None = None  # why the fused order was kept


def rerank_shortlist(question: str, candidates: list[Candidate], reranker: CrossEncoderReranker) -> Reranked:
    """Reorder the first `reranker.candidates` candidates by the cross-encoder; never raises.

    When the model cannot load or score, the fused order stands and one line is logged: the
    question is still answered, only less well ordered.
    """
    started = time.perf_counter()
    limit = reranker.candidates
    shortlist = candidates[:limit]
    if len(shortlist) < 2:
        return Reranked(candidates, 0, 0.0)
    try:
        scores = reranker.score(question, [pair_passage(c.row) for c in shortlist])
        if len(scores) != len(shortlist):
            raise RerankModelError(f"{len(scores)} scores for {len(shortlist)} passages")
        if not all(math.isfinite(s) for s in scores):  # NaN sorts anywhere: an order from it is noise
            raise RerankModelError(f"RERANK_MODEL={reranker.model_name} gave scores that are not numbers")
    except Exception as err:  # the answer matters more than its order
        reason = _first_line(err)
        log.warning("reranking skipped, answering in the fused order: %s", reason)
        return Reranked(candidates, 0, (time.perf_counter() - started) * 1000, reason)
    for cand, score in zip(shortlist, scores, strict=True):
        cand.rerank_score = score
    order = sorted(range(len(shortlist)), key=lambda i: -scores[i])  # stable: ties keep the fused order
    ms = (time.perf_counter() - started) * 1000
    log.debug("reranked %d candidates in %.0f ms", len(shortlist), ms)
    return Reranked([shortlist[i] for i in order] + candidates[limit:], len(shortlist), ms)
