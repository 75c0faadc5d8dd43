"""One sync run under the lock: scan, plan, apply, and a true record of it in the history."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rag.catalog import SyncReport
from rag.config import RagSettings
from rag.embeddings import Embedder
from rag.locks import SyncLock
from rag.state import FileRecord, StateDB
from rag.store import ChunkStore, IndexModelMismatch
from rag.sync.admin import IndexAdmin
from rag.sync.apply import Applier, Progress
from rag.sync.plan import SyncPlan, make_plan
from rag.sync.scan import FileStat, SyncRefused, scan

log = logging.getLogger("rag.sync")


@dataclass
class Syncer:
    settings: RagSettings
    store: ChunkStore
    state: StateDB
    embedder_factory: Callable[[], Embedder]
    lock: SyncLock

    # -- planning --------------------------------------------------------------------------------------
    def scan(self) -> list[FileStat]:
        return scan(self.settings)

    def plan(self, stats: list[FileStat], records: dict[str, FileRecord], *, full: bool,
             allow_mass_delete: bool) -> SyncPlan:
        return make_plan(self.settings, stats, records, full=full, allow_mass_delete=allow_mass_delete)

    # -- running ---------------------------------------------------------------------------------------
    def run(self, *, trigger: str = "manual", full: bool = False, dry_run: bool = False,
            allow_mass_delete: bool = False, progress: Progress | None = None) -> SyncReport:
        """One sync under the lock; raises `SyncAlreadyRunning` when another one holds it."""
        self.lock.acquire(trigger)
        try:
            return self._run_locked(trigger=trigger, full=full, dry_run=dry_run,
                                    allow_mass_delete=allow_mass_delete, progress=progress)
        finally:
            self.lock.release()

    def _run_locked(self, *, trigger: str, full: bool, dry_run: bool, allow_mass_delete: bool,
                    progress: Progress | None) -> SyncReport:
        report = SyncReport(started=datetime.now(UTC), trigger=trigger)
        if full and not dry_run:
            self._reset_if_other_model()
        records = self.state.files()
        try:
            plan = self.plan(self.scan(), records, full=full, allow_mass_delete=allow_mass_delete)
        except SyncRefused as err:
            report.status, report.message, report.finished = "refused", str(err), datetime.now(UTC)
            if not dry_run:
                self.state.finish_run(self.state.start_run(report, None), report, None)
            log.error("sync refused: %s", err)
            return report
        report.added, report.changed, report.renamed = plan.added, plan.changed, plan.renamed
        report.unchanged = plan.unchanged
        report.removed = [] if plan.mass_delete_blocked else plan.removed
        if plan.mass_delete_blocked:
            report.message = (
                f"{len(plan.removed)} of {len(records)} documents are gone from the docs folder; they were "
                "NOT removed (more than MASS_DELETE_FRACTION). Re-run with --allow-mass-delete if intended."
            )
        if dry_run:
            report.status, report.finished = "dry_run", datetime.now(UTC)
            return report

        version_before = self.store.version if self.store.exists() else None
        self._close_interrupted_runs(version_before)
        run_id = self.state.start_run(report, version_before)
        applier = Applier(self.settings, self.store, self.state, self.embedder_factory)
        try:
            applier.apply_renames(plan, records)
            applier.index_files(plan.to_index, records, report, progress)
            if not plan.mass_delete_blocked:
                applier.remove(plan.removed)
            applier.record_touched(plan, records)
            if plan.to_index or plan.renamed or report.removed or not self.store.exists() or full:
                self.store.refresh_indexes()
            report.status = "partial" if report.failed or plan.mass_delete_blocked else "ok"
        except Exception as err:
            report.status, report.message = "failed", f"{type(err).__name__}: {err}"
            log.exception("sync failed")
        report.finished = datetime.now(UTC)
        try:
            version_after = self.store.version if self.store.exists() else None
        except Exception:  # the report must still be recorded
            log.exception("cannot read the index version")
            version_after = None
        self.state.finish_run(run_id, report, version_after)
        log.info("sync %s: +%d ~%d →%d −%d !%d, %d chunks embedded, %d reused, %.1fs", report.status,
                 len(report.added), len(report.changed), len(report.renamed), len(report.removed),
                 len(report.failed), report.chunks_embedded, report.chunks_reused, report.duration_s)
        return report

    def _close_interrupted_runs(self, version_now: int | None) -> None:
        """Record syncs whose process died (kill -9, power loss) as failed; this run finishes their work.

        Their last commit is the current version, so `rollback` can still undo them.
        """
        for run in self.state.unfinished_runs():
            run.report.status = "failed"
            run.report.message = "interrupted: the process stopped before the end (the next sync finished the job)"
            self.state.finish_run(run.id, run.report, version_now)

    def _reset_if_other_model(self) -> None:
        try:
            if self.store.exists():
                self.store.table()
        except IndexModelMismatch:
            log.warning("rebuilding the index for embedding model %s", self.store.model_name)
            self.store.drop()
            self.state.replace_files(r for r in self.state.files().values() if r.withdrawn)

    # -- other operations ------------------------------------------------------------------------------
    def _admin(self) -> IndexAdmin:
        return IndexAdmin(self.settings, self.store, self.state, self.lock)

    def normalise_path(self, path: str) -> str:
        return self._admin().normalise_path(path)

    def forget(self, rel_path: str) -> bool:
        return self._admin().forget(rel_path)

    def unforget(self, rel_path: str) -> bool:
        return self._admin().unforget(rel_path)

    def rollback(self) -> tuple[int, int]:
        return self._admin().rollback()

    def compact(self) -> None:
        self._admin().compact()
