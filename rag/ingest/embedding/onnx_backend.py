"""The exported model on ONNX Runtime with the model's own tokenizer: no torch, no transformers.

Starts cold in a few hundred milliseconds (torch + sentence-transformers: ~6 s), which is
what lets `ragbot ask` print its first line quickly. The single-question session runs on
one intra-op thread, so a question stays fast while a sync's batches use the cores.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from rag.ingest.embedding.base import BACKENDS, Embedder, EmbeddingModelError, normalise

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"


def read_manifest(export_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((export_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def onnx_providers(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise EmbeddingModelError(
            "EMBEDDING_DEVICE is cuda but this onnxruntime has no CUDA provider (install onnxruntime-gpu), "
            "or set EMBEDDING_DEVICE to cpu or auto"
        )
    if device in ("cuda", "auto") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxEmbedder(Embedder):
    def __init__(self, export_dir: Path, precision: str, *, device: str = "cpu") -> None:
        from tokenizers import Tokenizer

        manifest = read_manifest(export_dir)
        variant = (manifest or {}).get("variants", {}).get(precision)
        if not manifest or not variant:
            raise EmbeddingModelError(f"no {precision} ONNX export in {export_dir}: run `ragbot sync` to create it")
        self.export_dir = export_dir
        self.model_name = str(manifest["model_name"])
        self.backend = BACKENDS["onnx"]
        self.dim = int(manifest["dim"])
        self.max_seq_length = int(manifest["max_seq_length"])
        self.min_cosine = float(variant.get("min_cosine", 0.0))
        self._lower = bool(manifest.get("do_lower_case", False))
        self._inputs: list[str] = list(manifest["inputs"])
        self._model_path = export_dir / variant["file"]
        self._providers = onnx_providers(device)
        self._counting_tokenizer: Any = None  # made on first count: a question (`ragbot ask`) never counts
        self._tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_seq_length)
        self._tokenizer.enable_padding(pad_id=int(manifest["pad_id"]), pad_token=str(manifest["pad_token"]))
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _session(self, kind: str) -> Any:
        """"query": one thread, CPU (a single short text); "batch": every core, or the GPU."""
        with self._lock:
            if kind not in self._sessions:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # optimised at export
                options.log_severity_level = 3
                providers = self._providers
                if kind == "query":
                    options.intra_op_num_threads = 1
                    options.inter_op_num_threads = 1
                    providers = ["CPUExecutionProvider"]
                self._sessions[kind] = ort.InferenceSession(str(self._model_path), options, providers=providers)
            return self._sessions[kind]

    @property
    def _counting(self) -> Any:
        """The tokenizer without truncation or padding: chunk sizes and batch lengths are counted with it."""
        with self._lock:
            if self._counting_tokenizer is None:
                from tokenizers import Tokenizer

                counting = Tokenizer.from_file(str(self.export_dir / "tokenizer.json"))
                counting.no_truncation()
                counting.no_padding()
                self._counting_tokenizer = counting
            return self._counting_tokenizer

    def _tokenize_for_counting(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        enc = self._counting.encode(text.lower() if self._lower else text, add_special_tokens=False)
        return list(enc.ids), [tuple(span) for span in enc.offsets]

    def _feed(self, texts: list[str]) -> dict[str, np.ndarray]:
        encodings = self._tokenizer.encode_batch([t.lower() for t in texts] if self._lower else texts)
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        return {name: np.asarray(columns[name], dtype=np.int64) for name in self._inputs}

    def _run(self, kind: str, texts: list[str]) -> np.ndarray:
        (vectors,) = self._session(kind).run(None, self._feed(texts))
        return normalise(vectors)

    def _encode(self, texts: list[str], batch_size: int, prompt: str) -> np.ndarray:
        texts = [prompt + t for t in texts]  # as sentence-transformers does (the exporter refuses prompt-less pooling)
        # Longest first, like sentence-transformers: similar lengths share a batch, so little padding is computed.
        lengths = [len(e.ids) for e in self._counting.encode_batch(texts, add_special_tokens=False)]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            out[idx] = self._run("batch", [texts[i] for i in idx])
        return out

    def _encode_one(self, text: str, prompt: str) -> np.ndarray:
        return self._run("query", [prompt + text])[0]
