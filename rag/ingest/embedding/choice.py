"""EMBEDDING_BACKEND=auto: the fastest backend whose vectors match torch fp32, decided by the hardware.

- a CUDA GPU (EMBEDDING_DEVICE cuda, or auto with one present): `torch-fp16` (autocast);
- a CPU with native bf16 arithmetic (AVX512-BF16 or AMX-BF16): `torch-bf16` (autocast). Measured on this
  project's 2-core Xeon (avx512_bf16, amx_bf16), quiet machine, backends interleaved: 1.67× torch fp32's
  chunks/s (bench/results/embed_backends.txt). On a CPU without it autocast *emulates* bf16 (oneDNN converts
  on AVX-512 or AVX2) and is slower than fp32, so there it stays `torch`;
- torch not installed: `onnx` (a cached export; questions already use it).

Every choice is in the fp32 vector space (bf16 cosine 0.99998 to fp32, fp16 0.99999x, ONNX 1.00000), so an
index built under one choice is searched and synced under any other without a rebuild: moving the index to
another machine, or a GPU appearing, changes the speed, never the index. The index records the backend that
built it (`resolved`, never "auto").

Why these probes: `torch.backends.cpu.get_cpu_capability()` names the kernels ATen dispatches to ("AVX512"
on this AMX machine), not the bf16 units; `torch.ops.mkldnn._is_mkldnn_bf16_supported()` is true wherever
oneDNN can *emulate* bf16. `torch.cpu.get_capabilities()` (torch ≥ 2.9; before it `_is_avx512_bf16_supported`
and `_is_amx_tile_supported`) reads cpuinfo's feature bits, and /proc/cpuinfo says whether the kernel enabled
them (AMX needs the kernel's consent): bf16 only when both say so.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

AUTO = "auto"
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # the same names in torch's capabilities and /proc/cpuinfo's flags
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class BackendChoice:
    name: str  # a concrete EMBEDDING_BACKEND (BACKENDS key): what loads the model and what the index records
    reason: str  # one line: why, for `ragbot doctor` and the log

    def describe(self, requested: str) -> str:
        if requested != AUTO:
            return f"{self.name} (EMBEDDING_BACKEND={requested})"
        return f"{self.name} (EMBEDDING_BACKEND=auto: {self.reason})"


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def cuda_device(device: str) -> str | None:
    """The GPU's name when batches will run on CUDA (EMBEDDING_DEVICE cuda, or auto with one), else None."""
    if device == "cpu":
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return str(torch.cuda.get_device_name(0))


def _cpuinfo_flags() -> set[str] | None:
    """The kernel's CPU flags (Linux), or None where there is no /proc/cpuinfo."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return set()


def torch_bf16_flags() -> tuple[str, ...]:
    """The native bf16 features torch detects on this CPU (empty without torch's cpuinfo or the features)."""
    import torch

    cpu = getattr(torch, "cpu", None)
    if hasattr(cpu, "get_capabilities"):
        caps = cpu.get_capabilities()
        return tuple(flag for flag in BF16_FLAGS if caps.get(flag))
    found = []
    if getattr(cpu, "_is_avx512_bf16_supported", lambda: False)():
        found.append("avx512_bf16")
    if getattr(cpu, "_is_amx_tile_supported", lambda: False)():
        found.append("amx_bf16")
    return tuple(found)


def cpu_native_bf16() -> tuple[bool, str]:
    """(whether bf16 autocast runs on native bf16 units here, why): torch's detection cross-checked."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return False, "this torch has no oneDNN, which runs bf16 on the CPU"
    found = torch_bf16_flags()
    if not found:
        return False, "no native bf16 on this CPU (AVX512-BF16 or AMX), where bf16 autocast is slower than fp32"
    flags = _cpuinfo_flags()
    if flags is not None:
        enabled = [flag for flag in found if flag in flags]
        if not enabled:
            return False, (f"torch detects {'/'.join(found)} but /proc/cpuinfo does not list it "
                           "(not enabled by the kernel)")
        found = tuple(enabled)
    return True, f"this CPU has native bf16 ({', '.join(found)})"


@functools.lru_cache(maxsize=8)
def choose_backend(requested: str, device: str = "auto") -> BackendChoice:
    """The concrete backend EMBEDDING_BACKEND=`requested` means on this machine (others are themselves)."""
    if requested != AUTO:
        return BackendChoice(requested, "set explicitly")
    if not torch_installed():
        return BackendChoice("onnx", "torch is not installed, so the cached ONNX export embeds")
    gpu = cuda_device(device)
    if gpu is not None:
        return BackendChoice("torch-fp16", f"a CUDA GPU ({gpu})")
    native, why = cpu_native_bf16()
    return BackendChoice("torch-bf16" if native else "torch", why)
