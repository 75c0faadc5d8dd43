"""👍/👎 on answers, appended to a local JSON Lines log so admins can see what fails.

One JSON object per line, written with a single `write` on a file opened in
append mode, so several bot processes can share the log and a crash never
leaves half a record in the middle of the file.

A 👎 may be followed by a `comment` record (what was wrong or missing, typed in the
modal of bot/listeners/comments.py) for the same user and message: one vote, so a count
of "down" records stays right.

What a record keeps follows the one privacy rule (rag/index/privacy.py, LOG_QUESTIONS): the
question and the comment only where the policy keeps that kind's text (a 👍 is an
answered question, a 👎 and its comment a downvoted one), the user id only when the
policy is not `off`. `prune` (at start and daily) drops records past
QUESTION_RETENTION_DAYS and strips what the policy no longer allows, rewriting the file
under a lock that appends share, so no record is lost to it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.index.privacy import PrivacyRule


@dataclass(frozen=True)
class FeedbackRecord:
    rating: str  # "up", "down", or "comment" (the text a 👎 was explained with)
    question: str
    sources: list[str]
    user: str
    channel: str
    message_ts: str
    answer_mode: str = ""
    team: str = ""
    comment: str | None = None  # as the user typed it (only on "comment" records)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class FeedbackLog:
    def __init__(self, path: Path, rule: PrivacyRule | None = None) -> None:
        self.path = path
        self.rule = rule or PrivacyRule()
        self._lock = threading.Lock()

    def kept(self, record: FeedbackRecord) -> FeedbackRecord | None:
        """The record as the rule lets it be kept (None: nothing worth keeping, a comment the rule drops)."""
        kind = "downvoted" if record.rating in ("down", "comment") else "answered"
        if not self.rule.keeps_text(kind):
            if record.rating == "comment":
                return None
            record = replace(record, question="", comment=None)
        if not self.rule.keeps_user():
            record = replace(record, user="")
        return record

    def append(self, record: FeedbackRecord) -> None:
        kept = self.kept(record)
        if kept is None:
            return
        data = (json.dumps(asdict(kept), ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    if _same_file(fd, self.path):  # not replaced by a prune while we waited for the lock
                        os.write(fd, data)
                        return
                finally:
                    os.close(fd)

    def read(self) -> list[dict]:
        """Every record, oldest first (a torn last line from a crash is skipped)."""
        if not self.path.exists():
            return []
        return _records(self.path.read_text(encoding="utf-8"))

    def prune(self, now: datetime | None = None) -> int:
        """Records past the retention dropped, fields the rule does not allow removed; how many changed."""
        if not self.path.exists():
            return 0
        cutoff = datetime.fromtimestamp(self.rule.cutoff((now or datetime.now(UTC)).timestamp()), UTC)
        with self._lock:
            fd = os.open(self.path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # appends in every process wait until the file is replaced
                with open(fd, encoding="utf-8", closefd=False) as handle:
                    records = _records(handle.read())
                kept: list[dict[str, Any]] = []
                changed = 0
                for raw in records:
                    record = self._known(raw)
                    shown = None if record is None or _when(record.at) < cutoff else self.kept(record)
                    if shown is not None:
                        kept.append(asdict(shown))
                    changed += shown is None or kept[-1] != raw
                if not changed:
                    return 0
                temp = self.path.with_name(self.path.name + ".prune")
                temp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
                os.chmod(temp, 0o640)
                os.replace(temp, self.path)
                return changed
            finally:
                os.close(fd)

    @staticmethod
    def _known(raw: dict[str, Any]) -> FeedbackRecord | None:
        names = set(FeedbackRecord.__dataclass_fields__)
        try:
            return FeedbackRecord(**{k: v for k, v in raw.items() if k in names})
        except TypeError:
            return None


def _records(text: str) -> list[dict]:
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _when(text: object) -> datetime:
    try:
        at = datetime.fromisoformat(str(text))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)  # unreadable: treated as old
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)
