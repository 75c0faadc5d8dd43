"""A hostile docs share: links out and in, loops, a FIFO, an undecodable name, dotfiles, the index inside.

The folder is built at test time. A real sync runs over it through the `ragbot` command (in a
subprocess, so a FIFO opened by mistake fails the test by timeout instead of hanging it) and through
the service; nothing outside the folder may be indexed, searchable or quoted, every refused entry is
reported with its reason, and every good file is indexed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rag.service import RagService
from tests.conftest import ROOT, UNREACHABLE_OLLAMA

SECRET = "xoxb-hostile-0000-SECRET-TOKEN"
GOOD = {
    "good/leave.md": "# Leave\n\nEmployees get twenty-five days of annual leave per calendar year.\n",
    "good/expenses.md": "# Expenses\n\nSubmit expense receipts within thirty days of purchase.\n",
    "policies/travel.md": "# Travel\n\nTrain travel is booked in second class for trips under four hours.\n",
}
OUTSIDE = "outside the docs folder"


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, Path]:
    """docs/ with every trick; the secrets live next to it, as a bot's .env lives next to its docs."""
    outside, docs = tmp_path / "outside", tmp_path / "docs"
    (outside / "folder").mkdir(parents=True)
    (outside / ".env").write_text(f"SLACK_BOT_TOKEN={SECRET}\nSLACK_SIGNING_SECRET={SECRET}\n")
    (outside / "passwd.md").write_text("# Accounts\n\nroot:x:0:0:zanzibar-outside-file:/root:/bin/bash\n")
    (outside / "folder" / "leak.md").write_text("# Leak\n\nThe quokka-outside-folder budget is secret.\n")
    for rel, text in GOOD.items():
        (docs / rel).parent.mkdir(parents=True, exist_ok=True)
        (docs / rel).write_text(text)
    (docs / "passwd.md").symlink_to(outside / "passwd.md")  # a file outside
    (docs / "leaked").symlink_to(outside / "folder")  # a folder outside
    (docs / "bot-env.md").symlink_to(outside / ".env")  # the bot's own secrets
    (docs / "alias.md").symlink_to(docs / "good" / "leave.md")  # inside: would index it twice
    (docs / "policies-link").symlink_to(docs / "policies")  # a folder inside
    (docs / "loop-a.md").symlink_to(docs / "loop-b.md")  # a loop of links
    (docs / "loop-b.md").symlink_to(docs / "loop-a.md")
    (docs / "good" / "up").symlink_to(docs)  # a folder loop
    fd = os.open(os.path.join(os.fsencode(docs), b"caf\xe9-menu.md"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"# Menu\n\nLatin-1 named file.\n")  # a name that is not UTF-8 (a Windows zip, a Samba share)
    os.close(fd)
    os.mkfifo(docs / "pipe.md")  # opening it for reading would block forever
    (docs / ".hidden.md").write_text("# Hidden\n\nThe hidden-dotfile-marker note.\n")
    (docs / ".git").mkdir()
    (docs / ".git" / "notes.md").write_text("# Git\n\nThe dot-folder-marker note.\n")
    return {"docs": docs, "outside": outside, "index": docs / "_index"}  # the index inside the docs folder


EXPECTED_SKIPS = {
    "passwd.md": OUTSIDE,
    "leaked/": OUTSIDE,
    "bot-env.md": OUTSIDE,
    "alias.md": "a symlink to good/leave.md inside the docs folder",
    "policies-link/": "a symlink to policies inside the docs folder",
    "loop-a.md": "a symlink loop",
    "loop-b.md": "a symlink loop",
    "good/up/": "a symlink to . inside the docs folder",
    "caf\\xe9-menu.md": "the name is not valid UTF-8",
    "pipe.md": "is a FIFO (named pipe): never opened",
}


def run_ragbot(hostile: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "INCLUDE_GLOBS": "**/*"}  # whatever INCLUDE_GLOBS says
    return subprocess.run(
        [sys.executable, "-m", "ragbot", "--docs-dir", str(hostile["docs"]), "--index", str(hostile["index"]),
         "--ollama-host", UNREACHABLE_OLLAMA, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def assert_nothing_outside(svc: RagService) -> None:
    indexed = {d.rel_path for d in svc.documents() if d.chunk_count}
    assert indexed == set(GOOD)
    for marker in (SECRET, "zanzibar-outside-file", "quokka-outside-folder", "hidden-dotfile-marker",
                   "dot-folder-marker", "Latin-1 named"):
        hits = svc.search(marker, mode="fts").candidates + svc.search(marker).candidates
        assert all(marker not in h.row["text"] for h in hits), marker


def test_a_sync_over_a_hostile_folder_indexes_only_what_is_inside(
    hostile: dict[str, Path], make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    done = run_ragbot(hostile, "sync")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert sorted(line for line in lines if line.startswith("+ ")) == sorted(f"+ {rel}" for rel in GOOD)
    skipped = {line.split(": ", 1)[0].removeprefix("skipped "): line.split(": ", 1)[1]
               for line in lines if line.startswith("skipped ")}
    assert set(skipped) == set(EXPECTED_SKIPS), done.stdout
    for rel, reason in EXPECTED_SKIPS.items():
        assert reason in skipped[rel], (rel, skipped[rel])
    # Dotfiles and the index's own files are not documents at all: neither indexed nor failed.
    assert not [line for line in lines if line.startswith("! ")], done.stdout
    assert ".hidden" not in done.stdout and "_index" not in done.stdout

    # The secret never comes back in an answer, quoted or cited (Ollama is down: passages are quoted).
    asked = run_ragbot(hostile, "ask", "What is the SLACK_BOT_TOKEN in the env file?")
    assert asked.returncode == 0, asked.stderr
    assert SECRET not in asked.stdout + asked.stderr and "bot-env" not in asked.stdout

    # The service (what the bot and the scheduler run) sees the same folder the same way.
    monkeypatch.setenv("INCLUDE_GLOBS", "**/*")
    svc = RagService(make_settings(docs_dir=hostile["docs"], lancedb_uri=str(hostile["index"]),
                                   include_globs=["**/*"]))
    again = svc.sync(full=True)
    assert again.status == "ok" and again.failed == []
    assert {p for p, _ in again.skipped} == set(EXPECTED_SKIPS)
    assert svc.last_sync_report().skipped == again.skipped  # the history keeps the reasons
    assert_nothing_outside(svc)


def test_a_file_swapped_for_a_link_between_scan_and_read_is_not_read(
    hostile: dict[str, Path], make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """TOCTOU: the scan saw regular files; by the time they are read, one is a link to the bot's .env and a
    folder is a link to a folder outside. The guarded open refuses both."""
    svc = RagService(make_settings(docs_dir=hostile["docs"], lancedb_uri=str(hostile["index"])))
    monkeypatch.setenv("RAGBOT_TEST_PAUSE_AT", "before_read")
    monkeypatch.setenv("RAGBOT_TEST_PAUSE_SECONDS", "2")
    reports: list[Any] = []
    sync = threading.Thread(target=lambda: reports.append(svc.sync()))
    sync.start()
    seen, deadline = "", time.monotonic() + 120
    while "PAUSED before_read" not in seen:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        seen += capfd.readouterr().err
    docs, outside = hostile["docs"], hostile["outside"]
    (docs / "good" / "expenses.md").unlink()
    (docs / "good" / "expenses.md").symlink_to(outside / ".env")
    (outside / "folder" / "travel.md").write_text(f"# Travel\n\nToken {SECRET} for travel.\n")
    (docs / "policies").rename(docs / "policies-real")
    (docs / "policies").symlink_to(outside / "folder")
    monkeypatch.delenv("RAGBOT_TEST_PAUSE_AT")
    sync.join(timeout=120)

    report = reports[0]
    failed = dict(report.failed)
    assert set(failed) == {"good/expenses.md", "policies/travel.md"}
    assert all("not read" in reason for reason in failed.values()), failed
    assert [d.rel_path for d in svc.documents() if d.chunk_count] == ["good/leave.md"]
    for hit in svc.search(f"token {SECRET}", mode="fts").candidates + svc.search("SLACK_BOT_TOKEN").candidates:
        assert SECRET not in hit.row["text"]
