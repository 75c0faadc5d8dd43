"""Cold start of the CLI, today's tree against an earlier commit, side by side in one run.

Each command runs as a fresh process (the tree's `ragbot` entry point; the same interpreter and
virtualenv for both trees; the older tree is put first on PYTHONPATH), 5 times, median:
`--help`, `sources`, a no-op `sync`, `doctor` (Ollama unreachable, so it exits 1 either way)
and `ask` (time to its first printed line, and in total; Ollama unreachable, so the answer is
the cited passages). Each tree uses an index it built itself from its own examples/docs;
the current tree's ingest also leaves the ONNX export that `ask` uses.
Run: `python bench/bench_cold_start.py [--base 945b44b] [--runs 5]` (writes bench/results/cold_start.txt).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How many days of annual leave can I carry over?"
COMMANDS = {
    "--help": ["--help"],
    "sources": ["sources"],
    "sync (no-op)": ["sync"],
    "doctor": ["doctor"],
    "ask": ["ask", QUESTION],
}


def launcher(tree: Path) -> list[str]:
    """What the tree's `ragbot` console script runs (its entry point in pyproject.toml)."""
    entry = re.search(r'^ragbot\s*=\s*"([\w.]+):(\w+)"', (tree / "pyproject.toml").read_text(), re.MULTILINE)
    assert entry, "no ragbot entry point"
    module, attr = entry.groups()
    code = f"import sys; sys.argv[0] = 'ragbot'; from {module} import {attr}; sys.exit({attr}())"
    return [sys.executable, "-c", code]


def run(tree: Path, index: Path, args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(seconds to the first printed line, seconds in total, exit code)."""
    cmd = [*launcher(tree), "--index", str(index), "--docs-dir", str(tree / "examples" / "docs"),
           "--ollama-host", "http://127.0.0.1:9", *args] if args != ["--help"] else [*launcher(tree), "--help"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    proc.stdout.readline()
    first = time.perf_counter() - started
    proc.stdout.read()
    code = proc.wait()
    return first, time.perf_counter() - started, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="945b44b", help="the earlier commit (default: before the cold-start work)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    base_tree = Path("/tmp/coldstart-base")
    if not base_tree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_tree), args.base], check=True,
                       capture_output=True)
    base_commit = subprocess.run(["git", "-C", str(base_tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, check=True).stdout.strip()
    head_commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, check=True).stdout.strip()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "LANCE_LOG": "error"}
    env.pop("EMBEDDING_CACHE_DIR", None)
    trees = {f"before ({base_commit})": (base_tree, {**env, "PYTHONPATH": str(base_tree)}),
             f"now ({head_commit}+tree)": (ROOT, {**env, "PYTHONPATH": str(ROOT)})}
    results: dict[str, dict[str, list[tuple[float, float, int]]]] = {}
    try:
        for label, (tree, tree_env) in trees.items():
            index = work / label.split()[0] / "index"
            first, total, code = run(tree, index, ["ingest"], tree_env)
            print(f"{label}: ingest {total:.1f} s (exit {code})", flush=True)
            results[label] = {name: [] for name in COMMANDS}
        for _ in range(args.runs):  # interleaved, so both trees see the same load
            for label, (tree, tree_env) in trees.items():
                index = work / label.split()[0] / "index"
                for name, cmd in COMMANDS.items():
                    results[label][name].append(run(tree, index, cmd, tree_env))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    labels = list(results)
    lines = [f"median of {args.runs} cold starts (s); load average {os.getloadavg()[0]:.1f} at the end; "
             f"other helpers' work shared the 2 cores", "",
             f"{'command':<22}" + "".join(f"{label:>26}" for label in labels) + f"{'before / now':>14}"]
    for name in COMMANDS:
        for measure, idx in (("first line", 0), ("total", 1)) if name == "ask" else (("total", 1),):
            values = [statistics.median(r[idx] for r in results[label][name]) for label in labels]
            codes = {r[2] for label in labels for r in results[label][name]}
            lines.append(f"{name + ' ' + measure:<22}" + "".join(f"{v:>26.2f}" for v in values)
                         + f"{values[0] / values[1]:>13.1f}×" + (f"   exit codes {sorted(codes)}" if codes != {0}
                                                                  else ""))
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "results" / "cold_start.txt").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
