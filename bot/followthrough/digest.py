"""The weekly gaps digest: `ragbot gaps`' report, posted to ADMIN_CHANNEL (or SYNC_REPORT_CHANNEL).

Off unless GAPS_DIGEST_CRON is set (bot/jobs.py schedules it). The report is
rag/ops/gaps.py's, line for line what `ragbot gaps --days 7` prints, so an admin who
reads one knows the other.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackClientError

from bot.delivery.mrkdwn import safe_text, split_sections
from bot.delivery.render import FALLBACK_TEXT_LIMIT, MAX_BLOCKS, SlackMessage
from rag.ops.gaps import GapsReport, index_report, report_lines

if TYPE_CHECKING:
    from bot.runtime import BotRuntime

log = logging.getLogger(__name__)

DIGEST_DAYS = 7


def digest_message(report: GapsReport) -> SlackMessage:
    lines = report_lines(report)
    head = f":bar_chart: *Gaps digest* — {safe_text(lines[0])}"
    body = "\n".join(safe_text(line) for line in lines[1:]).strip("\n")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": piece}}
              for piece in split_sections(head + ("\n" + body if body else ""))]
    if not report.empty:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "`ragbot gaps --export questions.jsonl` writes these questions for `ragbot eval`; "
            "GAPS_DIGEST_CRON blank turns this digest off.")}]})
    text = head + "\n" + body
    return SlackMessage(text=text[:FALLBACK_TEXT_LIMIT], blocks=blocks[:MAX_BLOCKS])


def post_gaps_digest(runtime: BotRuntime, days: float = DIGEST_DAYS) -> bool:
    """Scheduler job: post the digest; False when there is no channel or Slack refused it (logged)."""
    channel = runtime.settings.digest_channel
    if not channel:
        return False
    try:
        message = digest_message(index_report(runtime.rag, days))  # what `ragbot gaps` says
    except Exception:
        log.exception("could not build the gaps digest")
        return False
    try:
        runtime.client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
    except SlackClientError as err:
        log.error("could not post the gaps digest to %s: %s", channel, runtime.redactor(str(err)))
        return False
    return True
