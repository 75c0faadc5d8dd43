"""A `ragbot sync` process killed with -9 at the riskiest points, and one seen from another process.

Each case pays one subprocess (model load included), so there are four: three
kill points and one run that holds the lock while this process tries to sync
and then checks that its already-open service sees the other process's write.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rag.index.catalog import SyncAlreadyRunning
from rag.service import RagService

ROOT = Path(__file__).resolve().parent.parent
DOCS = {
    "policies/leave.md": (
        "# Leave policy\n\n"
        "## Annual leave\n\nEmployees get twenty-five days of annual leave per calendar year.\n\n"
        "## Sick leave\n\nSick leave needs a doctor's note after three consecutive days of absence.\n"
    ),
    "policies/parking.md": (
        "# Parking\n\n## Permits\n\nParking permits are issued by the facilities team. "
        "The garage on Elm Street has forty bays reserved for staff cars.\n"
    ),
    "sops/expenses.md": (
        "# Expense claims\n\n## Receipts\n\nSubmit expense receipts within thirty days of purchase "
        "through the finance portal.\n"
    ),
    "sops/onboarding.md": (
        "# Onboarding\n\n## Laptop\n\nNew hires collect their laptop from the IT service desk on the first "
        "morning.\n"
    ),
    "contracts/acme.md": (
        "# Acme supply agreement\n\n## Term\n\nThe supply agreement with Acme Corporation runs until "
        "December 2027.\n\n## Termination\n\nEither party may terminate with ninety days written notice.\n"
    ),
}
# What each document answers, and the wording of its old and new version.
QUESTIONS = {
    "policies/leave.md": ("How many days of annual leave do employees get?",
                          "twenty-five days", "thirty-two days"),
    "sops/expenses.md": ("Within how many days must expense receipts be submitted?",
                         "thirty days", "thirty days"),
    "sops/onboarding.md": ("Where do new hires collect their laptop?", "IT service desk", "IT service desk"),
    "contracts/acme.md": ("When does the supply agreement with Acme end?", "December 2027", "March 2030"),
}
PAUSE_TIMEOUT_S = 180


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        path.write_text(text, encoding="utf-8")
        if existed:  # coarse mtimes must not hide an edit
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def texts_by_doc(service: RagService) -> dict[str, list[str]]:
    table = service.store.table().search().select(["doc_path", "text"]).limit(None).to_arrow()
    out: dict[str, list[str]] = {}
    paths, texts = table.column("doc_path").to_pylist(), table.column("text").to_pylist()
    for path, text in zip(paths, texts, strict=True):
        out.setdefault(path, []).append(text)
    return {p: sorted(t) for p, t in out.items()}


def duplicate_chunk_ids(service: RagService) -> list[str]:
    ids = service.store.table().search().select(["chunk_id"]).limit(None).to_arrow().column("chunk_id")
    return [cid for cid, n in Counter(ids.to_pylist()).items() if n > 1]


class SyncProcess:
    """`python -m ragbot ... sync` in a child process, paused at a named checkpoint."""

    def __init__(self, settings: Any, pause_at: str, pause_seconds: float, cwd: Path) -> None:
        env = {**os.environ, "RAGBOT_TEST_PAUSE_AT": pause_at, "RAGBOT_TEST_PAUSE_SECONDS": str(pause_seconds),
               "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        cmd = [sys.executable, "-m", "tests.child_hooks", "ragbot", "--index", settings.lancedb_uri, "--docs-dir",
               str(settings.docs_dir), "sync"]
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.stderr: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self._lines.put(line)

    def wait_paused(self, name: str) -> None:
        deadline = time.monotonic() + PAUSE_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if line.strip() == f"PAUSED {name}":
                return
        self.kill()
        pytest.fail(f"the sync never paused at {name}: {''.join(self.stderr)[-2000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out


@pytest.fixture
def synced(tmp_path: Path, make_settings: Callable[..., Any]) -> RagService:
    docs = tmp_path / "docs"
    write(docs, DOCS)
    service = RagService(make_settings(docs_dir=docs))
    assert service.sync().status == "ok"
    return service


def change_everything(docs: Path) -> None:
    """Two edits, one new file, one deletion: every kind of write the sync makes."""
    write(docs, {
        "policies/leave.md": DOCS["policies/leave.md"].replace("twenty-five days", "thirty-two days"),
        "contracts/acme.md": DOCS["contracts/acme.md"].replace("December 2027", "March 2030"),
        "sops/badges.md": "# Badges\n\n## Visitors\n\nVisitor badges are printed at the reception desk.\n",
    })
    (docs / "policies/parking.md").unlink()


@pytest.mark.parametrize("point", ["before_embed", "before_write", "after_write"])
def test_a_sync_killed_at_any_point_leaves_old_or_new_versions_and_the_next_sync_finishes(
    synced: RagService, tmp_path: Path, point: str,
) -> None:
    old = texts_by_doc(synced)
    docs = synced.settings.docs_dir
    change_everything(docs)

    child = SyncProcess(synced.settings, point, pause_seconds=120, cwd=tmp_path)
    child.wait_paused(point)
    child.kill()

    crashed_view = RagService(synced.settings)  # a process opening the index right after the crash
    crashed = texts_by_doc(crashed_view)
    assert duplicate_chunk_ids(crashed_view) == []
    assert set(old) <= set(crashed), "a document went missing"
    for rel, (question, old_words, new_words) in QUESTIONS.items():
        top = crashed_view.search(question).hits[0].row
        assert top["doc_path"] == rel
        assert old_words in top["text"] or new_words in top["text"]

    report = crashed_view.sync()  # the next sync finishes the job; the killed one left no lock behind

    assert report.status == "ok", report
    assert report.removed == ["policies/parking.md"]
    killed = crashed_view.state.runs()[1]  # the history says the killed run was interrupted
    assert (killed.report.trigger, killed.report.status) == ("cli", "failed")
    assert "interrupted" in killed.report.message
    if point == "after_write":  # the rows were committed before the kill: the redo re-embeds nothing
        assert report.chunks_embedded == 0
    else:
        assert report.chunks_embedded == 3  # two edited sections and the new file
    new = texts_by_doc(crashed_view)
    for rel, texts in crashed.items():  # each document was either entirely old or entirely new
        assert texts in (old.get(rel), new.get(rel)), rel
    assert set(new) == set(DOCS) - {"policies/parking.md"} | {"sops/badges.md"}
    assert duplicate_chunk_ids(crashed_view) == []
    counts = crashed_view.store.chunk_counts()
    records = crashed_view.state.files()
    assert set(records) == set(new)
    assert all(counts[p] == len(r.chunk_ids) for p, r in records.items())
    for rel, (question, _, new_words) in QUESTIONS.items():
        answer = crashed_view.ask(question)
        assert answer.citations[0].rel_path == rel
        assert new_words in answer.text
    assert crashed_view.ask("Where is the staff garage for parking permits?").mode == "no_answer"


def test_a_sync_in_another_process_holds_the_lock_and_its_result_reaches_an_open_service(
    synced: RagService, tmp_path: Path,
) -> None:
    question, old_words, _ = QUESTIONS["sops/onboarding.md"]
    assert old_words in synced.search(question).hits[0].row["text"]  # the table is open in this process
    write(synced.settings.docs_dir, {"sops/onboarding.md": DOCS["sops/onboarding.md"].replace(
        "IT service desk", "Zanzibar kiosk")})

    child = SyncProcess(synced.settings, "before_write", pause_seconds=3, cwd=tmp_path)
    child.wait_paused("before_write")
    with pytest.raises(SyncAlreadyRunning, match=r"already running since \d\d:\d\d \(cli, pid \d+\)"):
        synced.sync()
    assert synced.sync_running_since() is not None
    assert old_words in synced.search(question).hits[0].row["text"]
    code, out = child.finish()
    assert code == 0, out + "".join(child.stderr)
    assert "sync ok" in out

    written = time.monotonic()
    while "Zanzibar kiosk" not in synced.search(question).hits[0].row["text"]:
        assert time.monotonic() - written < synced.settings.read_consistency_seconds + 5
        time.sleep(0.2)
    assert synced.sync_running_since() is None
    last = synced.last_sync_report()  # the child's report, persisted for `ragbot sources` and /rag-resync
    assert (last.trigger, last.changed) == ("cli", ["sops/onboarding.md"])
