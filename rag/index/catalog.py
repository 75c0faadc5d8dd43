"""Records describing what the index holds and how syncs went, for `sources` and `/rag-sources`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

SyncStatus = Literal["ok", "partial", "failed", "refused", "dry_run", "running"]


@dataclass(frozen=True)
class DocumentInfo:
    rel_path: str
    title: str
    kind: str
    format: str
    modified: datetime
    last_synced: datetime | None
    chunk_count: int
    link: str
    last_error: str | None = None  # last failed parse; the previous good version stays indexed
    withdrawn: bool = False  # `ragbot forget`: kept out of answers until the file changes
    # "failed" (retried at each sync), "skipped" (over a limit) or "quarantined" (a sync died parsing it): the
    # last two are not read again until the file changes (rag/index/state_rows.py)
    error_kind: str | None = None
    held_back: datetime | None = None  # pinned by `ragbot rollback` then: the earlier version is served

    @property
    def state_note(self) -> str:
        """What keeps this document from being its file, in one line ("" when nothing does)."""
        return document_state_note(self.rel_path, self.error_kind, self.last_error, self.held_back, self.withdrawn)


def held_back_note(rel_path: str, since: datetime | None, *, withdrawn: bool = False) -> str:
    """The one sentence for a document a rollback pinned (sources, reports, history, gaps)."""
    day = f" on {since.astimezone(UTC).date().isoformat()}" if since else ""
    served = "its version is withdrawn" if withdrawn else "answers use the earlier version"
    return (f"held back by rollback{day}: the file changed since and {served}; `ragbot release {rel_path}` "
            "indexes the file")


def document_state_note(rel_path: str, error_kind: str | None, last_error: str | None, held_back: datetime | None,
                        withdrawn: bool) -> str:
    if held_back is not None:
        return held_back_note(rel_path, held_back, withdrawn=withdrawn)
    if last_error and error_kind == "quarantined":
        return f"quarantined: {last_error}; `ragbot release {rel_path}` tries again"
    if last_error and error_kind == "skipped":
        return f"skipped: {last_error}"
    if last_error:
        return f"last error: {last_error} (retried at each sync; the previous version, if any, is served)"
    return ""


@dataclass
class SyncReport:
    started: datetime
    finished: datetime | None = None
    status: SyncStatus = "running"
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    # Entries never read: symlinks, FIFOs, undecodable names, unsupported types, files over a limit (MAX_UNZIPPED_MB,
    # MAX_DOC_CHARS …) or quarantined ... (printable path, reason); every sync.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # Of `failed`: files that failed before with these same bytes (retried, still failing): not a new failure
    still_failing: list[str] = field(default_factory=list)
    # Documents a rollback pinned whose file still differs from what is served: (path, note); every sync
    held_back: list[tuple[str, str]] = field(default_factory=list)
    documents_indexed: int | None = None  # documents answers can use after this sync (0: the folder yields none)
    chunks_embedded: int = 0
    chunks_reused: int = 0
    message: str | None = None  # why a sync was refused or failed as a whole
    trigger: str = "manual"  # "manual", "schedule", "startup", "slack:<user>"
    # Golden-question gate (EVAL_QUESTIONS, rag/ops/sync_gate.py): recall@5 after this sync, the questions that
    # failed when it fell below EVAL_MIN_RECALL, whether the sync was rolled back, and why the gate could not run
    golden_recall: float | None = None
    golden_broken: list[str] = field(default_factory=list)
    golden_rolled_back: bool = False
    golden_error: str | None = None
    # Posted Slack answers citing documents this sync changed or withdrew (bot/followthrough/watcher.py): marked
    # with a notice by the bot; counted by whoever ran the sync
    answers_marked: int = 0

    @property
    def duration_s(self) -> float:
        return (self.finished - self.started).total_seconds() if self.finished else 0.0

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.renamed or self.removed)

    @property
    def tried(self) -> int:
        """Files this sync read to index them (new, changed, failed), files still failing as before excepted."""
        return len(self.added) + len(self.changed) + len(self.failed) - len(self.still_failing)

    @property
    def mostly_failed(self) -> bool:
        """More than half of the files this sync tried to index failed (and at least one): scripts must see it.

        A file still failing as at the last sync is reported (the status stays partial) but not counted here:
        one broken PDF must not fail every later sync."""
        new_failures = len(self.failed) - len(self.still_failing)
        return new_failures > 0 and 2 * new_failures > self.tried

    @property
    def yields_nothing(self) -> bool:
        """The sync ran and no document can be used in answers: an empty, all-unsupported or all-broken folder."""
        return self.documents_indexed == 0 and self.status in ("ok", "partial")

    @property
    def succeeded(self) -> bool:
        """What exit codes and alerts go by: refused, crashed and mostly failed syncs did not succeed."""
        return self.status in ("ok", "partial", "dry_run") and not self.mostly_failed


def one_line(err: BaseException, limit: int = 300) -> str:
    """An exception as one printable line, for reports, history and Slack."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failed_report(trigger: str, err: BaseException, started: datetime | None = None) -> SyncReport:
    """The report of a sync that crashed before it could report anything itself."""
    now = datetime.now(UTC)
    return SyncReport(started=started or now, finished=now, status="failed", message=one_line(err), trigger=trigger)


class SyncAlreadyRunning(Exception):
    """Another sync holds the index; the request was coalesced into it."""

    def __init__(self, since: datetime, holder: str = "") -> None:
        local = since.astimezone().strftime("%H:%M")
        super().__init__(f"a sync is already running since {local}" + (f" ({holder})" if holder else ""))
        self.since = since
        self.holder = holder
