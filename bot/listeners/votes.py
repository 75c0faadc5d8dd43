"""👍/👎 clicks: one vote per user per answer, the thanks, and for 👎 the comment modal.

A user clicking 👎 25 times on one answer used to record 25 downvotes (gaps and the digest
counted them) and open 25 modals. Each click is now claimed under a key of (team, user,
channel, message, rating) in a store shared like the event de-duplication (SQLite next to the
index, or Redis with REDIS_URL, so replicas agree), kept QUESTION_RETENTION_DAYS: the first
click is the vote, later ones only hear "already recorded". The key is a hash, so the store
holds no user id or message (LOG_QUESTIONS=off stays true). If the store cannot answer, the
click counts: a vote counted twice is better than a vote lost.

Text that arrives with a click (the button's question and sources) is cleaned like a comment
(`clean_text`): a lone surrogate or a control character can no longer fail the write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, Respond

from bot.delivery.render import FEEDBACK_UP
from bot.followthrough.feedback_log import FeedbackRecord
from bot.listeners.comments import Downvote, FeedbackComments, clean_text

if TYPE_CHECKING:
    from bot.followthrough.feedback_log import FeedbackLog
    from rag.service import RagService

log = logging.getLogger(__name__)

VOTES_FILE = "votes.sqlite3"
QUESTION_MAX = 2000  # what a button carries is far less (its value is at most 2000 characters: Block Kit)


def vote_key(team: str, user: str, channel: str, message_ts: str, rating: str) -> str:
    return "vote:" + hashlib.sha256("\0".join((team, user, channel, message_ts, rating)).encode()).hexdigest()[:40]


class Votes:
    def __init__(self, *, rag: RagService, feedback: FeedbackLog, claims: Any, comments: FeedbackComments,
                 submit: Callable[[Callable[[], Any]], None]) -> None:
        """`claims`: where each user's vote on an answer is claimed once (bot/coordination.py vote_store)."""
        self.rag, self.feedback, self.claims = rag, feedback, claims
        self.comments = comments
        self._submit = submit  # the control pool (Web API calls stay off Bolt's listeners)

    def on_click(self, ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        try:
            value = json.loads(action.get("value") or "{}")
        except json.JSONDecodeError:
            value = {}
        value = value if isinstance(value, dict) else {}
        rating = "up" if action.get("action_id") == FEEDBACK_UP else "down"
        sources = value.get("s") if isinstance(value.get("s"), list) else []
        record = FeedbackRecord(
            rating=rating,
            question=clean_text(str(value.get("q") or ""), QUESTION_MAX)[0],
            sources=[clean_text(str(s), 500)[0] for s in sources[:50]],
            user=str((body.get("user") or {}).get("id") or ""),
            channel=str((body.get("channel") or {}).get("id") or ""),
            message_ts=str((body.get("message") or {}).get("ts")
                           or (body.get("container") or {}).get("message_ts") or ""),
            answer_mode=clean_text(str(value.get("m") or ""), 20)[0],
            team=str((body.get("team") or {}).get("id") or ""),
        )
        if not self._first(record):
            text = ("You already marked this answer as not helpful; your vote counts once." if rating == "down"
                    else "You already marked this answer as helpful; your vote counts once.")
            self._submit(partial(respond, text=text, response_type="ephemeral", replace_original=False))
            return
        ref = None
        try:
            self.feedback.append(record)
            if rating == "down":  # `ragbot gaps` and the weekly digest (rag/index/question_log.py)
                ref = self.rag.question_log.record("downvoted", record.question or None,
                                                      documents=record.sources, surface="slack")
            text = "Thanks, your feedback was recorded." + (
                " An admin will look at what went wrong." if rating == "down" else "")
        except (OSError, sqlite3.Error, ValueError) as err:
            log.error("could not record feedback: %s", err)
            text = "Sorry, I couldn't record your feedback (the log is not writable)."
        if rating == "down":  # ask what was wrong (bot/listeners/comments.py); the vote is already kept
            vote = Downvote(question=record.question, sources=record.sources, channel=record.channel,
                            message_ts=record.message_ts, answer_mode=record.answer_mode, ref=ref)
            self._submit(partial(self.comments.open, str(body.get("trigger_id") or ""), vote))
        self._submit(partial(respond, text=text, response_type="ephemeral", replace_original=False))

    def _first(self, record: FeedbackRecord) -> bool:
        """This user's first click of this rating on this answer (True when it cannot be told)."""
        if self.claims is None or not (record.user and record.message_ts):
            return True
        key = vote_key(record.team, record.user, record.channel, record.message_ts, record.rating)
        try:
            return bool(self.claims.claim(key))
        except Exception as err:  # DedupUnavailable and the like: count it rather than lose it
            log.warning("could not check for an earlier vote (%s); counting this click", type(err).__name__)
            return True
