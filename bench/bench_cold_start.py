"""Cold start of the CLI: each command as a fresh process, against the `ragbot --help` floor, side by side.

Each command runs as a fresh process (the tree's `ragbot` entry point, this interpreter and virtualenv),
to the end of its output: `--help` (Python + the CLI: the floor), `sources`, a no-op `sync`, `doctor`
(Ollama unreachable, so it exits 1) and `ask` (Ollama unreachable, so the answer is the quoted passages;
the time to its first line is printed too). The commands run in turns, round after round, by
bench/timing.py's rules (rounds until the ratios to the floor are stable; "inconclusive" when other
work loads the machine past its cores). The tree uses an index it built itself from examples/docs;
its ingest also leaves the ONNX export that `ask` uses. `--base COMMIT` runs an earlier commit's tree
alongside (the older tree first on PYTHONPATH). Target: `ask` ≤ 1.0 s, or ≤ 4.5× the floor.
Run: `python bench/bench_cold_start.py [--runs 5] [--base 945b44b]` (writes bench/results/cold_start.txt).
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
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.timing import append_result, interleaved  # noqa: E402

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
    parser.add_argument("--base", default="", help="also run an earlier commit's tree, side by side (e.g. 945b44b)")
    parser.add_argument("--runs", type=int, default=5, help="at least this many rounds (more until stable)")
    parser.add_argument("--max-rounds", type=int, default=15)
    parser.add_argument("--commands", default="--help,sources,sync (no-op),ask", help=f"of {', '.join(COMMANDS)}")
    args = parser.parse_args()
    commands = [c for c in args.commands.split(",") if c]
    assert "--help" in commands, "--help is the floor the others are compared with"
    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    head_commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, check=True).stdout.strip()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "LANCE_LOG": "error"}
    env.pop("EMBEDDING_CACHE_DIR", None)
    trees = {"now": (ROOT, {**env, "PYTHONPATH": str(ROOT)})}
    if args.base:
        base_tree = Path(tempfile.gettempdir()) / f"coldstart-base-{args.base}"
        if not base_tree.exists():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_tree), args.base],
                           check=True, capture_output=True)
        trees[f"base {args.base}"] = (base_tree, {**env, "PYTHONPATH": str(base_tree)})
    first_lines: dict[str, list[float]] = {}
    codes: dict[str, set[int]] = {}

    def command(label: str, tree: Path, tree_env: dict[str, str], name: str):  # noqa: ANN202
        index = work / label.replace(" ", "-") / "index"

        def once() -> float:
            first, total, code = run(tree, index, COMMANDS[name], tree_env)
            first_lines.setdefault(f"{label} {name}", []).append(first)
            codes.setdefault(f"{label} {name}", set()).add(code)
            return total
        return once

    try:
        alternatives = {}
        for label, (tree, tree_env) in trees.items():
            _, total, code = run(tree, work / label.replace(" ", "-") / "index", ["ingest"], tree_env)
            print(f"{label}: ingest {total:.1f} s (exit {code})", flush=True)
            for name in commands:
                alternatives[f"{label} {name}" if args.base else name] = command(label, tree, tree_env, name)
        for once in alternatives.values():  # one untimed start each: the file cache warm for all alike
            once()
        first_lines.clear()
        baseline = "now --help" if args.base else "--help"
        comparison = interleaved(alternatives, baseline=baseline, unit="seconds", min_rounds=args.runs,
                                 max_rounds=max(args.runs, args.max_rounds), max_seconds=900,
                                 on_round=lambda n, values: print(f"round {n}: " + ", ".join(
                                     f"{k} {v:.2f}" for k, v in values.items()), flush=True))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, HEAD {head_commit}+tree; cold starts (a fresh process "
             f"each, to the end of its output), × the `--help` floor (Python + the CLI); Ollama unreachable, so "
             f"`ask` ends with the quoted passages", *comparison.lines("{:.2f}")]
    for key, values in first_lines.items():
        if key.endswith("ask"):
            lines.append(f"{key}: first line {statistics.median(values):.2f} s (median)")
    odd = {k: sorted(v) for k, v in codes.items() if v != {0}}
    if odd:
        lines.append(f"exit codes other than 0: {odd}")
    ask = "now ask" if args.base else "ask"
    if ask in comparison.alternatives:
        seconds = comparison.alternatives[ask].median
        floor = comparison.alternatives[baseline].median
        verdict = comparison.verdict(ask)
        met = seconds <= 1.0 or (not comparison.busy and comparison.alternatives[ask].ratio <= 4.5)
        lines.append(f"target `ask` ≤ 1.0 s or ≤ 4.5× the floor: {seconds:.2f} s, {verdict} "
                     f"(floor {floor:.2f} s): {'met' if met else 'missed'}")
    text = "\n".join(lines)
    print(text)
    append_result(ROOT / "bench" / "results" / "cold_start.txt", text)


if __name__ == "__main__":
    main()
