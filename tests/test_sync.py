"""Incremental sync: only changed work, deletions, withdrawal, renames, guards, dry run, rollback, locking.

Everything runs in this process against a small docs folder written by each
test, the real embedding model and a real LanceDB index. Re-embedding is
counted on the third-party `SentenceTransformer.encode` of the loaded model.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.index.catalog import SyncAlreadyRunning
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

    # The next sync retries it and says it still fails: never "up to date", never status ok (issue 20).
    again = svc.sync()
    assert again.status == "partial" and [p for p, _ in again.failed] == ["contracts/acme.md"]
    assert again.still_failing == ["contracts/acme.md"] and not again.mostly_failed  # not a new failure
    assert {d.rel_path: d for d in svc.documents()}["contracts/acme.md"].last_error
    third = CliRunner().invoke(app, [*cli, "sync"])
    assert third.exit_code == 0 and "! contracts/acme.md" in third.output and "still failing" in third.output
    assert "sync partial" in third.output and "up to date" not in third.output

    write_docs(docs, {"contracts/acme.md": DOCS["contracts/acme.md"].replace("2027", "2029")})
    _bump_mtime(path)
    fixed = svc.sync()
    assert fixed.changed == ["contracts/acme.md"] and fixed.failed == []
    assert {d.rel_path: d for d in svc.documents()}["contracts/acme.md"].last_error is None
    assert "December 2029" in svc.search("When does the supply agreement with Acme end?").hits[0].row["text"]


def test_a_missing_or_empty_docs_folder_is_refused_and_the_index_kept(
    svc: RagService, docs: Path, tmp_path: Path,
) -> None:
    rows, version = svc.store.count(), svc.store.version
    docs.rename(tmp_path / "elsewhere")  # the share is unmounted
    report = svc.sync()
    assert report.status == "refused" and "does not exist; the index was kept" in report.message

    docs.mkdir()  # the mount point is back, empty
    report = svc.sync()
    assert report.status == "refused" and "is empty but 5 documents are indexed" in report.message
    assert "`ragbot sync --allow-mass-delete`" in report.message  # the option of the command that was run
    assert svc.store.count() == rows and svc.store.version == version
    assert svc.last_sync_report().status == "refused"  # refusals are in the history too
    assert svc.ask(ANNUAL_QUESTION).citations[0].rel_path == "policies/leave.md"

    emptied = svc.sync(allow_mass_delete=True)  # the operator really means it
    assert emptied.status == "ok" and sorted(emptied.removed) == sorted(DOCS)
    assert svc.store.count() == 0


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


# -- the index's own docs root (issue 11) --------------------------------------------------------------------
def _cli(*args: str) -> Any:
    from typer.testing import CliRunner

    from ragbot.cli import app

    return CliRunner().invoke(app, list(args))


def test_an_index_remembers_its_docs_root_so_the_sample_folder_never_slips_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rag.config import load_settings

    own = write_docs(tmp_path / "company-docs")
    sample = write_docs(tmp_path / "examples" / "docs", {"policies/northwind-leave.md": "# Northwind\n\nFictional.\n"})
    index = str(tmp_path / "index")
    monkeypatch.chdir(tmp_path)  # DOCS_DIR's default, examples/docs, exists here as it does in a clone

    ingest = _cli("--index", index, "ingest", str(own))
    assert ingest.exit_code == 0, ingest.output
    # `ragbot sync` (and `serve`'s scheduler) without DOCS_DIR: the index's own folder, not examples/docs.
    plain = _cli("--index", index, "sync")
    assert plain.exit_code == 0, plain.output
    assert "northwind" not in plain.output and "nothing changed" in plain.output
    assert RagService(load_settings(lancedb_uri=index)).settings.docs_dir.resolve() == own.resolve()

    # Another folder, named explicitly: refused in one line that names the root and the option.
    other = _cli("--index", index, "--docs-dir", str(sample), "sync")
    assert other.exit_code == 1 and "Traceback" not in other.output
    refusal = other.output.strip()
    assert refusal.count("\n") == 0 and str(own.resolve()) in refusal
    assert "`ragbot sync --switch-docs-root`" in refusal
    via_ingest = _cli("--index", index, "ingest", str(sample))
    assert via_ingest.exit_code == 1 and "`ragbot ingest DOCS_DIR --switch-docs-root`" in via_ingest.output
    assert {d.rel_path for d in RagService(load_settings(lancedb_uri=index)).documents()} == set(DOCS)

    # Asked for: the old folder's documents leave in the same sync, the mass-delete guard does not block it.
    switched = _cli("--index", index, "ingest", str(sample), "--switch-docs-root")
    assert switched.exit_code == 0, switched.output
    assert all(f"− {rel}" in switched.output for rel in DOCS) and "+ policies/northwind-leave.md" in switched.output
    svc = RagService(load_settings(lancedb_uri=index))
    assert [d.rel_path for d in svc.documents()] == ["policies/northwind-leave.md"]
    assert svc.settings.docs_dir.resolve() == sample.resolve()


def test_an_index_from_before_roots_were_remembered_finds_its_root_in_its_links(
    svc: RagService, docs: Path, make_settings: Callable[..., Any], tmp_path: Path,
) -> None:
    with svc.state._tx() as conn:  # what an index built by an older version looks like
        conn.execute("DELETE FROM meta")
    other = write_docs(tmp_path / "other", {"a.md": "# A\n\nSomething else entirely.\n"})
    report = RagService(make_settings(docs_dir=other)).sync()
    assert report.status == "refused" and str(docs.resolve()) in report.message
    assert set(svc.store.chunk_counts()) == set(DOCS)


# -- honest reports (issue 11) -------------------------------------------------------------------------------
def test_a_rebuild_that_changes_nothing_says_so(svc: RagService, docs: Path, encode_calls: EncodeCounter) -> None:
    result = _cli("--index", svc.settings.lancedb_uri, "ingest", str(docs))

    assert result.exit_code == 0, result.output
    assert not [line for line in result.output.splitlines() if line.startswith(("~ ", "+ "))], result.output
    assert "nothing changed (5 documents up to date, re-read and found identical)" in result.output
    assert encode_calls.texts == []


def test_a_renamed_file_takes_the_title_and_kind_of_its_new_name(svc: RagService, docs: Path) -> None:
    write_docs(docs, {"sops/rail_booking.md": "Train tickets are booked in second class by the travel desk.\n"})
    assert svc.sync().added == ["sops/rail_booking.md"]
    before = {d.rel_path: d for d in svc.documents()}["sops/rail_booking.md"]
    assert (before.title, before.kind) == ("Rail booking", "SOP")
    (docs / "policies" / "train_travel.md").parent.mkdir(exist_ok=True)
    (docs / "sops" / "rail_booking.md").rename(docs / "policies" / "train_travel.md")

    report = svc.sync()

    assert report.renamed == [("sops/rail_booking.md", "policies/train_travel.md")] and report.failed == []
    after = {d.rel_path: d for d in svc.documents()}["policies/train_travel.md"]
    assert (after.title, after.kind) == ("Train travel", "policy")
    row = svc.search("Who books train tickets?").hits[0].row
    assert (row["doc_path"], row["title"], row["kind"]) == ("policies/train_travel.md", "Train travel", "policy")
    assert_no_duplicates(svc)


def _ragbot(*args: str) -> subprocess.CompletedProcess[str]:
    from tests.conftest import ROOT, UNREACHABLE_OLLAMA

    return subprocess.run([sys.executable, "-m", "ragbot", "--ollama-host", UNREACHABLE_OLLAMA, *args], cwd=ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=300)


def test_a_sync_where_most_files_fail_exits_non_zero_and_says_each_failure_once(
    svc: RagService, docs: Path,
) -> None:
    for name in ("a", "b", "c"):
        (docs / f"contracts/broken-{name}.pdf").write_bytes(b"%PDF-1.4 not really a pdf " * 20)
    write_docs(docs, {"contracts/new.md": "# New\n\nA new contract with Initech.\n"})

    done = _ragbot("--index", svc.settings.lancedb_uri, "--docs-dir", str(docs), "sync")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "most files failed (3 of 4 tried)" in done.stderr
    for name in ("a", "b", "c"):
        assert (done.stdout + done.stderr).count(f"broken-{name}.pdf") == 1  # the report; no WARNING line too
    assert not re.search(r"(WARNING|ERROR) rag\.", done.stderr) and "Traceback" not in done.stderr


def test_a_crashed_sync_is_recorded_as_failed_and_shown_so(svc: RagService, docs: Path) -> None:
    for data in Path(svc.settings.lancedb_uri, "chunks.lance", "data").iterdir():
        data.unlink()  # the index's data files are gone (a broken disk, a bad restore)
    edit(docs / "sops/onboarding.md", "first morning", "first afternoon")
    cli = ("--index", svc.settings.lancedb_uri, "--docs-dir", str(docs))

    done = _ragbot(*cli, "sync")

    assert done.returncode == 1
    assert done.stdout == "" and done.stderr.startswith("error: sync failed: ") and done.stderr.count("\n") == 1
    last = RagService(svc.settings).last_sync_report()
    assert last.status == "failed" and last.message and last.message in done.stderr
    listing = _ragbot(*cli, "sources")
    assert f"— failed ({last.message})" in listing.stdout.splitlines()[0]


@pytest.mark.skipif(os.name != "posix" or os.getuid() == 0, reason="root reads every folder")
def test_an_unreadable_docs_folder_names_the_user_that_must_read_it(svc: RagService, docs: Path) -> None:
    rows = svc.store.count()
    docs.chmod(0o000)
    try:
        report = svc.sync()
    finally:
        docs.chmod(0o755)
    assert report.status == "refused"
    assert f"is not readable by this process (uid {os.getuid()}); make it readable by that user" in report.message
    assert svc.store.count() == rows
