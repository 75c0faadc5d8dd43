"""GROUP_DUPLICATES: what grouping near-identical passages costs per question and does to document recall.

For each set (../shared/eval PolicyQA and DRCD, the Traditional Chinese regulations set of
bench/quality/data/twlaw, where 30% of the questions ask about boilerplate articles), its documents
are ingested once into bench/.work/duplicates/ and each sampled question is searched once; on the
same fused candidates, side by side:
  - the top 5 as without grouping (`cap_per_document`) and with it (the grouping step timed inside retrieval);
  - document recall@1/@5 of each, grouped counted strictly by the documents cited (group
    representatives) and by every document the answer names (the "appears in" lists too); for the
    sets whose questions are generic (PolicyQA, twlaw) both with the document named, as bench/quality
    asks them at document level, and as plain questions, where any copy of a clause answers;
  - how often a group forms, how many documents it names, and how many distinct texts the top 5 holds.
The grouped top 5 is the retrieval's own (`Retrieval.ranked`: sketches first, texts only where they cannot
rule a pair out); the same candidates are also grouped by comparing every text, as before sketches, and
the two are counted equal or not. Then the whole retrieval (`RagService.search`) with GROUP_DUPLICATES off
and on, interleaved.
Also printed: the resemblance of the example clause pairs behind the 0.7 threshold, and the
highest-resembling pairs of passages from different documents in each set.

Run: `python bench/bench_duplicates.py [--questions 200] [--sets policyqa,drcd,twlaw]`; raw output in
bench/results/duplicates.txt.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("LANCE_LOG", "error")

from bench.quality import datasets  # noqa: E402
from rag.config import load_settings  # noqa: E402
from rag.language.textnorm import normalize  # noqa: E402
from rag.retrieval import duplicates  # noqa: E402
from rag.retrieval.duplicates import NEAR_DUPLICATE, figure_values, group_duplicates, resemblance, shingles  # noqa: E402
from rag.retrieval.named import title_match  # noqa: E402
from rag.retrieval.query import query_terms  # noqa: E402
from rag.retrieval.retrieve import cap_per_document  # noqa: E402
from rag.service import RagService  # noqa: E402
from tests.duplicates_corpus import EN_CONFIDENTIALITY, ZH_CONFIDENTIALITY  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "duplicates"
SEED = 20240611  # bench/quality's sample
DOCS = {"policyqa": None, "drcd": 40, "twlaw": 60}  # documents indexed per set (None: all)
TOP_K, PER_DOC = 5, 3



def en_party(name: str, short: str) -> str:
    return EN_CONFIDENTIALITY.replace("Each party", f"{name} and the Customer each").replace("the other party", short)


def zh_party(name: str) -> str:
    return ZH_CONFIDENTIALITY.replace("雙方", f"甲方{name}公司與乙方")


EXAMPLES = [
    ("other party names (EN)", en_party("Acme Ltd", "Acme"), en_party("Globex Inc.", "Globex")),
    ("other party names (ZH)", zh_party("華新"), zh_party("東亞")),
    ("one sentence added (EN)", EN_CONFIDENTIALITY,
     EN_CONFIDENTIALITY + " Information that is public knowledge is not confidential information."),
    ("one sentence added (ZH)", ZH_CONFIDENTIALITY, ZH_CONFIDENTIALITY + "依法令或主管機關要求而揭露者，不在此限。"),
    ("other duration: 3 → 5 years (EN)", EN_CONFIDENTIALITY,
     EN_CONFIDENTIALITY.replace("three (3) years", "five (5) years")),
    ("independently written, same subject (EN)", EN_CONFIDENTIALITY,
     "The Supplier must treat as secret any non-public data it receives from the Customer, limit access to staff "
     "who need it, and return or destroy it when the contract ends; this duty lasts three (3) years."),
    ("independently written, same subject (ZH)", ZH_CONFIDENTIALITY,
     "乙方應將甲方提供之一切資料視為機密，僅得於履行本契約所必要之範圍內使用，契約結束時應返還或銷毀，此義務於契約結束後三年內有效。"),
]


def pct(values: list[bool]) -> str:
    return f"{100 * sum(values) / len(values):5.1f}" if values else "  -  "


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{statistics.median(ordered):.2f} / {ordered[int(0.95 * (len(ordered) - 1))]:.2f}"


def examples() -> None:
    print(f"Example pairs (resemblance of character 5-shingles; one text at >= {NEAR_DUPLICATE} and same figures):")
    for label, a, b in EXAMPLES:
        same = figure_values(a) == figure_values(b)
        print(f"  {label:45s} {resemblance(shingles(a), shingles(b)):.2f}  same figures: {same}")


def nearest_pairs(svc: RagService, shown: int = 3) -> None:
    """The most resembling chunks of different documents in the index (shingle inverted index, no n² scan)."""
    rows = svc.store.table().to_arrow().select(["doc_path", "text"]).to_pylist()
    sigs = [shingles(str(r["text"])) for r in rows]
    postings: dict[str, list[int]] = {}
    for i, sig in enumerate(sigs):
        for g in sig:
            postings.setdefault(g, []).append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for ids in postings.values():
        if len(ids) > 100:  # a shingle in 100+ chunks (common words) says nothing about a pair
            continue
        for x in range(len(ids)):
            for y in range(x + 1, len(ids)):
                if rows[ids[x]]["doc_path"] != rows[ids[y]]["doc_path"]:
                    shared[(ids[x], ids[y])] += 1
    scored = sorted(((resemblance(sigs[a], sigs[b]), a, b) for (a, b), n in shared.items() if n >= 10), reverse=True)
    over = sum(1 for r, _, _ in scored if r >= NEAR_DUPLICATE)
    print(f"  {len(rows)} chunks; pairs of different documents at >= {NEAR_DUPLICATE}: {over}; the nearest:")
    for r, a, b in scored[:shown]:
        text = " ".join(str(rows[a]["text"]).split())[:70]
        print(f"    {r:.2f} {rows[a]['doc_path']} | {rows[b]['doc_path']}: {text}")


def index_for(name: str) -> tuple[RagService, RagService, list[datasets.Query], datasets.Dataset]:
    ds = datasets.load(name)
    doc_ids = datasets.pick_docs(ds.doc_ids, DOCS[name], SEED)
    docs = datasets.docs_folder(ds, doc_ids, WORK, f"{len(doc_ids)}docs")
    index = WORK / "index" / f"{name}-{len(doc_ids)}docs"
    base = {"docs_dir": docs, "lancedb_uri": str(index), "ollama_host": "http://127.0.0.1:9", "top_k": TOP_K,
            "max_chunks_per_doc": PER_DOC}
    off = RagService(load_settings(**base, group_duplicates=False))
    started = time.perf_counter()
    report = off.sync()
    if report.added or report.changed:
        took = time.perf_counter() - started
        print(f"  ingested {len(report.added) + len(report.changed)} documents in {took:.0f} s")
    return off, RagService(load_settings(**base, group_duplicates=True)), ds.with_docs(set(doc_ids)), ds


class Tally:
    """Per question form: recall with and without grouping, how often groups form, distinct texts in the top k."""

    def __init__(self) -> None:
        self.r1_off: list[bool] = []
        self.r5_off: list[bool] = []
        self.r1_on: list[bool] = []
        self.r5_on: list[bool] = []
        self.r5_listed: list[bool] = []
        self.grouped: list[bool] = []
        self.group_docs: list[int] = []
        self.distinct_off: list[int] = []
        self.distinct_on: list[int] = []

    def add(self, plain: list, groups: list, gold: set[str]) -> None:
        self.r1_off.append(bool(plain) and plain[0].doc_path in gold)
        self.r5_off.append(any(c.doc_path in gold for c in plain))
        self.r1_on.append(bool(groups) and groups[0].doc_path in gold)
        self.r5_on.append(any(c.doc_path in gold for c in groups))
        self.r5_listed.append(any(c.doc_path in gold or any(d.doc_path in gold for d in c.duplicates)
                                  for c in groups))
        with_copies = [c for c in groups if c.duplicates]
        self.grouped.append(bool(with_copies))
        self.group_docs += [1 + len(c.duplicates) for c in with_copies]
        self.distinct_off.append(len(group_duplicates(plain, TOP_K, TOP_K, lambda row: 0.0)))
        self.distinct_on.append(len(groups))

    def show(self, label: str) -> None:
        sizes = f"mean {statistics.mean(self.group_docs):.1f}, max {max(self.group_docs)}" if self.group_docs else "-"
        print(f"  [{label}] top {TOP_K} holds a group: {pct(self.grouped)}% of questions; documents per group: {sizes};"
              f" distinct texts in the top {TOP_K}: {statistics.mean(self.distinct_off):.2f} off,"
              f" {statistics.mean(self.distinct_on):.2f} on")
        print(f"  [{label}] doc R@1 / R@5  off: {pct(self.r1_off)} / {pct(self.r5_off)}   on, cited: {pct(self.r1_on)}"
              f" / {pct(self.r5_on)}   on, cited or listed (\"appears in\"): R@5 {pct(self.r5_listed)}")


def run_set(name: str, n_questions: int) -> None:
    off, on, queries, ds = index_for(name)
    queries = datasets.sample(queries, n_questions, SEED)
    print(f"\n== {name}: {len(queries)} questions, {ds.language}")
    nearest_pairs(off)
    forms = {"document named": Tally(), "plain question": Tally()} if ds.doc_level_scoped else {"as asked": Tally()}
    step_ms, step_cpu_ms, search_off, search_on, sizes, same = [], [], [], [], [], []
    real_group = duplicates.group_candidates

    def timed_group(*args, **kwargs):  # noqa: ANN002,ANN003,ANN202 - the step alone, inside the real retrieval
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return real_group(*args, **kwargs)
        finally:
            step_ms.append((time.perf_counter() - t0) * 1000)
            step_cpu_ms.append((time.process_time() - c0) * 1000)

    duplicates.group_candidates = timed_group
    try:
        for q in queries:
            gold = {ds.path_of(d) for d in q.doc_ids}
            for label, tally in forms.items():
                question = q.scoped if label == "document named" else q.question
                found = on.search(question, top_k=TOP_K)  # grouped as the bot does: sketches, then texts as needed
                cands, groups = found.candidates, found.ranked
                terms = query_terms(normalize(question))
                # The same candidates grouped by comparing every text (as before sketches): must be the same.
                by_text = group_duplicates(cands, TOP_K, PER_DOC, lambda row, terms=terms: title_match(row, terms))
                same.append(_shape(by_text) == _shape(groups))
                plain = cap_per_document(cands, TOP_K, PER_DOC)
                sizes.append(len(cands))
                tally.add(plain, groups, gold)
                order = [(off, search_off), (on, search_on)]
                for svc, out in order if len(search_off) % 2 else order[::-1]:
                    started = time.perf_counter()
                    svc.search(question)
                    out.append((time.perf_counter() - started) * 1000)
    finally:
        duplicates.group_candidates = real_group
    for label, tally in forms.items():
        tally.show(label)
    print(f"  grouping the same candidates with sketches and by every text: the same groups for {sum(same)} of "
          f"{len(same)} questions")
    print(f"  grouping step inside retrieval (sketches, the texts it needs, the kept rows) p50/p95 ms: {ms(step_ms)} "
          f"(CPU time {ms(step_cpu_ms)}; over {statistics.mean(sizes):.0f} candidates on average)")
    print(f"  whole retrieval p50/p95 ms, interleaved: off {ms(search_off)}, on {ms(search_on)}"
          f" (ratio of p50s {statistics.median(search_on) / statistics.median(search_off):.2f})")


def _shape(groups: list) -> list[tuple[str, list[str]]]:
    return [(g.row["chunk_id"], [d.row["chunk_id"] for d in g.duplicates]) for g in groups]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--sets", default="policyqa,drcd,twlaw")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    examples()
    for name in args.sets.split(","):
        run_set(name.strip(), args.questions)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
