"""What the documents could not answer: declined questions, 👎 answers, flagged figures, stale sources cited.

Storing what people ask is a privacy choice, so what is kept follows `LOG_QUESTIONS`, by the
one rule of rag/index/privacy.py:
- `gaps` (default): the text of declined and 👎 questions only; for answers with flagged
  figures or stale sources, the figures and the documents but not the question;
- `all`: the question text of every recorded event;
- `off`: nothing at all.
Events older than `QUESTION_RETENTION_DAYS` are deleted whenever the log is written or read, and
by `prune` (the bot runs it daily), which also removes text the current policy no longer allows
(after a switch to `off`, say). Deleted rows are overwritten and the journal truncated, so a
deleted question does not linger in the file.

One SQLite file next to the index's state, shared by every bot process and the CLI on a host.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from rag.index.privacy import TEXT_KINDS, LogPolicy, PrivacyRule

EventKind = Literal["declined", "downvoted", "figures", "stale"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    question TEXT,
    comment TEXT,
    documents TEXT NOT NULL DEFAULT '[]',
    figures TEXT NOT NULL DEFAULT '[]',
    surface TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_at ON events(at);
"""


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: EventKind
    question: str | None  # None where the policy kept no text
    comment: str | None = None
    documents: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    surface: str = ""  # "slack" or "cli"


@dataclass
class Group:
    """Similar questions together: the newest one's wording, how many, when last."""

    kind: EventKind
    question: str | None
    count: int
    last: datetime
    comments: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)


class QuestionLog:
    def __init__(self, path: Path, *, policy: LogPolicy = "gaps", retention_days: float = 90) -> None:
        self.path = path
        self.rule = PrivacyRule(policy, retention_days)
        self.policy = policy
        self.retention = timedelta(days=retention_days)
        self._lock = threading.Lock()

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        try:
            conn.execute("PRAGMA secure_delete=ON")  # a deleted question is overwritten, not left in a free page
            conn.executescript(_SCHEMA)
            with conn:
                yield conn
        finally:
            conn.close()

    def _expire(self, conn: sqlite3.Connection) -> int:
        return conn.execute("DELETE FROM events WHERE at < ?",
                            ((datetime.now(UTC) - self.retention).isoformat(),)).rowcount

    def prune(self) -> int:
        """Apply the rule to what is kept: events past the retention deleted, text the policy does not allow
        removed. How many events changed. Nothing is created when the log does not exist."""
        if not self.path.exists():
            return 0
        with self._lock, self._conn() as conn:
            if self.rule.policy == "off":
                changed = conn.execute("DELETE FROM events").rowcount
            else:
                changed = self._expire(conn)
                if self.rule.policy == "gaps":
                    kinds = sorted(TEXT_KINDS)
                    changed += conn.execute(
                        f"UPDATE events SET question = NULL, comment = NULL WHERE kind NOT IN "
                        f"({', '.join('?' * len(kinds))}) AND (question IS NOT NULL OR comment IS NOT NULL)",
                        kinds).rowcount
        return changed

    def record(self, kind: EventKind, question: str | None, *, comment: str | None = None,
               documents: Iterable[str] = (), figures: Iterable[str] = (), surface: str = "",
               at: datetime | None = None) -> str | None:
        """Keep one event, with the question text only where the policy allows it; its reference for
        `add_comment` (None when nothing was kept)."""
        if self.policy == "off":
            return None
        keep_text = self.rule.keeps_text(kind)
        now = at or datetime.now(UTC)
        with self._lock, self._conn() as conn:
            row = conn.execute(
                "INSERT INTO events(at, kind, question, comment, documents, figures, surface) VALUES (?,?,?,?,?,?,?)",
                (now.isoformat(), kind, question if keep_text else None, comment if keep_text else None,
                 json.dumps(list(documents), ensure_ascii=False), json.dumps(list(figures), ensure_ascii=False),
                 surface),
            )
            self._expire(conn)
        return f"{row.lastrowid}@{now.isoformat()}"

    def add_comment(self, ref: str | None, comment: str, *, question: str | None, documents: Iterable[str] = (),
                    surface: str = "") -> None:
        """A 👎's comment, written onto that 👎's own event (`ref` from `record`) so the 👎 counts once.

        Where this log does not hold that event (recorded by another host, or past retention), the comment
        is kept as the 👎 event itself.
        """
        if self.policy == "off" or not comment:
            return
        rowid, _, at = (ref or "").partition("@")
        if rowid.isdigit() and at:
            with self._lock, self._conn() as conn:
                updated = conn.execute("UPDATE events SET comment = ? WHERE id = ? AND at = ? AND kind = 'downvoted'",
                                       (comment, int(rowid), at)).rowcount
            if updated:
                return
        self.record("downvoted", question, comment=comment, documents=documents, surface=surface)

    def events(self, *, days: float | None = None) -> list[Event]:
        """Events of the last `days` (all kept ones when None), newest first."""
        if not self.path.exists():
            return []
        oldest = datetime.now(UTC) - (timedelta(days=days) if days is not None else self.retention)
        with self._lock, self._conn() as conn:
            self._expire(conn)
            rows = conn.execute(
                "SELECT at, kind, question, comment, documents, figures, surface FROM events WHERE at >= ? "
                "ORDER BY at DESC, id DESC", (oldest.isoformat(),),
            ).fetchall()
        return [Event(datetime.fromisoformat(at), kind, q, c, tuple(json.loads(d)), tuple(json.loads(f)), s)
                for at, kind, q, c, d, f, s in rows]


def group_events(events: list[Event], *, similarity: float = 0.5) -> list[Group]:
    """Group events of one kind whose questions share most of their terms (or that cite the same documents
    where no text was kept); groups sorted by their newest event, newest first."""
    from rag.retrieval.query import query_terms

    groups: list[tuple[Group, set[str]]] = []
    for event in events:  # newest first, so each group's wording is its newest question's
        terms = set(query_terms(event.question)) if event.question else {f"doc:{d}" for d in event.documents}
        home = next((g for g, t in groups if g.kind == event.kind and _jaccard(terms, t) >= similarity), None)
        if home is None:
            home = Group(kind=event.kind, question=event.question, count=0, last=event.at)
            groups.append((home, terms))
        else:
            next(t for g, t in groups if g is home).update(terms)
        home.count += 1
        if event.comment and event.comment not in home.comments:
            home.comments.append(event.comment)
        home.documents.extend(d for d in event.documents if d not in home.documents)
        home.figures.extend(f for f in event.figures if f not in home.figures)
    return [g for g, _ in sorted(groups, key=lambda p: p[0].last, reverse=True)]


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else float(a == b)
