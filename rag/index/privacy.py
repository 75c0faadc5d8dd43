"""The one rule for what the bot may keep of what people ask, and for how long (LOG_QUESTIONS, QUESTION_RETENTION_DAYS).

Every store that can hold a question, a 👎 comment or a user id applies this rule:
the gaps log (rag/index/question_log.py), the feedback log (bot/followthrough/feedback_log.py), the answers
ledger (bot/ledger*.py: it keeps a posted answer's blocks, whose 👍/👎 buttons carry
the question), the question queue (bot/jobqueue*.py) and what they keep in Redis.

- `off`: no question text, no comment and no user id is kept anywhere once the
  question is answered (the queue holds the question only until its answer is posted);
- `gaps` (default): the text of declined and 👎 questions and their comments only;
- `all`: the text of every question.
Whatever the policy, nothing is kept longer than QUESTION_RETENTION_DAYS: past it the
stores delete it (SQLite files also overwrite deleted rows and truncate their WAL;
Redis keys get it as their TTL).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

LogPolicy = Literal["gaps", "all", "off"]
TEXT_KINDS: frozenset[str] = frozenset({"declined", "downvoted"})  # what `gaps` keeps the text of
DAY = 86400.0


@dataclass(frozen=True)
class PrivacyRule:
    policy: LogPolicy = "gaps"
    retention_days: float = 90.0

    @classmethod
    def from_settings(cls, settings: Any) -> PrivacyRule:
        """From the core's settings (LOG_QUESTIONS, QUESTION_RETENTION_DAYS)."""
        return cls(policy=settings.log_questions, retention_days=settings.question_retention_days)

    def keeps_text(self, kind: str) -> bool:
        """Whether a question (or comment) of this kind ("declined", "downvoted", "answered", …) may be kept."""
        return self.policy == "all" or (self.policy == "gaps" and kind in TEXT_KINDS)

    def keeps_user(self) -> bool:
        """Whether who asked or voted may be kept."""
        return self.policy != "off"

    @property
    def retention_seconds(self) -> float:
        return self.retention_days * DAY

    def cutoff(self, now: float | None = None) -> float:
        """Unix time before which nothing may be kept."""
        return (time.time() if now is None else now) - self.retention_seconds

    def capped(self, seconds: float) -> float:
        """A store's own keeping time (a watch window, a TTL), never past the retention."""
        return min(seconds, self.retention_seconds)
