"""👍/👎 on answers, appended to a local JSON Lines log so admins can see what fails.

One JSON object per line, written with a single `write` on a file opened in
append mode, so several bot processes can share the log and a crash never
leaves half a record in the middle of the file.

A 👎 may be followed by a `comment` record (what was wrong or missing, typed in the
modal of bot/feedback_modal.py) for the same user and message: one vote, so a count
of "down" records stays right.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path


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
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, record: FeedbackRecord) -> None:
        line = json.dumps(asdict(record), ensure_ascii=False) + "\n"
        data = line.encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def read(self) -> list[dict]:
        """Every record, oldest first (a torn last line from a crash is skipped)."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records
