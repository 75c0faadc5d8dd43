"""What retrieval hands on: candidates with their scores, and the run that found them.

Their own module, free of LanceDB and numpy, so the steps that score or group candidates (relevance, named,
duplicates, rerank) and the answer path can name them without importing the search that makes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Candidate:
    row: dict[str, Any]
    vector_score: float | None = None  # cosine similarity
    vector_rank: int | None = None
    text_score: float | None = None  # BM25
    text_rank: int | None = None
    fused: float = 0.0
    coverage: float = 0.0  # share of the query's terms present in the chunk
    relevance: float = 0.0  # comparable across queries: the floor applies to this
    rerank_score: float | None = None  # the cross-encoder's (RERANK_MODEL): it orders, it never floors
    # GROUP_DUPLICATES (rag/retrieval/duplicates.py): near-identical passages of other documents this one stands for
    duplicates: list[Candidate] = field(default_factory=list)
    named: bool = False  # with duplicates: the question names this document, so it is *the* source

    @property
    def doc_path(self) -> str:
        return str(self.row["doc_path"])


@dataclass
class Retrieval:
    question: str
    hits: list[Candidate]  # what goes to the prompt, best first
    best_relevance: float
    below_floor: bool
    vector_weight: float
    text_weight: float
    embed_ms: float = 0.0
    search_ms: float = 0.0
    # everything fused, best first, for diagnostics/eval; relevance is scored for the capped top_k only
    candidates: list[Candidate] = field(default_factory=list)
    rerank_ms: float = 0.0  # RERANK_MODEL: scoring the shortlist (rag/retrieval/rerank.py)
    reranked: int = 0  # candidates the cross-encoder scored; 0 when off or when it failed
    rerank_error: str | None = None  # why the fused order was kept
    # the top_k before the floor, as the asker would see them (grouped with GROUP_DUPLICATES): what eval scores
    ranked: list[Candidate] = field(default_factory=list)

    @property
    def elapsed_ms(self) -> float:
        return self.embed_ms + self.search_ms + self.rerank_ms
