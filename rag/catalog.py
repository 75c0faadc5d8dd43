"""Records describing what the index holds and how syncs went, for `sources` and `/rag-sources`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
    chunks_embedded: int = 0
    chunks_reused: int = 0
    message: str | None = None  # why a sync was refused or failed as a whole
    trigger: str = "manual"  # "manual", "schedule", "startup", "slack:<user>"
    # Golden-question gate (EVAL_QUESTIONS, rag/sync_gate.py): recall@5 after this sync, the questions that
    # failed when it fell below EVAL_MIN_RECALL, whether the sync was rolled back, and why the gate could not run
    golden_recall: float | None = None
    golden_broken: list[str] = field(default_factory=list)
    golden_rolled_back: bool = False
    golden_error: str | None = None
    # Posted Slack answers citing documents this sync changed or withdrew (bot/followthrough.py): marked
    # with a notice by the bot; counted by whoever ran the sync
    answers_marked: int = 0

    @property
    def duration_s(self) -> float:
        return (self.finished - self.started).total_seconds() if self.finished else 0.0

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.renamed or self.removed)


class SyncAlreadyRunning(Exception):
    """Another sync holds the index; the request was coalesced into it."""

    def __init__(self, since: datetime, holder: str = "") -> None:
        local = since.astimezone().strftime("%H:%M")
        super().__init__(f"a sync is already running since {local}" + (f" ({holder})" if holder else ""))
        self.since = since
        self.holder = holder
