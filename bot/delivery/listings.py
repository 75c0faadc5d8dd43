"""Block Kit for `/rag-sources` pages and sync reports (bot/delivery/render.py does answers)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.delivery.mrkdwn import SECTION_LIMIT, link, safe_text, split_sections
from bot.delivery.render import (
    FALLBACK_TEXT_LIMIT,
    MAX_BLOCKS,
    SOURCES_PAGE_ACTION,
    SOURCES_PAGE_SIZE,
    SlackMessage,
    section_block,
)
from rag.answering.freshness import aware, humanize_age
from rag.ops.sync_gate import gate_lines
from rag.service import DocumentInfo, Scope, SyncReport

# --- /rag-sources -------------------------------------------------------------------------------


def in_scope(doc: DocumentInfo, scope: Scope | None) -> bool:
    """The one rule of `rag.retrieval.scope` (folder boundaries, `_` and `%` literal)."""
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
    blocks: list[dict] = [section_block(header)]
    summary = f"*{len(docs)} document{'s' if len(docs) != 1 else ''}{what}*"
    if scope is not None:
        summary += f" (this channel is limited to {describe_scope(scope)})"
    if pages > 1:
        summary += f" · page {page + 1} of {pages}"
    blocks.append(section_block(summary))
    if not docs:
        hint = "Try fewer or different words." if filter_text else "Ask an admin to run `/rag-resync`."
        blocks.append(section_block(f"Nothing is indexed{what}. {hint}"))
    for doc in shown:
        line = (f"{link(doc.link, doc.title or doc.rel_path)}  `{safe_text(doc.rel_path)}`\n"
                f"{safe_text(doc.kind)} · modified {_when(doc.modified, now)}"
                f" · synced {_when(doc.last_synced, now)}"
                f" · {doc.chunk_count} chunk{'s' if doc.chunk_count != 1 else ''}")
        if doc.withdrawn and doc.held_back is None:
            line += " · :no_entry_sign: withdrawn from answers"
        if doc.state_note:  # held back by a rollback, quarantined, skipped or failing (rag/index/catalog.py)
            line += f"\n:warning: {safe_text(doc.state_note[:300])}"
        blocks.append(section_block(line[:SECTION_LIMIT]))
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
        "\n".join(safe_text(line) for line in gate_lines(report)),  # EVAL_QUESTIONS (rag/ops/sync_gate.py)
    ]
    if report.answers_marked:  # bot/followthrough/watcher.py
        plural = "s" if report.answers_marked != 1 else ""
        parts.append(f":warning: {report.answers_marked} posted answer{plural} cite{'' if plural else 's'} "
                     "changed documents: marked with a notice")
    blocks = [section_block(head[:SECTION_LIMIT])]
    for part in filter(None, parts):
        blocks.extend(section_block(piece) for piece in split_sections(part))
    return SlackMessage(text=head[:FALLBACK_TEXT_LIMIT], blocks=blocks[:MAX_BLOCKS])
