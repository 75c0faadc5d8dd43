"""One sync run under the lock: scan, plan, apply, and a true record of it in the history."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rag.config import RagSettings
from rag.index.catalog import SyncReport, held_back_note, one_line
from rag.index.state import FileRecord, StateDB
from rag.index.store import ChunkStore, IndexModelMismatch
from rag.ingest.documents import document_link
from rag.ingest.documents.loading import title_from_stem
from rag.ingest.embeddings import Embedder
from rag.ingest.sync.apply import Applier, Progress, chunk_sizing
from rag.ingest.sync.plan import SyncPlan, make_plan
from rag.ingest.sync.quarantine import LeftOver, ParseMarker
from rag.ingest.sync.roots import MASS_DELETE_OPTION, check_docs_root, option_hint, real_root
from rag.ingest.sync.scan import FileStat, Scan, SyncRefused, check_docs_folder, scan
from rag.ops.locks import SyncLock

log = logging.getLogger("rag.ingest.sync")


@dataclass
class _Run:
    """The history row of the run in progress (None until it is started)."""

    id: int | None = None
    version_before: int | None = None


@dataclass
class Syncer:
    settings: RagSettings
    store: ChunkStore
    state: StateDB
    embedder_factory: Callable[[], Embedder]
    lock: SyncLock

    # -- planning --------------------------------------------------------------------------------------
    def scan(self) -> Scan:
        return scan(self.settings)

    def plan(self, stats: list[FileStat], records: dict[str, FileRecord], *, full: bool,
             allow_mass_delete: bool, switching: bool = False, trigger: str = "manual") -> SyncPlan:
        return make_plan(self.settings, stats, records, full=full, allow_mass_delete=allow_mass_delete,
                         switching=switching, trigger=trigger)

    # -- running ---------------------------------------------------------------------------------------
    def run(self, *, trigger: str = "manual", full: bool = False, dry_run: bool = False,
            allow_mass_delete: bool = False, switch_docs_root: bool = False,
            progress: Progress | None = None) -> SyncReport:
        """One sync under the lock; raises `SyncAlreadyRunning` when another one holds it.

        Whatever goes wrong inside is recorded in the history as a failed run with a one-line
        reason, so `sources`, `/rag-sources` and `/healthz` never show the last good sync instead.
        """
        self.lock.acquire(trigger)
        try:
            report = SyncReport(started=datetime.now(UTC), trigger=trigger)
            run = _Run()
            try:
                self._run_locked(report, run, full=full, dry_run=dry_run, allow_mass_delete=allow_mass_delete,
                                 switch=switch_docs_root, progress=progress)
            except SyncRefused as err:
                report.status, report.message = "refused", str(err)
                log.info("sync refused: %s", err)
            except Exception as err:
                report.status, report.message = "failed", one_line(err)
                log.info("sync failed", exc_info=True)  # the report says why; -v shows where
            report.finished = datetime.now(UTC)
            if not dry_run:
                self._record(report, run)
            log.info("sync %s: +%d ~%d →%d −%d !%d, %d skipped, %d chunks embedded, %d reused, %.1fs",
                     report.status, len(report.added), len(report.changed), len(report.renamed),
                     len(report.removed), len(report.failed), len(report.skipped), report.chunks_embedded,
                     report.chunks_reused, report.duration_s)
            return report
        finally:
            self.lock.release()

    def _record(self, report: SyncReport, run: _Run) -> None:
        try:
            version_after = self.store.version if self.store.exists() else None
        except Exception:  # the report must still be recorded
            log.info("cannot read the index version", exc_info=True)
            version_after = None
        if run.id is None:
            run.id = self.state.start_run(report, run.version_before)
        self.state.finish_run(run.id, report, version_after)

    def _run_locked(self, report: SyncReport, run: _Run, *, full: bool, dry_run: bool, allow_mass_delete: bool,
                    switch: bool, progress: Progress | None) -> None:
        check_docs_folder(self.settings)  # a folder that does not exist says so, whatever the index holds
        old_root = check_docs_root(self.state, self.settings.docs_dir, self.state.files(), switch=switch,
                                   trigger=report.trigger)
        if full and not dry_run:
            self._reset_if_other_model()
        left_over = None if dry_run else self._quarantine_left_over()
        records = self.state.files()
        chunking, chunked_by = chunk_sizing(self.settings).signature, self.state.chunking()
        sizing_held = self.state.chunking_held() and chunked_by != chunking and not full
        if sizing_held:
            report.message = (f"chunk sizing held back by rollback: the index keeps {chunked_by}; the configuration "
                              f"says {chunking}; `ragbot release --all` re-chunks at the next sync")
        elif records and not full and chunked_by != chunking:
            # The same bytes are now cut differently: re-read all (vectors of unchanged chunks are reused).
            full = True
            report.message = (f"chunk sizing changed ({chunked_by or 'not recorded'} → {chunking}): "
                              "all documents re-chunked")
            log.info("%s", report.message)
        found = self.scan()
        report.skipped = found.skipped
        plan = self.plan(found.stats, records, full=full, allow_mass_delete=allow_mass_delete,
                         switching=old_root is not None, trigger=report.trigger)
        report.added, report.changed, report.renamed = plan.added, plan.changed, plan.renamed
        report.unchanged = plan.unchanged
        report.skipped = sorted(report.skipped + plan.held)
        report.held_back = [(p, held_back_note(p, records[p].held_back, withdrawn=records[p].withdrawn))
                            for p in plan.held_back]
        report.removed = [] if plan.mass_delete_blocked else plan.removed
        if old_root is not None:
            report.message = f"switched the index from {old_root} to {real_root(self.settings.docs_dir)}"
        if plan.mass_delete_blocked:
            report.message = (
                f"{len(plan.removed)} of {len(records)} documents are gone from the docs folder; they were "
                f"NOT removed (more than MASS_DELETE_FRACTION). If that is intended, "
                f"{option_hint(report.trigger, MASS_DELETE_OPTION)}."
            )
        if dry_run:
            report.status = "dry_run"
            return

        run.version_before = self.store.version if self.store.exists() else None
        self._close_interrupted_runs(run.version_before, left_over)
        run.id = self.state.start_run(report, run.version_before, chunking_before=chunked_by)
        applier = Applier(self.settings, self.store, self.state, self.embedder_factory)
        applier.apply_renames(plan, records, report, progress)
        applier.index_files(plan.to_index, records, report, progress, rebuilt=plan.rebuilt)
        if not plan.mass_delete_blocked:
            applier.remove(plan.removed)
        applier.record_touched(plan, records)
        if plan.to_index or plan.renamed or report.removed or not self.store.exists() or full:
            self.store.refresh_indexes()
        report.status = "partial" if report.failed or plan.mass_delete_blocked else "ok"
        self.state.set_docs_root(real_root(self.settings.docs_dir))
        self.state.set_chunking((chunked_by or chunking) if sizing_held else chunking, held=sizing_held)
        report.documents_indexed = self.state.count_answerable()
        if report.yields_nothing:
            log.warning("the docs folder %s yields no documents (%d files skipped, %d failed): answers have "
                        "nothing to cite", self.settings.docs_dir, len(report.skipped), len(report.failed))

    def _quarantine_left_over(self) -> LeftOver | None:
        """A file the last sync died parsing (the marker is still there): quarantined until it changes."""
        marker = ParseMarker(self.settings.resolved_state_dir)
        left = marker.left_over()
        if left is None:
            return None
        log.warning("quarantined %s: the last sync stopped while reading it", left.rel_path)
        if self.state.get_file(left.rel_path) is not None:
            self.state.set_error(left.rel_path, left.reason, size=left.size, mtime_ns=left.mtime_ns,
                                 kind="quarantined", sha256=left.sha256)
        else:
            path = self.settings.docs_dir / left.rel_path
            self.state.put_file(FileRecord(
                rel_path=left.rel_path, size=left.size, mtime_ns=left.mtime_ns, sha256=left.sha256 or "",
                kind="document", format=path.suffix.lstrip(".").lower(), title=title_from_stem(path.stem),
                link=document_link(path, left.rel_path, self.settings.docs_base_url),
                modified=datetime.fromtimestamp(left.mtime_ns / 1e9, UTC), last_error=left.reason,
                error_size=left.size, error_mtime_ns=left.mtime_ns, error_kind="quarantined",
                error_sha256=left.sha256,
            ))
        marker.end()
        return left

    def _close_interrupted_runs(self, version_now: int | None, left_over: LeftOver | None = None) -> None:
        """Record syncs whose process died (kill -9, power loss) as failed; this run finishes their work.

        Their last commit is the current version, so `rollback` can still undo them.
        """
        for run in self.state.unfinished_runs():
            run.report.status = "failed"
            run.report.message = "interrupted: the process stopped before the end (the next sync finished the job)"
            if left_over is not None:
                run.report.message = (f"interrupted while reading {left_over.rel_path} (killed, out of memory or "
                                      "crashed): that file is quarantined; the next sync finished the job")
                left_over = None
            self.state.finish_run(run.id, run.report, version_now)

    def _reset_if_other_model(self) -> None:
        try:
            if self.store.exists():
                self.store.check_current()  # another model, or an older text normalisation (IndexOutdated)
        except IndexModelMismatch as err:
            log.warning("rebuilding the index: %s", err)
            self.store.drop()
            self.state.replace_files(r for r in self.state.files().values() if r.withdrawn)
