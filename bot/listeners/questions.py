"""From a Slack event to a question, and from a thread to conversation history."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.delivery.mrkdwn import plain_from_slack
from bot.delivery.render import FEEDBACK_UP

log = logging.getLogger(__name__)

ANSWERABLE_SUBTYPES = {None, "file_share", "thread_broadcast"}
HISTORY_PAGES = 5


@dataclass(frozen=True)
class Question:
    text: str  # the question with the bot mention removed, Slack markup made plain
    channel: str
    ts: str  # the asking message
    thread_ts: str  # where the answer goes: the thread root
    user: str
    team: str | None
    is_follow_up: bool  # asked inside an existing thread
    bot_user_id: str | None
    bot_id: str | None
    event_id: str | None = None


def is_answerable(body: dict[str, Any]) -> bool:
    """An @mention, or a person's direct message to the bot (not edits, joins or other bots)."""
    if body.get("type") != "event_callback":
        return False
    event = body.get("event") or {}
    if event.get("bot_id") or event.get("subtype") not in ANSWERABLE_SUBTYPES or not event.get("user"):
        return False
    if event.get("type") == "app_mention":
        return True
    return event.get("type") == "message" and event.get("channel_type") == "im"


def question_from_event(body: dict[str, Any], *, bot_user_id: str | None, bot_id: str | None) -> Question:
    event = body["event"]
    ts = str(event["ts"])
    parent = event.get("thread_ts")
    return Question(
        text=plain_from_slack(str(event.get("text") or ""), drop_user=bot_user_id),
        channel=str(event["channel"]),
        ts=ts,
        thread_ts=str(parent or ts),
        user=str(event["user"]),
        team=event.get("team") or body.get("team_id"),
        is_follow_up=bool(parent and parent != ts),
        bot_user_id=bot_user_id,
        bot_id=bot_id,
        event_id=body.get("event_id"),
    )


def thread_history(client: WebClient, question: Question, limit: int) -> list[tuple[str, str]]:
    """The thread's earlier messages as [(role, text)], oldest first, at most `limit` of them.

    The bot's own answers are "assistant" turns; its notices (busy, errors) are left
    out; everyone else's messages are "user" turns. Failing to read the thread
    (e.g. a missing `*:history` scope) means answering without context, not failing.
    """
    if limit <= 0 or not question.is_follow_up:
        return []
    messages: list[dict[str, Any]] = []
    cursor: str | None = None
    try:
        for _ in range(HISTORY_PAGES):
            resp = client.conversations_replies(channel=question.channel, ts=question.thread_ts, limit=200,
                                                cursor=cursor)
            messages.extend(resp.get("messages") or [])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not resp.get("has_more") or not cursor:
                break
    except SlackClientError as err:
        log.warning("could not read thread %s in %s for context: %s", question.thread_ts, question.channel,
                    err)
        return []
    turns: list[tuple[str, str]] = []
    for msg in messages:
        try:
            if float(msg.get("ts", "0")) >= float(question.ts):
                continue
        except ValueError:
            continue
        if _is_ours(msg, question):
            if not _is_answer(msg):
                continue
            role, raw = "assistant", _answer_text(msg)
        else:
            role, raw = "user", str(msg.get("text") or "")
        text = plain_from_slack(raw, drop_user=question.bot_user_id)
        if text:
            turns.append((role, text))
    return turns[-limit:]


def _is_ours(msg: dict[str, Any], question: Question) -> bool:
    if question.bot_id and msg.get("bot_id") == question.bot_id:
        return True
    return bool(question.bot_user_id and msg.get("user") == question.bot_user_id)


def _is_answer(msg: dict[str, Any]) -> bool:
    for block in msg.get("blocks") or []:
        elements = block.get("elements") or []
        if block.get("type") == "actions" and any(el.get("action_id") == FEEDBACK_UP for el in elements):
            return True
    return False


def _answer_text(msg: dict[str, Any]) -> str:
    sections = [b["text"]["text"] for b in msg.get("blocks") or []
                if b.get("type") == "section" and isinstance(b.get("text"), dict)]
    return "\n\n".join(sections) or str(msg.get("text") or "")
