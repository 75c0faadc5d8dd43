"""Block Kit for answers, `/rag-sources` pages and sync reports.

Pure functions of their inputs (and `now`), so every limit Slack enforces
(3000 chars per section, 10 elements per context block, 50 blocks per message,
2000 chars per button value) is handled and tested here, not discovered in production.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.delivery.mrkdwn import SECTION_LIMIT, link, markdown_to_mrkdwn, safe_text, split_sections
from rag.answering.links import is_web_link, links_configured
from rag.answering.source_lines import Place
from rag.answering.source_lines import source_line as build_source_line
from rag.language.cjk import is_chinese
from rag.service import Answer, Citation

MAX_BLOCKS = 50
CONTEXT_ELEMENTS = 10
BUTTON_VALUE_LIMIT = 2000
FALLBACK_TEXT_LIMIT = 3900
SOURCES_PAGE_SIZE = 15
FEEDBACK_UP = "feedback_up"
FEEDBACK_DOWN = "feedback_down"
SOURCES_PAGE_ACTION = "sources_page"


@dataclass(frozen=True)
class SlackMessage:
    text: str  # notification / fallback text (already escaped)
    blocks: list[dict]


# Labels of the answer message; answers to questions in Chinese get Traditional Chinese ones.
LABELS = {
    "en": {"sources": "Sources", "updated": "updated",
           "stale": "possibly outdated (not updated in over {days} days)",
           "up": "👍 Helpful", "down": "👎 Not helpful", "hint": "Use `/rag-sources` to see which documents I know.",
           "no_links": "_links: not configured (an admin can set DOCS_BASE_URL)_"},
    "zh": {"sources": "來源", "updated": "更新於", "stale": "可能已過時（超過 {days} 天未更新）",
           "up": "👍 有幫助", "down": "👎 沒幫助", "hint": "可用 `/rag-sources` 查看我知道哪些文件。",
           "no_links": "_連結：未設定（管理員可設定 DOCS_BASE_URL）_"},
}


def source_line(citation: Citation, *, now: datetime, stale_after_days: int, lang: str = "en") -> str:
    """One cited document: linked title, date and age (and a stale flag), then each place it was cited,
    linked, with the sentence that supports the answer::

        [1] <url|Leave policy> · updated 2025-01-02 (3 weeks ago)
        › <url#carry-over|3. Annual leave › 3.2 Carry-over> — “Up to 5 unused days …”

    Kept under Slack's 3,000 characters by leaving out the last places, never by cutting one in half.
    """
    line = build_source_line(citation, now=now, stale_after_days=stale_after_days, lang=lang)
    labels = LABELS[lang]
    head = f"[{line.number}] {link(line.link, line.title)} · {labels['updated']} {line.updated} ({line.age})"
    if line.stale:
        head += f" · :warning: _{labels['stale'].format(days=stale_after_days)}_"
    if line.note:  # held back by a rollback (rag/answering/source_lines.py)
        head += f"\n:pushpin: _{safe_text(line.note)}_"
    text = head[: SECTION_LIMIT - 40]  # room for "(+N more)"
    for i, place in enumerate(line.places):
        row = "\n› " + _place(place)
        more = f"\n› (+{len(line.places) - i} more)"
        if len(text) + len(row) + len(more) > SECTION_LIMIT:
            return text + more
        text += row
    return text


def _place(place: Place) -> str:
    where = safe_text(place.location)
    if where and is_web_link(place.link):
        where = link(place.link, place.location)
    quote = f"“{safe_text(place.evidence)}”" if place.evidence else ""
    shared = f"_{safe_text(place.shared)}_" if place.shared else ""  # GROUP_DUPLICATES: not the only source
    return " — ".join(part for part in (where, quote, shared) if part)


def feedback_value(question: str, citations: Sequence[Citation], mode: str) -> str:
    """What a 👍/👎 click records: the question and the cited files, kept under Slack's 2000 chars."""
    paths = [c.rel_path for c in citations]
    q = question[:800]
    while True:
        value = json.dumps({"q": q, "s": paths, "m": mode}, ensure_ascii=False, separators=(",", ":"))
        if len(value) <= BUTTON_VALUE_LIMIT:
            return value
        if paths:
            paths = paths[:-1]
        else:
            q = q[: len(q) // 2]


def feedback_block(value: str, lang: str = "en") -> dict:
    labels = LABELS[lang]
    return {
        "type": "actions",
        "block_id": "feedback",
        "elements": [
            {"type": "button", "action_id": FEEDBACK_UP, "value": value,
             "text": {"type": "plain_text", "text": labels["up"], "emoji": True}},
            {"type": "button", "action_id": FEEDBACK_DOWN, "value": value,
             "text": {"type": "plain_text", "text": labels["down"], "emoji": True}},
        ],
    }


def context_blocks(lines: Sequence[str]) -> list[dict]:
    blocks = []
    for start in range(0, len(lines), CONTEXT_ELEMENTS):
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": line} for line in lines[start:start + CONTEXT_ELEMENTS]
        ]})
    return blocks


def section_block(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def answer_messages(answer: Answer, *, now: datetime, stale_after_days: int) -> list[SlackMessage]:
    """The final answer as one message (or, for a very long answer, several) within Slack's limits.

    The last message carries the cited sources, any notice and the feedback buttons.
    """
    lang = "zh" if is_chinese(answer.question) else "en"
    body = markdown_to_mrkdwn(answer.text.strip()) or "_(empty answer)_"
    if answer.mode == "no_answer" and "/rag-sources" not in answer.text:
        body += "\n\n" + LABELS[lang]["hint"]
    sections = [section_block(piece) for piece in split_sections(body)]

    tail: list[dict] = []
    if answer.notice and answer.notice.strip() not in answer.text:
        icon = ":warning:" if answer.mode == "extractive" or answer.cites_nothing else ":information_source:"
        tail += context_blocks([f"{icon} {safe_text(answer.notice)}"[:SECTION_LIMIT]])
    if answer.citations:
        lines = [f"*{LABELS[lang]['sources']}*"] + [
            source_line(c, now=now, stale_after_days=stale_after_days, lang=lang) for c in answer.citations]
        # E1 (issue 11): without DOCS_BASE_URL every link is a file:// path nobody in Slack can open (link() shows
        # the title unlinked); say so once instead of letting the promised links silently vanish. Rule:
        # rag.answering.links.
        if not links_configured(link for c in answer.citations for link in (c.doc_link, c.link)):
            lines.append(LABELS[lang]["no_links"])
        tail.append({"type": "divider"})
        tail += context_blocks(lines)
    tail.append(feedback_block(feedback_value(answer.question, answer.citations, answer.mode), lang))

    messages: list[SlackMessage] = []
    remaining = sections
    while True:
        room = MAX_BLOCKS - len(tail)
        if len(remaining) <= room:
            blocks = remaining + tail
            messages.append(SlackMessage(text=fallback_text(blocks), blocks=blocks))
            return messages
        chunk, remaining = remaining[:MAX_BLOCKS], remaining[MAX_BLOCKS:]
        messages.append(SlackMessage(text=fallback_text(chunk), blocks=chunk))


def fallback_text(blocks: Sequence[dict]) -> str:
    texts = [b["text"]["text"] for b in blocks if b.get("type") == "section"]
    text = "\n\n".join(texts) or "Answer"
    return text if len(text) <= FALLBACK_TEXT_LIMIT else text[: FALLBACK_TEXT_LIMIT - 1] + "…"


def notice_message(text: str, *, icon: str = ":information_source:") -> SlackMessage:
    """A short message from the bot itself (busy, error, help); `text` is trusted mrkdwn."""
    full = f"{icon} {text}" if icon else text
    return SlackMessage(text=full, blocks=[section_block(full[:SECTION_LIMIT])])
