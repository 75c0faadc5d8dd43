"""What a source line says, decided once for Slack and the CLI: title, each place cited, its evidence, age.

The renderers only format: Slack as mrkdwn with links, the CLI as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rag.answering.freshness import aware, humanize_age, is_stale
from rag.retrieval.duplicates import capped
from rag.values import Citation, SharedText


@dataclass(frozen=True)
class Place:
    location: str  # "3. Annual leave › 3.2 Carry-over, p. 3", without the document's title; may be ""
    link: str  # to the place: section anchor or #page=N
    evidence: str  # the supporting sentence, trimmed; "" when the answer quotes the passage itself
    shared: str = ""  # "appears in 5 documents: A, B, …" / "also in: B, C" (GROUP_DUPLICATES); "" when not shared


@dataclass(frozen=True)
class SourceLine:
    number: int
    title: str
    link: str  # to the document
    places: tuple[Place, ...]  # only places with something to show (a location or evidence)
    updated: str  # ISO date
    age: str  # "3 weeks ago" / "3 週前"
    stale: bool
    note: str = ""  # e.g. held back by a rollback: the file changed since (HELD_BACK_NOTE); "" when nothing to say


# A cited document a rollback pinned (rag/ingest/sync/admin.py): what was cited is not what its file says now.
HELD_BACK_NOTE = {
    "en": "held back: this file has changed since; an admin kept this earlier version (rollback)",
    "zh": "暫緩更新：此檔案之後已修改；管理員保留了這個較早的版本（回復）",
}


# The other documents holding a cited text (rag/retrieval/duplicates.py): all of them, or the others when the
# question named the cited one. Names are capped (rag.retrieval.duplicates.capped), the rest counted.
_SHARED = {
    "en": {"all": "appears in {n} documents: {names}", "also": "also in: {names}", "sep": ", ",
           "more": " and {k} more"},
    "zh": {"all": "同一段文字見於 {n} 份文件：{names}", "also": "亦見於：{names}", "sep": "、",
           "more": " 及另外 {k} 份"},
}


def shared_note(title: str, shared: SharedText, lang: str = "en") -> str:
    words = _SHARED.get(lang, _SHARED["en"])
    others = [d.title or d.rel_path for d in shared.documents]
    names, more = capped(others if shared.named else [title, *others])
    listed = words["sep"].join(names) + (words["more"].format(k=more) if more else "")
    return words["also" if shared.named else "all"].format(n=len(others) + 1, names=listed)


def source_line(citation: Citation, *, now: datetime, stale_after_days: int, lang: str = "en") -> SourceLine:
    title = citation.title or citation.rel_path
    places = []
    for passage in citation.passages:
        location = passage.location
        if location.startswith(title + " › "):  # the top heading is usually the title itself
            location = location[len(title) + 3:]
        elif location == title:
            location = ""
        shared = shared_note(title, passage.shared, lang) if passage.shared else ""
        if location or passage.evidence or shared:
            places.append(Place(location=location, link=passage.link, evidence=passage.evidence, shared=shared))
    modified = aware(citation.modified)
    return SourceLine(
        number=citation.number, title=title, link=citation.doc_link or citation.link, places=tuple(places),
        updated=modified.date().isoformat(), age=humanize_age(modified, now, lang),
        stale=is_stale(modified, now, stale_after_days),
        note=HELD_BACK_NOTE.get(lang, HELD_BACK_NOTE["en"]) if citation.held_back else "",
    )
