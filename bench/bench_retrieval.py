"""Retrieval latency (query embed + hybrid search + prompt build) at 1k, 10k and 100k chunks.

Synthetic corpus: chunk texts drawn Zipf-like from a vocabulary of policy words plus 5,000
made-up words (as in real text, a query's words appear in some chunks, not all), vectors
random unit vectors (embedding 100k real chunks would take an hour on 2 cores;
search cost depends on the count and dimension, not on what the vectors mean).
Queries are embedded for real. Prints p50/p95 per size and the ratio to the
target (p50 < 30 ms at 100k chunks). Run: `python bench/bench_retrieval.py [--sizes 1000,10000,100000]`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LANCE_LOG", "error")

from rag.embeddings import load_embedder  # noqa: E402
from rag.prompt import build_messages  # noqa: E402
from rag.retrieve import retrieve  # noqa: E402
from rag.store import ChunkStore, chunk_schema  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WORDS = (
    "leave", "annual", "carry", "over", "days", "approval", "manager", "expense", "claim", "receipt", "hotel",
    "travel", "contract", "vendor", "payment", "invoice", "termination", "notice", "liability", "security",
    "password", "incident", "breach", "notify", "customer", "returns", "refund", "warehouse", "dispatch",
    "onboarding", "laptop", "access", "badge", "training", "policy", "procedure", "audit", "retention",
    "personal", "data", "processor", "controller", "subprocessor", "confidential", "backup", "encryption",
)
QUERIES = [
    "How many days of annual leave can I carry over?", "What is the hotel limit per night?",
    "When must a data breach be reported?", "What are the payment terms for invoices?",
    "Who approves expense claims?", "How long is the termination notice?", "出差住宿費每晚上限是多少？",
    "What happens to my laptop when I leave?", "How do customers return damaged goods?",
    "Which password rules apply to administrators?",
]


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Domain words and filler words with Zipf weights (rank r weighs 1/r)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    filler = ["".join(rng.choices(letters, k=rng.randint(4, 9))) for _ in range(5000)]
    words = list(WORDS) + filler
    rng.shuffle(words)
    return words, [1.0 / (rank + 1) for rank in range(len(words))]


def build(uri: str, n: int, dim: int, rng: random.Random) -> ChunkStore:
    store = ChunkStore(uri, model_name=MODEL, dim=dim, vector_index_min_rows=10_000)
    table = store.table(create=True)
    now = datetime.now(UTC)
    batch = 20_000
    words, weights = vocabulary(rng)
    nprng = np.random.default_rng(7)
    for start in range(0, n, batch):
        count = min(batch, n - start)
        vectors = nprng.standard_normal((count, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        rows = {
            "chunk_id": [f"c{start + i}" for i in range(count)],
            "doc_path": [f"docs/doc{(start + i) // 20}.md" for i in range(count)],
            "title": [f"Document {(start + i) // 20}" for i in range(count)],
            "kind": ["policy"] * count, "format": ["md"] * count, "link": ["file:///x"] * count,
            "modified": [now] * count, "doc_sha256": ["0"] * count, "section": ["Section"] * count,
            "page_start": [None] * count, "page_end": [None] * count, "start_char": [0] * count,
            "end_char": [0] * count, "ordinal": [i % 20 for i in range(count)],
            "text": [" ".join(rng.choices(words, weights, k=120)) for _ in range(count)],
            "embed_hash": [f"h{start + i}" for i in range(count)],
            "vector": list(vectors),
        }
        table.add(pa.Table.from_pydict(rows, schema=chunk_schema(dim, MODEL)))
    store.refresh_indexes()
    return store


def measure(store: ChunkStore, embedder, runs: int) -> list[float]:
    timings = []
    for i in range(runs):
        question = QUERIES[i % len(QUERIES)]
        started = time.perf_counter()
        result = retrieve(question, store=store, embed_query=embedder.encode_query, multilingual_model=False,
                          top_k=5, per_doc=2, floor=0.0)
        from rag.ask import prompt_sources

        build_messages(question, prompt_sources(result.hits))
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    embedder = load_embedder(MODEL)
    embedder.encode_query("warm up")
    rng = random.Random(42)
    work = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    print(f"{'chunks':>8} {'build s':>8} {'p50 ms':>8} {'p95 ms':>8} {'embed p50':>10}  index")
    results = {}
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            started = time.perf_counter()
            store = build(str(work / f"idx{n}"), n, embedder.dim, rng)
            build_s = time.perf_counter() - started
            measure(store, embedder, 5)  # warm caches
            timings = measure(store, embedder, args.runs)
            embeds = [(time.perf_counter(), embedder.encode_query(q), time.perf_counter()) for q in QUERIES * 3]
            embed_p50 = statistics.median((e - s) * 1000 for s, _, e in embeds)
            p50 = statistics.median(timings)
            p95 = statistics.quantiles(timings, n=20)[18]
            kinds = sorted({i.index_type for i in store.table().list_indices()})
            results[n] = p50
            print(f"{n:>8} {build_s:>8.1f} {p50:>8.1f} {p95:>8.1f} {embed_p50:>10.1f}  {','.join(kinds)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if 100_000 in results:
        print(f"\np50 at 100k chunks: {results[100_000]:.1f} ms; target 30 ms → ratio {results[100_000] / 30:.2f} "
              f"({'meets' if results[100_000] < 30 else 'misses'} the target)")
    if 1000 in results and 100_000 in results:
        print(f"100k/1k p50 ratio: {results[100_000] / results[1000]:.2f}")


if __name__ == "__main__":
    main()
