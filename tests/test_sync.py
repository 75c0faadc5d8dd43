"""Incremental sync: only changed work, deletions, withdrawal, renames, guards, dry run, rollback, locking.

Everything runs in this process against a small docs folder written by each
test, the real embedding model and a real LanceDB index. Re-embedding is
counted on the third-party `SentenceTransformer.encode` of the loaded model.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.catalog import SyncAlreadyRunning
from rag.service import RagService

DOCS = {
    "policies/leave.md": (
        "# Leave policy\n\n"
        "## Annual leave\n\nEmployees get twenty-five days of annual leave per calendar year.\n\n"
        "## Sick leave\n\nSick leave needs a doctor's note after three consecutive days of absence.\n\n"
        "## Parental leave\n\nParents receive sixteen weeks of paid parental leave.\n"
    ),
    "policies/parking.md": (
        "# Parking\n\n## Permits\n\nParking permits are issued by the facilities team. "
        "The garage on Elm Street has forty bays reserved for staff cars.\n"
    ),
    "sops/expenses.md": (
        "# Expense claims\n\n## Receipts\n\nSubmit expense receipts within thirty days of purchase "
        "through the finance portal.\n\n## Approval\n\nClaims above 500 euros need a director's approval.\n"
    ),
    "sops/onboarding.md": (
        "# Onboarding\n\n## Laptop\n\nNew hires collect their laptop from the IT service desk on the first "
        "morning.\n"
    ),
    "contracts/acme.md": (
        "# Acme supply agreement\n\n## Term\n\nThe supply agreement with Acme Corporation runs until "
        "December 2027.\n\n## Termination\n\nEither party may terminate the agreement with ninety days "
        "written notice.\n"
    ),
}
ANNUAL_QUESTION = "How many days of annual leave do employees get per year?"


def write_docs(root: Path, docs: dict[str, str] = DOCS) -> Path:
    for rel, text in docs.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    _bump_mtime(path)


def _bump_mtime(path: Path) -> None:
    """Some filesystems have coarse mtimes: make sure an edit is seen as one."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "docs")


@pytest.fixture
def svc(make_settings: Callable[..., Any], docs: Path) -> RagService:
    service = RagService(make_settings(docs_dir=docs))
    report = service.sync()
    assert report.status == "ok", report
    assert sorted(report.added) == sorted(DOCS)
    return service


class EncodeCounter:
    """Wraps the loaded SentenceTransformer's bound `encode` to record every text it embeds."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def encode(sentences: Any, *args: Any, **kwargs: Any) -> Any:
            self.texts.extend([sentences] if isinstance(sentences, str) else list(sentences))
            return original(sentences, *args, **kwargs)

        return encode


@pytest.fixture
def encode_calls(svc: RagService) -> Iterator[EncodeCounter]:
    counter = EncodeCounter()
    model = svc.embedder.model
    model.encode = counter.wrap(model.encode)  # type: ignore[attr-defined]
    try:
        yield counter
    finally:
        del model.encode  # type: ignore[attr-defined]  # back to the class's method


def rows_by_doc(service: RagService) -> dict[str, list[str]]:
    """Chunk texts per document, as indexed."""
    table = service.store.table().search().select(["doc_path", "text"]).limit(None).to_arrow()
    out: dict[str, list[str]] = {}
    paths, texts = table.column("doc_path").to_pylist(), table.column("text").to_pylist()
    for path, text in zip(paths, texts, strict=True):
        out.setdefault(path, []).append(text)
    return out


def assert_no_duplicates(service: RagService) -> None:
    ids = service.store.table().search().select(["chunk_id"]).limit(None).to_arrow().column("chunk_id")
    repeated = [cid for cid, n in Counter(ids.to_pylist()).items() if n > 1]
    assert repeated == []
    counts = service.store.chunk_counts()
    for rec in service.state.files().values():
        assert counts.get(rec.rel_path, 0) == len(rec.chunk_ids), rec.rel_path


# -- only changed work ---------------------------------------------------------------------------------------
def test_editing_one_section_reembeds_only_that_chunk_and_answers_use_the_new_wording(
    svc: RagService, docs: Path, encode_calls: EncodeCounter,
) -> None:
    before = rows_by_doc(svc)
    edit(docs / "policies/leave.md", "twenty-five days", "thirty-two days")

    report = svc.sync()

    assert report.status == "ok"
    assert report.changed == ["policies/leave.md"]
    assert (report.added, report.removed, report.renamed) == ([], [], [])
    assert report.unchanged == len(DOCS) - 1
    assert report.chunks_embedded == 1  # only the "Annual leave" chunk: sick and parental leave are reused
    assert report.chunks_reused == 2
    assert len(encode_calls.texts) == 1 and "thirty-two days" in encode_calls.texts[0]
    after = rows_by_doc(svc)
    assert {p: sorted(t) for p, t in after.items() if p != "policies/leave.md"} == {
        p: sorted(t) for p, t in before.items() if p != "policies/leave.md"
    }

    top = svc.search(ANNUAL_QUESTION).hits[0].row
    assert top["doc_path"] == "policies/leave.md" and "thirty-two days" in top["text"]
    answer = svc.ask(ANNUAL_QUESTION)  # Ollama is unreachable: the answer quotes the passages
    assert answer.mode == "extractive"
    assert "thirty-two days" in answer.text
    assert "twenty-five" not in answer.text
    assert answer.citations[0].rel_path == "policies/leave.md"
    assert_no_duplicates(svc)


def test_a_noop_sync_reads_no_file_and_embeds_nothing(svc: RagService, docs: Path,
                                                      encode_calls: EncodeCounter) -> None:
    version = svc.store.version
    os.utime(docs / "sops/onboarding.md")  # touched, bytes unchanged

    report = svc.sync()

    assert report.status == "ok" and not report.has_changes
    assert report.unchanged == len(DOCS)
    assert report.chunks_embedded == 0 and encode_calls.texts == []
    assert svc.store.version == version  # nothing was written to the index
    assert svc.sync().unchanged == len(DOCS)


def test_a_deleted_file_can_no_longer_answer(svc: RagService, docs: Path) -> None:
    question = "Where is the staff garage for parking permits?"
    assert svc.ask(question).citations[0].rel_path == "policies/parking.md"

    (docs / "policies/parking.md").unlink()
    report = svc.sync()

    assert report.removed == ["policies/parking.md"]
    answer = svc.ask(question)
    assert answer.mode == "no_answer"
    assert answer.citations == []
    assert svc.store.count("doc_path = 'policies/parking.md'") == 0
    assert "policies/parking.md" not in {d.rel_path for d in svc.documents()}


def test_forget_withdraws_without_deleting_the_file_until_the_file_changes(svc: RagService,
                                                                          docs: Path) -> None:
    question = "Where is the staff garage for parking permits?"
    path = docs / "policies/parking.md"

    assert svc.forget("./policies/parking.md")
    assert not svc.forget("policies/no-such-file.md")

    assert path.exists()
    assert svc.ask(question).mode == "no_answer"
    info = {d.rel_path: d for d in svc.documents()}["policies/parking.md"]
    assert info.withdrawn and info.chunk_count == 0
    # Neither a sync, nor a touch, nor a full rebuild brings it back...
    assert svc.sync().has_changes is False
    os.utime(path)
    assert svc.sync().has_changes is False
    full = svc.sync(full=True)
    assert "policies/parking.md" not in full.added + full.changed
    assert svc.ask(question).mode == "no_answer"
    # ...but a new version of the file does.
    edit(path, "forty bays", "forty-four bays")
    report = svc.sync()
    assert report.changed == ["policies/parking.md"]
    answer = svc.ask(question)
    assert answer.citations[0].rel_path == "policies/parking.md"
    assert "forty-four bays" in answer.text
    assert not {d.rel_path: d for d in svc.documents()}["policies/parking.md"].withdrawn


def test_forget_takes_a_document_down_at_once_even_while_a_sync_is_writing_it(
    svc: RagService, docs: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    question = "Where is the staff garage for parking permits?"
    edit(docs / "policies/parking.md", "forty bays", "forty-two bays")
    monkeypatch.setenv("RAGBOT_TEST_PAUSE_AT", "before_write")
    monkeypatch.setenv("RAGBOT_TEST_PAUSE_SECONDS", "3")
    reports: list[Any] = []
    sync = threading.Thread(target=lambda: reports.append(svc.sync()))
    sync.start()
    seen, deadline = "", time.monotonic() + 60
    while "PAUSED before_write" not in seen:  # the new version is embedded and about to be written
        assert time.monotonic() < deadline
        time.sleep(0.05)
        seen += capfd.readouterr().err

    assert svc.forget("policies/parking.md")
    assert svc.sync_running_since() is not None  # it did not wait for the running sync
    sync.join(timeout=60)

    assert reports[0].changed == ["policies/parking.md"]
    assert svc.store.count("doc_path = 'policies/parking.md'") == 0  # the sync took its own write out again
    assert {d.rel_path: d for d in svc.documents()}["policies/parking.md"].withdrawn
    assert svc.ask(question).mode == "no_answer"
    monkeypatch.delenv("RAGBOT_TEST_PAUSE_AT")
    assert not svc.sync().has_changes  # and the next sync leaves it out
    assert svc.ask(question).mode == "no_answer"
    assert_no_duplicates(svc)


def test_a_renamed_file_is_not_reembedded_and_is_cited_by_its_new_path(
    svc: RagService, docs: Path, encode_calls: EncodeCounter,
) -> None:
    new = docs / "finance/expense-claims.md"
    new.parent.mkdir()
    (docs / "sops/expenses.md").rename(new)

    report = svc.sync()

    assert report.renamed == [("sops/expenses.md", "finance/expense-claims.md")]
    assert (report.added, report.removed, report.changed) == ([], [], [])
    assert report.chunks_embedded == 0 and encode_calls.texts == []
    assert svc.store.count("doc_path = 'sops/expenses.md'") == 0
    answer = svc.ask("Within how many days must expense receipts be submitted?")
    cited = answer.citations[0]
    assert cited.rel_path == "finance/expense-claims.md"
    assert "finance/expense-claims.md" in cited.link and "sops/expenses.md" not in cited.link
    assert_no_duplicates(svc)
    # A later edit of the renamed file still reuses the vectors of its unchanged chunks.
    edit(new, "500 euros", "750 euros")
    later = svc.sync()
    assert later.changed == ["finance/expense-claims.md"] and later.chunks_embedded == 1


# -- failures and guards -------------------------------------------------------------------------------------
def test_a_file_that_fails_to_parse_keeps_its_previous_version(svc: RagService, docs: Path) -> None:
    from typer.testing import CliRunner

    from ragbot.cli import app

    path = docs / "contracts/acme.md"
    path.write_bytes(b"\x00\x01\x02\xff\xfe junk \x00" * 200)
    _bump_mtime(path)

    report = svc.sync()

    assert report.status == "partial"
    assert [p for p, _ in report.failed] == ["contracts/acme.md"]
    assert "contracts/acme.md" not in report.changed
    hit = svc.search("When does the supply agreement with Acme end?").hits[0].row
    assert hit["doc_path"] == "contracts/acme.md" and "December 2027" in hit["text"]
    info = {d.rel_path: d for d in svc.documents()}["contracts/acme.md"]
    assert info.last_error and info.chunk_count == 2
    cli = ["--index", svc.settings.lancedb_uri, "--docs-dir", str(docs)]
    result = CliRunner().invoke(app, [*cli, "sources"])
    assert result.exit_code == 0 and "last error:" in result.output

    # Not retried (nor reported again) until the file changes; the error stays visible.
    again = svc.sync()
    assert again.status == "ok" and again.failed == []
    assert {d.rel_path: d for d in svc.documents()}["contracts/acme.md"].last_error

    write_docs(docs, {"contracts/acme.md": DOCS["contracts/acme.md"].replace("2027", "2029")})
    _bump_mtime(path)
    fixed = svc.sync()
    assert fixed.changed == ["contracts/acme.md"] and fixed.failed == []
    assert {d.rel_path: d for d in svc.documents()}["contracts/acme.md"].last_error is None
    assert "December 2029" in svc.search("When does the supply agreement with Acme end?").hits[0].row["text"]


def test_a_missing_or_empty_docs_folder_is_refused_and_the_index_kept(
    svc: RagService, make_settings: Callable[..., Any], tmp_path: Path,
) -> None:
    rows, version = svc.store.count(), svc.store.version
    missing = RagService(make_settings(docs_dir=tmp_path / "unmounted"))
    report = missing.sync()
    assert report.status == "refused" and "missing" in report.message

    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    empty = RagService(make_settings(docs_dir=empty_dir))
    report = empty.sync()
    assert report.status == "refused" and "empty" in report.message
    assert svc.store.count() == rows and svc.store.version == version
    assert svc.last_sync_report().status == "refused"  # refusals are in the history too
    assert svc.ask(ANNUAL_QUESTION).citations[0].rel_path == "policies/leave.md"

    emptied = empty.sync(allow_mass_delete=True)  # the operator really means it
    assert emptied.status == "ok" and sorted(emptied.removed) == sorted(DOCS)
    assert empty.store.count() == 0


def test_mass_deletion_needs_allow_mass_delete(svc: RagService, docs: Path) -> None:
    from typer.testing import CliRunner

    from ragbot.cli import app

    gone = ["policies/leave.md", "sops/expenses.md", "sops/onboarding.md"]
    for rel in gone:
        (docs / rel).unlink()

    report = svc.sync()
    assert report.status == "partial" and report.removed == []
    assert "--allow-mass-delete" in report.message
    assert set(svc.store.chunk_counts()) == set(DOCS)  # nothing was deleted

    cli = ["--index", svc.settings.lancedb_uri, "--docs-dir", str(docs), "sync"]
    result = CliRunner().invoke(app, [*cli, "--allow-mass-delete"])
    assert result.exit_code == 0, result.output
    assert all(f"− {rel}" in result.output for rel in gone)
    # The CLI wrote through its own connection: a fresh one sees it at once (an open one within seconds).
    assert set(RagService(svc.settings).store.chunk_counts()) == {"policies/parking.md", "contracts/acme.md"}


def test_dry_run_prints_the_diff_and_writes_nothing(svc: RagService, docs: Path) -> None:
    from typer.testing import CliRunner

    from ragbot.cli import app

    write_docs(docs, {"sops/badges.md": "# Badges\n\nVisitor badges are printed at reception.\n"})
    edit(docs / "policies/leave.md", "sixteen weeks", "twenty weeks")
    (docs / "sops/onboarding.md").rename(docs / "sops/first-day.md")
    (docs / "policies/parking.md").unlink()
    version, records, runs = svc.store.version, svc.state.files(), len(svc.state.runs())

    result = CliRunner().invoke(app, ["--index", svc.settings.lancedb_uri, "--docs-dir", str(docs), "sync",
                                      "--dry-run"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "+ sops/badges.md" in lines
    assert "~ policies/leave.md" in lines
    assert "→ sops/onboarding.md -> sops/first-day.md" in lines
    assert "− policies/parking.md" in lines
    assert "nothing was written" in result.output
    assert svc.store.version == version
    assert svc.state.files() == records
    assert len(svc.state.runs()) == runs

    report = svc.sync()  # the real thing does what the dry run said
    assert (report.added, report.changed, report.removed) == (["sops/badges.md"], ["policies/leave.md"],
                                                              ["policies/parking.md"])
    assert report.renamed == [("sops/onboarding.md", "sops/first-day.md")]


# -- index upkeep, history, rollback -------------------------------------------------------------------------
def test_full_text_search_finds_text_changed_seconds_ago(svc: RagService, docs: Path) -> None:
    edit(docs / "sops/onboarding.md", "IT service desk", "Zanzibar kiosk")
    svc.sync()

    hits = svc.search("Zanzibar kiosk", mode="fts").hits
    assert hits and hits[0].row["doc_path"] == "sops/onboarding.md"
    assert svc.store.search_text("desk", 10) == []  # the old wording is gone from the full-text index too


def test_each_sync_is_recorded_and_the_last_report_persisted(svc: RagService, docs: Path,
                                                               make_settings: Callable[..., Any]) -> None:
    edit(docs / "sops/onboarding.md", "first morning", "first afternoon")
    report = svc.sync(trigger="schedule")

    other_process_view = RagService(make_settings(docs_dir=docs))
    last = other_process_view.last_sync_report()
    assert last is not None
    assert (last.status, last.trigger, last.changed, last.chunks_embedded) == ("ok", "schedule",
                                                                                ["sops/onboarding.md"], 1)
    assert last.finished == report.finished
    runs = other_process_view.state.runs()
    assert [r.report.trigger for r in runs] == ["schedule", "manual"]
    assert runs[0].version_after > runs[0].version_before


def test_rollback_restores_the_previous_version_and_sticks(svc: RagService, docs: Path) -> None:
    edit(docs / "policies/leave.md", "twenty-five days", "two days")  # a bad edit goes in
    write_docs(docs, {"sops/draft.md": "# Draft\n\nUnapproved draft: all staff work on Saturdays.\n"})
    assert svc.sync().changed == ["policies/leave.md"]
    assert "two days" in svc.search(ANNUAL_QUESTION).hits[0].row["text"]

    current, restored = svc.rollback()

    assert restored < current
    assert "twenty-five days" in svc.search(ANNUAL_QUESTION).hits[0].row["text"]
    assert svc.store.count("doc_path = 'sops/draft.md'") == 0
    assert_no_duplicates(svc)
    # The next (scheduled) sync does not simply redo the undone batch...
    report = svc.sync()
    assert not report.has_changes
    assert "twenty-five days" in svc.search(ANNUAL_QUESTION).hits[0].row["text"]
    assert {d.rel_path: d for d in svc.documents()}["sops/draft.md"].withdrawn
    # ...until the files change again.
    edit(docs / "policies/leave.md", "two days", "twenty-eight days")
    assert svc.sync().changed == ["policies/leave.md"]
    assert "twenty-eight days" in svc.search(ANNUAL_QUESTION).hits[0].row["text"]
    assert [r.report.trigger for r in svc.state.runs()][:4] == ["manual", "manual", "rollback", "manual"]


def test_rollback_without_an_earlier_sync_says_so(make_settings: Callable[..., Any], docs: Path) -> None:
    service = RagService(make_settings(docs_dir=docs))
    with pytest.raises(ValueError, match="no earlier sync"):
        service.rollback()


# -- single flight -------------------------------------------------------------------------------------------
def test_two_syncs_started_together_one_runs_the_other_is_told_since_when(
    svc: RagService, docs: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    edit(docs / "sops/onboarding.md", "first morning", "first Monday")
    monkeypatch.setenv("RAGBOT_TEST_PAUSE_AT", "before_embed")
    monkeypatch.setenv("RAGBOT_TEST_PAUSE_SECONDS", "1.5")
    second = RagService(svc.settings)  # another service on the same index in this process
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def run(name: str, service: RagService) -> None:
        start.wait()
        try:
            outcomes[name] = service.sync(trigger=name)
        except SyncAlreadyRunning as err:
            outcomes[name] = err

    threads = [threading.Thread(target=run, args=(n, s)) for n, s in (("one", svc), ("two", second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    refused = [o for o in outcomes.values() if isinstance(o, SyncAlreadyRunning)]
    reports = [o for o in outcomes.values() if not isinstance(o, SyncAlreadyRunning)]
    assert len(refused) == 1 and len(reports) == 1
    assert re.search(r"already running since \d\d:\d\d", str(refused[0]))
    assert reports[0].changed == ["sops/onboarding.md"]
    assert svc.sync_running_since() is None
    # A request that comes while one runs is coalesced into it: nothing left to do afterwards.
    monkeypatch.delenv("RAGBOT_TEST_PAUSE_AT")
    assert not svc.sync().has_changes


@pytest.mark.filterwarnings(r"ignore:optimize\(cleanup_older_than=0\)")
def test_compaction_drops_old_versions_and_keeps_answers(svc: RagService, docs: Path,
                                                         make_settings: Callable[..., Any]) -> None:
    for word in ("second", "third", "fourth"):
        write_docs(docs, {"sops/onboarding.md": DOCS["sops/onboarding.md"].replace("first", word)})
        _bump_mtime(docs / "sops/onboarding.md")
        assert svc.sync().changed == ["sops/onboarding.md"]
    versions = len(svc.store.table().list_versions())
    size = sum(f.stat().st_size for f in Path(svc.settings.lancedb_uri).rglob("*") if f.is_file())

    # KEEP_VERSIONS_HOURS=0 keeps only the latest versions (other open readers must reopen the table).
    compacting = RagService(make_settings(docs_dir=docs, keep_versions_hours=0))
    compacting.compact()

    assert len(compacting.store.table().list_versions()) <= 2 < versions
    assert sum(f.stat().st_size for f in Path(svc.settings.lancedb_uri).rglob("*") if f.is_file()) < size
    answer = compacting.ask("Where do new hires collect their laptop?")
    assert answer.citations[0].rel_path == "sops/onboarding.md" and "fourth morning" in answer.text
    assert_no_duplicates(compacting)


def test_a_sync_with_a_renamed_and_copied_tree_stays_consistent(svc: RagService, docs: Path,
                                                                 encode_calls: EncodeCounter) -> None:
    shutil.copytree(docs / "policies", docs / "archive")  # same bytes under new paths: added, vectors reused
    (docs / "sops").rename(docs / "procedures")
    started = time.perf_counter()
    report = svc.sync()
    assert time.perf_counter() - started < 30
    assert sorted(report.added) == ["archive/leave.md", "archive/parking.md"]
    assert sorted(report.renamed) == [("sops/expenses.md", "procedures/expenses.md"),
                                      ("sops/onboarding.md", "procedures/onboarding.md")]
    assert report.chunks_embedded == 0 and encode_calls.texts == []
    assert_no_duplicates(svc)
