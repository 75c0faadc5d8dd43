"""Our pipeline as the bench drives it: the real `RagService`, its index cache and the ranking probes.

Ours runs exactly what `ragbot ingest` and the bot run: the same parser,
chunker, LanceDB store, hybrid retrieval and relevance floor. Each index is
built once per configuration and kept under `bench/.work/index/<key>`; the key
names the configuration and a fingerprint of the code that shapes chunks, so a
change to chunking rebuilds instead of reusing a stale index.

The peers are in langchain_peer.py and bm25_peer.py; plain RRF is `rrf` here.
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
from typing import TYPE_CHECKING, Any

from bench.quality import scoring
from rag.config import RagSettings, load_settings
from rag.index.store import SearchHit
from rag.ops.evaluate import RankedChunk, SearchOutcome, outcome_from_candidates, ranked_chunk
from rag.retrieval.candidates import Candidate
from rag.retrieval.retrieve import cap_per_document, fuse, retriever_weights

if TYPE_CHECKING:
    from rag.ingest.embeddings import Embedder

ROOT = Path(__file__).resolve().parents[2]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEPTH = scoring.DEPTH
_CODE_SHAPING_CHUNKS = ("rag/ingest/chunking.py", "rag/ingest/documents", "rag/ingest/embeddings.py", "rag/index/store")


def code_fingerprint() -> str:
    digest = hashlib.sha256()
    for rel in _CODE_SHAPING_CHUNKS:
        path = ROOT / rel
        for file in sorted(path.glob("*.py")) if path.is_dir() else [path] if path.exists() else []:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


# -- ours --------------------------------------------------------------------------------------------
@contextmanager
def normalisation_off() -> Iterator[None]:
    """Index and ask as before `rag.language.textnorm` existed (raw text everywhere), for the ablation row: every
    loaded `rag` module that bound `rag.language.textnorm.normalize` gets the identity instead, while this runs."""
    import sys

    import rag.index.store  # noqa: F401  (loads the modules that normalise, so they are patched too)
    from rag.language.textnorm import normalize

    modules = [m for name, m in list(sys.modules.items()) if name.startswith("rag.")
               and name != "rag.language.textnorm" and getattr(m, "normalize", None) is normalize]
    for m in modules:
        m.normalize = _unchanged  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for m in modules:
            m.normalize = normalize  # type: ignore[attr-defined]


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
               overlap_tokens: int, derive_from: Path | None = None, normalised: bool = True,
               shaping: dict[str, Any] | None = None, embedder: Embedder | None = None) -> OurIndex:
    """The index of `docs_dir` for this configuration: reused when built before, else built now.

    `embedder`: another model than MODEL, already loaded (bench/quality/multilingual.py); its languages
    go in as EMBEDDING_LANGUAGES.

    `derive_from` is an index of a superset of these documents with the same configuration:
    it is copied and synced down (deletions only, nothing re-embedded). `shaping`: other settings
    that shape chunks (e.g. CHUNK_SIZING), by field name; the rest are the code's defaults.
    """
    from rag.service import RagService

    index_dir = work / "index" / key
    model = embedder.model_name if embedder else MODEL
    languages = tuple(sorted(embedder.languages)) if embedder and embedder.languages else None
    shaping = {**shaping_defaults(), **(shaping or {})}
    wanted = {"fingerprint": code_fingerprint(), "docs": _doc_list_hash(doc_ids), "chunk_tokens": chunk_tokens,
              "overlap_tokens": overlap_tokens, "model": model, "normalised": normalised, **shaping}
    code = RagSettings.model_construct()  # the code's defaults, whatever the environment or .env says
    settings = load_settings(
        **shaping, docs_dir=docs_dir, lancedb_uri=str(index_dir), chunk_tokens=chunk_tokens,
        chunk_overlap_tokens=overlap_tokens, embedding_model=model, embedding_languages=languages,
        ollama_host="http://127.0.0.1:9",
        top_k=code.top_k, max_chunks_per_doc=code.max_chunks_per_doc, relevance_floor=code.relevance_floor,
        retrieval_mode=code.retrieval_mode, state_dir=index_dir / "_state",
    )
    marker = _marker(index_dir)
    if marker and all(marker.get(k) == v for k, v in wanted.items() if k != "fingerprint" or not REUSE_INDEXES):
        service = RagService(settings, embedder=embedder)
        return OurIndex(service, key, int(marker["chunks"]), float(marker["build_s"]), reused=True,
                        normalised=normalised)
    shutil.rmtree(index_dir, ignore_errors=True)
    if derive_from is not None:
        shutil.copytree(derive_from, index_dir, ignore=shutil.ignore_patterns("bench-built.json"))
    service = RagService(settings, embedder=embedder)
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


REUSE_INDEXES = False  # run.py --reuse-indexes: an index built by other chunking code is reused (the code changed
# elsewhere: retrieval, or another engineer's work in a file the fingerprint covers)


SHAPING_FIELDS = ("chunk_sizing", "chunk_chars")  # settings besides CHUNK_TOKENS that shape chunks, where present


def shaping_defaults() -> dict[str, Any]:
    code = RagSettings.model_construct()
    return {f: getattr(code, f) for f in SHAPING_FIELDS if f in RagSettings.model_fields}


def _doc_list_hash(doc_ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(doc_ids)).encode()).hexdigest()[:12]


@dataclass
class OurProbe:
    """Everything one question needs from our index, fetched once and re-scored per variant."""

    hybrid: list[Candidate]  # what the bot would hand the model (default settings, no floor), best first
    fused: list[Candidate]  # `RagService.search`'s fused candidates before the per-document cap, for the cap rows
    vector: list[Candidate]
    fts: list[Candidate]
    vector_hits: list[SearchHit]  # the raw retriever lists, for plain RRF and the fusion ablations
    text_hits: list[SearchHit]
    steps: dict[str, list[Candidate]]  # hybrid with retrieval steps switched off (empty when not asked)


STEPS = {  # ablation label → `retrieve` options
    "without query analysis": {"analyse_query": False},
    "with keeping decisive wins (off by default)": {"keep_decisive": True},
    "without the named-document focus": {"focus_named": False},
    "without the everyday-word lexicon": {"lexicon": False},
}


def search(index: OurIndex, question: str, **options: Any) -> list[Candidate]:
    """The top DEPTH the bot would hand the model, without the floor: `RagService.search`'s call, with the
    step switches it does not expose (`options` override the index's settings, e.g. group_duplicates)."""
    import inspect

    from rag.retrieval.retrieve import retrieve

    svc, s = index.service, index.settings
    accepted = inspect.signature(retrieve).parameters
    options.setdefault("multilingual_model", svc.model_info.reads("cjk"))  # False: as for an English-only model
    if "group_duplicates" in accepted:
        options.setdefault("group_duplicates", getattr(s, "group_duplicates", False))
    with index.mode():
        return retrieve(
            question, store=svc.store, embed_query=svc.query_embedder.encode_query,
            top_k=DEPTH, per_doc=s.max_chunks_per_doc,
            floor=0.0, **options,
        ).hits


def probe(index: OurIndex, question: str, *, steps: bool = False) -> OurProbe:
    """Our rankings for one question; `steps`: also hybrid with each retrieval step switched off."""
    svc = index.service
    hybrid = search(index, question)
    with index.mode():
        fused = svc.search(question, mode="hybrid", top_k=DEPTH).candidates if steps else []
        vector = svc.search(question, mode="vector", top_k=DEPTH).candidates
        fts = svc.search(question, mode="fts", top_k=DEPTH).candidates
    from rag.language.textnorm import normalize
    from rag.retrieval.query import text_query

    limit = max(80, DEPTH * 8)  # what `retrieve` fetches per retriever
    with index.mode():
        asked = normalize(question)
        fts_query = text_query(asked)
        vector_hits = svc.store.search_vector(svc.query_embedder.encode_query(asked), limit)
        text_hits = svc.store.search_text(fts_query.text, limit, None, fts_query.phrases)
    by_step = {label: search(index, question, **options) for label, options in STEPS.items()} if steps else {}
    return OurProbe(hybrid, fused, vector, fts, vector_hits, text_hits, by_step)


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


def ranked_chunks(candidates: list[Candidate], per_doc: int, *, listed: bool = True) -> list[RankedChunk]:
    """The top DEPTH as scored (`rag.ops.evaluate.ranked_chunk`: a grouped slot names its other documents, at most
    MAX_LISTED, as the answer does); `listed=False` scores a group's representative only (strict)."""
    return [ranked_chunk(c, listed=listed) for c in cap_per_document(candidates, DEPTH, per_doc)]


def shown(hits: list[Candidate], *, listed: bool = True) -> list[RankedChunk]:
    """A list `retrieve` already shaped (grouped, capped, focused on a named document) as scored, to DEPTH."""
    return [ranked_chunk(c, listed=listed) for c in hits[:DEPTH]]
