"""Office files and everything else people put in a docs share (issue 20): .xlsx and .pptx are indexed (each
sheet or slide a section under its title), every other file is reported as skipped with its type, and a folder
that yields no document says so loudly (`ragbot ingest` exits non-zero).

The workbooks and decks are built here with openpyxl and python-pptx, as Excel and PowerPoint save them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from pptx import Presentation
from pptx.util import Inches
from typer.testing import CliRunner

from rag.config import load_settings
from rag.ingest.documents import load_document
from rag.service import RagService
from ragbot.cli import app
from tests.conftest import SAMPLE_DOCS, UNREACHABLE_OLLAMA

runner = CliRunner()


def _cli(index: Path, docs: Path, *args: str) -> Any:
    return runner.invoke(app, ["--index", str(index), "--docs-dir", str(docs), "--ollama-host", UNREACHABLE_OLLAMA,
                               *args])


def make_workbook(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Per diem"
    sheet.append(["City", "Per diem (USD)", "Valid from"])
    sheet.append(["Tokyo", 180, dt.datetime(2026, 4, 1)])
    sheet.append(["Osaka", 150.0, dt.datetime(2026, 4, 1)])
    mileage = book.create_sheet("Mileage")
    mileage.append(["Private cars are reimbursed at 0.42 euros per kilometre."])
    book.create_sheet("Empty")
    book.properties.title = "Travel allowances"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


def make_deck(path: Path) -> None:
    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
    first.shapes.title.text = "Security training"
    first.placeholders[1].text = "Everyone completes the course by March."
    second = deck.slides.add_slide(deck.slide_layouts[1])
    second.shapes.title.text = "Passwords"
    second.placeholders[1].text = "Passwords rotate every ninety days.\nA password manager is provided."
    table = second.shapes.add_table(2, 2, Inches(1), Inches(5), Inches(4), Inches(1)).table
    table.cell(0, 0).text, table.cell(0, 1).text = "System", "Rotation"
    table.cell(1, 0).text, table.cell(1, 1).text = "VPN", "180 days"
    second.notes_slide.notes_text_frame.text = "Mention the phishing drill."
    path.parent.mkdir(parents=True, exist_ok=True)
    deck.save(path)


def test_a_workbook_is_read_sheet_by_sheet_with_its_header_naming_each_value(tmp_path: Path) -> None:
    make_workbook(tmp_path / "finance" / "allowances.xlsx")

    doc = load_document(tmp_path / "finance" / "allowances.xlsx", tmp_path)

    assert doc.format == "xlsx" and doc.title == "Travel allowances"
    by_section = {b.heading_path: [] for b in doc.blocks}
    for b in doc.blocks:
        by_section[b.heading_path].append(b.text)
    assert by_section[("Per diem",)] == ["City: Tokyo · Per diem (USD): 180 · Valid from: 2026-04-01",
                                         "City: Osaka · Per diem (USD): 150 · Valid from: 2026-04-01"]
    assert by_section[("Mileage",)] == ["Private cars are reimbursed at 0.42 euros per kilometre."]
    assert ("Empty",) not in by_section
    assert all(doc.text[b.start:b.end] == b.text for b in doc.blocks)  # offsets point at the text


def test_a_deck_is_read_slide_by_slide_under_each_title(tmp_path: Path) -> None:
    make_deck(tmp_path / "security.pptx")

    doc = load_document(tmp_path / "security.pptx", tmp_path)

    assert doc.format == "pptx" and doc.title == "Security training"
    sections = [(b.heading_path, b.text) for b in doc.blocks]
    assert sections == [
        (("Slide 1: Security training",), "Everyone completes the course by March."),
        (("Slide 2: Passwords",), "Passwords rotate every ninety days."),
        (("Slide 2: Passwords",), "A password manager is provided."),
        (("Slide 2: Passwords",), "System | Rotation"),
        (("Slide 2: Passwords",), "VPN | 180 days"),
        (("Slide 2: Passwords",), "Notes: Mention the phishing drill."),
    ]


def test_office_files_are_indexed_and_cited_by_sheet_and_slide(tmp_path: Path,
                                                               make_settings: Callable[..., Any]) -> None:
    docs = tmp_path / "docs"
    make_workbook(docs / "finance" / "allowances.xlsx")
    make_deck(docs / "training" / "security.pptx")
    svc = RagService(make_settings(docs_dir=docs))

    report = svc.sync()

    assert sorted(report.added) == ["finance/allowances.xlsx", "training/security.pptx"], report
    assert report.skipped == [] and report.status == "ok"
    hit = svc.search("What is the per diem in Tokyo?").hits[0].row
    assert hit["doc_path"] == "finance/allowances.xlsx" and "Tokyo · Per diem (USD): 180" in hit["text"]
    answer = svc.ask("How often do passwords rotate?")
    cited = answer.citations[0]
    assert cited.rel_path == "training/security.pptx" and "Slide 2: Passwords" in cited.section


UNSUPPORTED = {
    "legacy/report.doc": "old Word format (.doc): save it as .docx",
    "legacy/budget.xls": "old Excel format (.xls): save it as .xlsx",
    "notes.rtf": "Rich Text Format (.rtf)",
    "plan.odt": "OpenDocument text (.odt): save it as .docx",
    "mail/offer.msg": "Outlook message (.msg)",
    "scans/contract-page1.png": "an image (.png): scanned pages need OCR",
    "README": "no file extension",
}


@pytest.fixture
def mixed_docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "policies").mkdir(parents=True)
    (docs / "policies" / "leave.md").write_text("# Leave\n\nEmployees get twenty-five days of leave.\n")
    for rel in UNSUPPORTED:
        (docs / rel).parent.mkdir(parents=True, exist_ok=True)
        (docs / rel).write_bytes(b"\xd0\xcf\x11\xe0 not text")
    (docs / "~$draft.docx").write_bytes(b"lock")  # Office's lock file: excluded (EXCLUDE_GLOBS), not reported
    return docs


def test_every_unsupported_file_is_reported_skipped_with_its_type(mixed_docs: Path, tmp_path: Path) -> None:
    done = _cli(tmp_path / "index", mixed_docs, "sync")

    assert done.exit_code == 0, done.output
    skipped = {line.split(": ", 1)[0].removeprefix("skipped "): line.split(": ", 1)[1]
               for line in done.output.splitlines() if line.startswith("skipped ")}
    assert set(skipped) == set(UNSUPPORTED), done.output
    for rel, what in UNSUPPORTED.items():
        assert what in skipped[rel], (rel, skipped[rel])
    assert "+ policies/leave.md" in done.output and "~$draft" not in done.output

    listed = _cli(tmp_path / "index", mixed_docs, "sources").output
    assert f"not indexed at the last sync ({len(UNSUPPORTED)}):" in listed
    assert "  legacy/report.doc: unsupported type: old Word format (.doc)" in listed


def test_a_folder_that_yields_no_document_warns_and_ingest_exits_non_zero(mixed_docs: Path, tmp_path: Path) -> None:
    (mixed_docs / "policies" / "leave.md").unlink()  # only unsupported files left

    ingested = _cli(tmp_path / "index", mixed_docs, "ingest")

    assert ingested.exit_code == 1, ingested.output
    assert "warning: the docs folder yields no documents (7 skipped, 0 failed)" in ingested.output
    assert "skipped legacy/report.doc: unsupported type" in ingested.output
    synced = _cli(tmp_path / "index", mixed_docs, "sync")  # a scheduled-style sync warns, and goes on
    assert synced.exit_code == 0 and "warning: the docs folder yields no documents" in synced.output
    from bot.delivery.listings import sync_report_message

    scheduled = RagService(load_settings(docs_dir=mixed_docs, lancedb_uri=str(tmp_path / "index"))).sync(
        trigger="schedule")
    assert scheduled.yields_nothing and "The docs folder yields no documents" in sync_report_message(scheduled).text

    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = _cli(tmp_path / "index2", empty, "ingest")
    assert nothing.exit_code == 1 and "yields no documents (0 skipped, 0 failed)" in nothing.output


def test_ingest_of_a_folder_that_does_not_exist_says_so(tmp_path: Path) -> None:
    index = tmp_path / "index"
    assert _cli(index, SAMPLE_DOCS, "ingest").exit_code == 0  # an index built from another folder

    missing = _cli(index, tmp_path / "nonexistent", "ingest")

    assert missing.exit_code == 1
    assert f"docs folder {tmp_path / 'nonexistent'} does not exist" in missing.output
    assert "--switch-docs-root" not in missing.output
