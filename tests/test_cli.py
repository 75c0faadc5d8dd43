"""The CLI says what it did: help that reads well, global options anywhere, forget --undo, rollback,
compact and history that report their effect, and a no-answer text that points at `ragbot sources`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ragbot.cli import app
from tests.conftest import ROOT, SAMPLE_DOCS, UNREACHABLE_OLLAMA

runner = CliRunner()
OFF_TOPIC = "What is the orbital period of the third moon of Neptune?"


def _cli(index: Path, docs: Path, *args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, ["--index", str(index), "--docs-dir", str(docs), "--ollama-host", UNREACHABLE_OLLAMA,
                               *args], env=env)


def _commands() -> dict[str, object]:
    return typer.main.get_command(app).commands  # type: ignore[attr-defined]


# -- help ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [[], *[[name] for name in sorted(_commands())]])
def test_help_has_no_type_placeholders_on_flags_and_text_for_every_option(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    target = typer.main.get_command(app)
    for name in command:
        target = target.commands[name]  # type: ignore[attr-defined]
    for param in target.params:
        assert (param.help or "").strip(), f"{' '.join(command) or 'ragbot'}: {param.name} has no help text"
    if command:
        assert "before or after the command" in result.output


def test_arguments_are_named_in_capitals_like_the_readme() -> None:
    usage = {name: runner.invoke(app, [name, "--help"]).output.splitlines()[0] for name in
             ("ingest", "forget", "ask", "sources")}
    assert usage["ingest"].endswith("[DOCS_DIR]") and usage["sources"].endswith("[FILTER]")
    assert "PATH" in usage["forget"] and "QUESTION" in usage["ask"]


# -- global options after the command --------------------------------------------------------------------
def test_global_options_work_after_the_command(sample_index: Path) -> None:
    before = runner.invoke(app, ["--index", str(sample_index), "--docs-dir", str(SAMPLE_DOCS), "sources", "leave"])
    after = runner.invoke(app, ["sources", "leave", "--index", str(sample_index), f"--docs-dir={SAMPLE_DOCS}"])
    assert before.exit_code == after.exit_code == 0, after.output
    assert "policies/leave-policy.md" in after.output
    assert after.output == before.output


def test_a_command_option_is_not_taken_for_a_global_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["history", "--limit", "1", "--index", str(tmp_path / "index"), "-v"])
    assert result.exit_code == 0, result.output
    assert "no sync has run yet" in result.output


# -- forget --undo ---------------------------------------------------------------------------------------
def test_forget_can_be_undone_and_the_next_sync_brings_the_document_back(index_copy: Path) -> None:
    doc = "policies/leave-policy.md"
    forgotten = _cli(index_copy, SAMPLE_DOCS, "forget", doc)
    assert forgotten.exit_code == 0 and f"forget --undo {doc}" in forgotten.output
    assert f"{doc} [withdrawn]" in _cli(index_copy, SAMPLE_DOCS, "sources", "leave").output
    assert "leave-policy" not in _cli(index_copy, SAMPLE_DOCS, "ask", "--json", "How much annual leave?").output

    undone = _cli(index_copy, SAMPLE_DOCS, "forget", "--undo", doc)
    assert undone.exit_code == 0, undone.output
    synced = _cli(index_copy, SAMPLE_DOCS, "sync")
    assert synced.exit_code == 0 and f"+ {doc}" in synced.output
    listed = _cli(index_copy, SAMPLE_DOCS, "sources", "leave").output
    assert "[withdrawn]" not in listed and not re.search(r"· 0 chunks", listed)
    assert "leave-policy" in _cli(index_copy, SAMPLE_DOCS, "ask", "--json", "How much annual leave?").output

    again = _cli(index_copy, SAMPLE_DOCS, "forget", "--undo", doc)
    assert again.exit_code == 2 and "not withdrawn" in again.output


# -- rollback, compact, history --------------------------------------------------------------------------
@pytest.fixture
def small_index(tmp_path: Path) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "canteen.md").write_text("# Canteen\n\nThe canteen opens at 8:00 and closes at 15:00.\n", encoding="utf-8")
    (docs / "parking.md").write_text("# Parking\n\nVisitors park on level -1.\n", encoding="utf-8")
    index = tmp_path / "index"
    assert _cli(index, docs, "ingest").exit_code == 0
    return index, docs


def _edit(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    later = time.time() + 5
    os.utime(path, (later, later))


def test_rollback_says_which_sync_it_undid_and_the_versions(small_index: tuple[Path, Path]) -> None:
    index, docs = small_index
    _edit(docs / "canteen.md", "# Canteen\n\nThe canteen opens at 7:00 and closes at 15:00.\n")
    (docs / "badges.md").write_text("# Badges\n\nBadges are printed at reception.\n", encoding="utf-8")
    assert _cli(index, docs, "sync").exit_code == 0

    result = _cli(index, docs, "rollback")

    assert result.exit_code == 0, result.output
    undid = re.search(r"undid sync #2 \(cli, .*: 1 added, 1 changed, 0 renamed, 0 removed\)", result.output)
    assert undid, result.output
    versions = re.search(r"index version (\d+) → (\d+)", result.output)
    assert versions and int(versions[1]) > int(versions[2])
    assert "documents in answers: 3 → 2" in result.output
    history = _cli(index, docs, "history").output
    assert re.search(r"#2 .* ok \(undone\)", history), history
    assert "7:00" not in _cli(index, docs, "ask", "--json", "When does the canteen open?").output


def test_compact_reports_size_and_versions_before_and_after(small_index: tuple[Path, Path]) -> None:
    index, docs = small_index
    for hour in (7, 9):
        _edit(docs / "canteen.md", f"# Canteen\n\nThe canteen opens at {hour}:00.\n")
        assert _cli(index, docs, "sync").exit_code == 0

    result = _cli(index, docs, "compact", env={"KEEP_VERSIONS_HOURS": "0"})

    assert result.exit_code == 0, result.output
    found = re.search(r"index compacted: (\d+) kB → (\d+) kB; versions kept (\d+) → (\d+)", result.output)
    assert found, result.output
    assert int(found[2]) < int(found[1]) and int(found[4]) < int(found[3])


def test_history_has_column_headers(small_index: tuple[Path, Path]) -> None:
    index, docs = small_index
    lines = _cli(index, docs, "history").output.splitlines()
    assert lines[0].split() == ["RUN", "STARTED", "TRIGGER", "STATUS", "ADDED", "CHANGED", "REMOVED", "FAILED",
                                "INDEX", "VERSION", "NOTES"]
    assert lines[1].startswith("#1") and " 2 " in lines[1]  # the ingest added two documents


# -- the no-answer pointer -------------------------------------------------------------------------------
def test_no_answer_in_the_cli_points_at_ragbot_sources(sample_index: Path) -> None:
    result = _cli(sample_index, SAMPLE_DOCS, "ask", OFF_TOPIC)
    assert result.exit_code == 0, result.output
    assert "`ragbot sources`" in result.output and "/rag-sources" not in result.output


def test_no_answer_in_slack_keeps_the_slash_command(sample_index: Path) -> None:
    from rag.config import load_settings
    from rag.service import RagService

    settings = load_settings(docs_dir=SAMPLE_DOCS, lancedb_uri=str(sample_index), ollama_host=UNREACHABLE_OLLAMA)
    answer = RagService(settings).ask(OFF_TOPIC, surface="slack")
    assert answer.mode == "no_answer" and "/rag-sources" in answer.text and "ragbot sources" not in answer.text


# -- fast exit -------------------------------------------------------------------------------------------
def test_the_script_delivers_all_output_and_its_exit_code_after_torch_was_loaded(tmp_path: Path) -> None:
    """The fast exit (no interpreter teardown) runs when torch is loaded: nothing printed may be lost."""
    script = ("import sys, torch; sys.argv = ['ragbot', *sys.argv[1:]]\n"
              "from ragbot.cli import main\nmain()\n")
    env = {**os.environ, "TOP_K": "lots"}
    bad = subprocess.run([sys.executable, "-c", script, "--index", str(tmp_path / "i"), "sources"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "TOP_K" in bad.stderr
    env.pop("TOP_K")
    helped = subprocess.run([sys.executable, "-c", script, "--help"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert helped.returncode == 0 and helped.stdout.rstrip().endswith("`ragbot sync --docs-dir DIR`.")
