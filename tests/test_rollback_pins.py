"""A rollback's pin stays visible (issue 20): after `ragbot rollback`, a document held back at its earlier
version is shown as such by every later sync report, `sources`, `/rag-sources`, `history`, `gaps` and the
answers that cite it, through `--full` too, until its file changes or `ragbot release` lets the next sync
index the file. A rollback across a chunk-sizing change keeps the recorded sizing in step with the index.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.delivery.listings import sources_page, sync_report_message
from rag.service import RagService
from ragbot.cli import app
from tests.conftest import UNREACHABLE_OLLAMA

TRAVEL = "# Travel policy\n\n## Hotels\n\nHotel costs are reimbursed up to USD {amount} per night.\n"
DOCS = {
    "policies/travel.md": TRAVEL.format(amount=180),
    "policies/leave.md": "# Leave\n\n## Annual leave\n\nEmployees get twenty-five days of annual leave.\n",
    "sops/badges.md": "# Badges\n\n## Visitors\n\nVisitors collect a badge at the front desk.\n",
}
HOTEL = "How much are hotel costs reimbursed per night?"


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        path.write_text(text, encoding="utf-8")
        if existed:  # coarse mtimes must not hide an edit
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def cli(svc: RagService, *args: str) -> Any:
    s = svc.settings
    return CliRunner().invoke(app, ["--index", s.lancedb_uri, "--docs-dir", str(s.docs_dir), "--ollama-host",
                                    UNREACHABLE_OLLAMA, *args])


@pytest.fixture
def rolled_back(tmp_path: Path, make_settings: Callable[..., Any]) -> RagService:
    """USD 180 indexed; the file now says 220 (and a draft appeared); that sync was rolled back."""
    docs = tmp_path / "docs"
    write(docs, DOCS)
    svc = RagService(make_settings(docs_dir=docs, read_consistency_seconds=0))  # sees the CLI's writes at once
    assert svc.sync().status == "ok"
    write(docs, {"policies/travel.md": TRAVEL.format(amount=220), "sops/draft.md": "# Draft\n\nUnapproved.\n"})
    assert svc.sync().changed == ["policies/travel.md"]
    undone = cli(svc, "rollback")
    assert undone.exit_code == 0, undone.output
    assert "held back by rollback (2)" in undone.output and "  policies/travel.md" in undone.output
    assert "  sops/draft.md (withdrawn)" in undone.output and "ragbot release PATH" in undone.output
    return svc


def test_a_held_back_document_is_shown_so_by_every_later_sync_and_view(rolled_back: RagService) -> None:
    svc = rolled_back
    assert "USD 180" in svc.search(HOTEL).hits[0].row["text"]

    report = svc.sync()  # the next scheduled sync: the file still says 220
    held = dict(report.held_back)
    assert set(held) == {"policies/travel.md", "sops/draft.md"}
    assert "held back by rollback on" in held["policies/travel.md"]
    assert "the file changed since and answers use the earlier version" in held["policies/travel.md"]
    assert report.unchanged == 2 and not report.has_changes  # leave.md and badges.md are up to date
    printed = cli(svc, "sync").output
    assert "held back policies/travel.md: held back by rollback" in printed
    assert "nothing changed (2 documents up to date, 2 held back by rollback)" in printed
    slack = sync_report_message(report)  # the report posted to SYNC_REPORT_CHANNEL and /rag-resync
    assert "2 unchanged, 2 held back by rollback." in slack.text
    assert "Held back by rollback (2)" in json.dumps(slack.blocks, ensure_ascii=False)
    assert "USD 180" in svc.search(HOTEL).hits[0].row["text"]

    listed = cli(svc, "sources").output
    assert "policies/travel.md [held back by rollback]" in listed
    assert "`ragbot release policies/travel.md` indexes the file" in listed
    info = {d.rel_path: d for d in svc.documents()}  # what /rag-sources lists
    assert info["policies/travel.md"].held_back is not None and info["sops/badges.md"].held_back is None
    page = sources_page(svc.documents(), filter_text="", page=0, now=datetime.now(UTC), header="Sources")
    assert "held back by rollback" in json.dumps(page.blocks, ensure_ascii=False)

    history = cli(svc, "history").output.splitlines()
    rollback_row = next(line for line in history if " rollback " in line)
    assert "2 held back by rollback" in rollback_row and "2 held back by rollback" in history[1]

    gaps = cli(svc, "gaps").output
    assert "Held back by rollback (2)" in gaps and "  policies/travel.md" in gaps

    full = svc.sync(full=True)  # a rebuild does not silently undo the rollback either
    assert "policies/travel.md" in dict(full.held_back) and "USD 180" in svc.search(HOTEL).hits[0].row["text"]


def test_an_answer_citing_a_held_back_document_says_its_file_changed_since(rolled_back: RagService) -> None:
    answer = rolled_back.ask(HOTEL)
    cited = {c.rel_path: c for c in answer.citations}
    assert cited["policies/travel.md"].held_back is True
    asked = cli(rolled_back, "ask", HOTEL).output
    assert "⚠ held back: this file has changed since; an admin kept this earlier version (rollback)" in asked
    as_json = json.loads(cli(rolled_back, "ask", "--json", HOTEL).output)
    assert [c["held_back"] for c in as_json["citations"] if c["path"] == "policies/travel.md"] == [True]
    assert all(not c.held_back for c in rolled_back.ask("How many days of annual leave?").citations
               if c.rel_path != "policies/travel.md")


def test_release_lets_the_next_sync_index_the_file(rolled_back: RagService) -> None:
    svc = rolled_back
    released = cli(svc, "release", "policies/travel.md")
    assert released.exit_code == 0 and "released: policies/travel.md" in released.output

    report = svc.sync()

    assert report.changed == ["policies/travel.md"] and [p for p, _ in report.held_back] == ["sops/draft.md"]
    assert "USD 220" in svc.search(HOTEL).hits[0].row["text"]
    assert not any(c.held_back for c in svc.ask(HOTEL).citations)
    everything = cli(svc, "release", "--all")
    assert everything.exit_code == 0 and "released: sops/draft.md" in everything.output
    assert svc.sync().added == ["sops/draft.md"]
    nothing = cli(svc, "release", "--all")
    assert nothing.exit_code == 2 and "nothing is held back by rollback, quarantined or skipped" in nothing.output


def test_a_pin_ends_when_the_file_changes_and_survives_a_touch(rolled_back: RagService) -> None:
    svc = rolled_back
    travel = svc.settings.docs_dir / "policies/travel.md"
    st = travel.stat()
    os.utime(travel, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touched, same bytes
    assert "policies/travel.md" in dict(svc.sync().held_back)
    write(svc.settings.docs_dir, {"policies/travel.md": TRAVEL.format(amount=250)})
    report = svc.sync()
    assert report.changed == ["policies/travel.md"] and "policies/travel.md" not in dict(report.held_back)
    assert "USD 250" in svc.search(HOTEL).hits[0].row["text"]


def test_a_rollback_across_a_chunk_sizing_change_keeps_the_recorded_sizing_in_step(
    tmp_path: Path, make_settings: Callable[..., Any],
) -> None:
    docs = tmp_path / "docs"
    long_section = "# Handbook\n\n## Rules\n\n" + "\n\n".join(
        f"Rule {i}: staff keep the {i}th cabinet locked and report a lost key to facilities within a day."
        for i in range(40)) + "\n"
    write(docs, {"handbook.md": long_section})
    before = RagService(make_settings(docs_dir=docs, chunk_tokens=180))
    assert before.sync().status == "ok"
    sizing_before, chunks_before = before.state.chunking(), before.store.count()
    after = RagService(make_settings(docs_dir=docs, chunk_tokens=60, chunk_overlap_tokens=10))
    rechunked = after.sync()
    assert "chunk sizing changed" in (rechunked.message or "") and after.store.count() > chunks_before

    after.rollback()

    assert after.store.count() == chunks_before
    assert after.state.chunking() == sizing_before  # what the index really holds
    held = after.sync()  # the configuration still asks for 60 tokens: held back, and said
    assert "chunk sizing held back by rollback" in (held.message or "") and after.store.count() == chunks_before
    assert "`ragbot release --all` re-chunks" in held.message
    released = cli(after, "release", "--all")
    assert "released: chunk sizing" in released.output
    again = after.sync()
    assert "chunk sizing changed" in (again.message or "") and after.store.count() > chunks_before
