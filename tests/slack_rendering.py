"""What a person reads in Slack for an answer: the text of every block of every message the bot posts."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.delivery.render import answer_messages
from rag.values import Answer

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def slack_text(answer: Answer, *, now: datetime = NOW, stale_after_days: int = 365) -> str:
    out = []
    for message in answer_messages(answer, now=now, stale_after_days=stale_after_days):
        for block in message.blocks:
            if isinstance(block.get("text"), dict):
                out.append(block["text"]["text"])
            out += [el["text"] for el in block.get("elements") or [] if el.get("type") == "mrkdwn"]
    return "\n".join(out)
