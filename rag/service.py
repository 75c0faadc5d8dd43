"""The RAG core's public face: what the CLI and the Slack bot call.

One `RagService` per process; the model, index and state it is built from are opened lazily, once
(rag/components.py).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rag.components import IndexParts
from rag.index.catalog import DocumentInfo, SyncAlreadyRunning, SyncReport, failed_report
from rag.retrieval.scope import Scope
from rag.values import Answer, Citation

# The rest is imported where it is used, as in rag/components.py: a fast `ragbot sources` and `ask`.
if TYPE_CHECKING:
    from rag.answering.generation import LLMHealth
    from rag.answering.subject_check import DocumentText
    from rag.index.question_log import QuestionLog
    from rag.ingest.sync import Progress
    from rag.ingest.sync.admin import IndexAdmin
    from rag.retrieval.candidates import Retrieval

__all__ = [
    "Answer", "Citation", "DocumentInfo", "RagService", "Scope", "SyncAlreadyRunning", "SyncReport",
]

log = logging.getLogger(__name__)

class RagService(IndexParts):
    """Thread-safe facade over embeddings, index, sync and generation: asking, the catalogue, sync, admin.

    The parts it is built from (model, index, state, generator, reranker), each opened once when first
    used, are `rag.components.IndexParts`."""

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
            from rag.ops.evaluate import search_with
            from rag.ops.sync_gate import run_gate

            # EVAL_QUESTIONS: golden questions after a sync that changed something
            run_gate(report, settings=self.settings, state=self.state, rollback=self.rollback,
                     search=lambda depth: search_with(self, depth=depth))
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
