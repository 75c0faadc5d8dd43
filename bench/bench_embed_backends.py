"""Embedding backends side by side: chunks/s, closeness to torch fp32, and retrieval recall.

Real text from ../shared/eval (PolicyQA English passages, DRCD Traditional Chinese passages),
each cut to its first 180 model tokens like a chunk. For each backend (EMBEDDING_BACKEND):
chunks/s at batch 64 over all of them, single-question latency, cosine to torch fp32
(mean/min), top-5 overlap with torch fp32 and document recall@5 of vector search over each
set's passages (200 questions per set; vector search alone, so the embedding is all that
differs). A backend is offered only where recall stays within 0.5 point of torch fp32 on both.
Run: `python bench/bench_embed_backends.py [--questions 200]` (writes bench/results/embed_backends.txt), then
`--speed-only 3` for chunks/s and question latency by bench/timing.py's rules (appended): backends
interleaved, rounds until the ratios are stable, "inconclusive" when other work loads the machine.
The first run's chunks/s come from one pass each: the closeness and recall columns are its point.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.timing import append_result, interleaved  # noqa: E402
from rag.ingest.embeddings import backend_choice, load_embedder  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EVAL = ROOT.parent / "shared" / "eval"
BACKENDS = ("torch", "torch-bf16", "onnx")  # onnx-int8 was measured here (results file) and dropped


def load_set(name: str, n_questions: int, cut, seed: int = 0) -> tuple[list[str], list[str], list[dict]]:  # noqa: ANN001
    passages = [json.loads(line) for line in (EVAL / name / "passages.jsonl").open(encoding="utf-8")]
    queries = [json.loads(line) for line in (EVAL / name / "queries.jsonl").open(encoding="utf-8")]
    random.Random(seed).shuffle(queries)
    return [cut(p["text"]) for p in passages], [p["doc_id"] for p in passages], queries[:n_questions]


def speed_only(rounds: int, max_rounds: int = 12) -> None:
    """Chunks/s per backend and one question's latency on torch, through bench/timing.py (interleaved rounds
    until the ratios are stable; "inconclusive" when other work loads the machine past its cores)."""
    cache = Path(tempfile.gettempdir()) / "ragbot-bench-onnx"
    embedders = {b: load_embedder(MODEL, b, device="cpu", cache_root=cache) for b in BACKENDS}
    reference = embedders["torch"]
    auto = backend_choice("auto", "cpu")

    def cut(text: str) -> str:
        offsets = reference.token_offsets(text)
        return text[: offsets[179][1]] if len(offsets) > 180 else text

    texts = load_set("policyqa", 0, cut)[0][:128] + load_set("drcd", 0, cut)[0][:128]
    questions = [q["question"] for q in load_set("policyqa", 20, cut)[2] + load_set("drcd", 20, cut)[2]]
    for e in embedders.values():
        e.encode(texts[:64], batch_size=64)

    def rate(embedder) -> Callable[[], float]:  # noqa: ANN001
        def once() -> float:
            started = time.perf_counter()
            embedder.encode(texts, batch_size=64)
            return len(texts) / (time.perf_counter() - started)
        return once

    def query_ms(autocast: bool) -> Callable[[], float]:
        """One question at a time on one thread, as the torch fallback answers one: fp32 (what every torch backend
        does for one question on the CPU now) or under bf16 autocast (what torch-bf16 did)."""
        bf16 = embedders["torch-bf16"]
        torch = bf16._torch

        def once() -> float:
            timings, previous = [], torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                for q in questions:
                    started = time.perf_counter()
                    bf16._run([q], 1, bf16.prompts.query, one_question=not autocast)
                    timings.append((time.perf_counter() - started) * 1000)
            finally:
                torch.set_num_threads(previous)
            return statistics.median(timings)
        return once

    batches = interleaved({b: rate(e) for b, e in embedders.items()}, baseline="torch", unit="chunks/s",
                          min_rounds=rounds, max_rounds=max(rounds, max_rounds))
    single = interleaved({"fp32": query_ms(False), "bf16 autocast": query_ms(True)}, baseline="fp32",
                         unit="query ms", min_rounds=rounds, max_rounds=max(rounds, max_rounds))
    lines = [f"\n## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, bench/timing.py rules: chunks/s, {len(texts)} chunks "
             f"(128 EN + 128 ZH, ≤180 tokens), batch 64, backends interleaved; EMBEDDING_BACKEND=auto here: "
             f"{auto.describe('auto')}", *batches.lines(),
             f"\none question on one thread (torch, when no ONNX export serves questions), median of "
             f"{len(questions)} per round", *single.lines()]
    text = "\n".join(lines)
    print(text)
    append_result(ROOT / "bench" / "results" / "embed_backends.txt", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--speed-only", type=int, default=0, metavar="ROUNDS",
                        help="only chunks/s and question latency, backends interleaved in at least ROUNDS rounds "
                             "on 256 chunks, more until the ratios are stable (bench/timing.py)")
    parser.add_argument("--max-rounds", type=int, default=12)
    args = parser.parse_args()
    if args.speed_only:
        return speed_only(args.speed_only, args.max_rounds)
    cache = Path(tempfile.gettempdir()) / "ragbot-bench-onnx"
    reference = load_embedder(MODEL, "torch", device="cpu")

    def cut(text: str) -> str:
        offsets = reference.token_offsets(text)
        return text[: offsets[179][1]] if len(offsets) > 180 else text

    sets = {name: load_set(name, args.questions, cut) for name in ("policyqa", "drcd")}
    texts = [t for texts, _, _ in sets.values() for t in texts]
    lines = [f"{len(texts)} chunks (PolicyQA {len(sets['policyqa'][0])} EN + DRCD {len(sets['drcd'][0])} ZH, "
             f"≤180 tokens), batch 64; {args.questions} questions per set; load average "
             f"{os.getloadavg()[0]:.1f} at start"]
    results: dict[str, dict] = {}
    for backend in BACKENDS:
        embedder = load_embedder(MODEL, backend, device="cpu", cache_root=cache)
        embedder.encode(texts[:64], batch_size=64)  # warm up
        started = time.perf_counter()
        vectors = embedder.encode(texts, batch_size=64)
        rate = len(texts) / (time.perf_counter() - started)
        questions = [q["question"] for _, _, qs in sets.values() for q in qs]
        single = []
        for q in questions[:60]:
            t0 = time.perf_counter()
            embedder.encode_query(q)
            single.append((time.perf_counter() - t0) * 1000)
        qvec = embedder.encode(questions, batch_size=64, queries=True)  # the query prompt, for models that have one
        results[backend] = {"vectors": vectors, "qvec": qvec, "rate": rate, "query_ms": statistics.median(single),
                            "load": os.getloadavg()[0]}
        print(f"{backend}: {rate:.1f} chunks/s", flush=True)

    base = results["torch"]
    header = (f"{'backend':>11} {'chunks/s':>9} {'× fp32':>7} {'query ms':>9} {'cos mean':>9} {'cos min':>8} "
              f"{'top5 ovl':>9} {'R@5 EN':>7} {'R@5 ZH':>7}  offered")
    lines += ["", header]
    for backend, r in results.items():
        cos = np.sum(r["vectors"] * base["vectors"], axis=1)
        recalls, overlaps, offset, qoff = [], [], 0, 0
        for _name, (ptexts, doc_ids, queries) in sets.items():
            n = len(ptexts)
            mat, bmat = r["vectors"][offset:offset + n], base["vectors"][offset:offset + n]
            q, bq = r["qvec"][qoff:qoff + len(queries)], base["qvec"][qoff:qoff + len(queries)]
            top, btop = np.argsort(-(q @ mat.T), axis=1)[:, :5], np.argsort(-(bq @ bmat.T), axis=1)[:, :5]
            hits = [bool({doc_ids[i] for i in row} & set(query["gold_doc_ids"])) for row, query in zip(top, queries,
                                                                                                    strict=True)]
            recalls.append(100 * sum(hits) / len(hits))
            overlaps += [len(set(a) & set(b)) / 5 for a, b in zip(top, btop, strict=True)]
            offset, qoff = offset + n, qoff + len(queries)
        r["recall"] = recalls
        lines.append(f"{backend:>11} {r['rate']:>9.1f} {r['rate'] / base['rate']:>7.2f} {r['query_ms']:>9.1f} "
                     f"{cos.mean():>9.5f} {cos.min():>8.4f} {np.mean(overlaps):>9.3f} {recalls[0]:>7.1f} "
                     f"{recalls[1]:>7.1f}  ")
    for i, r in enumerate(results.values()):
        offered = all(abs(a - b) <= 0.5 or a > b for a, b in zip(r["recall"], base["recall"], strict=True))
        lines[3 + i] += "yes" if offered else "NO (recall drops > 0.5 point)"
    lines.append(f"\nload average at end {os.getloadavg()[0]:.1f} (other work shared the 2 cores; ratios are "
                 "from this one run)")
    text = "\n".join(lines)
    print(text)
    append_result(ROOT / "bench" / "results" / "embed_backends.txt", text)


if __name__ == "__main__":
    main()
