"""Commands that need no embedding never import torch or load the model (the CLI's cold start).

Each command runs in a fresh interpreter, as a user's `ragbot …` does, and reports which heavy
modules it imported. Importing torch + sentence-transformers costs seconds before anything is
printed, and loading a model the host cannot fetch costs minutes of hub retries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE_DOCS, UNREACHABLE_OLLAMA

MODEL_STACK = ("torch", "sentence_transformers", "transformers")
PARSERS = ("pypdf", "docx", "bs4")
# Runs the real Typer app the `ragbot` script runs, then prints the exit code and the heavy modules seen.
_PROBE = """
import json, sys
from ragbot.cli import app
try:
    app(sys.argv[1:], prog_name="ragbot")
    code = 0
except SystemExit as exit:
    code = exit.code or 0
heavy = [m for m in {heavy!r} if m in sys.modules]
sys.stdout.flush()
print("\\nPROBE " + json.dumps({{"code": code, "heavy": heavy}}))
"""


def run_cli(index: Path, *args: str, embedding_model: str | None = None) -> tuple[int, list[str], str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if embedding_model:
        env["EMBEDDING_MODEL"] = embedding_model
    probe = _PROBE.format(heavy=MODEL_STACK + PARSERS + ("lancedb",))
    done = subprocess.run(
        [sys.executable, "-c", probe, "--index", str(index), "--docs-dir", str(SAMPLE_DOCS),
         "--ollama-host", UNREACHABLE_OLLAMA, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    output, _, result = done.stdout.rpartition("PROBE ")
    assert result, done.stdout + done.stderr
    report = json.loads(result)
    return report["code"], report["heavy"], output + done.stderr


@pytest.mark.parametrize("command", [
    ["sources"], ["sources", "leave"], ["history"], ["--help"], ["sync", "--help"], ["sync"], ["sync", "--dry-run"],
    ["compact"], ["forget", "policies/leave-policy.md"], ["rollback"],
])
def test_commands_that_need_no_embedding_do_not_import_the_model(index_copy: Path, command: list[str]) -> None:
    code, heavy, output = run_cli(index_copy, *command)
    assert code == 0 or command == ["rollback"], output  # rollback may have nothing to undo
    assert not set(heavy) & set(MODEL_STACK), (command, heavy)


@pytest.mark.parametrize("command", [["sources"], ["history"]])
def test_the_catalogue_does_not_even_open_the_index(index_copy: Path, command: list[str]) -> None:
    code, heavy, output = run_cli(index_copy, *command)
    assert code == 0, output
    assert "lancedb" not in heavy and not set(heavy) & set(PARSERS), heavy


def test_a_model_the_host_cannot_load_does_not_matter_to_the_catalogue(index_copy: Path) -> None:
    """An offline host with another EMBEDDING_MODEL must not spend minutes on hub retries for `sources`."""
    code, heavy, output = run_cli(index_copy, "sources", embedding_model="no-such-org/no-such-model")
    assert code == 0, output
    assert "policies/leave-policy.md" in output
    assert not set(heavy) & set(MODEL_STACK), heavy


def test_sync_with_another_model_is_refused_without_loading_it(index_copy: Path) -> None:
    code, heavy, output = run_cli(index_copy, "sync", embedding_model="no-such-org/no-such-model")
    assert code != 0 and "EMBEDDING_MODEL" in output and "Traceback" not in output
    assert not set(heavy) & set(MODEL_STACK), heavy


def test_a_sync_with_nothing_to_read_imports_no_parser(index_copy: Path) -> None:
    code, heavy, output = run_cli(index_copy, "sync")
    assert code == 0 and "nothing changed" in output, output
    assert not set(heavy) & set(PARSERS + MODEL_STACK), heavy


def test_ask_does_not_import_the_document_parsers(index_copy: Path) -> None:
    code, heavy, output = run_cli(index_copy, "ask", "How many days of annual leave can I carry over?")
    assert code == 0, output
    assert "Sources:" in output
    assert not set(heavy) & set(PARSERS), heavy


_LANCEDB_PROBE = """
import json, sys
from ragbot.cli import app
try:
    app(sys.argv[1:], prog_name="ragbot")
except SystemExit:
    pass
import overrides
from pydantic._internal import _config
from lance_namespace_urllib3_client.models import DescribeNamespaceRequest as Model
client = sys.modules["lance_namespace_urllib3_client"]
report = {"metaclass": type(sys.modules["lancedb.db"].DBConnection).__name__,
          "deferred": Model.__pydantic_complete__, "override": overrides.override.__module__,
          "defer_default": _config.config_defaults["defer_build"], "client_api_loaded": "urllib3" in sys.modules,
          "httpx_cli": [m for m in ("rich", "pygments", "httpx._main") if sys.modules.get(m) is not None]}
report["client_works"] = client.MetadataApi.__name__ == "MetadataApi"  # its __init__ runs on first use
Model(id=["x"])  # built on first use, and still validates
try:
    Model(id=5)
    report["validates"] = False
except Exception:
    report["validates"] = True
sys.stdout.flush()
print("\\nPROBE " + json.dumps(report))
"""


def test_ask_imports_lancedb_without_the_import_time_checks_that_cost_most_of_its_second(index_copy: Path) -> None:
    """Issue 21: `import lancedb` was ~1.1-1.7 s of a 1.6 s cold `ask` (rag/index/store/lancedb_import.py). The answer
    is
    the same; what is skipped is `overrides`' signature checks (as lancedb on Python 3.12) and building the unused
    REST namespace client's validators before first use; both patches are undone afterwards."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _LANCEDB_PROBE, "--index", str(index_copy), "--docs-dir", str(SAMPLE_DOCS),
         "--ollama-host", UNREACHABLE_OLLAMA, "ask", "How many days of annual leave can I carry over?"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    output, _, result = done.stdout.rpartition("PROBE ")
    assert result, done.stdout + done.stderr
    assert "carried over" in output and "Sources:" in output  # the quoted answer, as before
    report = json.loads(result)
    if sys.version_info < (3, 12):
        assert report["metaclass"] == "type"  # not overrides' EnforceOverridesMeta
    assert report["deferred"] is False and report["validates"] is True
    assert report["client_api_loaded"] is False and report["client_works"] is True
    assert report["httpx_cli"] == []  # httpx's own command line (rich, pygments) is not imported either
    assert report["override"] == "overrides.overrides" and report["defer_default"] is False  # restored
