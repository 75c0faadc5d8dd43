"""Block Kit for answers, `/rag-sources` pages and sync reports.

Pure functions of their inputs (and `now`), so every limit Slack enforces
(3000 chars per section, 10 elements per context block, 50 blocks per message,
2000 chars per button value) is handled and tested here, not discovered in production.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.delivery.mrkdwn import SECTION_LIMIT, link, markdown_to_mrkdwn, safe_text, split_sections
from rag.freshness import aware, humanize_age
from rag.links import is_web_link, links_configured
from rag.service import Answer, Citation, DocumentInfo, Scope, SyncReport
from rag.source_lines import Place
from rag.source_lines import source_line as build_source_line
from rag.sync_gate import gate_lines

MAX_BLOCKS = 50
CONTEXT_ELEMENTS = 10
BUTTON_VALUE_LIMIT = 2000
FALLBACK_TEXT_LIMIT = 3900
SOURCES_PAGE_SIZE = 15
FEEDBACK_UP = "feedback_up"
FEEDBACK_DOWN = "feedback_down"
SOURCES_PAGE_ACTION = "sources_page"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class SlackMessage:
    text: str  # notification / fallback text (already escaped)
    blocks: list[dict]


def is_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


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
    if line.note:  # held back by a rollback (rag/source_lines.py)
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


def _context_blocks(lines: Sequence[str]) -> list[dict]:
    blocks = []
    for start in range(0, len(lines), CONTEXT_ELEMENTS):
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": line} for line in lines[start:start + CONTEXT_ELEMENTS]
        ]})
    return blocks


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def answer_messages(answer: Answer, *, now: datetime, stale_after_days: int) -> list[SlackMessage]:
    """The final answer as one message (or, for a very long answer, several) within Slack's limits.

    The last message carries the cited sources, any notice and the feedback buttons.
    """
    lang = "zh" if is_chinese(answer.question) else "en"
    body = markdown_to_mrkdwn(answer.text.strip()) or "_(empty answer)_"
    if answer.mode == "no_answer" and "/rag-sources" not in answer.text:
        body += "\n\n" + LABELS[lang]["hint"]
    sections = [_section(piece) for piece in split_sections(body)]

    tail: list[dict] = []
    if answer.notice and answer.notice.strip() not in answer.text:
        icon = ":warning:" if answer.mode == "extractive" or answer.cites_nothing else ":information_source:"
        tail += _context_blocks([f"{icon} {safe_text(answer.notice)}"[:SECTION_LIMIT]])
    if answer.citations:
        lines = [f"*{LABELS[lang]['sources']}*"] + [
            source_line(c, now=now, stale_after_days=stale_after_days, lang=lang) for c in answer.citations]
        # E1 (issue 11): without DOCS_BASE_URL every link is a file:// path nobody in Slack can open (link() shows
        # the title unlinked); say so once instead of letting the promised links silently vanish. Rule: rag.links.
        if not links_configured(link for c in answer.citations for link in (c.doc_link, c.link)):
            lines.append(LABELS[lang]["no_links"])
        tail.append({"type": "divider"})
        tail += _context_blocks(lines)
    tail.append(feedback_block(feedback_value(answer.question, answer.citations, answer.mode), lang))

    messages: list[SlackMessage] = []
    remaining = sections
    while True:
        room = MAX_BLOCKS - len(tail)
        if len(remaining) <= room:
            blocks = remaining + tail
            messages.append(SlackMessage(text=_fallback(blocks), blocks=blocks))
            return messages
        chunk, remaining = remaining[:MAX_BLOCKS], remaining[MAX_BLOCKS:]
        messages.append(SlackMessage(text=_fallback(chunk), blocks=chunk))


def _fallback(blocks: Sequence[dict]) -> str:
    texts = [b["text"]["text"] for b in blocks if b.get("type") == "section"]
    text = "\n\n".join(texts) or "Answer"
    return text if len(text) <= FALLBACK_TEXT_LIMIT else text[: FALLBACK_TEXT_LIMIT - 1] + "…"


def notice_message(text: str, *, icon: str = ":information_source:") -> SlackMessage:
    """A short message from the bot itself (busy, error, help); `text` is trusted mrkdwn."""
    full = f"{icon} {text}" if icon else text
    return SlackMessage(text=full, blocks=[_section(full[:SECTION_LIMIT])])


# --- /rag-sources -------------------------------------------------------------------------------


def in_scope(doc: DocumentInfo, scope: Scope | None) -> bool:
    """The one rule of `rag.scope` (folder boundaries, `_` and `%` literal)."""
    return scope is None or scope.admits(doc.rel_path, doc.kind)


def describe_scope(scope: Scope) -> str:
    parts = [f"`{safe_text(p)}`" for p in scope.path_prefixes] + [f"kind {safe_text(k)}" for k in scope.kinds]
    return ", ".join(parts)


def _when(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    value = aware(value)
    return f"{value.date().isoformat()} ({humanize_age(value, now)})"


def sync_status_line(report: SyncReport | None, running_since: datetime | None, now: datetime) -> str:
    if running_since is not None:
        started = aware(running_since).astimezone(UTC)
        return f":arrows_counterclockwise: A sync is running (started {started:%Y-%m-%d %H:%M} UTC)."
    if report is None:
        return ":grey_question: No sync has run yet."
    finished = report.finished or report.started
    icon = {"ok": ":white_check_mark:", "partial": ":warning:", "failed": ":x:", "refused": ":no_entry:"}
    status = "most files failed" if report.mostly_failed and report.status != "failed" else report.status
    line = (f"{icon.get('failed' if report.mostly_failed else report.status, ':information_source:')} "
            f"Last sync {_when(finished, now)}: *{status}*, {_counts(report)}.")
    if report.message and not report.succeeded:  # why it failed or was refused, in one line
        line += " " + safe_text(" ".join(report.message.split())[:300])
    return line


def _counts(report: SyncReport) -> str:
    return (f"{len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed, "
            f"{len(report.failed)} failed")


def sources_page(
    docs: Sequence[DocumentInfo], *, filter_text: str, page: int, now: datetime,
    header: str, scope: Scope | None = None, page_size: int = SOURCES_PAGE_SIZE,
) -> SlackMessage:
    """One page of the indexed-documents list, with previous/next buttons carrying the filter."""
    pages = max(1, -(-len(docs) // page_size))
    page = min(max(page, 0), pages - 1)
    shown = docs[page * page_size:(page + 1) * page_size]
    what = f" matching “{safe_text(filter_text)}”" if filter_text else ""
    blocks: list[dict] = [_section(header)]
    summary = f"*{len(docs)} document{'s' if len(docs) != 1 else ''}{what}*"
    if scope is not None:
        summary += f" (this channel is limited to {describe_scope(scope)})"
    if pages > 1:
        summary += f" · page {page + 1} of {pages}"
    blocks.append(_section(summary))
    if not docs:
        hint = "Try fewer or different words." if filter_text else "Ask an admin to run `/rag-resync`."
        blocks.append(_section(f"Nothing is indexed{what}. {hint}"))
    for doc in shown:
        line = (f"{link(doc.link, doc.title or doc.rel_path)}  `{safe_text(doc.rel_path)}`\n"
                f"{safe_text(doc.kind)} · modified {_when(doc.modified, now)}"
                f" · synced {_when(doc.last_synced, now)}"
                f" · {doc.chunk_count} chunk{'s' if doc.chunk_count != 1 else ''}")
        if doc.withdrawn and doc.held_back is None:
            line += " · :no_entry_sign: withdrawn from answers"
        if doc.state_note:  # held back by a rollback, quarantined, skipped or failing (rag/catalog.py)
            line += f"\n:warning: {safe_text(doc.state_note[:300])}"
        blocks.append(_section(line[:SECTION_LIMIT]))
    if pages > 1:
        buttons = []
        if page > 0:
            buttons.append(_page_button("◀ Previous", filter_text, page - 1))
        if page < pages - 1:
            buttons.append(_page_button("Next ▶", filter_text, page + 1))
        blocks.append({"type": "actions", "block_id": "sources_pages", "elements": buttons})
    plural = "s" if len(docs) != 1 else ""
    return SlackMessage(text=f"{len(docs)} indexed document{plural}{what}", blocks=blocks)


def _page_button(label: str, filter_text: str, page: int) -> dict:
    value = json.dumps({"f": filter_text[:500], "p": page}, ensure_ascii=False)
    return {"type": "button", "action_id": f"{SOURCES_PAGE_ACTION}_{page}", "value": value,
            "text": {"type": "plain_text", "text": label}}


# --- sync reports -------------------------------------------------------------------------------


def _listed(title: str, items: Sequence[str], limit: int = 10) -> str:
    if not items:
        return ""
    shown = "\n".join(f"• `{safe_text(item)}`" for item in items[:limit])
    more = f"\n• …and {len(items) - limit} more" if len(items) > limit else ""
    return f"*{title} ({len(items)})*\n{shown}{more}"


def sync_report_message(report: SyncReport, *, title: str = "Sync report") -> SlackMessage:
    """Added/changed/removed/failed with reasons, for `/rag-resync` and the report channel."""
    icon = {"ok": ":white_check_mark:", "partial": ":warning:", "failed": ":x:", "refused": ":no_entry:",
            "dry_run": ":mag:"}.get(report.status, ":information_source:")
    held = f", {len(report.held_back)} held back by rollback" if report.held_back else ""
    head = (f"{icon} *{title}: {report.status}* in {report.duration_s:.1f} s — {_counts(report)}, "
            f"{report.unchanged} unchanged{held}.")
    if report.message:
        head += f"\n{safe_text(report.message)}"
    if report.yields_nothing:  # an empty, all-unsupported or all-broken folder: said loudly
        head += "\n:warning: *The docs folder yields no documents*: answers have nothing to cite (see Skipped/Failed)."
    parts = [
        _listed("Added", report.added),
        _listed("Changed", report.changed),
        _listed("Renamed", [f"{old} → {new}" for old, new in report.renamed]),
        _listed("Removed", report.removed),
        _listed("Failed", [f"{path}: {reason}" for path, reason in report.failed]),
        _listed("Skipped (never read)", [f"{path}: {reason}" for path, reason in report.skipped]),
        _listed("Held back by rollback", [f"{path}: {note}" for path, note in report.held_back]),
        "\n".join(safe_text(line) for line in gate_lines(report)),  # EVAL_QUESTIONS (rag/sync_gate.py)
    ]
    if report.answers_marked:  # bot/followthrough/watcher.py
        plural = "s" if report.answers_marked != 1 else ""
        parts.append(f":warning: {report.answers_marked} posted answer{plural} cite{'' if plural else 's'} "
                     "changed documents: marked with a notice")
    blocks = [_section(head[:SECTION_LIMIT])]
    for part in filter(None, parts):
        blocks.extend(_section(piece) for piece in split_sections(part))
    return SlackMessage(text=head[:FALLBACK_TEXT_LIMIT], blocks=blocks[:MAX_BLOCKS])
