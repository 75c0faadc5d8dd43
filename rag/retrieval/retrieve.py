"""Hybrid retrieval: vector and full-text search fused by trust-weighted, normalised scores.

Plain reciprocal-rank fusion treats both retrievers as equally good and keeps
only their ranks, which throws away full-text search's win on Chinese text
when the embedding model is English-only (BM25 100% vs dense 33% recall@5 on
Traditional Chinese, plain RRF 82%) and the embedding's win on English
questions that name their document (dense 99%, BM25 51%, plain RRF 86%).
So the fusion keeps score margins (each retriever's scores normalised over its
candidates: a result that stands out keeps its lead, a flat list spreads its
vote) and weighs each retriever by how far it can be trusted for this query:
an English-only model gets only a tie-breaking say on a CJK query. Chunks of a
document whose title the question names get a boost (full-text search does
not index titles; the embedding sees them). Measured in `bench/quality`.
The relevance floor uses scores that mean the same thing across queries
(cosine similarity, share of query terms found), not fused scores, which only
rank.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from rag.index.store import ID_COLUMNS, SCOPE_COLUMNS, ChunkStore, SearchHit
from rag.ingest.readable import model_can_read
from rag.language.textnorm import normalize
from rag.retrieval import duplicates
from rag.retrieval.candidates import Candidate, Retrieval
from rag.retrieval.named import boost_named_documents, focus_named_document, title_match
from rag.retrieval.query import query_terms, text_query
from rag.retrieval.relevance import apply_floor, score_relevance
from rag.retrieval.rerank import CrossEncoderReranker, rerank_shortlist
from rag.retrieval.scope import Scope

__all__ = ["Candidate", "Retrieval", "retrieve"]

# Fusion weights (vector, full-text), chosen on the public benchmarks (bench/quality/README.md).
VECTOR_WEIGHT = 0.7
TEXT_WEIGHT = 0.3
# An English-only model on a CJK question: only a tie-breaker among full-text hits.
UNTRUSTED_VECTOR_WEIGHT = 0.03
_SEARCH_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fts-search")
TITLE_WEIGHT = 0.5  # times the share of the question's terms found in a chunk's document title/path
# A retriever's top hit is decisive when its normalised score leads the runner-up's by this much
# (BM25: the runner-up scores under half the top's); the other retriever then cannot overrule it.
DECISIVE_MARGIN = 0.5
_TRUSTED = 0.1  # a weight below this is a tie-breaker only: its decisive wins do not count either


def retriever_weights(question: str, multilingual_model: bool) -> tuple[float, float]:
    """(vector weight, full-text weight) for this query."""
    if not model_can_read(question, multilingual_model):
        return UNTRUSTED_VECTOR_WEIGHT, TEXT_WEIGHT
    return VECTOR_WEIGHT, TEXT_WEIGHT


def normalized_scores(hits: list[SearchHit], *, zero_means_no_match: bool) -> list[float]:
    """Scores mapped to [0, 1] over this candidate list, keeping the margins between them.

    BM25 has no fixed scale but 0 means no match, so it is divided by the best score; cosine
    similarity of unrelated text is well above 0, so it is min-max scaled. When the scores carry
    no information (all equal) the ranks decide.
    """
    scores = [h.score for h in hits]
    if not scores:
        return []
    high = max(scores)
    if high - min(scores) <= 1e-9:
        return [1.0 - h.rank / len(hits) for h in hits]
    low = 0.0 if zero_means_no_match else min(scores)
    return [max(0.0, (s - low) / (high - low)) for s in scores]


def fuse(
    vector_hits: list[SearchHit], text_hits: list[SearchHit], vector_weight: float, text_weight: float,
) -> list[Candidate]:
    """Weighted sum of each retriever's normalised scores, keyed by chunk id, best first."""
    merged: dict[str, Candidate] = {}
    for hit, norm in zip(vector_hits, normalized_scores(vector_hits, zero_means_no_match=False), strict=True):
        cand = merged.setdefault(hit.row["chunk_id"], Candidate(row=hit.row))
        cand.vector_score, cand.vector_rank = hit.score, hit.rank
        cand.fused += vector_weight * norm
    for hit, norm in zip(text_hits, normalized_scores(text_hits, zero_means_no_match=True), strict=True):
        cand = merged.setdefault(hit.row["chunk_id"], Candidate(row=hit.row))
        cand.text_score, cand.text_rank = hit.score, hit.rank
        cand.fused += text_weight * norm
    return sorted(merged.values(), key=lambda c: c.fused, reverse=True)


def decisive_top(hits: list[SearchHit], norms: list[float], margin: float = DECISIVE_MARGIN) -> str | None:
    """The chunk id of a retriever's top hit when it stands out from the runner-up by `margin`."""
    if not hits or (len(norms) > 1 and norms[0] - norms[1] < margin):
        return None
    return str(hits[0].row["chunk_id"])


def keep_decisive_wins(
    candidates: list[Candidate], vector_hits: list[SearchHit], text_hits: list[SearchHit],
    vector_weight: float, text_weight: float, margin: float = DECISIVE_MARGIN,
) -> list[Candidate]:
    """Put a retriever's decisive top hit first, unless the other retriever is decisive about another chunk.

    A weighted sum lets the heavier retriever's near-ties outvote a clear win of the lighter one
    (full-text search sure of a page, the vector side spreading its vote over similar pages pushes it
    out of the top 5). Only trusted retrievers count: an English-only model on a Chinese question
    is a tie-breaker, and its "clear win" is noise.
    """
    wins = set()
    for hits, weight, zero in ((vector_hits, vector_weight, False), (text_hits, text_weight, True)):
        if weight >= _TRUSTED:
            won = decisive_top(hits, normalized_scores(hits, zero_means_no_match=zero), margin)
            if won:
                wins.add(won)
    if len(wins) != 1 or not candidates:
        return candidates
    (won,) = wins
    winner = next((c for c in candidates if c.row["chunk_id"] == won), None)
    if winner is None or winner is candidates[0]:
        return candidates
    winner.fused = candidates[0].fused + 1e-6
    return sorted(candidates, key=lambda c: c.fused, reverse=True)


def cap_per_document(candidates: list[Candidate], top_k: int, per_doc: int) -> list[Candidate]:
    chosen: list[Candidate] = []
    per: dict[str, int] = {}
    for cand in candidates:
        if per.get(cand.doc_path, 0) >= per_doc:
            continue
        chosen.append(cand)
        per[cand.doc_path] = per.get(cand.doc_path, 0) + 1
        if len(chosen) == top_k:
            break
    return chosen


def _without(candidates: list[Candidate], gone: set[str]) -> list[Candidate]:
    """The candidates whose chunks are still in the index (`ChunkStore.complete_rows` found the others gone)."""
    return [c for c in candidates if c.row["chunk_id"] not in gone] if gone else candidates


def retrieve(
    question: str,
    *,
    store: ChunkStore,
    embed_query: Callable[[str], np.ndarray],
    multilingual_model: bool,
    top_k: int,
    per_doc: int,
    floor: float,
    scope: Scope | None = None,
    mode: str = "hybrid",
    candidates_per_retriever: int | None = None,
    analyse_query: bool = True,
    keep_decisive: bool = False,
    reranker: CrossEncoderReranker | None = None,
    group_duplicates: bool = False,
    ids_first: bool = True,
    focus_named: bool = True,
    lexicon: bool = True,
) -> Retrieval:
    """Find the top-k chunks for `question`; `below_floor` says the index holds nothing relevant.

    `analyse_query`, `lexicon` (everyday words' formal equivalents, rag/retrieval/lexicon.py) and `focus_named` (a named
    document's passages take the slots, `focus_named_document`) exist to measure each step alone
    (bench/quality); `keep_decisive` is off: it cost
    PolicyQA 1.7 points doc R@1 and gained nothing on DRCD (bench/quality/README.md). `ids_first` off
    reads whole rows for every candidate, as before (bench/bench_retrieval.py compares the two).
    """
    where = scope.where() if scope else None
    # Ids first: the searches read only what fusion, the cap, the title boost and the scope check use;
    # the other columns are fetched for the few candidates kept (rag/index/store/search.py).
    columns = (SCOPE_COLUMNS if scope is not None else ID_COLUMNS) if ids_first else None
    if group_duplicates and columns is not None and store.has_sketches:  # so grouping reads almost no text
        columns = (*columns, duplicates.SKETCH_COLUMN)
    limit = candidates_per_retriever or max(80, top_k * 8)
    asked = question
    question = normalize(question)  # the form chunks were indexed and embedded in (rag.language.textnorm)
    vector_weight, text_weight = retriever_weights(question, multilingual_model)
    started = time.perf_counter()
    vector_hits: list[SearchHit] = []
    embed_ms = 0.0
    vec = None
    # Full-text search runs while the question is embedded and searched by vector: both backends embed one
    # question on one thread (rag/ingest/embedding), so the other core is free. At 100k chunks the search part
    # took 14.5-14.9 ms with the full-text search started first vs 15.5-16.3 ms after the embedding (/tmp
    # profile, quiet machine); the two searches alone overlapped 9.6 vs 11.5 ms at 1k chunks.
    fts = text_query(question, expand=lexicon) if analyse_query else None
    text_future = _SEARCH_POOL.submit(
        store.search_text, fts.text if fts else question, limit, where, fts.phrases if fts else (), columns,
    ) if mode in ("hybrid", "fts") else None
    if mode in ("hybrid", "vector"):
        vec = embed_query(question)
        embed_ms = (time.perf_counter() - started) * 1000
    if vec is not None:
        vector_hits = store.search_vector(vec, limit, where, columns)
    text_hits = text_future.result() if text_future else []
    if mode == "vector":
        vector_weight, text_weight = 1.0, 0.0
    elif mode == "fts":
        vector_weight, text_weight = 0.0, 1.0
    if scope is not None:  # the filter above is this same rule; checking each hit keeps it the only one
        vector_hits = [h for h in vector_hits if scope.admits(str(h.row["doc_path"]), str(h.row.get("kind") or ""))]
        text_hits = [h for h in text_hits if scope.admits(str(h.row["doc_path"]), str(h.row.get("kind") or ""))]
    terms = query_terms(question)
    fused = fuse(vector_hits, text_hits, vector_weight, text_weight)
    if mode == "hybrid":
        fused = boost_named_documents(fused, terms, TITLE_WEIGHT, question)
        if keep_decisive:
            fused = keep_decisive_wins(fused, vector_hits, text_hits, vector_weight, text_weight)
    search_ms = (time.perf_counter() - started) * 1000 - embed_ms
    # RERANK_MODEL: the cross-encoder reorders the first RERANK_CANDIDATES; the floor below keeps
    # using cosine and coverage, whose scale does not depend on which reranking model is set.
    if reranker is not None:  # it reads the shortlist's text
        fused = _without(fused, store.complete_rows(c.row for c in fused[:reranker.candidates]))
    reranked = rerank_shortlist(question, fused, reranker) if reranker is not None else None
    if reranked is not None:
        fused = reranked.candidates
    trust_vectors = vector_weight >= text_weight
    if group_duplicates:  # GROUP_DUPLICATES: copies of one clause in several documents take one slot
        # Copies of a chosen passage may be anywhere in the list: the sketches rule out most candidates unread,
        # the texts of the rest come in one take, then the kept groups' rows in another (rag/retrieval/duplicates.py).
        top, fused = duplicates.group_candidates(fused, store.complete_rows, top_k, per_doc,
                                                 lambda row: title_match(row, terms))
    else:
        top = cap_per_document(fused, top_k, per_doc)
        while gone := store.complete_rows(c.row for c in top):  # deleted by a sync since the search: rare
            fused = _without(fused, gone)
            top = cap_per_document(fused, top_k, per_doc)
    if focus_named and mode == "hybrid":
        top = focus_named_document(top, fused, question, terms, store, embed_query, trust_vectors, columns)
    # Only these are floored, prompted or evaluated (`ragbot eval` asks with top_k = its depth): scoring all
    # ~160 fused candidates cost 7.4 of 34 ms at 10k chunks. The rest keep relevance 0.
    score_relevance(top, question, terms, trust_vectors, lexicon=lexicon)
    kept, best, below = apply_floor(top, floor)
    return Retrieval(
        question=asked, hits=kept, best_relevance=best,
        below_floor=below, vector_weight=vector_weight, text_weight=text_weight,
        embed_ms=embed_ms, search_ms=search_ms, candidates=fused, ranked=top,
        rerank_ms=reranked.ms if reranked else 0.0, reranked=reranked.scored if reranked else 0,
        rerank_error=reranked.error if reranked else None,
    )
