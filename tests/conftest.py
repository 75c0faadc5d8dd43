"""Shared fixtures: the real embedding model (offline package), real LanceDB in temp dirs."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers import (  # noqa: F401  (fixtures: real redis-server with auth, with TLS; moto's S3)
    redis_server,
    redis_tls_server,
    redis_url,
    s3_endpoint,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("LANCE_LOG", "error")
# A sync exports the embedding model to ONNX once per cache (~20 s): one cache for the whole test session.
os.environ["EMBEDDING_CACHE_DIR"] = tempfile.mkdtemp(prefix="ragbot-onnx-")
atexit.register(shutil.rmtree, os.environ["EMBEDDING_CACHE_DIR"], True)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DOCS = ROOT / "examples" / "docs"
# Nothing in the tests may reach a real Ollama: default to a port nobody listens on.
UNREACHABLE_OLLAMA = "http://127.0.0.1:9"

# Keep developer .env files out of the tests.
for _name in ("DOCS_DIR", "LANCEDB_URI", "OLLAMA_HOST", "OLLAMA_MODEL", "EMBEDDING_MODEL", "EMBEDDING_BACKEND",
              "EMBEDDING_DEVICE", "TOP_K", "STATE_DIR",
              "DOCS_BASE_URL", "RELEVANCE_FLOOR", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET",
              "RERANK_MODEL", "RERANK_CANDIDATES"):
    os.environ.pop(_name, None)


@pytest.fixture(autouse=True, scope="session")
def _sync_pauses_on_request() -> None:
    """RAGBOT_TEST_PAUSE_AT pauses an in-process sync at that point (tests/child_hooks.py; children use it too)."""
    from tests.child_hooks import install_pause

    install_pause()


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run each test from a directory without a .env, so settings come only from the test."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., object]:
    """Settings for a fresh index under tmp_path; keyword overrides use field names."""
    from rag.config import load_settings

    def build(**overrides: object) -> object:
        values: dict[str, object] = {
            "docs_dir": SAMPLE_DOCS, "lancedb_uri": str(tmp_path / "index"), "ollama_host": UNREACHABLE_OLLAMA,
            "ollama_timeout_seconds": 10.0, "ollama_connect_timeout_seconds": 1.0,
        }
        values.update(overrides)
        return load_settings(**values)

    return build


FAKE_MODEL = "llama3.2:3b"  # the model name tests give the fake Ollama (tests/fakes/fake_ollama.py)


@pytest.fixture
def service_for(sample_index: Path, make_settings: Callable[..., object]) -> Callable[..., object]:
    """A RagService on a copy-free sample index whose answers come from `fake` (a FakeOllama)."""
    from rag.service import RagService

    def build(fake: object, **overrides: object) -> RagService:
        values: dict[str, object] = {"lancedb_uri": str(sample_index), "ollama_host": fake.url,  # type: ignore[attr-defined]
                                     "ollama_model": FAKE_MODEL}
        values.update(overrides)
        return RagService(make_settings(**values))

    return build


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus ingested once per test session; copy it with `index_copy` to write to it."""
    from rag.config import load_settings
    from rag.service import RagService

    where = tmp_path_factory.mktemp("sample-index")
    settings = load_settings(docs_dir=SAMPLE_DOCS, lancedb_uri=str(where / "index"), ollama_host=UNREACHABLE_OLLAMA)
    report = RagService(settings).sync(full=True)
    assert report.status == "ok", report
    return where / "index"


@pytest.fixture
def index_copy(sample_index: Path, tmp_path: Path) -> Path:
    target = tmp_path / "index"
    # Not the question log of the tests that asked the shared sample index (`ragbot gaps` tests count events).
    shutil.copytree(sample_index, target, ignore=shutil.ignore_patterns("gaps.sqlite3"))
    return target
