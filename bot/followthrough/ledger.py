"""The ledger of posted answers, so an answer can be marked when a document it cites changes later.

For each answer the bot posted with sources: where it is (channel, message ts, thread),
when, its final message as rendered (text and blocks, so it can be edited in place with
the answer kept), and for each cited document its path, title and the content hash of the
indexed version the answer was written from (the index row's `doc_sha256`; "" when unknown).

After a sync, `mark` compares every watched citation with the documents as indexed now: a
different hash is a change, a missing or withdrawn document a withdrawal, the same bytes
under another path a move. Each (answer, document) keeps one notice, replaced only when the
document changes again, so an answer is marked once per change: every notice is *claimed*
atomically in the store (compare-and-set on its change key, with the answer queued in the
same step), so any number of processes may mark at once and each change is queued once; one
that dies mid-way leaves the changes it did not claim to the next `mark`, by any of them.
Answers to mark wait in a queue for the bot's courier (bot/followthrough/watcher.py), which claims
them for `claim_seconds`, so no two processes edit one answer at once.

Two stores, one set of rules (this module): SQLite next to the index's state (one host,
`bot/followthrough/ledger_sqlite.py`) or Redis when REDIS_URL is set (replicas on several hosts,
`bot/followthrough/ledger_redis.py`, every record signed: bot/durable/records.py). Answers older than
ANSWER_WATCH_DAYS (and never past QUESTION_RETENTION_DAYS) are forgotten. No Slack here:
`ragbot sync` counts affected answers with it too.

Privacy (rag/index/privacy.py): a posted answer's 👍/👎 buttons carry its question, so the blocks are
kept with that question removed unless LOG_QUESTIONS keeps every question (`all`); `prune`
applies the same rule to what is already kept.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from rag.index.privacy import PrivacyRule
from rag.index.state import FileRecord

if TYPE_CHECKING:
    pass

LEDGER_FILE = "answers.sqlite3"
CLAIM_SECONDS = 120.0  # a claimed answer not edited by then (its process died) is free again

ChangeKind = Literal["changed", "withdrawn", "moved"]


@dataclass(frozen=True)
class CitedDocument:
    path: str
    sha256: str  # the version the answer was written from; "" when unknown
    title: str


@dataclass(frozen=True)
class Notice:
    path: str
    kind: ChangeKind
    title: str
    at: datetime  # when the document changed (its stated date when after the answer), or was seen gone
    new_path: str | None = None
    new_kind: str | None = None  # the moved document's kind, to tell whether the answer's channel may see it


@dataclass(frozen=True)
class PostedAnswer:
    id: int
    channel: str
    ts: str
    thread_ts: str | None
    posted: datetime
    lang: str
    text: str
    blocks: list[dict]
    notices: list[Notice]
    tries: int = 0
    queued: float = 0.0  # which queueing the courier claimed: `done` keeps an answer queued again since


@dataclass(frozen=True)
class WatchedCitation:
    answer_id: int
    path: str
    sha256: str
    title: str
    posted: float
    noticed: str | None  # the change key of this (answer, document)'s notice, None when it has none


@dataclass(frozen=True)
class Change:
    answer_id: int
    path: str
    key: str  # what the document is now: one notice per (answer, document, key)
    kind: ChangeKind
    title: str
    at: float
    new_path: str | None = None
    new_kind: str | None = None
    sha256: str = ""  # the version cited (a moved citation keeps it under its new path)


class AnswerLedger(ABC):
    """The rules, once; a store gives the records and the atomic steps (`_claim_change` above all)."""

    def __init__(self, *, watch_days: float = 30.0, claim_seconds: float = CLAIM_SECONDS,
                 clock: Callable[[], float] = time.time, rule: PrivacyRule | None = None) -> None:
        self.rule = rule or PrivacyRule()
        self.watch_seconds = self.rule.capped(watch_days * 86400)
        self.claim_seconds = claim_seconds
        self._clock = clock

    def record(self, *, channel: str, ts: str, thread_ts: str | None, text: str, blocks: list[dict], lang: str,
               cited: list[CitedDocument]) -> None:
        """Watch a posted answer (its final message) for changes to the documents it cites, keeping of its
        question only what the privacy rule allows."""
        if cited:
            self._record(channel=channel, ts=ts, thread_ts=thread_ts, text=text,
                         blocks=kept_blocks(blocks, self.rule), lang=lang, cited=cited)

    def prune(self) -> int:
        """The rule applied to what is kept: answers past the watch window (or the retention) forgotten, the
        question removed from kept blocks where the policy no longer allows it; how many answers changed."""
        self._prune(self._clock())
        return 0 if self.rule.keeps_text("answered") else self._redact()

    # -- after a sync ----------------------------------------------------------------------------------
    def changes(self, files: Mapping[str, FileRecord]) -> list[Change]:
        """Watched citations whose document is no longer the version cited, and not yet noticed as such."""
        return self._changes(files, self._clock())

    def affected(self, files: Mapping[str, FileRecord]) -> int:
        """How many watched answers a `mark` would edit now (what `ragbot sync` reports)."""
        return len({c.answer_id for c in self.changes(files)})

    def mark(self, files: Mapping[str, FileRecord]) -> list[int]:
        """Claim a notice for each change and queue its answer for editing; the answer ids this call queued."""
        now = self._clock()
        self._prune(now)
        return sorted({c.answer_id for c in self._changes(files, now) if self._claim_change(c, now)})

    def _changes(self, files: Mapping[str, FileRecord], now: float) -> list[Change]:
        live = {r.sha256: r for r in files.values() if not r.withdrawn and r.chunk_ids}
        changes = []
        for cited in self._watched(now - self.watch_seconds):
            change = change_of(cited, files.get(cited.path), live, now)
            if change is not None and cited.noticed != change.key:
                changes.append(change)
        return changes

    # -- what a store provides -------------------------------------------------------------------------
    @abstractmethod
    def _record(self, *, channel: str, ts: str, thread_ts: str | None, text: str, blocks: list[dict], lang: str,
                cited: list[CitedDocument]) -> None:
        """Store a posted answer (blocks already as the rule keeps them) with its citations."""

    @abstractmethod
    def _redact(self) -> int:
        """Rewrite kept answers whose blocks hold what the rule no longer allows; how many."""

    @abstractmethod
    def watched(self) -> int: ...

    @abstractmethod
    def _watched(self, since: float) -> list[WatchedCitation]:
        """Every citation of an answer posted since `since`, with its notice's change key."""

    @abstractmethod
    def _claim_change(self, change: Change, now: float) -> bool:
        """Atomically: unless the answer is gone or its notice for this document already has `change.key`,
        write the notice, follow a move, and queue the answer (now). True when this call did it."""

    @abstractmethod
    def _prune(self, now: float) -> None:
        """Forget answers posted before the watch window."""

    # -- the courier's queue ---------------------------------------------------------------------------
    @abstractmethod
    def claim_due(self, limit: int = 10) -> list[PostedAnswer]:
        """Answers due for an edit, claimed for `claim_seconds` so another process leaves them alone."""

    @abstractmethod
    def next_due(self) -> float | None:
        """When the next queued answer may be taken (claims included), None when none is queued."""

    @abstractmethod
    def pending_count(self) -> int: ...

    @abstractmethod
    def done(self, answer: PostedAnswer) -> None:
        """Edited: off the queue, unless a new change queued it again since it was claimed (then free now)."""

    @abstractmethod
    def retry_later(self, answer_id: int, delay: float) -> None: ...

    @abstractmethod
    def drop(self, answer_id: int) -> None:
        """Forget an answer (deleted in Slack, or its channel gone): nothing left to edit."""

    @abstractmethod
    def close(self) -> None: ...


def change_of(cited: WatchedCitation, record: FileRecord | None, live: Mapping[str, FileRecord],
              now: float) -> Change | None:
    """What happened to one cited document since the answer, or None when it is still the version cited."""
    if record is not None and not record.withdrawn and record.sha256 == cited.sha256:
        return None
    if record is None or record.withdrawn:
        moved = live.get(cited.sha256) if cited.sha256 else None
        if record is None and moved is not None and moved.rel_path != cited.path:
            return Change(cited.answer_id, cited.path, f"moved:{moved.rel_path}", "moved", cited.title, now,
                          moved.rel_path, moved.kind, cited.sha256)
        return Change(cited.answer_id, cited.path, "withdrawn", "withdrawn", cited.title, now, sha256=cited.sha256)
    stated = record.modified.timestamp() if record.modified else now
    return Change(cited.answer_id, cited.path, f"changed:{record.sha256}", "changed", cited.title,
                  stated if cited.posted < stated <= now else now, sha256=cited.sha256)


FEEDBACK_BLOCK = "feedback"  # bot/delivery/render.py: the 👍/👎 buttons, whose values carry the question as "q"


def kept_blocks(blocks: list[dict[str, Any]], rule: PrivacyRule) -> list[dict[str, Any]]:
    """The blocks as the privacy rule lets the ledger keep them: the question out of the buttons' values
    unless every question may be kept (a 👎 on an edited answer then records no question text)."""
    if rule.keeps_text("answered"):
        return blocks
    out = []
    for block in blocks:
        if block.get("block_id") == FEEDBACK_BLOCK and isinstance(block.get("elements"), list):
            block = {**block, "elements": [_without_question(el) for el in block["elements"]]}
        out.append(block)
    return out


def _without_question(element: Any) -> Any:
    if not isinstance(element, dict) or not isinstance(element.get("value"), str):
        return element
    try:
        value = json.loads(element["value"])
    except ValueError:
        return element
    if not isinstance(value, dict) or "q" not in value:
        return element
    value.pop("q")
    return {**element, "value": json.dumps(value, ensure_ascii=False, separators=(",", ":"))}
