"""Refusal calibration: hold out a quarter of the documents; their questions must be declined, the rest answered.

The bot declines when the best relevance among its TOP_K chunks is below RELEVANCE_FLOOR; this sweeps
the floor. The LangChain recipe has no floor: its best top-1 cosine cut-off is shown for comparison.
`run_off_topic`: questions of another set (about other documents altogether: Wikipedia asked of regulations,
regulations asked of Wikipedia) must be declined, the set's own answered (issue 19: ≥ 95% / ≤ 3%).
"""

from __future__ import annotations

from pathlib import Path

from bench.quality import datasets, pipelines
from bench.quality.datasets import Dataset
from bench.quality.langchain_peer import Baseline
from bench.quality.pipelines import OurIndex
from bench.quality.report import Out, question_text
from bench.quality.scoring import pct
from rag.config import RagSettings
from rag.ops.evaluate import FloorPoint, choose_floor, floor_sweep

SEED = 20240611
HELD_OUT_SHARE = 0.25
FLOORS = tuple(round(0.20 + 0.01 * i, 2) for i in range(51))  # 0.20 … 0.70
SHOWN_FLOORS = frozenset(round(0.20 + 0.05 * i, 2) for i in range(11))
COSINE_THRESHOLDS = tuple(round(0.30 + 0.05 * i, 2) for i in range(12))  # baseline: top-1 cosine 0.30 … 0.85
MAX_WRONGLY_DECLINED = 0.10


def run_refusal(ds: Dataset, questions: int, ours: OurIndex, baseline: Baseline, doc_ids: tuple[str, ...],
                subset: str, form: str, out: Out, work: Path) -> tuple[list[FloorPoint], list[FloorPoint]]:
    d = RagSettings.model_construct()
    kept, held_out = datasets.split_held_out(doc_ids, HELD_OUT_SHARE, SEED)
    docs_dir = datasets.docs_folder(ds, kept, work, f"{subset}-kept")
    idx = pipelines.open_index(work, f"{ours.key}-kept", docs_dir, sorted(kept), chunk_tokens=d.chunk_tokens,
                               overlap_tokens=d.chunk_overlap_tokens,
                               derive_from=Path(ours.settings.lancedb_uri))
    answerable = datasets.sample(ds.with_docs(kept), questions, SEED + 1)
    unanswerable = datasets.sample(ds.with_docs(held_out), questions, SEED + 2)
    best: dict[str, list[float]] = {"answerable": [], "unanswerable": []}
    base_best: dict[str, list[float]] = {"answerable": [], "unanswerable": []}
    for label, qs in (("answerable", answerable), ("unanswerable", unanswerable)):
        for q in qs:
            text = question_text(q, form)
            hybrid = idx.service.search(text, top_k=pipelines.DEPTH).candidates
            best[label].append(pipelines.outcome(idx, hybrid).best_relevance)
            base_best[label].append(baseline.search(text, exclude=held_out).best_relevance)
    points = floor_sweep(best["answerable"], best["unanswerable"], FLOORS)
    base_points = floor_sweep(base_best["answerable"], base_best["unanswerable"], COSINE_THRESHOLDS)
    out(f"\nrefusal: {len(held_out)} of {len(doc_ids)} documents held out (index {idx.key}, {idx.chunks} chunks); "
        f"{len(unanswerable)} questions about them must be declined, {len(answerable)} about the rest answered")
    out("| relevance floor | unanswerable declined % | answerable wrongly declined % |")
    out("|---|---|---|")
    chosen = choose_floor(points, MAX_WRONGLY_DECLINED)
    for p in points:
        is_default = abs(p.floor - d.relevance_floor) < 1e-9
        is_best = chosen is not None and p.floor == chosen.floor
        if p.floor not in SHOWN_FLOORS and not is_default and not is_best:
            continue
        mark = (" ← default" if is_default else "") + (" ← best for this set alone" if is_best else "")
        out(f"| {p.floor:.2f}{mark} | {pct(p.declined_unanswerable)} | {pct(p.declined_answerable)} |")
    pick = choose_floor(base_points, MAX_WRONGLY_DECLINED)
    if pick:
        out(f"LangChain recipe has no floor; the best top-1 cosine cut-off with ≤ {pct(MAX_WRONGLY_DECLINED)}% "
            f"wrongly declined is {pick.floor:.2f}: {pct(pick.declined_unanswerable)}% declined, "
            f"{pct(pick.declined_answerable)}% wrongly")
    return points, base_points


def choose_joint_floor(refusals: list[list[FloorPoint]]) -> tuple[float, list[FloorPoint]] | None:
    """One floor for every language: wrong declines within the bound on each set, then the most declines
    on average."""
    best: tuple[float, list[FloorPoint]] | None = None
    best_key: tuple[float, float] | None = None
    for i, floor in enumerate(FLOORS):
        points = [r[i] for r in refusals]
        if any(p.declined_answerable > MAX_WRONGLY_DECLINED for p in points):
            continue
        key = (sum(p.declined_unanswerable for p in points), -max(p.declined_answerable for p in points))
        if best_key is None or key > best_key:
            best_key, best = key, (floor, points)
    return best


OFF_TOPIC = {"drcd": "twlabor", "twlaw": "drcd", "twlaw-para": "drcd", "twlabor": "drcd"}  # set → off-topic from
OFF_TOPIC_TARGET = (0.95, 0.03)  # declined at least, wrongly declined at most


def run_off_topic(ds: Dataset, questions: int, ours: OurIndex, doc_ids: tuple[str, ...], form: str,
                  out: Out) -> list[FloorPoint] | None:
    """The set's own questions answered, another set's declined, at each floor; None without an off-topic set."""
    other_name = OFF_TOPIC.get(ds.name)
    if other_name is None:
        return None
    d = RagSettings.model_construct()
    other = datasets.load(other_name)
    answerable = datasets.sample(ds.with_docs(set(doc_ids)), questions, SEED + 3)
    off_topic = datasets.sample(list(other.queries), questions, SEED + 4)
    best: dict[str, list[float]] = {}
    for label, texts in (("answerable", [question_text(q, form) for q in answerable]),
                         ("off", [q.question for q in off_topic])):
        with ours.mode():  # the bot's own decision: the best relevance among its TOP_K
            best[label] = [ours.service.search(t).best_relevance for t in texts]
    points = floor_sweep(best["answerable"], best["off"], FLOORS)
    out(f"\noff-topic refusal: {len(off_topic)} {other_name} questions asked of {ds.name}'s documents must be "
        f"declined, {len(answerable)} of its own answered")
    out("| relevance floor | off-topic declined % | answerable wrongly declined % |")
    out("|---|---|---|")
    for p in points:
        is_default = abs(p.floor - d.relevance_floor) < 1e-9
        if p.floor not in SHOWN_FLOORS and not is_default:
            continue
        out(f"| {p.floor:.2f}{' ← default' if is_default else ''} | {pct(p.declined_unanswerable)} | "
            f"{pct(p.declined_answerable)} |")
    return points
