"""Ingest and the CLI as a user meets them: bad files skipped with reasons, one-line errors, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragbot.cli import app
from tests.conftest import SAMPLE_DOCS, UNREACHABLE_OLLAMA

runner = CliRunner()


def _cli(index: Path, docs: Path, *args: str):
    return runner.invoke(app, ["--index", str(index), "--docs-dir", str(docs), "--ollama-host", UNREACHABLE_OLLAMA,
                               *args])


@pytest.fixture
def messy_docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "policies").mkdir(parents=True)
    shutil.copy(SAMPLE_DOCS / "policies" / "leave-policy.md", docs / "policies" / "leave-policy.md")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\nthis is not really a pdf\n%%EOF")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (docs / "empty.md").write_bytes(b"")
    (docs / "latin1.txt").write_bytes("Caf\xe9 opening hours: the caf\xe9 opens at 7:30.".encode("cp1252"))
    with (docs / "huge.txt").open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    with (docs / "locked.pdf").open("wb") as handle:
        writer.write(handle)
    return docs


def test_bad_files_are_reported_with_a_reason_and_the_rest_is_indexed(messy_docs: Path, tmp_path: Path):
    result = _cli(tmp_path / "index", messy_docs, "ingest")
    assert result.exit_code == 1, result.output  # most files failed: scripts must be able to tell
    out = result.output
    assert "most files failed (5 of 7 tried)" in out
    for name, reason in [("broken.pdf", "pdf"), ("binary.txt", "binary"), ("empty.md", "empty"),
                         ("huge.txt", "limit"), ("locked.pdf", "encrypted")]:
        line = next(line for line in out.splitlines() if line.startswith(f"! {name}"))
        assert reason in line.lower(), line
    assert "+ policies/leave-policy.md" in out and "+ latin1.txt" in out
    assert "5 failed" in out

    sources = _cli(tmp_path / "index", messy_docs, "sources")
    assert "policies/leave-policy.md" in sources.output and "last error" in sources.output

    asked = _cli(tmp_path / "index", messy_docs, "ask", "--json", "When does the café open?")
    answer = json.loads(asked.output)
    assert answer["mode"] == "extractive" and answer["citations"][0]["path"] == "latin1.txt"
    assert "7:30" in answer["answer"]


def test_ask_without_an_index_is_one_line_and_a_nonzero_exit(tmp_path: Path):
    result = _cli(tmp_path / "nothing-here", SAMPLE_DOCS, "ask", "anything?")
    assert result.exit_code == 2
    assert result.output.strip().startswith("error:") and "ragbot ingest" in result.output
    assert "Traceback" not in result.output


def test_bad_configuration_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TOP_K", "lots")
    result = _cli(tmp_path / "index", SAMPLE_DOCS, "sources")
    assert result.exit_code == 2 and "TOP_K" in result.output and "Traceback" not in result.output


def test_missing_docs_folder_is_refused_not_an_empty_index(tmp_path: Path):
    result = _cli(tmp_path / "index", tmp_path / "no-such-folder", "ingest")
    assert result.exit_code == 1 and "refused" in result.output and "DOCS_DIR" in result.output


def test_doctor_reports_ollama_down_and_fails(sample_index: Path):
    result = _cli(sample_index, SAMPLE_DOCS, "doctor")
    assert result.exit_code == 1
    assert "ok   embedding model" in result.output and "ok   index: 8 documents" in result.output
    assert "FAIL ollama" in result.output and "not reachable" in result.output


def test_ask_on_the_sample_corpus_prints_cited_sources_with_dates(sample_index: Path):
    result = _cli(sample_index, SAMPLE_DOCS, "ask", "How many days of annual leave can I carry over?")
    assert result.exit_code == 0, result.output
    assert "language model is unavailable" in result.output
    assert "[1] Leave policy (updated " in result.output
    assert "    › 3. Annual leave › 3.2 Carry-over" in result.output  # each place cited, on its own line


def test_an_embedding_model_that_cannot_be_loaded_is_one_line_naming_the_variable(sample_index: Path):
    result = runner.invoke(app, ["--index", str(sample_index), "--docs-dir", str(SAMPLE_DOCS),
                                 "--embedding-model", "no-such-org/no-such-model", "ask", "anything?"])
    assert result.exit_code == 2 and "EMBEDDING_MODEL" in result.output and "Traceback" not in result.output


def test_comma_separated_globs_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INCLUDE_GLOBS", "**/*.md, **/*.txt")
    monkeypatch.setenv("EXCLUDE_GLOBS", "**/drafts/**")
    docs = tmp_path / "docs"
    (docs / "drafts").mkdir(parents=True)
    (docs / "a.md").write_text("# A\n\nThe canteen opens at 8.", encoding="utf-8")
    (docs / "drafts" / "b.md").write_text("# B\n\nDraft text.", encoding="utf-8")
    (docs / "c.html").write_text("<h1>C</h1><p>Not included.</p>", encoding="utf-8")
    result = _cli(tmp_path / "index", docs, "sync", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "+ a.md" in result.output and "b.md" not in result.output and "c.html" not in result.output


def test_ask_streams_the_answer_then_lists_only_the_cited_sources(sample_index: Path):
    from tests.fakes.fake_ollama import FakeOllama

    with FakeOllama(models=["llama3.2:3b"], reply="Up to 5 days, used by March 31 [1]. See also [6].") as fake:
        result = runner.invoke(app, ["--index", str(sample_index), "--docs-dir", str(SAMPLE_DOCS), "--ollama-host",
                                     fake.url, "--model", "llama3.2:3b", "ask", "How much leave can I carry over?"])
    assert result.exit_code == 0, result.output
    answer, _, sources = result.output.partition("Sources:")
    assert answer.strip() == "Up to 5 days, used by March 31 [1]. See also."
    cited = [line for line in sources.splitlines() if line.startswith("[")]
    assert len(cited) == 1 and cited[0].startswith("[1] Leave policy (updated ")
