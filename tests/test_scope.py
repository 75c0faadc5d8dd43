"""Channel scopes: one rule ("is this path in this scope") for retrieval and for listings.

Before `rag.retrieval.scope`, retrieval used SQL `LIKE` (where `_` is a wildcard and `%` was stripped) and
`/rag-sources` a plain string prefix, so `hr_docs/` admitted `hrXdocs/` in answers and
`hr_docs_old/` in both.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lancedb
import pyarrow as pa
import pytest

from rag.retrieval.scope import Scope
from rag.service import RagService

CAFE_NFC = unicodedata.normalize("NFC", "café")
CAFE_NFD = unicodedata.normalize("NFD", "café")
PATHS = [
    "hr_docs/leave.md", "hr_docs/sub/deep.md", "hrXdocs/leave.md", "hr_docs_old/leave.md", "hr_docs",
    "50%/rates.md", "50x/rates.md", "o'brien/notes.md", "team a/plan.md", "team ab/plan.md",
    "政策/旅行.md", "政策舊/旅行.md", f"{CAFE_NFD}/menu.md", "HR_DOCS/leave.md",
]


@pytest.mark.parametrize(("prefix", "admitted"), [
    ("hr_docs/", {"hr_docs/leave.md", "hr_docs/sub/deep.md", "hr_docs"}),
    ("hr_docs", {"hr_docs/leave.md", "hr_docs/sub/deep.md", "hr_docs"}),  # a folder name, not a string prefix
    ("./hr_docs/**", {"hr_docs/leave.md", "hr_docs/sub/deep.md", "hr_docs"}),
    ("hr_docs/sub/deep.md", {"hr_docs/sub/deep.md"}),  # one file
    ("50%/", {"50%/rates.md"}),
    ("o'brien/", {"o'brien/notes.md"}),
    ("team a/", {"team a/plan.md"}),
    ("政策/", {"政策/旅行.md"}),
    (f"{CAFE_NFC}/", {f"{CAFE_NFD}/menu.md"}),  # typed in Slack (NFC), made on a Mac (NFD)
])
def test_a_folder_prefix_admits_exactly_that_folder(prefix: str, admitted: set[str]) -> None:
    scope = Scope(path_prefixes=(prefix,))
    assert {p for p in PATHS if scope.admits(p, "policy")} == admitted


def test_kinds_ignore_case_and_combine_with_folders() -> None:
    scope = Scope(path_prefixes=("hr_docs/",), kinds=("SOP",))
    assert scope.admits("hr_docs/leave.md", "sop")
    assert not scope.admits("hr_docs/leave.md", "policy")
    assert not scope.admits("hrXdocs/leave.md", "SOP")
    assert Scope().admits("anything/at/all.md", "document")


@pytest.mark.parametrize("prefixes", [
    ("hr_docs/",), ("50%/",), ("o'brien/", "team a/"), ("政策/",), (f"{CAFE_NFC}/",), ("hr_docs/sub/deep.md",),
])
def test_the_index_filter_is_the_same_rule(tmp_path: Path, prefixes: tuple[str, ...]) -> None:
    """What retrieval asks LanceDB for is exactly what `admits` says, on a real table."""
    table = lancedb.connect(str(tmp_path)).create_table("t", pa.table({
        "doc_path": PATHS, "kind": ["policy"] * len(PATHS), "vector": [[float(i), 1.0] for i in range(len(PATHS))],
    }))
    scope = Scope(path_prefixes=prefixes, kinds=("Policy",))
    where = scope.where()
    assert where is not None and " LIKE " not in where.upper()
    found = set(table.search().where(where).limit(None).to_arrow().column("doc_path").to_pylist())
    assert found == {p for p in PATHS if scope.admits(p, "policy")}


DOCS = {
    "hr_docs/leave.md": "# Leave\n\nStaff in the HR folder get thirty days of annual leave.\n",
    "hrXdocs/leave.md": "# Leave draft\n\nA draft says staff get ninety days of annual leave.\n",
    "hr_docs_old/leave.md": "# Old leave\n\nThe old policy gave staff twenty days of annual leave.\n",
}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> RagService:
    from rag.config import load_settings
    from tests.conftest import UNREACHABLE_OLLAMA

    root = tmp_path_factory.mktemp("scoped")
    for rel, text in DOCS.items():
        (root / "docs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "docs" / rel).write_text(text, encoding="utf-8")
    svc = RagService(load_settings(docs_dir=root / "docs", lancedb_uri=str(root / "index"),
                                   ollama_host=UNREACHABLE_OLLAMA))
    assert svc.sync().status == "ok"
    return svc


def test_answers_and_listings_in_a_scoped_channel_see_only_its_folder(
    service: RagService, make_settings: Callable[..., Any],
) -> None:
    scope = Scope(path_prefixes=("hr_docs/",))
    hits = service.search("How many days of annual leave do staff get?", scope=scope).candidates
    assert hits and {h.doc_path for h in hits} == {"hr_docs/leave.md"}
    answer = service.ask("How many days of annual leave do staff get?", scope=scope)
    assert {c.rel_path for c in answer.citations} == {"hr_docs/leave.md"}
    assert "ninety" not in answer.text and "twenty days" not in answer.text
    # `/rag-sources` (bot/listeners/handlers.py) and `RagService.documents` list by the same rule.
    assert [d.rel_path for d in service.documents(scope=scope)] == ["hr_docs/leave.md"]
    assert [d.rel_path for d in service.documents("leave", scope=Scope(path_prefixes=("hr_docs_old",)))] == [
        "hr_docs_old/leave.md"]
