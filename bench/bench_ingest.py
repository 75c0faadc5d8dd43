"""Ingest throughput against bare `model.encode` on the same chunks, and peak RSS of ingest and ask.

Both sides run in this one process, one after the other, on the same chunk
texts, so the ratio is fair on a noisy machine (target: ingest ≥ 0.8 of bare
encode: the embedding should be the only real cost). Peak RSS is measured for
`ragbot ingest` and `ragbot ask` as separate subprocesses.
Run: `python bench/bench_ingest.py [--docs 60]`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LANCE_LOG", "error")

from rag.config import load_settings  # noqa: E402
from rag.ingest.chunking import chunk_document  # noqa: E402
from rag.ingest.documents import load_document  # noqa: E402
from rag.ingest.embeddings import load_embedder  # noqa: E402
from rag.service import RagService  # noqa: E402

SENTENCES = [
    "Employees may carry over up to {n} days of unused annual leave to the next calendar year.",
    "Expense claims must be submitted within {n} days together with the original receipts.",
    "The supplier shall notify the customer of any personal data breach within {n} hours.",
    "Invoices are payable within {n} days of receipt unless disputed in good faith.",
    "Either party may terminate this agreement with {n} days' written notice.",
    "Laptops must be returned to the IT service desk within {n} working days of the last day.",
    "Access badges are deactivated automatically after {n} days without use.",
    "Damaged goods can be returned within {n} days when the customer provides photos of the damage.",
]


def write_corpus(folder: Path, docs: int, rng: random.Random) -> None:
    for d in range(docs):
        lines = [f"# Procedure {d}", ""]
        for s in range(6):
            lines += [f"## {s + 1}. Section {s + 1}", ""]
            for _ in range(3):
                lines.append(" ".join(rng.choice(SENTENCES).format(n=rng.randint(2, 90)) for _ in range(4)))
                lines.append("")
        (folder / f"procedure-{d:04d}.md").write_text("\n".join(lines), encoding="utf-8")


def peak_rss_mb(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    rss_kb, rc = out.stdout.split()
    return int(rss_kb) / 1024, int(rc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        docs = work / "docs"
        docs.mkdir()
        write_corpus(docs, args.docs, random.Random(1))
        settings = load_settings(docs_dir=docs, lancedb_uri=str(work / "index"), ollama_host="http://127.0.0.1:9")
        embedder = load_embedder(settings.embedding_model)
        embedder.encode(["warm up"] * 8)
        texts = []
        for path in sorted(docs.glob("*.md")):
            doc = load_document(path, docs)
            texts += [c.embed_text for c in chunk_document(doc, embedder.token_offsets,
                                                           max_tokens=settings.chunk_tokens,
                                                           overlap_tokens=settings.chunk_overlap_tokens,
                                                           model_max_tokens=embedder.max_seq_length)]
        started = time.perf_counter()
        embedder.encode(texts, batch_size=settings.embedding_batch_size)
        bare_s = time.perf_counter() - started

        started = time.perf_counter()
        report = RagService(settings).sync(full=True)
        ingest_s = time.perf_counter() - started
        assert report.status == "ok" and report.chunks_embedded == len(set(texts)), report
        bare_rate, ingest_rate = len(texts) / bare_s, report.chunks_embedded / ingest_s
        print(f"chunks: {len(texts)} from {args.docs} documents")
        print(f"bare model.encode : {bare_rate:7.1f} chunks/s ({bare_s:.1f}s)")
        print(f"ragbot ingest     : {ingest_rate:7.1f} chunks/s ({ingest_s:.1f}s, parse+chunk+embed+write+index)")
        ratio = ingest_rate / bare_rate
        print(f"ratio ingest/bare : {ratio:.2f} (target ≥ 0.80: {'meets' if ratio >= 0.8 else 'misses'})")

        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        base = [sys.executable, "-m", "ragbot", "--index", str(work / "rss-index"), "--docs-dir", str(docs),
                "--ollama-host", "http://127.0.0.1:9"]
        ingest_mb, rc1 = peak_rss_mb([*base, "ingest"], env)
        ask_mb, rc2 = peak_rss_mb([*base, "ask", "How many days of leave can be carried over?"], env)
        print(f"peak RSS ragbot ingest: {ingest_mb:.0f} MB (exit {rc1}); ragbot ask: {ask_mb:.0f} MB (exit {rc2})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
