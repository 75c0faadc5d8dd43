"""`ragbot doctor` as an operator meets it: one line per check, the fix named, no secret printed.

Driven through the real CLI against the fake Slack (the real slack_sdk calls auth.test and
apps.connections.open on it) and the fake Ollama (the real ollama client lists its models).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragbot.cli import app
from tests.conftest import ROOT, SAMPLE_DOCS, UNREACHABLE_OLLAMA
from tests.fakes.fake_ollama import FakeOllama, closed_port_url
from tests.fakes.fake_slack import FakeSlack

runner = CliRunner()


def _doctor(tmp_path: Path, *args: str, docs: Path = SAMPLE_DOCS, ollama: str = UNREACHABLE_OLLAMA,
            model: str | None = None):
    options = ["--index", str(tmp_path / "index"), "--docs-dir", str(docs), "--ollama-host", ollama]
    if model:
        options += ["--model", model]
    return runner.invoke(app, [*options, "doctor", "--skip-model", *args])


def _line(output: str, what: str) -> str:
    """The one line of a check, e.g. _line(out, "slack") -> "ok   slack: socket mode; …"."""
    found = [line for line in output.splitlines() if line[5:].startswith(what + ":")]
    assert len(found) == 1, output
    return found[0]


def test_a_model_that_is_not_pulled_is_named_with_the_command_that_pulls_it(tmp_path: Path):
    with FakeOllama(models=["llama3.2:3b"]) as ollama:
        result = _doctor(tmp_path, ollama=ollama.url, model="qwen3:8b")
        pulled = _doctor(tmp_path, ollama=ollama.url, model="llama3.2:3b")
    line = _line(result.output, "ollama model")
    assert line.startswith("FAIL") and "'qwen3:8b'" in line and "`ollama pull qwen3:8b`" in line
    assert result.exit_code == 1
    assert _line(pulled.output, "ollama model").startswith("ok   ollama model: 'llama3.2:3b'")


def test_ollama_down_is_one_line_that_says_answers_fall_back_to_quotes(tmp_path: Path):
    result = _doctor(tmp_path, ollama=closed_port_url())
    line = _line(result.output, "ollama")
    assert line.startswith("FAIL ollama: Ollama is not reachable") and "quoted passages" in line
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_no_docs_base_url_is_a_warning_and_a_base_url_that_slack_cannot_link_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    warned = _line(_doctor(tmp_path).output, "links")
    assert warned.startswith("warn links: DOCS_BASE_URL is not set")
    monkeypatch.setenv("DOCS_BASE_URL", "https://git.example.com/handbook/-/blob/main")
    assert _line(_doctor(tmp_path).output, "links").startswith(
        "ok   links: citations link to https://git.example.com/handbook/-/blob/main/<path>")
    monkeypatch.setenv("DOCS_BASE_URL", "file:///srv/docs")  # checked with the rest of the settings at start
    assert _line(_doctor(tmp_path).output, "config").startswith("FAIL config: invalid configuration: DOCS_BASE_URL: "
                                                                 "must be an http(s) URL")


def _slack_env(monkeypatch: pytest.MonkeyPatch, slack: FakeSlack, **overrides: str) -> None:
    values = {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token,
              "SLACK_API_URL": slack.api_url} | overrides
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_slack_tokens_are_checked_with_slack_and_never_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with FakeSlack() as slack:
        _slack_env(monkeypatch, slack)
        result = _doctor(tmp_path)
        assert len(slack.calls("auth.test")) == 1 and len(slack.calls("apps.connections.open")) == 1
    line = _line(result.output, "slack")
    assert line.startswith("ok   slack: socket mode; Slack accepts SLACK_BOT_TOKEN (workspace Fake")
    assert "Slack accepts SLACK_APP_TOKEN" in line
    assert slack.bot_token not in result.output and slack.app_token not in result.output


@pytest.mark.parametrize("variable", ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"])
def test_a_token_slack_rejects_fails_with_slacks_reason_and_no_token(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str):
    wrong = {"SLACK_BOT_TOKEN": "xoxb-revoked-0000000", "SLACK_APP_TOKEN": "xapp-1-revoked-000000"}[variable]
    with FakeSlack() as slack:
        _slack_env(monkeypatch, slack, **{variable: wrong})
        result = _doctor(tmp_path)
    line = _line(result.output, "slack")
    assert line.startswith("FAIL slack:") and f"Slack rejects {variable} (invalid_auth)" in line
    assert result.exit_code == 1
    assert wrong not in result.output and slack.bot_token not in result.output


def test_http_mode_without_a_signing_secret_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with FakeSlack() as slack:
        _slack_env(monkeypatch, slack, SLACK_MODE="http")
        monkeypatch.delenv("SLACK_APP_TOKEN")
        result = _doctor(tmp_path)
        assert slack.calls("auth.test") == []  # the settings are wrong before Slack is asked
    line = _line(result.output, "slack")
    assert line.startswith("FAIL slack:") and "SLACK_SIGNING_SECRET is not set" in line


def test_slack_out_of_reach_is_a_warning_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with FakeSlack() as slack:
        _slack_env(monkeypatch, slack, SLACK_API_URL=closed_port_url() + "/api/")
        result = _doctor(tmp_path)
    line = _line(result.output, "slack")
    assert line.startswith("warn slack:") and "not reachable" in line and "connection refused" in line
    assert "ERROR" not in result.output and "Traceback" not in result.output


def test_without_slack_tokens_the_slack_check_is_skipped_not_failed(tmp_path: Path):
    assert _line(_doctor(tmp_path).output, "slack").startswith("skip slack: SLACK_BOT_TOKEN is not set")


def test_missing_docs_folder_and_a_file_in_its_place_fail(tmp_path: Path):
    assert _line(_doctor(tmp_path, docs=tmp_path / "nope").output, "documents").startswith(
        f"FAIL documents: DOCS_DIR={tmp_path / 'nope'} not found")
    (tmp_path / "file.md").write_text("# not a folder\n")
    assert "is not a folder" in _line(_doctor(tmp_path, docs=tmp_path / "file.md").output, "documents")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads every folder")
def test_a_docs_folder_this_user_cannot_read_names_the_uid(tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    docs.chmod(0)
    try:
        line = _line(_doctor(tmp_path, docs=docs).output, "documents")
    finally:
        docs.chmod(0o755)
    assert line.startswith("FAIL documents:") and f"not readable by uid {os.getuid()}" in line


def test_the_bundled_sample_folder_is_flagged_and_an_empty_index_says_how_to_build_it(tmp_path: Path):
    result = _doctor(tmp_path)
    assert _line(result.output, "documents").startswith("warn documents:") and "bundled sample" in result.output
    assert _line(result.output, "index").startswith("FAIL index: none at") and "ragbot ingest" in result.output


def test_checks_other_than_the_model_do_not_import_torch(tmp_path: Path):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from ragbot.cli import app\n"
        f"r = CliRunner().invoke(app, ['--index', {str(tmp_path / 'index')!r}, '--ollama-host', "
        f"{UNREACHABLE_OLLAMA!r}, 'doctor', '--skip-model'])\n"
        "assert 'ollama' in r.output, r.output\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")} | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _has_remembered_root() -> bool:
    import rag.index.state

    return hasattr(rag.index.state, "remembered_docs_root")


@pytest.mark.skipif(not _has_remembered_root(), reason="this index does not record its docs root yet")
def test_an_index_built_from_another_folder_is_named_and_the_remembered_folder_is_checked(tmp_path: Path):
    from rag.config import load_settings
    from rag.service import RagService

    own, other = tmp_path / "company-docs", tmp_path / "other-docs"
    for folder in (own, other):
        folder.mkdir()
        (folder / "leave.md").write_text("# Leave\n\nUp to five days of annual leave carry over.\n")
    settings = load_settings(docs_dir=own, lancedb_uri=str(tmp_path / "index"), ollama_host=UNREACHABLE_OLLAMA)
    assert RagService(settings).sync(full=True).status == "ok"

    switched = _doctor(tmp_path, docs=other)
    line = _line(switched.output, "index")
    assert line.startswith("FAIL index: 1 documents") and f"built from {own.resolve()}" in line
    assert "--switch-docs-root" in line and switched.exit_code == 1

    remembered = runner.invoke(app, ["--index", str(tmp_path / "index"), "--ollama-host", UNREACHABLE_OLLAMA,
                                     "doctor", "--skip-model"])  # no DOCS_DIR: the index's own folder
    assert _line(remembered.output, "documents").startswith(f"ok   documents: {own.resolve()} readable")
    assert _line(remembered.output, "index").startswith("ok   index: 1 documents")


def test_the_config_line_names_the_docs_root_sync_and_serve_use(tmp_path: Path):
    """Without DOCS_DIR the index's own folder is used: `config:` says so, and agrees with `documents:`."""
    from rag.config import load_settings
    from rag.service import RagService

    own = tmp_path / "company-docs"
    own.mkdir()
    (own / "leave.md").write_text("# Leave\n\nUp to five days of annual leave carry over.\n")
    settings = load_settings(docs_dir=own, lancedb_uri=str(tmp_path / "index"), ollama_host=UNREACHABLE_OLLAMA)
    assert RagService(settings).sync(full=True).status == "ok"

    result = runner.invoke(app, ["--index", str(tmp_path / "index"), "--ollama-host", UNREACHABLE_OLLAMA,
                                 "doctor", "--skip-model"])
    config, documents = _line(result.output, "config"), _line(result.output, "documents")
    assert config.startswith(f"ok   config: DOCS_DIR={own.resolve()} (the index's own folder) LANCEDB_URI=")
    assert documents.startswith(f"ok   documents: {own.resolve()} readable")
    assert "examples/docs" not in result.output
