"""What a source line says, decided once for Slack and the CLI: title, each place cited, its evidence, age.

The renderers only format: Slack as mrkdwn with links, the CLI as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rag.answer import Citation
from rag.freshness import aware, humanize_age, is_stale


@dataclass(frozen=True)
class Place:
    location: str  # "3. Annual leave › 3.2 Carry-over, p. 3", without the document's title; may be ""
    link: str  # to the place: section anchor or #page=N
    evidence: str  # the supporting sentence, trimmed; "" when the answer quotes the passage itself


@dataclass(frozen=True)
class SourceLine:
    number: int
    title: str
    link: str  # to the document
    places: tuple[Place, ...]  # only places with something to show (a location or evidence)
    updated: str  # ISO date
    age: str  # "3 weeks ago" / "3 週前"
    stale: bool


def source_line(citation: Citation, *, now: datetime, stale_after_days: int, lang: str = "en") -> SourceLine:
    title = citation.title or citation.rel_path
    places = []
    for passage in citation.passages:
        location = passage.location
        if location.startswith(title + " › "):  # the top heading is usually the title itself
            location = location[len(title) + 3:]
        elif location == title:
            location = ""
        if location or passage.evidence:
            places.append(Place(location=location, link=passage.link, evidence=passage.evidence))
    modified = aware(citation.modified)
    return SourceLine(
        number=citation.number, title=title, link=citation.doc_link or citation.link, places=tuple(places),
        updated=modified.date().isoformat(), age=humanize_age(modified, now, lang),
        stale=is_stale(modified, now, stale_after_days),
    )
