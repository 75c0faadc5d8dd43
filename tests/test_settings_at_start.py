"""Every setting that is parsed later is checked at start, in one line naming it (issue 20).

`ragbot serve`, the bot (`python -m bot`) and `ragbot doctor` run the same validation: a bad crontab,
URL, duration, path or map stops the first two before anything starts (exit 2, one line, no traceback),
and doctor reports it as a FAIL `config` line, never "config ok". The start itself is replaced by a
recorder in most tests, so a setting that slips through shows as "started" rather than as a hang.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragbot.cli import app
from tests.conftest import ROOT, UNREACHABLE_OLLAMA

runner = CliRunner()


BAD = [
    ("SYNC_CRON", "every monday"),
    ("SYNC_CRON", "61 * * * *"),
    ("SYNC_CRON", "0 8 * * 1"),  # APScheduler: Tuesday; cron: Monday
    ("GAPS_DIGEST_CRON", "0 25 * * mon"),
    ("SYNC_INTERVAL_MINUTES", "-5"),
    ("OLLAMA_HOST", ""),
    ("OLLAMA_HOST", "http://:11434"),
    ("OLLAMA_HOST", "http://ollama:99999"),
    ("OLLAMA_KEEP_ALIVE", "forever"),
    ("DOCS_BASE_URL", "files.example.com/docs"),
    ("SLACK_API_URL", "slack.com/api"),
    ("LOG_LEVEL", "loud"),
    ("CHANNEL_SCOPES", "contracts/"),
    ("STATE_DIR", "<a file>"),
    ("FEEDBACK_LOG", "<a folder>"),
    ("LANCEDB_URI", ""),
]
CASES = [pytest.param(name, value, id=f"{name}={value}") for name, value in BAD]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("SYNC_CRON", "GAPS_DIGEST_CRON", "SYNC_INTERVAL_MINUTES", "OLLAMA_KEEP_ALIVE", "SLACK_API_URL",
                 "LOG_LEVEL", "CHANNEL_SCOPES", "FEEDBACK_LOG", "SLACK_MODE", "ADMIN_CHANNEL",
                 "SYNC_REPORT_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCS_DIR", str(tmp_path / "docs"))
    monkeypatch.setenv("LANCEDB_URI", str(tmp_path / "index"))
    monkeypatch.setenv("OLLAMA_HOST", UNREACHABLE_OLLAMA)
    (tmp_path / "docs").mkdir()
    return tmp_path


def _set(monkeypatch: pytest.MonkeyPatch, tmp: Path, name: str, value: str) -> str:
    (tmp / "a-file").write_text("x")
    (tmp / "a-folder").mkdir(exist_ok=True)
    value = value.replace("<a file>", str(tmp / "a-file")).replace("<a folder>", str(tmp / "a-folder"))
    monkeypatch.setenv(name, value)
    if name == "GAPS_DIGEST_CRON":
        monkeypatch.setenv("ADMIN_CHANNEL", "C0ADMIN")
    return name


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What got started in place of the scheduler / the bot (nothing, when the settings are refused)."""
    import bot.http.server
    import rag.ops.scheduler

    calls: list[str] = []
    monkeypatch.setattr(rag.ops.scheduler, "run_forever", lambda *a, **k: calls.append("scheduler"))
    monkeypatch.setattr(bot.http.server, "run", lambda *a, **k: calls.append("bot"))
    return calls


def _one_line_naming(text: str, name: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert name in lines[0] and "Traceback" not in text, text
    return lines[0]


@pytest.mark.parametrize(("name", "value"), CASES)
def test_serve_refuses_a_bad_setting_in_one_line_before_starting(name: str, value: str, clean_env: Path,
                                                                 started: list[str], monkeypatch: pytest.MonkeyPatch):
    _set(monkeypatch, clean_env, name, value)
    result = runner.invoke(app, ["serve"])
    assert started == [], f"{name}: started with a bad value"
    assert result.exit_code == 2, result.output
    line = _one_line_naming(result.output, name)
    assert line.startswith("error: ")


@pytest.mark.parametrize(("name", "value"), CASES)
def test_the_bot_refuses_a_bad_setting_in_one_line_before_starting(name: str, value: str, clean_env: Path,
                                                                   started: list[str], monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]):
    from bot.__main__ import main

    _set(monkeypatch, clean_env, name, value)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-start-check")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-start-check")
    code = main()
    assert started == [], f"{name}: started with a bad value"
    assert code == 2
    _one_line_naming(capsys.readouterr().err, name)


@pytest.mark.parametrize(("name", "value"), CASES)
def test_doctor_fails_the_config_line_naming_the_setting(name: str, value: str, clean_env: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    _set(monkeypatch, clean_env, name, value)
    result = runner.invoke(app, ["doctor", "--skip-model"])
    config = [line for line in result.output.splitlines() if line[5:].startswith("config:")]
    assert config and all(line.startswith("FAIL config:") for line in config), result.output
    assert any(name in line for line in config), result.output
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_good_values_pass_and_blank_means_off(clean_env: Path, monkeypatch: pytest.MonkeyPatch):
    from bot.config import load_bot_settings
    from rag.config import load_settings

    monkeypatch.setenv("SYNC_CRON", "*/15 7-19 * * mon-fri")
    monkeypatch.setenv("GAPS_DIGEST_CRON", " ")
    monkeypatch.setenv("OLLAMA_HOST", "ollama")  # a bare host, as Ollama's own OLLAMA_HOST allows
    monkeypatch.setenv("LOG_LEVEL", "warn")
    settings = load_settings()
    assert settings.sync_cron == "*/15 7-19 * * mon-fri" and settings.ollama_host == "http://ollama:11434"
    bot = load_bot_settings()
    assert bot.gaps_digest_cron is None and bot.log_level == "WARNING"


def test_a_real_serve_and_bot_process_say_which_setting_in_one_line(tmp_path: Path):
    """The whole process, as an operator starts it: no traceback from the scheduler after start-up."""
    (tmp_path / "docs").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SYNC_"))}
    env |= {"PYTHONPATH": str(ROOT), "DOCS_DIR": str(tmp_path / "docs"), "LANCEDB_URI": str(tmp_path / "index"),
            "OLLAMA_HOST": UNREACHABLE_OLLAMA, "SYNC_CRON": "every monday"}
    serve = subprocess.run([sys.executable, "-m", "ragbot", "serve"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=60)
    assert serve.returncode == 2, serve.stderr
    assert _one_line_naming(serve.stderr, "SYNC_CRON").startswith("error: invalid configuration: SYNC_CRON:")
    env |= {"SLACK_BOT_TOKEN": "xoxb-1-process-check", "SLACK_APP_TOKEN": "xapp-1-process-check"}
    bot = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60)
    assert bot.returncode == 2, bot.stderr
    _one_line_naming(bot.stderr, "SYNC_CRON")
