"""The gaps report: what the documents could not answer, grouped and counted, newest first.

One builder for `ragbot gaps` and the weekly Slack digest, so both say the same thing. It speaks of the
index as it is: questions asked before the index switched to another docs folder are left out (they were
asked of other documents), documents it no longer holds are not named, and documents a rollback holds
back are listed (answers cite an earlier version than their file).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rag.index.question_log import Event, Group, group_events

if TYPE_CHECKING:
    from rag.service import RagService

_HEADINGS = {
    "declined": "Declined as not covered by the documents",
    "downvoted": "Answers marked 👎",
    "figures": "Answers with figures found in no source",
}


@dataclass
class GapsReport:
    days: float
    groups: dict[str, list[Group]]  # by kind: declined, downvoted, figures
    stale: list[tuple[str, int]]  # (document, times cited while stale), most cited first
    held_back: list[str] = field(default_factory=list)  # documents a rollback pinned (rag/ingest/sync/admin.py)
    before_switch: int = 0  # events left out: asked before the index switched to its docs folder
    switched: datetime | None = None

    @property
    def empty(self) -> bool:
        return not any(self.groups.values()) and not self.stale and not self.held_back


def build_report(events: list[Event], days: float, *, since: datetime | None = None,
                 documents: set[str] | None = None, held_back: Iterable[str] = ()) -> GapsReport:
    """`since`: when the index switched to its docs folder (earlier events are left out); `documents`: the
    paths the index knows (others are not named); `held_back`: documents a rollback pinned."""
    kept = [e for e in events if since is None or e.at >= since]
    if documents is not None:
        kept = [replace(e, documents=tuple(d for d in e.documents if d in documents)) for e in kept]
    groups = {kind: group_events([e for e in kept if e.kind == kind]) for kind in _HEADINGS}
    stale = Counter(d for e in kept if e.kind == "stale" for d in e.documents)
    return GapsReport(days=days, groups=groups, stale=stale.most_common(), held_back=sorted(held_back),
                      before_switch=len(events) - len(kept), switched=since if len(kept) < len(events) else None)


def index_report(rag: RagService, days: float) -> GapsReport:
    """The report for this index as it is now (`ragbot gaps` and the digest)."""
    state = rag.state
    return build_report(rag.question_log.events(days=days), days, since=state.docs_root_since(),
                        documents=set(state.files()), held_back=[r.rel_path for r in state.held_back()])


def report_lines(report: GapsReport, *, limit: int = 20) -> list[str]:
    """Plain lines (the CLI prints them; Slack shows them as a code-free list)."""
    switched = ([f"({report.before_switch} earlier event(s) left out: asked before the index switched to its "
                 f"docs folder on {report.switched.date().isoformat()})"] if report.switched else [])
    if report.empty:
        return [f"Nothing to report for the last {report.days:g} days: no declined questions, 👎, flagged "
                "figures or stale sources.", *switched]
    lines = [f"What the documents could not answer, last {report.days:g} days:", *switched]
    for kind, heading in _HEADINGS.items():
        groups = report.groups[kind]
        if not groups:
            continue
        lines.append(f"\n{heading} ({sum(g.count for g in groups)}):")
        for g in groups[:limit]:
            text = g.question or "(question not kept: LOG_QUESTIONS)"
            extra = []
            if g.figures:
                extra.append("figures " + ", ".join(g.figures[:5]))
            if g.documents and kind != "declined":
                extra.append("cited " + ", ".join(g.documents[:3]))
            lines.append(f"  {g.count}× {text}  (last {g.last.date().isoformat()})"
                         + (f" — {'; '.join(extra)}" if extra else ""))
            lines.extend(f"      “{c}”" for c in g.comments[:3])
        if len(groups) > limit:
            lines.append(f"  … and {len(groups) - limit} more")
    held = set(report.held_back)
    if report.stale:
        lines.append("\nStale documents most often cited:")
        lines.extend(f"  {n}× {doc}" + (" (held back by rollback)" if doc in held else "")
                     for doc, n in report.stale[:limit])
    if report.held_back:
        lines.append(f"\nHeld back by rollback ({len(report.held_back)}): answers cite an earlier version; "
                     "the file changed since (`ragbot release PATH` indexes the file):")
        lines.extend(f"  {doc}" for doc in report.held_back[:limit])
    return lines


def export_questions(report: GapsReport, path: Path) -> int:
    """Declined and 👎 questions in `ragbot eval`'s format, `doc` left for an admin to fill in."""
    rows = []
    for kind in ("declined", "downvoted"):
        rows.extend({"question": g.question, "doc": "", "from": kind, "count": g.count}
                    for g in report.groups[kind] if g.question)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)
