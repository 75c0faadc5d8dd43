"""Export a sentence-transformers model to ONNX once, offline, into a cache next to the index.

sentence-transformers' own `backend="onnx"` needs optimum, which does not install with
our pins, so the export is `torch.onnx` (TorchScript exporter) of transformer + pooling +
normalisation, then ONNX Runtime's transformer graph optimiser (fp32). It is checked against
torch fp32 on English and Chinese texts and the result recorded in the manifest: it stands in
for torch on an fp32 index only when its worst cosine is ≥ FP32_MIN_COSINE. (Per-channel
dynamic int8 of this graph was measured and dropped: see rag/ingest/embedding/base.py.)
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rag.ingest.embedding.base import FP32_MIN_COSINE
from rag.ingest.embedding.onnx_backend import MANIFEST, OnnxEmbedder, read_manifest

log = logging.getLogger(__name__)
_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")
CHECK_TEXTS = [
    "How many days of annual leave can I carry over to next year?",
    "Employees must submit expense reports within 30 days of travel, with receipts attached.",
    "The vendor shall indemnify the company against third-party claims arising from its negligence.",
    "Reset your password from the IT helpdesk portal; contact support@example.com if locked out.",
    "What is the notice period for terminating the contract?",
    "Section 4.2 Data retention: personal data is deleted 90 days after the account is closed.",
    "員工每年可將未休完的特休假遞延至次年，最多五天。",
    "差旅費報銷需在出差結束後三十日內提出，並附上收據。",
    "本合約任一方得於三十日前以書面通知終止。",
    "資訊部服務台的聯絡方式與服務時間為何？",
    "ok",
    " ".join(["The policy applies to all full-time and part-time staff in every office."] * 40),  # past the limit
]


def export_dir(cache_root: Path, model_name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("_")[:80]
    return cache_root / f"{safe}-{hashlib.sha256(model_name.encode()).hexdigest()[:8]}"


def _versions() -> dict[str, str]:
    out = {}
    for package in ("torch", "onnxruntime", "onnx", "sentence-transformers"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "missing"
    return out


def usable_export(cache_root: Path, model_name: str) -> Path | None:
    """The export directory when a working export of `model_name` is cached (reads one small file)."""
    where = export_dir(cache_root, model_name)
    manifest = read_manifest(where)
    if manifest and manifest.get("model_name") == model_name and manifest.get("variants"):
        return where
    return None


def ensure_export(cache_root: Path, model_name: str, load_torch: Callable[[], Any]) -> Path | None:
    """Export once; a failure is recorded so it is not retried until torch/onnxruntime change."""
    where = export_dir(cache_root, model_name)
    manifest = read_manifest(where)
    if manifest and (manifest.get("variants") or manifest.get("versions") == _versions()):
        return where if manifest.get("variants") else None
    from filelock import FileLock

    cache_root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(where) + ".lock"):
        manifest = read_manifest(where)
        if manifest and manifest.get("variants"):
            return where
        tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=cache_root))
        try:
            export(load_torch(), tmp)
        except Exception as err:  # an architecture the exporter cannot handle: torch keeps serving it
            log.warning("no ONNX export of %s (%s: %s); questions use torch", model_name, type(err).__name__, err)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            _write_manifest(tmp, {"model_name": model_name, "error": f"{type(err).__name__}: {err}",
                                  "versions": _versions()})
        shutil.rmtree(where, ignore_errors=True)
        os.replace(tmp, where)
    return where if (read_manifest(where) or {}).get("variants") else None


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def _pooling_mode(model: Any) -> tuple[str, bool]:
    names = [type(module).__name__ for module in model]
    if names[:2] != ["Transformer", "Pooling"] or any(n not in _SUPPORTED_MODULES for n in names):
        raise ValueError(f"modules {names} (only Transformer, Pooling, Normalize are exported)")
    pooling = model[1]
    if not getattr(pooling, "include_prompt", True):
        raise ValueError("its pooling leaves the prompt out (include_prompt=False), which the export cannot")
    mode = getattr(pooling, "pooling_mode", None) or ("mean" if pooling.pooling_mode_mean_tokens else "cls")
    if mode not in ("mean", "cls"):
        raise ValueError(f"pooling mode {mode!r} (only mean and cls are exported)")
    return mode, "Normalize" in names


def export(embedder: Any, target: Path) -> dict[str, Any]:
    """Write model-fp32.onnx, tokenizer.json and the manifest into `target`."""
    import torch

    model = embedder.model  # a SentenceTransformer on torch
    mode, _ = _pooling_mode(model)
    transformer = model[0].auto_model.float().eval()
    tokenizer = model.tokenizer
    inputs = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in tokenizer.model_input_names]

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            feed = dict(zip(inputs, args, strict=True))
            hidden = self.transformer(**feed, return_dict=False)[0]
            if mode == "cls":
                pooled = hidden[:, 0]
            else:
                mask = feed["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    sample = tokenizer(CHECK_TEXTS[:2], padding=True, truncation=True, max_length=embedder.max_seq_length,
                       return_tensors="pt")
    raw = target / "raw.onnx"
    axes = {name: {0: "batch", 1: "sequence"} for name in inputs}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes: checked below
        torch.onnx.export(Pooled().eval(), tuple(sample[name] for name in inputs), str(raw), dynamo=False,
                          input_names=inputs, output_names=["embedding"],
                          dynamic_axes={**axes, "embedding": {0: "batch"}}, opset_version=17)
    fp32 = target / "model-fp32.onnx"
    _optimise(raw, fp32, transformer.config)
    raw.unlink()
    tokenizer.backend_tokenizer.save(str(target / "tokenizer.json"))

    reference = np.asarray(model.encode(CHECK_TEXTS, prompt="", normalize_embeddings=True, convert_to_numpy=True,
                                        show_progress_bar=False))  # "": no default_prompt_name (checked raw)
    manifest: dict[str, Any] = {
        "model_name": embedder.model_name, "dim": embedder.dim, "max_seq_length": embedder.max_seq_length,
        "do_lower_case": bool(getattr(model[0], "do_lower_case", False)), "inputs": inputs,
        "pad_id": int(tokenizer.pad_token_id or 0), "pad_token": str(tokenizer.pad_token or "[PAD]"),
        "pooling": mode, "versions": _versions(), "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "variants": {"fp32": {"file": fp32.name}},
    }
    _write_manifest(target, manifest)
    for precision, floor in (("fp32", FP32_MIN_COSINE),):
        vectors = OnnxEmbedder(target, precision).encode(CHECK_TEXTS, batch_size=len(CHECK_TEXTS))
        cosines = np.sum(vectors * reference, axis=1)
        manifest["variants"][precision].update(min_cosine=round(float(cosines.min()), 6),
                                               mean_cosine=round(float(cosines.mean()), 6))
        if cosines.min() < floor:
            log.warning("ONNX %s export of %s drifts (min cosine %.4f): not used", precision, embedder.model_name,
                        cosines.min())
            del manifest["variants"][precision]
            (target / f"model-{precision}.onnx").unlink()
    _write_manifest(target, manifest)
    log.info("ONNX export of %s: %s", embedder.model_name,
             {k: v.get("min_cosine") for k, v in manifest["variants"].items()})
    return manifest


def _optimise(raw: Path, out: Path, config: Any) -> None:
    """ONNX Runtime's transformer fusions (attention, layer norm, GELU); plain graph optimisation as a fallback."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        heads = int(getattr(config, "num_attention_heads", 0) or 0)
        hidden = int(getattr(config, "hidden_size", 0) or 0)
        optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden).save_model_to_file(str(out))
    except Exception as err:
        log.info("transformer fusions not applied (%s); using ONNX Runtime's graph optimisation", err)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(out)
        ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])
