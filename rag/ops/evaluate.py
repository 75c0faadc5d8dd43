"""Golden-question evaluation: does retrieval find the expected passage, and decline when it should?

A company keeps a JSON Lines file of questions with the document (and
optionally the passage text) that answers each one, or an `unanswerable`
flag, and runs it after every sync (`ragbot eval`). Everything here except
`search_with` is pure, so the public benchmarks (`bench/quality`) score their
own pipelines, and the peer baseline, with the same arithmetic.

Ranking is scored on what the bot would hand the model, ignoring the floor
(the per-document cap applied, best first); refusal is scored separately, with
the bot's own floor decision over its TOP_K chunks. Keeping the two apart
shows whether a miss is a ranking problem or a floor problem. With
GROUP_DUPLICATES a slot can stand for one clause in several documents, and the
answer names them ("appears in N documents: …", at most `MAX_LISTED`): an
expected document among those named is found, as the asker sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.ops.golden import (
    BlankExpectedDocument,
    GoldenQuestion,
    QuestionsFileError,
    load_questions,
    normalize_path,
    normalize_text,
    parse_question,
    parse_questions,
)
from rag.retrieval.candidates import Retrieval
from rag.retrieval.duplicates import MAX_LISTED
from rag.retrieval.relevance import apply_floor
from rag.retrieval.retrieve import cap_per_document

__all__ = [  # the golden-question file's reading lives in rag/ops/golden.py; its names are used from here too
    "BlankExpectedDocument", "EvalReport", "FloorPoint", "GoldenQuestion", "QuestionsFileError", "RankedChunk",
    "SearchOutcome", "choose_floor", "evaluate", "floor_sweep", "load_questions", "normalize_path", "normalize_text",
    "parse_question", "parse_questions", "ranking_metrics", "search_with",
]

RECALL_KS = (1, 5, 10)
MRR_DEPTH = 10


@dataclass(frozen=True)
class RankedChunk:
    """What scoring needs from a retrieved chunk; `start`/`end` are character offsets in the source."""

    doc_path: str
    text: str
    start: int | None = None
    end: int | None = None
    relevance: float = 0.0
    also_in: tuple[str, ...] = ()  # other documents the answer names as holding this text (GROUP_DUPLICATES)


@dataclass(frozen=True)
class SearchOutcome:
    ranked: list[RankedChunk]  # best first, as deep as the deepest k scored
    declined: bool  # the bot would say it found nothing
    best_relevance: float


# -- scoring -----------------------------------------------------------------------------------------
def is_hit(chunk: RankedChunk, question: GoldenQuestion) -> bool:
    """The chunk is from an expected document, or the answer names one as holding the same text, and, when a
    passage is given, contains it."""
    if question.docs and not any(normalize_path(p) in question.docs for p in (chunk.doc_path, *chunk.also_in)):
        return False
    return question.answer is None or normalize_text(question.answer) in normalize_text(chunk.text)


def first_hit_rank(ranked: Sequence[Any], relevant: Callable[[Any], bool], depth: int) -> int | None:
    """1-based rank of the first relevant item within `depth`, None when there is none."""
    for rank, item in enumerate(ranked[:depth], start=1):
        if relevant(item):
            return rank
    return None


@dataclass(frozen=True)
class RankingMetrics:
    n: int
    recall: dict[int, float]  # k -> share of questions with a hit in the top k
    mrr: float  # mean reciprocal rank of the first hit within MRR_DEPTH (0 for a miss)

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, **{f"recall@{k}": round(v, 4) for k, v in self.recall.items()},
                f"mrr@{MRR_DEPTH}": round(self.mrr, 4)}


def ranking_metrics(ranks: Sequence[int | None], ks: Sequence[int] = RECALL_KS,
                    mrr_depth: int = MRR_DEPTH) -> RankingMetrics:
    n = len(ranks)
    if n == 0:
        return RankingMetrics(0, {k: 0.0 for k in ks}, 0.0)
    recall = {k: sum(1 for r in ranks if r is not None and r <= k) / n for k in ks}
    mrr = sum(1.0 / r for r in ranks if r is not None and r <= mrr_depth) / n
    return RankingMetrics(n, recall, mrr)


@dataclass(frozen=True)
class RefusalMetrics:
    unanswerable: int
    correctly_declined: int
    answerable: int
    wrongly_declined: int

    @property
    def declined_rate(self) -> float | None:
        """Share of unanswerable questions the bot declined (higher is better)."""
        return self.correctly_declined / self.unanswerable if self.unanswerable else None

    @property
    def wrongly_declined_rate(self) -> float | None:
        """Share of answerable questions the bot declined (lower is better)."""
        return self.wrongly_declined / self.answerable if self.answerable else None

    def as_dict(self) -> dict[str, Any]:
        def rnd(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {"unanswerable": self.unanswerable, "correctly_declined": self.correctly_declined,
                "declined_rate": rnd(self.declined_rate), "answerable": self.answerable,
                "wrongly_declined": self.wrongly_declined, "wrongly_declined_rate": rnd(self.wrongly_declined_rate)}


def refusal_metrics(declined_unanswerable: Sequence[bool], declined_answerable: Sequence[bool]) -> RefusalMetrics:
    return RefusalMetrics(
        unanswerable=len(declined_unanswerable), correctly_declined=sum(declined_unanswerable),
        answerable=len(declined_answerable), wrongly_declined=sum(declined_answerable),
    )


@dataclass(frozen=True)
class FloorPoint:
    floor: float
    declined_unanswerable: float  # share correctly declined
    declined_answerable: float  # share wrongly declined


def floor_sweep(best_answerable: Sequence[float], best_unanswerable: Sequence[float],
                floors: Iterable[float]) -> list[FloorPoint]:
    """The refusal trade-off per floor: the bot declines when the best relevance is below the floor."""
    points = []
    for floor in floors:
        points.append(FloorPoint(
            floor=floor,
            declined_unanswerable=sum(1 for b in best_unanswerable if b < floor) / max(1, len(best_unanswerable)),
            declined_answerable=sum(1 for b in best_answerable if b < floor) / max(1, len(best_answerable)),
        ))
    return points


def choose_floor(points: Sequence[FloorPoint], max_wrongly_declined: float = 0.10) -> FloorPoint | None:
    """The floor declining the most unanswerable questions while keeping wrong declines within the bound."""
    allowed = [p for p in points if p.declined_answerable <= max_wrongly_declined]
    return max(allowed, key=lambda p: (p.declined_unanswerable, -p.declined_answerable, -p.floor), default=None)


# -- a whole run -------------------------------------------------------------------------------------
@dataclass
class QuestionResult:
    question: GoldenQuestion
    rank: int | None  # of the first hit, within the depth searched
    declined: bool
    best_relevance: float
    top: list[RankedChunk]

    def failed(self, k: int) -> str | None:
        """Why this question counts as a failure at depth k, or None."""
        q = self.question
        if q.unanswerable:
            return None if self.declined else "answered (should decline)"
        if self.rank is None or self.rank > k:
            return f"expected not in top {k}"
        if self.declined:
            return f"declined (best relevance {self.best_relevance:.2f} below the floor)"
        return None


@dataclass
class EvalReport:
    results: list[QuestionResult]
    k: int
    floor: float
    ranking: RankingMetrics = field(init=False)
    refusal: RefusalMetrics = field(init=False)

    def __post_init__(self) -> None:
        answerable = [r for r in self.results if not r.question.unanswerable]
        unanswerable = [r for r in self.results if r.question.unanswerable]
        self.ranking = ranking_metrics([r.rank for r in answerable])
        self.refusal = refusal_metrics([r.declined for r in unanswerable], [r.declined for r in answerable])

    @property
    def recall_at_k(self) -> float | None:
        """Recall at the k the user gates on; None without answerable questions."""
        if not self.ranking.n:
            return None
        if self.k in self.ranking.recall:
            return self.ranking.recall[self.k]
        answerable = [r.rank for r in self.results if not r.question.unanswerable]
        return ranking_metrics(answerable, ks=(self.k,)).recall[self.k]

    def failures(self) -> list[tuple[QuestionResult, str]]:
        return [(r, why) for r in self.results if (why := r.failed(self.k))]

    def as_dict(self) -> dict[str, Any]:
        return {
            "questions": len(self.results),
            "answerable": self.ranking.n,
            "unanswerable": self.refusal.unanswerable,
            "k": self.k,
            f"recall@{self.k}": None if self.recall_at_k is None else round(self.recall_at_k, 4),
            "ranking": self.ranking.as_dict(),
            "refusal": {"floor": self.floor, **self.refusal.as_dict()},
            "failures": [
                {"line": r.question.line, "question": r.question.question, "expected": r.question.expected,
                 "why": why, "got": [c.doc_path for c in r.top[: self.k]], "rank": r.rank,
                 "best_relevance": round(r.best_relevance, 4)}
                for r, why in self.failures()
            ],
        }


def evaluate(questions: Sequence[GoldenQuestion], search: Callable[[str], SearchOutcome], *, k: int,
             floor: float, depth: int = MRR_DEPTH) -> EvalReport:
    """Ask every question through `search` and score the answers."""
    results = []
    for q in questions:
        outcome = search(q.question)
        rank = None if q.unanswerable else first_hit_rank(outcome.ranked, lambda c, q=q: is_hit(c, q),
                                                          max(depth, k))
        results.append(QuestionResult(q, rank, outcome.declined, outcome.best_relevance, outcome.ranked))
    return EvalReport(results=results, k=k, floor=floor)


def outcome_from_candidates(candidates: Sequence[Any], *, depth: int, top_k: int, per_doc: int,
                            floor: float) -> SearchOutcome:
    """The bot's ranking (per-document cap, no floor) to `depth`, and its floor decision over TOP_K."""
    ranked = cap_per_document(list(candidates), depth, per_doc)
    _, best, declined = apply_floor(cap_per_document(list(candidates), top_k, per_doc), floor)
    return SearchOutcome(
        ranked=[RankedChunk(doc_path=c.doc_path, text=str(c.row.get("text", "")), start=c.row.get("start_char"),
                            end=c.row.get("end_char"), relevance=c.relevance) for c in ranked],
        declined=declined, best_relevance=best,
    )


def ranked_chunk(candidate: Any, *, listed: bool = True) -> RankedChunk:
    """What scoring reads of a retrieved candidate; `listed=False` ignores the documents a group names."""
    also_in = tuple(d.doc_path for d in getattr(candidate, "duplicates", ())[:MAX_LISTED]) if listed else ()
    return RankedChunk(doc_path=candidate.doc_path, text=str(candidate.row.get("text", "")),
                       start=candidate.row.get("start_char"), end=candidate.row.get("end_char"),
                       relevance=candidate.relevance, also_in=also_in)


def outcome_from_retrieval(retrieval: Retrieval, *, depth: int, top_k: int, floor: float) -> SearchOutcome:
    """What the asker sees, from a retrieval asked for `depth` results: the ranking as the bot groups and caps
    it (no floor), and the floor decision over its first TOP_K, exactly the bot's (grouping is greedy in rank
    order, so the first TOP_K of a deeper list are the TOP_K the bot would show)."""
    _, best, declined = apply_floor(retrieval.ranked[:top_k], floor)
    return SearchOutcome(ranked=[ranked_chunk(c) for c in retrieval.ranked[:depth]], declined=declined,
                         best_relevance=best)


def search_with(service: Any, *, depth: int = MRR_DEPTH, mode: str | None = None) -> Callable[[str], SearchOutcome]:
    """A `search` for `evaluate` over a `rag.service.RagService`, with its settings: scored on what the asker
    sees (`outcome_from_retrieval`), grouped candidates included."""
    s = service.settings

    def search(question: str) -> SearchOutcome:
        retrieval = service.search(question, mode=mode, top_k=max(depth, s.top_k))
        return outcome_from_retrieval(retrieval, depth=depth, top_k=s.top_k, floor=s.relevance_floor)

    return search
