"""The LangChain peer: the recipe most RAG tutorials start from.

RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200) over each file's text, the same
embedding model as ours, and LangChain's brute-force `InMemoryVectorStore` cosine top-k. Its
embeddings are cached on disk by text hash so a re-run does not re-embed. Its chunks also feed the
BM25 peer (bm25_peer.py).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.quality.pipelines import MODEL
from bench.quality.scoring import DEPTH
from rag.ops.evaluate import RankedChunk, SearchOutcome


class _CachedEmbeddings:
    """LangChain `Embeddings` over our sentence-transformers model, cached on disk by text hash.

    Same call as langchain-huggingface's HuggingFaceEmbeddings with its defaults (no normalisation;
    the vector store ranks by cosine similarity either way).
    """

    def __init__(self, model: Any, cache: Path) -> None:
        self.model = model
        self.cache = cache
        self._vectors: dict[str, np.ndarray] = {}
        if cache.exists():
            data = np.load(cache)
            self._vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        self.embedded = 0

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(f"{MODEL}\0{text}".encode()).hexdigest()[:32]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        keys = [self._key(t) for t in texts]
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._vectors}
        if todo:
            vectors = self.model.encode(list(todo.values()), batch_size=32, show_progress_bar=False,
                                        convert_to_numpy=True)
            self._vectors.update(zip(todo.keys(), np.asarray(vectors, dtype=np.float32), strict=True))
            self.embedded += len(todo)
            self.save()
        return [self._vectors[k].tolist() for k in keys]

    def embed_query(self, text: str) -> list[float]:
        vector = self.model.encode([text], show_progress_bar=False, convert_to_numpy=True)[0]
        return np.asarray(vector, dtype=np.float32).tolist()

    def save(self) -> None:
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._vectors)
        tmp = self.cache.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self._vectors[k] for k in keys]))
        tmp.replace(self.cache)


@dataclass
class Baseline:
    store: Any  # langchain_core.vectorstores.InMemoryVectorStore
    documents: list[Any]  # its chunks (langchain Documents), for the BM25 peer
    chunks: int
    build_s: float
    embedded: int

    def search(self, question: str, exclude: set[str] | None = None) -> SearchOutcome:
        """Plain cosine top-k; there is no floor, so it never declines (best score kept for the sweep)."""
        kwargs: dict[str, Any] = {}
        if exclude:
            kwargs["filter"] = lambda doc: doc.metadata["doc_id"] not in exclude
        found = self.store.similarity_search_with_score(question, k=DEPTH, **kwargs)
        ranked = [RankedChunk(doc_path=doc.metadata["doc_path"], text=doc.page_content,
                              start=doc.metadata["start_index"],
                              end=doc.metadata["start_index"] + len(doc.page_content), relevance=float(score))
                  for doc, score in found]
        return SearchOutcome(ranked=ranked, declined=False, best_relevance=ranked[0].relevance if ranked else 0.0)


def build_baseline(work: Path, name: str, corpus: Path, doc_paths: dict[str, str]) -> Baseline:
    """LangChain: split each file 1000/200 characters, embed with the same model, in-memory cosine store."""
    from langchain_core.documents import Document as LcDocument
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import InMemoryVectorStore
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.ingest.embeddings import load_embedder

    class CachedEmbeddings(_CachedEmbeddings, Embeddings):
        pass

    started = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    docs = []
    for doc_id, rel_path in sorted(doc_paths.items()):
        text = (corpus / rel_path).read_text(encoding="utf-8")
        docs.append(LcDocument(page_content=text, metadata={"doc_id": doc_id, "doc_path": rel_path}))
    chunks = splitter.split_documents(docs)
    embeddings = CachedEmbeddings(load_embedder(MODEL).model, work / "baseline" / f"{name}.npz")
    store = InMemoryVectorStore(embeddings)
    store.add_documents(chunks)
    return Baseline(store=store, documents=chunks, chunks=len(chunks), build_s=time.perf_counter() - started,
                    embedded=embeddings.embedded)
