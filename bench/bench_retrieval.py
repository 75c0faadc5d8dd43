"""Retrieval latency (query embed + hybrid search + prompt build) at 1k, 10k and 100k chunks.

Synthetic corpus: chunk texts drawn Zipf-like from a vocabulary of policy words plus 5,000
made-up words (as in real text, a query's words appear in some chunks, not all), vectors
random unit vectors (embedding 100k real chunks would take an hour on 2 cores;
search cost depends on the count and dimension, not on what the vectors mean).
Queries are embedded for real, through the query embedder `ragbot ask` uses (the cached ONNX
export when there is one, else torch on one thread). Prints p50/p95 per size against the targets
(p50 < 30 ms at 100k chunks; < 20 ms with GROUP_DUPLICATES, the bot's default), side by side with the
whole-rows search (`ids_first=False`, as before) and with grouping, by bench/timing.py's rules (variants
in turns, rounds until their ratios are stable, "inconclusive" when other work loads the machine). Two more cases:
- `--load-size N`: retrieval while a concurrent ingest (torch batches of 64, as a sync embeds) runs in
  the same process, at normal priority (before) and on the sync's low-priority worker (rag/ingest/background.py),
  for the ONNX query embedder and for torch, phases alternating (target p95 < 60 ms at 100k);
- `--decay-size N`: after 1,000 and 5,000 chunks added by sync-sized commits (50 chunks each), search
  left as it was before (rows unindexed until compaction) and with `refresh_indexes` after each sync,
  against the freshly built index (target ≤ 1.5×).
Run: `python bench/bench_retrieval.py [--sizes 1000,10000,100000] [--load-size 100000] [--decay-size 10000]`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LANCE_LOG", "error")

from bench.timing import Comparison, append_result, interleaved, load_now  # noqa: E402
from rag.answering.prompt import build_messages  # noqa: E402
from rag.index.store import ChunkStore  # noqa: E402
from rag.ingest.background import LowPriorityEmbedder  # noqa: E402
from rag.ingest.embeddings import load_embedder, load_query_embedder, prepare_query_export  # noqa: E402
from rag.retrieval.retrieve import retrieve  # noqa: E402
from rag.retrieval.shingles import SKETCH_COLUMN, sketch  # noqa: E402

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


def add_rows(store: ChunkStore, start: int, count: int, rng: random.Random, nprng: np.random.Generator,
             vocab: tuple[list[str], list[float]]) -> None:
    """`count` synthetic chunks in one commit (documents of 20 chunks), as a sync's batch writes them."""
    table, dim, now = store.table(create=True), store.dim, datetime.now(UTC)
    words, weights = vocab
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
    rows[SKETCH_COLUMN] = [sketch(text) for text in rows["text"]]  # as rag.index.store.to_row makes them at ingest
    schema = table.schema
    for name in schema.names:  # columns added since (e.g. a normalised copy of the text) get the text
        rows.setdefault(name, rows["text"] if "text" in name else [None] * count)
    table.add(pa.Table.from_pydict({name: rows[name] for name in schema.names}, schema=schema))


def build(uri: str, n: int, dim: int, rng: random.Random) -> ChunkStore:
    store = ChunkStore(uri, model_name=MODEL, dim=dim, vector_index_min_rows=10_000)
    vocab = vocabulary(rng)
    nprng = np.random.default_rng(7)
    for start in range(0, n, 20_000):
        add_rows(store, start, min(20_000, n - start), rng, nprng, vocab)
    store.refresh_indexes()
    store.table().optimize()  # one fragment, as a sync's refresh leaves an index (rows spread over 5 read slower)
    return store


class WithoutSketches:
    """The store as an index from before sketches looks: GROUP_DUPLICATES then reads every candidate's text."""

    has_sketches = False

    def __init__(self, store: ChunkStore) -> None:
        self._store = store

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._store, name)


# How retrieval reads rows: ids first (now), whole rows for every candidate (before), ids first with
# GROUP_DUPLICATES (the bot's default: the chunks' sketches rule out most candidates unread), and grouping as
# before sketches (every candidate's text read and compared).
VARIANTS = {"ids first": {}, "whole rows": {"ids_first": False}, "grouped": {"group_duplicates": True},
            "grouped, every text (before)": {"group_duplicates": True, "no_sketches": True}}


def ask_once(store: ChunkStore, embedder, question: str, no_sketches: bool = False, **options: bool) -> float:  # noqa: ANN001
    from rag.answering.ask import prompt_sources

    if no_sketches:
        store = WithoutSketches(store)  # type: ignore[assignment]
    started = time.perf_counter()
    result = retrieve(question, store=store, embed_query=embedder.encode_query, multilingual_model=False,
                      top_k=5, per_doc=2, floor=0.0, **options)
    build_messages(question, prompt_sources(result.hits))
    return (time.perf_counter() - started) * 1000


def measure(store: ChunkStore, embedder, runs: int) -> list[float]:  # noqa: ANN001
    return [ask_once(store, embedder, QUERIES[i % len(QUERIES)]) for i in range(runs)]


def measure_variants(store: ChunkStore, embedder, runs: int) -> tuple[dict[str, list[float]], dict[str, list[float]], Comparison]:  # noqa: ANN001,E501
    """(wall ms, CPU ms of the whole process) per query and variant, and bench/timing.py's comparison of their
    per-round p50. A round asks every query once per variant, the variants in turns (the first rotating), so
    load that comes and goes hits them alike; rounds repeat (at least `runs` queries per variant) until the
    ratios are stable. CPU time counts LanceDB's own threads too, and other processes do not inflate it."""
    timings: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}

    def variant(name: str):  # noqa: ANN202
        def one_round() -> float:
            these = []
            for question in QUERIES:
                started = time.process_time()
                these.append(ask_once(store, embedder, question, **VARIANTS[name]))
                cpu[name].append((time.process_time() - started) * 1000)
            timings[name] += these
            return statistics.median(these)
        return one_round

    rounds = max(1, runs // len(QUERIES))
    comparison = interleaved({name: variant(name) for name in VARIANTS}, baseline="ids first", unit="p50 ms",
                             min_rounds=rounds, max_rounds=3 * rounds)
    return timings, cpu, comparison


def percentiles(timings: list[float]) -> tuple[float, float]:
    return statistics.median(timings), statistics.quantiles(timings, n=20)[18]


class ConcurrentIngest:
    """Embeds batches of 64 chunk-sized texts on torch in a thread until stopped: a sync's cost."""

    def __init__(self, embedder) -> None:  # noqa: ANN001
        self.embedder, self.batches, self._stop = embedder, 0, threading.Event()
        rng = random.Random(3)
        words, weights = vocabulary(rng)
        self.texts = [" ".join(rng.choices(words, weights, k=150)) for _ in range(64)]
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.embedder.encode(self.texts, batch_size=64)
            self.batches += 1

    def __enter__(self) -> ConcurrentIngest:
        self._thread.start()
        time.sleep(1.0)  # let it reach full speed
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def under_load(store: ChunkStore, query_embedder, ingests: dict, runs: int, rounds: int = 4) -> dict[str, tuple]:  # noqa: ANN001
    """p50/p95 idle and under each kind of concurrent ingest, and the ingest's chunks/s; the phases
    alternate over `rounds` so that other load on the machine hits them alike."""
    timings: dict[str, list[float]] = {"idle": [], **{name: [] for name in ingests}}
    chunks: dict[str, float] = dict.fromkeys(ingests, 0.0)
    seconds: dict[str, float] = dict.fromkeys(ingests, 0.0)
    for _ in range(rounds):
        timings["idle"] += measure(store, query_embedder, runs // rounds)
        for name, batch_embedder in ingests.items():
            started = time.perf_counter()
            with ConcurrentIngest(batch_embedder) as ingest:
                timings[name] += measure(store, query_embedder, runs // rounds)
            # A batch of 64 takes seconds: counted when done, so the phase ends with its last batch.
            chunks[name] += ingest.batches * 64
            seconds[name] += time.perf_counter() - started
    return {name: (percentiles(t), chunks[name] / seconds[name] if name in seconds else 0.0)
            for name, t in timings.items()}


def decay(work: Path, n: int, dim: int, embedder, runs: int) -> list[tuple[str, float, float]]:  # noqa: ANN001
    """Search after chunks added by sync-sized commits: left unindexed (before) vs refreshed each sync."""
    rows = []
    for refresh in (False, True):
        rng, nprng = random.Random(42), np.random.default_rng(7)
        store = build(str(work / f"decay{n}-{refresh}"), n, dim, rng)
        vocab = vocabulary(random.Random(5))
        measure(store, embedder, 5)
        fresh = percentiles(measure(store, embedder, runs))
        if not refresh:
            rows.append(("freshly built", *fresh))
        added, refresh_s = 0, 0.0
        for target in (1_000, 5_000):
            while added < target:
                add_rows(store, n + added, 50, rng, nprng, vocab)
                added += 50
                if refresh:
                    started = time.perf_counter()
                    store.refresh_indexes()
                    refresh_s += time.perf_counter() - started
            segments = store.table().index_stats("text_idx").num_indices
            label = f"+{target:,} by syncs, " + (f"refreshed ({refresh_s / (added / 50):.2f} s/sync, {segments} seg)"
                                                  if refresh else "left unindexed (before)")
            rows.append((label, *percentiles(measure(store, embedder, runs))))
    for target in (1_000, 5_000):  # the fair reference: the same number of chunks, indexed in one go
        fresh_store = build(str(work / f"fresh{n + target}"), n + target, dim, random.Random(42))
        measure(fresh_store, embedder, 5)
        rows.append((f"freshly built with {n + target:,} chunks", *percentiles(measure(fresh_store, embedder, runs))))
    return rows


LINES: list[str] = []


def out(text: str) -> None:
    print(text, flush=True)
    LINES.extend(text.splitlines() or [""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--load-size", type=int, default=0, help="also measure under a concurrent ingest")
    parser.add_argument("--decay-size", type=int, default=0, help="also measure after chunks added by syncs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    batch_embedder = load_embedder(MODEL, "torch", device="cpu")
    cache = Path(tempfile.gettempdir()) / "ragbot-bench-onnx"  # the export, made once and kept between runs
    prepare_query_export(MODEL, cache, lambda: batch_embedder)
    embedder = load_query_embedder(MODEL, "fp32", cache_root=cache, fallback=lambda: batch_embedder)
    embedder.encode_query("warm up")
    out(f"query embedder: {type(embedder).__name__}; load average {load_now()} at start")
    rng = random.Random(42)
    out(f"{'chunks':>8} {'build s':>8} {'p50 ms':>8} {'p95 ms':>8} {'embed p50':>10} "
        f"{'whole rows p50/p95':>19} {'ids/whole p50':>13} {'CPU ms ids/whole':>16} {'grouped p50/p95':>16} "
        f"{'grouped before p50/p95':>22}  index")
    results, stores, comparisons, timings_at = {}, {}, {}, {}
    try:
        for n in (int(s) for s in args.sizes.split(",") if s):
            started = time.perf_counter()
            store = stores[n] = build(str(work / f"idx{n}"), n, embedder.dim, rng)
            build_s = time.perf_counter() - started
            measure_variants(store, embedder, 10)  # warm caches
            timings, cpu, comparison = measure_variants(store, embedder, args.runs)
            comparisons[n] = comparison
            c_ids, c_whole = statistics.median(cpu["ids first"]), statistics.median(cpu["whole rows"])
            p50, p95 = percentiles(timings["ids first"])
            w50, w95 = percentiles(timings["whole rows"])
            g50, g95 = percentiles(timings["grouped"])
            b50, b95 = percentiles(timings["grouped, every text (before)"])
            embeds = [(time.perf_counter(), embedder.encode_query(q), time.perf_counter()) for q in QUERIES * 3]
            embed_p50 = statistics.median((e - s) * 1000 for s, _, e in embeds)
            kinds = sorted({i.index_type for i in store.table().list_indices()})
            results[n] = p50
            timings_at[n] = timings
            out(f"{n:>8} {build_s:>8.1f} {p50:>8.1f} {p95:>8.1f} {embed_p50:>10.1f} {w50:>9.1f}/{w95:<9.1f} "
                f"{p50 / w50:>13.2f} {c_ids:>7.1f}/{c_whole:<8.1f} {g50:>7.1f}/{g95:<8.1f} {b50:>11.1f}/{b95:<10.1f}"
                f"  {','.join(kinds)}")
        for n, comparison in comparisons.items():
            out(f"\n{n:,} chunks, per-round p50 side by side (bench/timing.py):")
            for line in comparison.lines():
                out("  " + line)
        if 100_000 in results:
            grouped = percentiles(timings_at[100_000]["grouped"])[0]
            verdict = (comparisons[100_000].verdict("grouped") if comparisons[100_000].busy
                       else f"{'meets' if grouped < 20 else 'misses'} the target")
            out(f"\np50 at 100k chunks: {results[100_000]:.1f} ms (target 30 ms: "
                f"{'meets' if results[100_000] < 30 else 'misses'}); with GROUP_DUPLICATES (the default) "
                f"{grouped:.1f} ms, target 20 ms: {verdict}")
        if 1000 in results and 100_000 in results:
            out(f"100k/1k p50 ratio: {results[100_000] / results[1000]:.2f}")

        if args.load_size:
            n = args.load_size
            store = stores.get(n) or build(str(work / f"load{n}"), n, embedder.dim, random.Random(42))
            measure(store, embedder, 5)
            query_embedders = {"onnx, 1 thread": embedder, "torch, 1 thread": batch_embedder}
            ingests = {"ingest, normal priority (before)": batch_embedder,
                       "ingest, sync's low-priority worker": LowPriorityEmbedder(lambda: batch_embedder)}
            out(f"\nretrieval at {n:,} chunks, idle vs a concurrent ingest in the same process "
                f"(load average {os.getloadavg()[0]:.1f}):")
            out(f"{'query embedder':>16} {'while':>36} {'p50 ms':>7} {'p95 ms':>7} {'p95 / idle':>10} "
                f"{'ingest chunks/s':>15}")
            for label, query_embedder in query_embedders.items():
                results = under_load(store, query_embedder, ingests, args.runs)
                idle95 = results["idle"][0][1]
                for name, ((l50, l95), rate) in results.items():
                    verdict = f"   p95 target 60 ms: {'meets' if l95 < 60 else 'misses'}" if name != "idle" else ""
                    out(f"{label:>16} {name:>36} {l50:>7.1f} {l95:>7.1f} {l95 / idle95:>10.2f} "
                        f"{rate if name != 'idle' else 0:>15.1f}{verdict}")
            out(f"load average {os.getloadavg()[0]:.1f} after the load case")

        if args.decay_size:
            n = args.decay_size
            out(f"\nsearch after chunks added by syncs (50 per commit), {n:,}-chunk index "
                  f"(load average {os.getloadavg()[0]:.1f}):")
            rows = decay(work, n, embedder.dim, embedder, args.runs)
            fresh = {label: p50 for label, p50, _ in rows if label.startswith("freshly built")}
            out(f"{'':>60} {'p50 ms':>7} {'p95 ms':>7} {'p50 / fresh same size':>22}")
            for label, p50, p95 in rows:
                size = n + (5_000 if label.startswith("+5,000") else 1_000 if label.startswith("+1,000") else 0)
                ref = fresh.get(f"freshly built with {size:,} chunks", rows[0][1]) if size != n else rows[0][1]
                out(f"{label:>60} {p50:>7.1f} {p95:>7.1f} {p50 / ref:>22.2f}")
            out("target: within 1.5× of a freshly built index of the same size")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out(f"load average {load_now()} at the end")
    append_result(Path(__file__).resolve().parent / "results" / "retrieval.txt", "\n".join(LINES))


if __name__ == "__main__":
    main()
