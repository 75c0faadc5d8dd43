"""The layout's rules, read from the code: no import circles, layers point one way, modules stay small.

Every import counts, also those inside functions and under TYPE_CHECKING: a lazy import still couples two
modules, and a circle hidden that way is still one when the code is read or changed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rag", "bot", "ragbot")
MAX_LINES = 300  # a module past this gets split along its jobs (README: How we write code)
# Layers: what each package may import of the others. The CLI reaches the bot only through its front door.
LAYERS = {"rag": set(), "bot": {"rag"}, "ragbot": {"rag", "bot.entry"}}
# Product code reads no test-only switches (tests inject behaviour through fixtures and collaborators).
TEST_ONLY = "RAGBOT_TEST_"


def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its file (resolved to the longest known module)."""
    targets: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            # `from package import module` needs the package's __init__ only for names that are not modules
            named = [f"{base}.{alias.name}" for alias in node.names]
            candidates = named + ([base] if any(n not in known for n in named) else [])
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    known = modules(root, packages)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    assert circles(import_graph(ROOT)) == []


def test_the_circle_check_finds_a_circle_hidden_in_a_function_or_type_checking(tmp_path: Path):
    pkg = tmp_path / "rag"
    (pkg / "retrieval").mkdir(parents=True)
    for init in (pkg / "__init__.py", pkg / "retrieval" / "__init__.py"):
        init.write_text("")
    (pkg / "retrieval" / "retrieve.py").write_text("from rag.retrieval import relevance\n")
    (pkg / "retrieval" / "relevance.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .retrieve import Candidate\n")
    (pkg / "service.py").write_text("def gate():\n    from rag import gate\n")
    (pkg / "gate.py").write_text("import rag.service\n")
    assert circles(import_graph(tmp_path, ("rag",))) == [
        ["rag.gate", "rag.service"], ["rag.retrieval.relevance", "rag.retrieval.retrieve"]]


def test_layers_point_one_way():
    """rag/ knows nothing of Slack or the CLI; bot/ nothing of the CLI; the CLI calls the bot through bot/entry.py."""
    def allowed(name: str, target: str) -> bool:
        home, other = name.split(".")[0], target.split(".")[0]
        return home == other or any(target == door or target.startswith(f"{door}.") for door in LAYERS[home])

    wrong = [f"{name} imports {target}" for name, targets in import_graph(ROOT).items() for target in targets
             if not allowed(name, target)]
    assert wrong == []


# What bot/ and the CLI may use of the core besides its front door (rag/service.py): value types, rules both
# sides must apply alike, and the operations the CLI runs itself. A new entry is a decision, not an accident.
CORE_FOR_CALLERS = {
    "rag.service", "rag.values", "rag.config",
    "rag.language.cjk",  # who writes Chinese: the bot's labels follow the core's notices
    "rag.retrieval.scope",  # a channel's scope: listings and retrieval apply one rule
    "rag.answering.source_lines", "rag.answering.links", "rag.answering.freshness",  # one source line, two surfaces
    "rag.index.catalog", "rag.index.state", "rag.index.state_rows",  # records of documents and syncs
    "rag.index.privacy", "rag.index.sqlite_file",  # the privacy rule and the one way to open a SQLite file
    "rag.ops.secrets", "rag.ops.redis_client", "rag.ops.locks_redis", "rag.ops.cron",  # shared infrastructure rules
    "rag.ops.sync_gate", "rag.ops.evaluate", "rag.ops.gaps", "rag.ops.scheduler",  # operations the CLI runs
    "rag.ingest.embeddings",  # doctor's line on the embedding backend
    "rag.ingest.sync.roots",  # doctor's "is this the bundled sample folder"
}


def test_callers_use_only_the_cores_front_door_and_shared_rules():
    used = {target for name, targets in import_graph(ROOT).items() if name.split(".")[0] in ("bot", "ragbot")
            for target in targets if target.split(".")[0] == "rag"}
    assert used - CORE_FOR_CALLERS == set()


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_past_the_size_limit(package: str):
    long = {str(path.relative_to(ROOT)): n for path in (ROOT / package).rglob("*.py")
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these along their jobs (over {MAX_LINES} lines): {long}"


def test_product_code_reads_no_test_only_switch():
    readers = [str(path.relative_to(ROOT)) for package in PACKAGES for path in (ROOT / package).rglob("*.py")
               if TEST_ONLY in path.read_text(encoding="utf-8")]
    assert readers == [], f"{TEST_ONLY}* read by product code: inject it from tests instead"


def test_the_readme_layout_names_every_rag_folder():
    """A contributor finds where a change goes from README's map: every folder of rag/ and bot/ is in it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## How it works"):]
    folders = sorted({path.parent.relative_to(ROOT / package).parts[0] for package in ("rag", "bot")
                      for path in (ROOT / package).glob("*/__init__.py")})
    missing = [f for f in folders if f"{f}/" not in layout]
    assert missing == []

