"""The two pipelines compared: ours (the real `RagService`) and the common LangChain recipe.

Ours runs exactly what `ragbot ingest` and the bot run: the same parser,
chunker, LanceDB store, hybrid retrieval and relevance floor. Each index is
built once per configuration and kept under `bench/.work/index/<key>`; the key
names the configuration and a fingerprint of the code that shapes chunks, so a
change to chunking rebuilds instead of reusing a stale index.

The peer baseline is the recipe most RAG tutorials start from:
RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200) over each
file's text, the same embedding model, and LangChain's brute-force
`InMemoryVectorStore` cosine top-k. Its embeddings are cached on disk by text
hash so a re-run does not re-embed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import RagSettings, load_settings
from rag.evaluate import RankedChunk, SearchOutcome, outcome_from_candidates
from rag.retrieve import Candidate, cap_per_document, fuse, retriever_weights
from rag.store import SearchHit

ROOT = Path(__file__).resolve().parents[2]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEPTH = 10  # deepest k scored
_CODE_SHAPING_CHUNKS = ("rag/chunking.py", "rag/documents", "rag/embeddings.py", "rag/store.py")


def code_fingerprint() -> str:
    digest = hashlib.sha256()
    for rel in _CODE_SHAPING_CHUNKS:
        path = ROOT / rel
        for file in sorted(path.glob("*.py")) if path.is_dir() else [path]:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


# -- ours --------------------------------------------------------------------------------------------
@contextmanager
def normalisation_off() -> Iterator[None]:
    """Index and ask as before `rag.textnorm` existed (raw text everywhere), for the ablation row."""
    import rag.chunking
    import rag.query
    import rag.retrieve
    import rag.store

    modules = (rag.chunking, rag.query, rag.retrieve, rag.store)
    saved = [m.normalize for m in modules]
    for m in modules:
        m.normalize = _unchanged  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for m, fn in zip(modules, saved, strict=True):
            m.normalize = fn  # type: ignore[attr-defined]


def _unchanged(text: str) -> str:
    return text


@dataclass
class OurIndex:
    service: Any  # rag.service.RagService
    key: str
    chunks: int
    build_s: float
    reused: bool
    normalised: bool = True

    @property
    def settings(self) -> RagSettings:
        return self.service.settings

    def mode(self) -> Any:
        """The context every use of this index runs in."""
        return nullcontext() if self.normalised else normalisation_off()


def _marker(index_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((index_dir / "bench-built.json").read_text())
    except (OSError, ValueError):
        return None


def open_index(work: Path, key: str, docs_dir: Path, doc_ids: Sequence[str], *, chunk_tokens: int,
               overlap_tokens: int, derive_from: Path | None = None, normalised: bool = True) -> OurIndex:
    """The index of `docs_dir` for this configuration: reused when built before, else built now.

    `derive_from` is an index of a superset of these documents with the same configuration:
    it is copied and synced down (deletions only, nothing re-embedded).
    """
    from rag.service import RagService

    index_dir = work / "index" / key
    wanted = {"fingerprint": code_fingerprint(), "docs": _doc_list_hash(doc_ids), "chunk_tokens": chunk_tokens,
              "overlap_tokens": overlap_tokens, "model": MODEL, "normalised": normalised}
    code = RagSettings.model_construct()  # the code's defaults, whatever the environment or .env says
    settings = load_settings(
        docs_dir=docs_dir, lancedb_uri=str(index_dir), chunk_tokens=chunk_tokens,
        chunk_overlap_tokens=overlap_tokens, embedding_model=MODEL, ollama_host="http://127.0.0.1:9",
        top_k=code.top_k, max_chunks_per_doc=code.max_chunks_per_doc, relevance_floor=code.relevance_floor,
        retrieval_mode=code.retrieval_mode, state_dir=index_dir / "_state",
    )
    marker = _marker(index_dir)
    if marker and all(marker.get(k) == v for k, v in wanted.items()):
        service = RagService(settings)
        return OurIndex(service, key, int(marker["chunks"]), float(marker["build_s"]), reused=True,
                        normalised=normalised)
    shutil.rmtree(index_dir, ignore_errors=True)
    if derive_from is not None:
        shutil.copytree(derive_from, index_dir, ignore=shutil.ignore_patterns("bench-built.json"))
    service = RagService(settings)
    started = time.perf_counter()
    with nullcontext() if normalised else normalisation_off():
        report = service.sync(full=derive_from is None, allow_mass_delete=True, trigger="bench",
                              switch_docs_root=derive_from is not None)
    build_s = time.perf_counter() - started
    if report.status != "ok":
        raise SystemExit(f"building {key} failed: {report.status} {report.message} {report.failed[:3]}")
    chunks = service.store.count()
    (index_dir / "bench-built.json").write_text(json.dumps({**wanted, "chunks": chunks, "build_s": build_s}))
    return OurIndex(service, key, chunks, build_s, reused=False, normalised=normalised)


def _doc_list_hash(doc_ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(doc_ids)).encode()).hexdigest()[:12]


@dataclass
class OurProbe:
    """Everything one question needs from our index, fetched once and re-scored per variant."""

    hybrid: list[Candidate]  # the real `RagService.search` fused candidates (default mode)
    vector: list[Candidate]
    fts: list[Candidate]
    vector_hits: list[SearchHit]  # the raw retriever lists, for the fusion ablations (empty when not asked)
    text_hits: list[SearchHit]
    steps: dict[str, list[Candidate]]  # hybrid with retrieval steps switched off (empty when not asked)


STEPS = {  # ablation label → `retrieve` options
    "without query analysis": {"analyse_query": False},
    "with keeping decisive wins (off by default)": {"keep_decisive": True},
}


def search(index: OurIndex, question: str, **options: Any) -> list[Candidate]:
    """`RagService.search` (same arguments), with the step switches it does not expose."""
    from rag.embeddings import is_multilingual
    from rag.retrieve import retrieve

    svc, s = index.service, index.settings
    with index.mode():
        return retrieve(
            question, store=svc.store, embed_query=svc.query_embedder.encode_query,
            multilingual_model=is_multilingual(s.embedding_model), top_k=DEPTH, per_doc=s.max_chunks_per_doc,
            floor=s.relevance_floor, **options,
        ).candidates


def probe(index: OurIndex, question: str, *, raw: bool = False) -> OurProbe:
    svc = index.service
    with index.mode():
        hybrid = svc.search(question, mode="hybrid", top_k=DEPTH).candidates
        vector = svc.search(question, mode="vector", top_k=DEPTH).candidates
        fts = svc.search(question, mode="fts", top_k=DEPTH).candidates
    vector_hits: list[SearchHit] = []
    text_hits: list[SearchHit] = []
    steps: dict[str, list[Candidate]] = {}
    if raw:
        from rag.query import text_query
        from rag.textnorm import normalize

        limit = max(80, DEPTH * 8)  # what `retrieve` fetches per retriever
        asked = normalize(question)
        fts_query = text_query(asked)
        vector_hits = svc.store.search_vector(svc.query_embedder.encode_query(asked), limit)
        text_hits = svc.store.search_text(fts_query.text, limit, None, fts_query.phrases)
        steps = {label: search(index, question, **options) for label, options in STEPS.items()}
    return OurProbe(hybrid, vector, fts, vector_hits, text_hits, steps)


def without_title_boost(p: OurProbe, question: str) -> list[Candidate]:
    return fuse(p.vector_hits, p.text_hits, *retriever_weights(question, multilingual_model=False))


def outcome(index: OurIndex, candidates: list[Candidate], *, per_doc: int | None = None,
            floor: float | None = None) -> SearchOutcome:
    s = index.settings
    return outcome_from_candidates(candidates, depth=DEPTH, top_k=s.top_k,
                                   per_doc=per_doc if per_doc is not None else s.max_chunks_per_doc,
                                   floor=s.relevance_floor if floor is None else floor)


def rrf(vector_hits: list[SearchHit], text_hits: list[SearchHit], vector_weight: float,
        text_weight: float, k: int = 60) -> list[Candidate]:
    """Reciprocal-rank fusion, for the ablation rows (plain, and language-weighted as before)."""
    merged: dict[str, Candidate] = {}
    for weight, hits in ((vector_weight, vector_hits), (text_weight, text_hits)):
        for hit in hits:
            cand = merged.setdefault(hit.row["chunk_id"], Candidate(row=hit.row))
            cand.fused += weight / (k + hit.rank + 1)
    return sorted(merged.values(), key=lambda c: c.fused, reverse=True)


def ranked_chunks(candidates: list[Candidate], per_doc: int) -> list[RankedChunk]:
    return [RankedChunk(doc_path=c.doc_path, text=str(c.row.get("text", "")), start=c.row.get("start_char"),
                        end=c.row.get("end_char")) for c in cap_per_document(candidates, DEPTH, per_doc)]


# -- the LangChain recipe ----------------------------------------------------------------------------
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

    from rag.embeddings import load_embedder

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
    return Baseline(store=store, chunks=len(chunks), build_s=time.perf_counter() - started,
                    embedded=embeddings.embedded)
