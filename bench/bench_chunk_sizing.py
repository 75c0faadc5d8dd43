"""CHUNK_SIZING side by side: the old token budget everywhere against `auto` (CJK sized in characters).

Each configuration is ingested into a fresh index in this one process (the model is
loaded first, so no build pays for it), builds interleaved A B A B when `--repeat 2`,
then the same seeded questions are asked of each index. Reported per set: chunk
count, ingest seconds and chunks/s (the sync's own duration: scan, parse, chunk,
embed, write, index), document- and passage-level recall@1/5/10 (scored by
`bench.quality.scoring`, as `bench/quality` does), and the prompt an answer would
carry (the hits `ragbot ask` hands the model, in the LLM-token bounds of `rag.answering.tokens`).
Passage-level recall is easier with bigger chunks (a chunk overlapping the gold span
counts), so it is shown next to the prompt size it costs.

Run: `python -m bench.bench_chunk_sizing [--sets drcd,policyqa] [--questions 200] [--chars 400]
[--repeat 1]`; raw output in bench/results/chunk_sizing.txt.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("LANCE_LOG", "error")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quality import datasets, scoring  # noqa: E402
from rag.answering.tokens import token_bounds  # noqa: E402
from rag.config import RagSettings, load_settings  # noqa: E402
from rag.ingest.chunking import chunk_document  # noqa: E402
from rag.ops.evaluate import RankedChunk  # noqa: E402
from rag.retrieval.retrieve import cap_per_document  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "chunk_sizing.txt"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SEED = 20240611  # bench/quality's question sample


@dataclass
class Variant:
    label: str
    overrides: dict[str, object]
    builds: list[tuple[float, int]] = field(default_factory=list)  # (seconds, chunks) per build
    service: object | None = None


def build(variant: Variant, ds: datasets.Dataset, where: Path) -> None:
    """One fresh index of the whole corpus; the sync's own duration is the ingest time."""
    from rag.service import RagService

    index = where / f"{ds.name}-{variant.label.replace(' ', '_').replace('/', '-')}-{len(variant.builds)}"
    shutil.rmtree(index, ignore_errors=True)
    settings = load_settings(docs_dir=ds.corpus, lancedb_uri=str(index), state_dir=index / "_state",
                             embedding_model=MODEL, ollama_host="http://127.0.0.1:9", **variant.overrides)
    svc = RagService(settings)
    report = svc.syncer().run(trigger="bench", full=True, allow_mass_delete=True)
    if report.status != "ok":
        raise SystemExit(f"{variant.label}: sync {report.status}: {report.message} {report.failed[:3]}")
    variant.builds.append((report.duration_s, svc.store.count()))
    variant.service = svc


def ask(variant: Variant, ds: datasets.Dataset, queries: list[datasets.Query]) -> tuple[scoring.Scored, list[int],
                                                                                         list[int], list[int]]:
    """Ranked as bench/quality does (fused, capped per document, depth 10, no floor), and the prompt's hits."""
    svc = variant.service
    s: RagSettings = svc.settings  # type: ignore[attr-defined]
    ranked, low, high, chars = [], [], [], []
    for q in queries:
        question = q.scoped if ds.doc_level_scoped else q.question
        found = svc.search(question, top_k=scoring.DEPTH)  # type: ignore[attr-defined]
        ranked.append([RankedChunk(doc_path=c.doc_path, text=str(c.row.get("text", "")), start=c.row.get("start_char"),
                                   end=c.row.get("end_char"))
                       for c in cap_per_document(found.candidates, scoring.DEPTH, s.max_chunks_per_doc)])
        hits = svc.search(question).hits  # type: ignore[attr-defined]  # what `ragbot ask` puts in the prompt
        bounds = [token_bounds(str(h.row.get("text", ""))) for h in hits]
        low.append(sum(b[0] for b in bounds))
        high.append(sum(b[1] for b in bounds))
        chars.append(sum(len(str(h.row.get("text", ""))) for h in hits))
    return scoring.score(ds, queries, ranked), low, high, chars


def embedding_work(ds: datasets.Dataset, overrides: dict[str, object]) -> tuple[int, int]:
    """(chunks, model tokens embedded) for the corpus under these settings: the sync's own chunking, no
    embedding, so it does not depend on the machine's load (the model's cost grows with its input tokens)."""
    from rag.ingest.documents import load_document
    from rag.ingest.embeddings import load_embedder
    from rag.ingest.sync.apply import chunk_sizing

    settings = load_settings(docs_dir=ds.corpus, embedding_model=MODEL, **overrides)
    embedder = load_embedder(MODEL)
    sizing = chunk_sizing(settings)
    chunks = tokens = 0
    for doc_id in ds.doc_ids:
        doc = load_document(ds.corpus / ds.path_of(doc_id), ds.corpus)
        for chunk in chunk_document(doc, embedder.token_offsets, sizing, model_max_tokens=embedder.max_seq_length):
            chunks += 1
            tokens += min(embedder.count_tokens(chunk.embed_text) + 2, embedder.max_seq_length)
    return chunks, tokens


def work(sets: list[str], chars: list[int], say: Callable[[str], None]) -> None:
    say("\n## embedding work (deterministic: chunked as the sync does, not embedded)")
    say("| set | sizing | chunks | model tokens embedded | vs old |")
    say("|---|---|---|---|---|")
    for name in sets:
        ds = datasets.load(name)
        sizes = chars if ds.language != "English" else chars[:1]
        variants = [("tokens (old)", {"chunk_sizing": "tokens"})] + [
            (f"auto, CJK {n} chars", {"chunk_sizing": "auto", "chunk_chars": n}) for n in sizes]
        base = 0
        for label, overrides in variants:
            chunks, tokens = embedding_work(ds, overrides)
            base = base or tokens
            say(f"| {name} | {label} | {chunks} | {tokens} | {tokens / base:.2f}× |")


def run(sets: list[str], questions: int, chars: list[int], repeat: int, say: Callable[[str], None]) -> None:
    from rag.ingest.embeddings import load_embedder

    load_embedder(MODEL)  # loaded once, before any timed build
    code = RagSettings.model_construct()
    say(f"model {MODEL}; CHUNK_TOKENS {code.chunk_tokens}/{code.chunk_overlap_tokens}; TOP_K {code.top_k}, "
        f"MAX_CHUNKS_PER_DOC {code.max_chunks_per_doc}; load average at start {os.getloadavg()[0]:.1f} "
        f"({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="chunk-sizing-") as tmp:
        for name in sets:
            ds = datasets.load(name)
            queries = datasets.sample(list(ds.queries), questions, SEED)
            sizes = chars if ds.language != "English" else chars[:1]  # English text: auto is tokens anyway
            variants = [Variant("tokens (old)", {"chunk_sizing": "tokens"})] + [
                Variant(f"auto, CJK {n} chars", {"chunk_sizing": "auto", "chunk_chars": n}) for n in sizes]
            say(f"\n## {name} ({ds.language}, {len(ds.doc_ids)} documents, {len(queries)} questions)")
            for _ in range(repeat):  # interleaved, so a load spike does not fall on one side only
                for v in variants:
                    build(v, ds, Path(tmp))
                    seconds, count = v.builds[-1]
                    say(f"built {v.label}: {count} chunks in {seconds:.1f}s ({count / seconds:.1f} chunks/s), "
                        f"load {os.getloadavg()[0]:.1f}")
            base_s = statistics.median(b[0] for b in variants[0].builds)
            say("\n| sizing | chunks | ingest s (median) | chunks/s | ingest time vs old | doc R@1 | doc R@5 "
                "| doc R@10 | passage R@1 | passage R@5 | passage R@10 | prompt tokens/answer (low–high) "
                "| prompt chars/answer |")
            say("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
            for v in variants:
                scored, low, high, prompt_chars = ask(v, ds, queries)
                seconds = statistics.median(b[0] for b in v.builds)
                count = v.builds[-1][1]
                d, p = scored.doc.recall, scored.passage.recall
                say(f"| {v.label} | {count} | {seconds:.1f} | {count / seconds:.1f} | {seconds / base_s:.2f}× "
                    f"| {scoring.pct(d[1])} | {scoring.pct(d[5])} | {scoring.pct(d[10])} | {scoring.pct(p[1])} "
                    f"| {scoring.pct(p[5])} | {scoring.pct(p[10])} | {statistics.mean(low):.0f}–"
                    f"{statistics.mean(high):.0f} | {statistics.mean(prompt_chars):.0f} |")
    say(f"\nload average at end {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="drcd,policyqa")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--chars", default="400",
                        help="CHUNK_CHARS values to compare on Chinese sets, comma-separated (English: the first)")
    parser.add_argument("--repeat", type=int, default=1, help="builds per configuration (interleaved)")
    parser.add_argument("--work-only", action="store_true",
                        help="only the deterministic embedding-work table, appended to the results file")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    out: list[str] = [f"\n$ python -m bench.bench_chunk_sizing {' '.join(sys.argv[1:])}",
                      time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())]
    sets, chars = args.sets.split(","), [int(c) for c in args.chars.split(",")]

    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    if args.work_only:
        work(sets, chars, say)
    else:
        run(sets, args.questions, chars, args.repeat, say)
    if not args.no_save:
        text = "\n".join(out) + "\n"
        with RESULTS.open("a" if args.work_only else "w", encoding="utf-8") as handle:  # work tables add to a run
            handle.write(text if args.work_only else text.lstrip("\n"))


if __name__ == "__main__":
    main()
