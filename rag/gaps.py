"""The gaps report: what the documents could not answer, grouped and counted, newest first.

One builder for `ragbot gaps` and the weekly Slack digest, so both say the same thing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rag.question_log import Event, Group, group_events

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

    @property
    def empty(self) -> bool:
        return not any(self.groups.values()) and not self.stale


def build_report(events: list[Event], days: float) -> GapsReport:
    groups = {kind: group_events([e for e in events if e.kind == kind]) for kind in _HEADINGS}
    stale = Counter(d for e in events if e.kind == "stale" for d in e.documents)
    return GapsReport(days=days, groups=groups, stale=stale.most_common())


def report_lines(report: GapsReport, *, limit: int = 20) -> list[str]:
    """Plain lines (the CLI prints them; Slack shows them as a code-free list)."""
    if report.empty:
        return [f"Nothing to report for the last {report.days:g} days: no declined questions, 👎, flagged "
                "figures or stale sources."]
    lines = [f"What the documents could not answer, last {report.days:g} days:"]
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
    if report.stale:
        lines.append("\nStale documents most often cited:")
        lines.extend(f"  {n}× {doc}" for doc, n in report.stale[:limit])
    return lines


def export_questions(report: GapsReport, path: Path) -> int:
    """Declined and 👎 questions in `ragbot eval`'s format, `doc` left for an admin to fill in."""
    rows = []
    for kind in ("declined", "downvoted"):
        rows.extend({"question": g.question, "doc": "", "from": kind, "count": g.count}
                    for g in report.groups[kind] if g.question)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)
