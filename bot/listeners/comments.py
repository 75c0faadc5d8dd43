"""The 👎 comment: a modal asking "What was wrong or missing?", its answer kept for `ragbot gaps`.

The 👎 itself is recorded at the click (bot/listeners/votes.py: once per user per answer), so nothing is
lost when the modal is closed or cannot be opened. The modal's `private_metadata` carries
everything the comment's records need (question, sources, channel, message, the vote's event),
because the submission may reach another bot process than the click did.

A submitted comment is cleaned before anything keeps it (`clean_text`): cut to `COMMENT_MAX`
(3000) characters, the modal's own limit (a client that ignores it sent 900 KB, stored whole),
lone surrogates replaced (one raised UnicodeEncodeError in the write, and the user heard
nothing) and control characters dropped (tabs and line breaks stay). The user always gets a
confirmation: thanks quoting the comment (saying when it was cut), or the reason it was not
kept; it is retried through rate limits, in the channel, else by DM.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack

from bot.delivery.mrkdwn import safe_text
from bot.delivery.redact import describe_exception
from bot.followthrough.feedback_log import FeedbackRecord
from rag.language.cjk import is_chinese

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.delivery.notices import Notices
    from bot.delivery.redact import Redactor
    from bot.followthrough.feedback_log import FeedbackLog
    from rag.service import RagService

log = logging.getLogger(__name__)

CALLBACK_ID = "feedback_comment"
BLOCK_ID = "comment"
ACTION_ID = "comment_text"
METADATA_LIMIT = 3000  # docs.slack.dev/reference/views/modal-views: private_metadata, max 3000 characters
COMMENT_MAX = 3000  # docs.slack.dev plain-text input element: max_length between 1 and 3000
SHOWN = 300  # characters of the question / comment quoted back in Slack

TEXTS = {
    "en": {"title": "Not helpful", "label": "What was wrong or missing?", "submit": "Send", "close": "Skip",
           "placeholder": "Optional: e.g. the policy changed, or the wrong document was cited",
           "question": "Your question: {q}", "thanks": "Thanks, your comment was recorded: “{c}”",
           "cut": " (Comments are kept up to {n} characters: the rest was left out.)",
           "failed": "Sorry, I couldn't record your comment (the log is not writable)."},
    "zh": {"title": "沒幫助", "label": "哪裡有錯或缺少什麼？", "submit": "送出", "close": "略過",
           "placeholder": "選填，例如：規定已更新，或引用了錯誤的文件",
           "question": "你的問題：{q}", "thanks": "謝謝，你的意見已記錄：「{c}」",
           "cut": "（意見最多保留 {n} 個字，其餘未記錄。）",
           "failed": "抱歉，無法記錄你的意見（紀錄檔無法寫入）。"},
}


@dataclass(frozen=True)
class Downvote:
    """What a 👎's comment is recorded with (carried in the modal's private_metadata)."""

    question: str
    sources: list[str] = field(default_factory=list)
    channel: str = ""
    message_ts: str = ""
    answer_mode: str = ""
    ref: str | None = None  # the vote's event in the gaps log (QuestionLog.record)

    @property
    def lang(self) -> str:
        return "zh" if is_chinese(self.question) else "en"


def pack(vote: Downvote) -> str:
    """private_metadata within Slack's 3000 characters: the sources go first, then the question is trimmed."""
    question, sources = vote.question, list(vote.sources)
    while True:
        text = json.dumps({"q": question, "s": sources, "c": vote.channel, "t": vote.message_ts,
                           "m": vote.answer_mode, "r": vote.ref}, ensure_ascii=False, separators=(",", ":"))
        if len(text) <= METADATA_LIMIT:
            return text
        if sources:
            sources.pop()
        elif not question:  # only a hostile channel or ts can be this long: carry the vote's event alone
            return json.dumps({"r": vote.ref})
        else:
            question = question[: max(0, len(question) - (len(text) - METADATA_LIMIT) - 1)]


def unpack(text: str | None) -> Downvote:
    """The vote back from a submission's private_metadata; whatever it holds, a Downvote (maybe empty)."""
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError:
        data = {}
    data = data if isinstance(data, dict) else {}
    sources = data.get("s") if isinstance(data.get("s"), list) else []
    ref = data.get("r")
    return Downvote(question=str(data.get("q") or ""), sources=[str(s) for s in sources],
                    channel=str(data.get("c") or ""), message_ts=str(data.get("t") or ""),
                    answer_mode=str(data.get("m") or ""), ref=ref if isinstance(ref, str) else None)


def comment_view(vote: Downvote) -> dict[str, Any]:
    """The modal: the question quoted, one optional multiline input."""
    texts = TEXTS[vote.lang]
    blocks: list[dict[str, Any]] = []
    if vote.question:
        quoted = texts["question"].format(q=safe_text(vote.question[:SHOWN]))
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": quoted}]})
    blocks.append({
        "type": "input", "block_id": BLOCK_ID, "optional": True,
        "label": {"type": "plain_text", "text": texts["label"]},
        "element": {"type": "plain_text_input", "action_id": ACTION_ID, "multiline": True,
                    "max_length": COMMENT_MAX,
                    "placeholder": {"type": "plain_text", "text": texts["placeholder"]}},
    })
    return {
        "type": "modal", "callback_id": CALLBACK_ID, "private_metadata": pack(vote),
        "title": {"type": "plain_text", "text": texts["title"]},
        "submit": {"type": "plain_text", "text": texts["submit"]},
        "close": {"type": "plain_text", "text": texts["close"]},
        "blocks": blocks,
    }


def clean_text(text: str, limit: int) -> tuple[str, bool]:
    """`text` without lone surrogates or control characters (tabs and line breaks kept), cut to `limit`
    characters; and whether it was cut."""
    text = text.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes "?"
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cs"))
    return (text[:limit], True) if len(text) > limit else (text, False)


def submitted_comment(view: dict[str, Any]) -> str:
    """The text typed in the modal ("" when left empty: Slack sends null)."""
    values = ((view.get("state") or {}).get("values") or {}).get(BLOCK_ID) or {}
    value = (values.get(ACTION_ID) or {}).get("value")
    return value if isinstance(value, str) else ""


class FeedbackComments:
    """Opens the modal after a 👎 and keeps what is submitted in both logs."""

    def __init__(self, *, rag: RagService, client: WebClient, feedback: FeedbackLog, notices: Notices,
                 redactor: Redactor, submit: Callable[[Callable[[], Any]], None]) -> None:
        self.rag, self.client, self.feedback, self.notices, self.redactor = rag, client, feedback, notices, redactor
        self._submit = submit  # the control pool (Web API calls and log writes stay off Bolt's listeners)

    def open(self, trigger_id: str, vote: Downvote) -> bool:
        """Within Slack's 3 seconds of the click; a failure (expired trigger…) is one log line.

        With LOG_QUESTIONS=off no comment would be kept, so none is asked for (asking and then dropping it
        would tell the asker something false)."""
        if not trigger_id or self.rag.settings.log_questions == "off":
            return False
        try:
            self.client.views_open(trigger_id=trigger_id, view=comment_view(vote))
            return True
        except Exception as err:  # never lose the thanks over the modal
            log.warning("could not open the 👎 comment modal: %s", describe_exception(err, self.redactor))
            return False

    def on_submit(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ack()  # closes the modal at once
        comment, cut = clean_text(submitted_comment(view), COMMENT_MAX)
        if not comment.strip():
            return  # the 👎 was recorded at the click
        user = body.get("user") or {}
        team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
        vote = unpack(view.get("private_metadata"))
        self._submit(lambda: self._keep(vote, comment, cut, str(user.get("id") or ""), team))

    def _keep(self, vote: Downvote, comment: str, cut: bool, user: str, team: str) -> None:
        texts = TEXTS[vote.lang]
        question = clean_text(vote.question, METADATA_LIMIT)[0]
        sources = [clean_text(s, 500)[0] for s in vote.sources]
        try:
            self.rag.question_log.add_comment(vote.ref, comment, question=question or None,
                                                 documents=sources, surface="slack")
            self.feedback.append(FeedbackRecord(
                rating="comment", question=question, sources=sources, user=user, channel=vote.channel,
                message_ts=vote.message_ts, answer_mode=vote.answer_mode, team=team, comment=comment))
            text = texts["thanks"].format(c=safe_text(comment[:SHOWN]) + ("…" if len(comment) > SHOWN else ""))
            if cut:
                text += texts["cut"].format(n=COMMENT_MAX)
        except Exception as err:  # whatever went wrong, the user hears back
            log.error("could not record a 👎 comment: %s", describe_exception(err, self.redactor))
            text = texts["failed"]
        self._confirm(vote.channel, user, text)

    def _confirm(self, channel: str, user: str, text: str) -> None:
        """Ephemeral in the answer's channel, else (or when that fails) a DM; retried through rate limits."""
        slack = self.notices.slack
        if channel and slack.must("chat.postEphemeral", channel=channel, user=user, text=text).ok:
            return
        if user and slack.must("chat.postMessage", channel=user, text=text).ok:
            return
        log.warning("could not confirm a 👎 comment to %s", user)
