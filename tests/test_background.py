"""A sync's embedding runs at a lower CPU priority than the questions answered meanwhile (rag/ingest/background.py)."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

from rag.ingest.background import NICENESS, LowPriorityEmbedder


class RecordingEmbedder:
    """Records the thread and nice value each call ran with."""

    model_name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.calls.append(self._where())

    @staticmethod
    def _where() -> tuple[int, int]:
        return threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0)

    def encode(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        self.calls.append(self._where())
        return np.ones((len(texts), 3), dtype=np.float32)


@pytest.mark.skipif(sys.platform != "linux", reason="nice is per thread on Linux only")
def test_batches_and_model_load_run_niced_while_the_caller_keeps_its_priority():
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    embedder = LowPriorityEmbedder(RecordingEmbedder)
    vectors = embedder.encode(["a", "b"], batch_size=2)
    assert vectors.shape == (2, 3) and embedder.model_name == "recording"
    inner = embedder._embedder
    assert all(tid != threading.get_native_id() for tid, _ in inner.calls)
    assert all(nice == min(19, ours + NICENESS) for _, nice in inner.calls)
    assert os.getpriority(os.PRIO_PROCESS, 0) == ours


def test_errors_of_the_embedding_reach_the_sync():
    class Broken(RecordingEmbedder):
        def encode(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
            raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        LowPriorityEmbedder(Broken).encode(["a"])


def test_a_service_sync_embeds_through_the_low_priority_worker(make_settings):
    from rag.service import RagService

    svc = RagService(make_settings())
    assert isinstance(svc.syncer().embedder_factory(), LowPriorityEmbedder)
