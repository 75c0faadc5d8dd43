"""The BM25 peer: `bm25s` over the LangChain recipe's chunks, the usual recipe for a lexical baseline.

Chinese has no spaces, so text is segmented with `jieba` (its default dictionary, precise mode);
Latin-script runs come out of jieba as words. Tokens are lower-cased; punctuation, whitespace and
English stopwords (bm25s's list) are dropped. No stemming. Scored on the same chunks as the
LangChain recipe, so the two peers differ only in how they rank.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.quality.scoring import DEPTH
from rag.ops.evaluate import RankedChunk


def tokenize(text: str) -> list[str]:
    import jieba
    from bm25s.stopwords import STOPWORDS_EN

    jieba.setLogLevel(logging.WARNING)
    stop = frozenset(STOPWORDS_EN)
    return [t for t in (tok.strip() for tok in jieba.lcut(text.lower()))
            if t and any(ch.isalnum() for ch in t) and t not in stop]


@dataclass
class Bm25Peer:
    retriever: Any  # bm25s.BM25
    chunks: list[Any]  # langchain Documents, metadata doc_id / doc_path / start_index
    build_s: float

    def search(self, question: str) -> list[RankedChunk]:
        tokens = tokenize(question)
        if not tokens:
            return []
        scores = self.retriever.get_scores(tokens)
        order = np.argsort(-scores, kind="stable")[:DEPTH]
        return [RankedChunk(doc_path=self.chunks[i].metadata["doc_path"], text=self.chunks[i].page_content,
                            start=self.chunks[i].metadata["start_index"],
                            end=self.chunks[i].metadata["start_index"] + len(self.chunks[i].page_content),
                            relevance=float(scores[i]))
                for i in order if scores[i] > 0]


def build_bm25(chunks: list[Any]) -> Bm25Peer:
    import bm25s

    started = time.perf_counter()
    retriever = bm25s.BM25()  # defaults: Lucene variant, k1 1.5, b 0.75
    retriever.index([tokenize(c.page_content) for c in chunks], show_progress=False)
    return Bm25Peer(retriever, list(chunks), time.perf_counter() - started)
