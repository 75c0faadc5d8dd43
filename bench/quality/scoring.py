"""Scoring a ranked list against a question's gold: document level and passage level, recall@k and MRR.

Document level = a chunk of the gold document among the top k; passage level = a chunk of the gold
document whose source span overlaps a gold span, or whose text contains a gold answer string
(containment only inside the gold document: short answers occur in other documents too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.quality.datasets import Dataset, Query
from rag.ops.evaluate import RankedChunk, RankingMetrics, first_hit_rank, normalize_text, ranking_metrics

DEPTH = 10  # deepest k scored


def doc_hit(ds: Dataset, q: Query) -> Callable[[RankedChunk], bool]:
    """The gold document is the chunk's, or one the answer names as holding the same text (GROUP_DUPLICATES)."""
    gold = {ds.path_of(d) for d in q.doc_ids}
    return lambda c: c.doc_path in gold or any(p in gold for p in getattr(c, "also_in", ()))


def passage_hit(ds: Dataset, q: Query) -> Callable[[RankedChunk], bool]:
    gold = {ds.path_of(d): d for d in q.doc_ids}
    answers = [normalize_text(a) for a in q.answers]

    def hit(c: RankedChunk) -> bool:
        doc_id = gold.get(c.doc_path)
        if doc_id is None:
            return False
        if c.start is not None and c.end is not None and any(
                s.doc_id == doc_id and s.start < c.end and c.start < s.end for s in q.spans):
            return True
        text = normalize_text(c.text)
        return any(a and a in text for a in answers)

    return hit


@dataclass
class Scored:
    doc: RankingMetrics
    passage: RankingMetrics


def score(ds: Dataset, queries: Sequence[Query], ranked: Sequence[list[RankedChunk]]) -> Scored:
    doc_ranks = [first_hit_rank(r, doc_hit(ds, q), DEPTH) for q, r in zip(queries, ranked, strict=True)]
    passage_ranks = [first_hit_rank(r, passage_hit(ds, q), DEPTH) for q, r in zip(queries, ranked, strict=True)]
    return Scored(ranking_metrics(doc_ranks), ranking_metrics(passage_ranks))


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "∞"


def metrics_cells(m: RankingMetrics) -> str:
    return f"{pct(m.recall[1])} | {pct(m.recall[5])} | {pct(m.recall[10])} | {m.mrr:.3f}"
