"""What the operator reads is true (issue 20's smaller lies, and demo vs production): forget and --undo agree,
a no-op sync does not repeat the answers count, a compact that grows is not called a compaction, refused runs
are not "new → N", eval refuses a file whose expected documents are blank, titles from file names keep their
case, the demo keeps its own index, and `gaps` forgets a previous docs folder's documents after a switch.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.ingest.documents import load_document
from ragbot.cli import app
from tests.conftest import ROOT, SAMPLE_DOCS, UNREACHABLE_OLLAMA

runner = CliRunner()


def _cli(index: Path, docs: Path, *args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, ["--index", str(index), "--docs-dir", str(docs), "--ollama-host", UNREACHABLE_OLLAMA,
                               *args], env=env)


def _edit(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    later = time.time() + 5
    os.utime(path, (later, later))


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "canteen.md").write_text("# Canteen\n\nThe canteen opens at 8:00 and closes at 15:00.\n", encoding="utf-8")
    (docs / "parking.md").write_text("# Parking\n\nVisitors park on level -1.\n", encoding="utf-8")
    index = tmp_path / "index"
    assert _cli(index, docs, "ingest").exit_code == 0
    return index, docs


def test_forget_and_its_undo_say_the_same_thing_about_when_it_returns(small: tuple[Path, Path]) -> None:
    index, docs = small
    forgot = _cli(index, docs, "forget", "canteen.md").output
    undone = _cli(index, docs, "forget", "--undo", "canteen.md").output
    assert "at the next sync after `ragbot forget --undo canteen.md`" in forgot and "now with" not in forgot
    assert "is indexed again at the next sync" in undone
    assert "canteen.md" in _cli(index, docs, "sync").output  # and it does come back then


def test_the_answers_count_is_said_by_the_sync_that_changed_them_not_by_every_no_op(small: tuple[Path, Path]) -> None:
    from bot.coordination import open_ledger
    from bot.followthrough.ledger import CitedDocument

    index, docs = small
    ledger = open_ledger(index / "_state", None, watch_days=30)
    ledger.record(channel="C1", ts="1.000100", thread_ts=None, text="The canteen opens at 8:00 [1].", blocks=[],
                  lang="en", cited=[CitedDocument("canteen.md", "a-version-since-changed", "Canteen")])
    ledger.close()
    _edit(docs / "canteen.md", "# Canteen\n\nThe canteen opens at 7:30 and closes at 15:00.\n")

    changed = _cli(index, docs, "sync").output
    assert "1 posted answer cite changed documents; the bot will mark them" in changed
    for _ in range(2):  # the bot is not running here, so nothing was marked: a no-op sync must not say it again
        assert "posted answer" not in _cli(index, docs, "sync").output


def test_a_compact_that_grows_the_index_says_so_and_not_compacted(small: tuple[Path, Path]) -> None:
    index, docs = small
    for hour in (7, 9):
        _edit(docs / "canteen.md", f"# Canteen\n\nThe canteen opens at {hour}:00.\n")
        assert _cli(index, docs, "sync").exit_code == 0

    out = _cli(index, docs, "compact").output  # versions of the last 24 h are kept for rollback

    sizes = re.search(r"(\d+) kB → (\d+) kB", out)
    assert sizes, out
    if int(sizes[2]) > int(sizes[1]):
        assert out.startswith("index not smaller:") and "compacted" not in out
        assert "kept beside the" in out and "KEEP_VERSIONS_HOURS (24 h)" in out
    else:  # the same data on another filesystem may shrink: then it is a compaction
        assert out.startswith("index compacted:")
    again = _cli(index, docs, "compact").output
    assert again.startswith("nothing to compact:"), again


def test_history_shows_a_refused_run_as_refused_with_the_index_unchanged(small: tuple[Path, Path],
                                                                         tmp_path: Path) -> None:
    index, docs = small
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.md").write_text("# A\n\nAnother folder.\n", encoding="utf-8")
    assert "sync refused" in _cli(index, other, "sync").output

    rows = _cli(index, docs, "history").output.splitlines()

    refused = next(r for r in rows if " refused " in r)
    assert re.search(r"\b(\d+) \(unchanged\)", refused) and "new →" not in refused, rows
    assert re.search(r"new → \d+", rows[-1])  # the first ingest did create the index


def test_eval_on_a_gaps_export_with_blank_documents_says_to_fill_them_in(small: tuple[Path, Path],
                                                                         tmp_path: Path) -> None:
    index, docs = small
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps({"question": q, "doc": "", "from": "declined", "count": 1}) + "\n"
                                 for q in ("Where do visitors park?", "When does the canteen open?")))

    result = _cli(index, docs, "eval", str(questions))

    assert result.exit_code == 2, result.output
    assert "2 question(s) have a blank \"doc\" (line 1, 2): the file needs the expected documents filled in" in (
        result.output)
    assert "0.000" not in result.output


def test_a_title_taken_from_a_file_name_keeps_its_case(tmp_path: Path) -> None:
    (tmp_path / "IT-Security_Rules.txt").write_text("Lock your screen when you leave.\n", encoding="utf-8")
    (tmp_path / "remote-work_policy.txt").write_text("Remote work is allowed two days a week.\n", encoding="utf-8")
    assert load_document(tmp_path / "IT-Security_Rules.txt", tmp_path).title == "IT Security Rules"
    assert load_document(tmp_path / "remote-work_policy.txt", tmp_path).title == "Remote work policy"


def _demo_commands() -> list[list[str]]:
    """`make demo`'s ragbot commands as make would run them (set-up left out)."""
    printed = subprocess.run(["make", "-s", "-n", "-C", str(ROOT), "demo", "RAGBOT=ragbot"], capture_output=True,
                             text=True, check=True).stdout
    return [shlex.split(line) for line in printed.splitlines() if line.startswith("ragbot ")]


def test_the_demo_has_its_own_index_so_demo_then_own_folder_then_demo_works(tmp_path: Path) -> None:
    demo = _demo_commands()
    assert demo and all("--index" in cmd for cmd in demo), demo
    shutil.copytree(SAMPLE_DOCS, tmp_path / "examples" / "docs")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "handbook.md").write_text("# Handbook\n\nThe office closes at 18:00 on Fridays.\n", encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OLLAMA_HOST": UNREACHABLE_OLLAMA, "PYTHONPATH": str(ROOT)}
    for name in ("DOCS_DIR", "LANCEDB_URI", "STATE_DIR"):
        env.pop(name, None)

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "ragbot", *cmd[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (cmd, done.stdout, done.stderr)
        return done

    ingest = next(cmd for cmd in demo if "ingest" in cmd)
    run(ingest)  # make demo
    own = run(["ragbot", "ingest", str(mine)])  # then one's own folder, as the README says
    assert "refused" not in own.stdout and "+ handbook.md" in own.stdout
    again = run(ingest)  # and the demo again: no --switch-docs-root, no --full
    assert "refused" not in again.stdout
    listed = run(["ragbot", "sources"]).stdout  # the default index is one's own
    assert "handbook.md" in listed and "leave-policy" not in listed
    assert f"docs folder: {mine}" in listed  # the folder sync, serve and doctor use


def test_gaps_stops_listing_a_previous_folders_documents_after_a_switch(tmp_path: Path) -> None:
    index = tmp_path / "index"
    assert _cli(index, SAMPLE_DOCS, "ingest").exit_code == 0
    stale = {"STALE_AFTER_DAYS": "1"}  # every sample document is stale: citing one is a gap
    assert "Sources:" in _cli(index, SAMPLE_DOCS, "ask", "How many days of annual leave can I carry over?",
                              env=stale).output
    assert "leave-policy.md" in _cli(index, SAMPLE_DOCS, "gaps", env=stale).output
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "handbook.md").write_text("# Handbook\n\nThe office closes at 18:00 on Fridays.\n", encoding="utf-8")
    assert _cli(index, mine, "ingest", "--switch-docs-root").exit_code == 0

    after = _cli(index, mine, "gaps", env=stale).output

    assert "leave-policy.md" not in after and "Stale documents" not in after, after
    assert "earlier event(s) left out: asked before the index switched to its docs folder" in after


def test_an_index_of_the_sample_documents_gives_way_to_ones_own_folder(tmp_path: Path) -> None:
    """`ragbot ingest` with no folder (or an older `make demo`) built data/index from examples/docs: one's own
    folder replaces them without --switch-docs-root, and doctor says the same. Another folder still needs it."""
    index = tmp_path / "index"
    assert _cli(index, SAMPLE_DOCS, "ingest").exit_code == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "handbook.md").write_text("# Handbook\n\nThe office closes at 18:00 on Fridays.\n", encoding="utf-8")

    told = runner.invoke(app, ["--index", str(index), "--docs-dir", str(mine), "doctor", "--skip-model"]).output
    own = _cli(index, mine, "ingest")

    assert "built from the sample documents" in told and "the next sync replaces them" in told, told
    assert own.exit_code == 0 and "refused" not in own.output, own.output
    assert f"switched the index from {SAMPLE_DOCS.resolve()}" in own.output
    assert "− policies/leave-policy.md" in own.output and "+ handbook.md" in own.output
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.md").write_text("# A\n\nAnother folder.\n", encoding="utf-8")
    assert "--switch-docs-root" in _cli(index, other, "sync").output  # one's own folder is protected as before
