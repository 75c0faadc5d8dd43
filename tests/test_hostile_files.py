"""Hostile files in the docs share (issue 17.2): a zip bomb, a package of many entries, repeated text, and a
file whose parse kills the sync. Each is reported as skipped with the setting it broke, the rest is indexed,
and nothing is read again until the file changes.

The files are built here with python-docx and `zipfile`, the way an attacker (or a broken export) would:
a real .docx whose document part unzips to hundreds of megabytes from a few hundred kilobytes.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docx
import pytest
from typer.testing import CliRunner

import rag.ingest.documents.docx as docx_reader
from bot.http.health import _last_sync
from rag.service import RagService
from ragbot.cli import app
from tests.conftest import UNREACHABLE_OLLAMA
from tests.test_sync_crash import SyncProcess

GOOD = {"policies/leave.md": "# Leave\n\nEmployees get twenty-five days of annual leave per calendar year.\n",
        "sops/badges.md": "# Badges\n\nVisitors collect a badge at the front desk.\n"}
BOMB_MB = 300  # unzips to this; the default MAX_UNZIPPED_MB is 100


def _docx_bytes(paragraphs: list[str]) -> bytes:
    d = docx.Document()
    for text in paragraphs:
        d.add_paragraph(text)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def zip_bomb_docx(path: Path, megabytes: int = BOMB_MB) -> None:
    """A real .docx whose document part is padded with an XML comment of `megabytes` MB of one letter."""
    source = zipfile.ZipFile(io.BytesIO(_docx_bytes(["Quarterly results are confidential."])))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename != "word/document.xml":
                out.writestr(item, data)
                continue
            head, _, tail = data.partition(b"?>")
            with out.open("word/document.xml", "w") as part:
                part.write(head + b"?><!--")
                block = b"A" * (1 << 20)
                for _ in range(megabytes):
                    part.write(block)
                part.write(b"-->" + tail)


def many_entries_docx(path: Path, extra: int) -> None:
    source = zipfile.ZipFile(io.BytesIO(_docx_bytes(["A small document with many parts."])))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            out.writestr(item, source.read(item))
        for i in range(extra):
            out.writestr(f"word/extra/part{i}.xml", b"<x/>")


def repeated_text_docx(path: Path, paragraphs: int, sentence: str) -> None:
    """A .docx of one sentence repeated: tiny on disk, millions of characters once unzipped."""
    path.write_bytes(_docx_bytes([sentence] * paragraphs))


def _cli(svc: RagService, *args: str) -> Any:
    s = svc.settings
    return CliRunner().invoke(app, ["--index", s.lancedb_uri, "--docs-dir", str(s.docs_dir), "--ollama-host",
                                    UNREACHABLE_OLLAMA, *args])


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    _write(root, GOOD)
    return root


class ParseSpy:
    """Counts python-docx opens per file size: a refused package must never reach the parser."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        real = docx_reader.docx.Document

        def document(stream: Any = None) -> Any:
            self.sizes.append(len(stream.getvalue()) if isinstance(stream, io.BytesIO) else -1)
            return real(stream)

        monkeypatch.setattr(docx_reader.docx, "Document", document)


def test_a_zip_bomb_docx_is_skipped_unopened_and_never_read_again(
    docs: Path, make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = docs / "contracts" / "bomb.docx"
    bomb.parent.mkdir()
    zip_bomb_docx(bomb)
    assert bomb.stat().st_size < 2 * 1024 * 1024  # small on disk (MAX_FILE_MB does not see it)
    spy = ParseSpy(monkeypatch)
    svc = RagService(make_settings(docs_dir=docs))

    report = svc.sync()

    assert report.status == "ok" and sorted(report.added) == sorted(GOOD)
    skipped = dict(report.skipped)
    assert "contracts/bomb.docx" in skipped, report
    assert "unzips to 300.8 MB, over the 100.0 MB limit (MAX_UNZIPPED_MB)" in skipped["contracts/bomb.docx"]
    assert spy.sizes == []  # refused from the ZIP directory: python-docx never inflated it
    assert report.failed == [] and not report.mostly_failed

    again = svc.sync()  # the next (start-up) sync does not open it again
    assert "contracts/bomb.docx" in dict(again.skipped) and again.status == "ok" and spy.sizes == []
    listed = _cli(svc, "sources").output
    assert "contracts/bomb.docx [skipped]" in listed and "MAX_UNZIPPED_MB" in listed

    bomb = bomb.rename(bomb.with_name("renamed.docx"))  # a move is not a change: still skipped, still unopened
    moved = svc.sync()
    assert "contracts/renamed.docx" in dict(moved.skipped) and "contracts/bomb.docx" not in dict(moved.skipped)
    assert spy.sizes == []

    bomb.write_bytes(_docx_bytes(["Quarterly results are published in April."]))  # the file is fixed
    fixed = svc.sync()
    assert fixed.added == ["contracts/renamed.docx"] and "contracts/renamed.docx" not in dict(fixed.skipped)
    assert spy.sizes != []


def test_too_many_entries_repeated_text_and_too_many_chunks_are_each_skipped_naming_their_setting(
    docs: Path, make_settings: Callable[..., Any],
) -> None:
    many_entries_docx(docs / "parts.docx", extra=60)
    # ~6 million characters from a ~100 KB file
    repeated_text_docx(docs / "repeated.docx", paragraphs=2000, sentence="Badges must be worn at all times. " * 90)
    repeated_text_docx(docs / "long.docx", paragraphs=120, sentence="Each visitor signs the visitor book. " * 20)
    assert (docs / "repeated.docx").stat().st_size < 500_000
    svc = RagService(make_settings(docs_dir=docs, max_zip_entries=50, max_doc_chunks=100))

    report = svc.sync()

    skipped = dict(report.skipped)
    assert "over the 50 limit (MAX_ZIP_ENTRIES)" in skipped["parts.docx"]
    assert "over the 5,000,000 limit (MAX_DOC_CHARS)" in skipped["repeated.docx"]
    assert "over the 100 limit (MAX_DOC_CHUNKS)" in skipped["long.docx"]
    assert sorted(report.added) == sorted(GOOD) and report.status == "ok"
    assert {d.rel_path for d in svc.documents() if d.chunk_count} == set(GOOD)
    assert svc.store.count("doc_path = 'long.docx'") == 0


def test_a_lying_zip_directory_cannot_inflate_past_its_declared_size(tmp_path: Path) -> None:
    """The limit trusts the sizes in the ZIP directory; an entry that inflates to more than it declares is read
    no further than declared (then fails its CRC), so memory stays bounded by what the check saw."""
    from rag.ingest.documents import DocumentError, load_document

    path = tmp_path / "liar.docx"
    zip_bomb_docx(path, megabytes=150)
    data = bytearray(path.read_bytes())
    name = b"word/document.xml"
    header = data.rfind(b"PK\x01\x02", 0, data.rfind(name))  # its entry in the central directory
    while data[header + 46:header + 46 + len(name)] != name:
        header = data.rfind(b"PK\x01\x02", 0, header)
    assert int.from_bytes(data[header + 24:header + 28], "little") > 100 * 1024 * 1024
    data[header + 24:header + 28] = (1024).to_bytes(4, "little")  # declares 1 KB: under every limit
    path.write_bytes(bytes(data))
    with pytest.raises(DocumentError) as caught:
        load_document(path, tmp_path)
    assert "not a readable .docx" in caught.value.reason or "could not read" in caught.value.reason


def test_a_sync_killed_while_parsing_a_file_quarantines_it(
    docs: Path, make_settings: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc = RagService(make_settings(docs_dir=docs))
    assert svc.sync().status == "ok"
    killer = docs / "contracts" / "killer.docx"  # the first file read by the next sync (sorted by path)
    killer.parent.mkdir()
    killer.write_bytes(_docx_bytes(["The annual budget is forty million."]))
    _write(docs, {"sops/visitors.md": "# Visitors\n\nVisitors sign in at reception.\n"})

    run = SyncProcess(svc.settings, "before_read", 60, cwd=tmp_path)
    run.wait_paused("before_read")  # reading contracts/killer.docx: the OOM killer strikes (kill -9)
    run.kill()

    spy = ParseSpy(monkeypatch)
    restarted = RagService(make_settings(docs_dir=docs))  # the bot restarts; its start-up sync runs
    report = restarted.sync(trigger="startup")

    assert spy.sizes == []  # not parsed again
    reason = dict(report.skipped)["contracts/killer.docx"]
    assert "quarantined" in reason and "not read again until the file changes" in reason
    assert report.added == ["sops/visitors.md"] and report.status == "ok"
    interrupted = restarted.state.runs()[1].report
    assert interrupted.status == "failed" and "contracts/killer.docx" in (interrupted.message or "")
    assert restarted.quarantined_files() == ["contracts/killer.docx"]
    assert _last_sync(restarted)["quarantined_files"] == 1  # /healthz's last_sync check: a count, no names
    listed = _cli(restarted, "sources").output
    assert "contracts/killer.docx [quarantined]" in listed and "ragbot release contracts/killer.docx" in listed
    assert restarted.sync(full=True).skipped.count(("contracts/killer.docx", reason)) == 1  # not even by --full
    assert spy.sizes == []

    released = _cli(restarted, "release", "contracts/killer.docx")  # the admin lets it be tried again
    assert released.exit_code == 0 and "released: contracts/killer.docx" in released.output
    retried = restarted.sync()
    assert retried.added == ["contracts/killer.docx"] and len(spy.sizes) == 1
    assert restarted.quarantined_files() == []
