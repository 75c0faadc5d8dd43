"""Install the CPU build of torch, never the CUDA one, on any machine `make setup` runs on.

Why: on Linux, PyPI's torch (x86-64 *and* aarch64) is the CUDA build and pulls gigabytes of nvidia-*,
cuda-toolkit and triton wheels that a CPU-only bot never uses. PyTorch publishes the CPU build on its own
index. On macOS, PyPI's wheel is the CPU/MPS build (Apple silicon only: there is no Intel-Mac build of
this torch); on Windows PyPI's wheel is CPU.

On Linux: use the CPU index when it answers within a few seconds (TORCH_INDEX_URL names a mirror of it).
When it does not, use pip's configured sources (an offline wheel folder, a local mirror) only if what they
would install is provably a CPU build — its metadata requires no nvidia-*/cuda-*/triton package and its
version is not a +cuXXX/+rocm build; otherwise stop with one line saying what to do.

`--check` prints the decision without installing. Used by the Makefile and the Dockerfile.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quiet_pip import run_pip  # noqa: E402

TORCH_VERSION = "2.13.0"
DEFAULT_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROBE_TIMEOUT_SECONDS = 5.0
# Requirements only a GPU build of torch has (PyPI's Linux wheel: cuda-toolkit, cuda-bindings, nvidia-*, triton).
_GPU_REQUIREMENT = re.compile(r"^(nvidia-|cuda-|triton\b|pytorch-triton)", re.IGNORECASE)
_GPU_LOCAL_VERSION = re.compile(r"\+(cu|rocm|xpu)", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    """What pip would install for torch==TORCH_VERSION: its version, where from, what it requires."""

    version: str
    url: str
    requires: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """How to install: extra pip arguments and the requirement to pass, with a one-line reason."""

    pip_args: tuple[str, ...]
    requirement: str
    reason: str


class CannotInstall(Exception):
    """No CPU build can be installed from here; the message tells the user what to do."""


def is_cpu_build(candidate: Candidate) -> bool:
    """A CPU build requires no GPU runtime package and carries no CUDA/ROCm/XPU version label."""
    if _GPU_LOCAL_VERSION.search(candidate.version):
        return False
    return not any(_GPU_REQUIREMENT.match(req.strip()) for req in candidate.requires)


def choose(system: str, machine: str, cpu_index: str, cpu_index_reachable: Callable[[], bool],
           default_candidate: Callable[[], Candidate | None]) -> Plan:
    """Decide where torch comes from. The two callables do network/pip work, so they run only when needed."""
    requirement = f"torch=={TORCH_VERSION}"
    if system == "Darwin":
        if machine != "arm64":
            raise CannotInstall(f"torch {TORCH_VERSION} has no build for Intel Macs; run the bot in Docker "
                                "(docker compose, see docs/deploy-to-slack.md) or on Apple silicon or Linux")
        return Plan((), requirement, "macOS: PyPI's wheel is the CPU/MPS build")
    if system != "Linux":
        return Plan((), requirement, f"{system}: PyPI's wheel is the CPU build")
    if cpu_index_reachable():
        return Plan(("--index-url", cpu_index), requirement, f"the CPU build from {cpu_index}")
    candidate = default_candidate()
    if candidate is not None and is_cpu_build(candidate):
        # Install exactly the file that was checked: with equal versions pip may otherwise pick a CUDA wheel.
        return Plan((), f"torch @ {candidate.url}",
                    f"the CPU build ({candidate.version}) from pip's configured sources ({cpu_index} is unreachable)")
    found = f"pip's configured sources offer only a GPU build ({candidate.version})" if candidate else \
        f"pip's configured sources have no torch {TORCH_VERSION}"
    raise CannotInstall(f"cannot reach the PyTorch CPU index {cpu_index} and {found}; allow access to "
                        "download.pytorch.org, or set TORCH_INDEX_URL to a mirror of the CPU index")


def _pip_config() -> dict[str, str]:
    """pip's effective settings (`pip config list`), so the probe uses the same certificate and proxy as pip."""
    proc = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    values: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.rsplit(".", 1)[-1]] = value.strip().strip("'\"")
    return values


def index_reachable(index_url: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> bool:
    """One request for the index's torch page, no retries: a firewall costs at most `timeout` seconds."""
    config = _pip_config()
    context = ssl.create_default_context(cafile=config.get("cert") or None)
    handlers: list[urllib.request.BaseHandler] = [urllib.request.HTTPSHandler(context=context)]
    if config.get("proxy"):
        handlers.append(urllib.request.ProxyHandler({"http": config["proxy"], "https": config["proxy"]}))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(f"{index_url.rstrip('/')}/torch/", timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def default_candidate(env: dict[str, str] | None = None) -> Candidate | None:
    """Ask pip which torch==TORCH_VERSION its configured sources would install (a dry run, nothing installed)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "report.json")
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps", "--quiet",
             "--disable-pip-version-check", "--no-input", "--report", str(report), f"torch=={TORCH_VERSION}"],
            capture_output=True, text=True, env=env)
        if proc.returncode or not report.exists():
            return None
        for item in json.loads(report.read_text()).get("install", []):
            meta = item.get("metadata", {})
            if meta.get("name", "").lower() == "torch":
                return Candidate(meta.get("version", "?"), item["download_info"]["url"],
                                 tuple(meta.get("requires_dist") or ()))
    return None


def installed_cpu_torch() -> str | None:
    """The installed torch's version when it is already the right CPU build (then there is nothing to do)."""
    try:
        dist = metadata.distribution("torch")
    except metadata.PackageNotFoundError:
        return None
    candidate = Candidate(dist.version, "", tuple(dist.requires or ()))
    same_release = dist.version.split("+")[0] == TORCH_VERSION
    return dist.version if same_release and is_cpu_build(candidate) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print the decision, install nothing")
    args = parser.parse_args(argv)
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs on whatever python3 the user has
        print(f"error: ragbot needs Python 3.11 or newer (this is {platform.python_version()}); "
              "remove .venv and run again with PYTHON=python3.11 (or newer)", file=sys.stderr)
        return 2
    if not args.check and (version := installed_cpu_torch()):
        print(f"· torch {version} (CPU build) is already installed")
        return 0
    cpu_index = os.environ.get("TORCH_INDEX_URL", "").strip() or DEFAULT_CPU_INDEX
    try:
        plan = choose(platform.system(), platform.machine(), cpu_index, lambda: index_reachable(cpu_index),
                      default_candidate)
    except CannotInstall as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.check:
        print(f"{plan.requirement} {' '.join(plan.pip_args)}".strip())
        print(plan.reason)
        return 0
    run_pip(f"installing torch {TORCH_VERSION}: {plan.reason}", ["install", *plan.pip_args, plan.requirement])
    return 0


if __name__ == "__main__":
    sys.exit(main())
