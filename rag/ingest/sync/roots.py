"""The docs root an index belongs to, and what the sync tells each kind of caller it can do.

An index remembers the folder it was built from (state DB `meta`). Without DOCS_DIR
(env, .env or --docs-dir) every command uses that folder, so `ragbot ingest /srv/docs`
followed by `ragbot serve` never mixes in the sample documents. A sync of another
folder is refused unless the caller asks to switch; then the old folder's documents
leave the index in that same sync. An index built before roots were remembered
gets its root back from its documents' file:// links. An index of the bundled sample
documents (this checkout's examples/docs, what an older `make demo` built in data/index)
gives way to one's own folder without the option: nobody's documents are lost by it.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from rag.index.state import FileRecord, StateDB
from rag.ingest.sync.scan import SyncRefused

SWITCH_OPTION = "--switch-docs-root"
MASS_DELETE_OPTION = "--allow-mass-delete"


def real_root(path: Path) -> str:
    return os.path.realpath(path)


def inferred_root(records: dict[str, FileRecord]) -> str | None:
    """The root of an index from before roots were remembered: a file:// link minus its relative path."""
    for rec in records.values():
        if not rec.link.startswith("file://"):
            continue
        full = urllib.parse.unquote(urllib.parse.urlparse(rec.link).path)
        suffix = "/" + rec.rel_path
        if full.endswith(suffix):
            return full[: -len(suffix)] or "/"
    return None


def bundled_samples() -> str:
    """The real path of this checkout's sample documents (examples/docs), whether or not it exists."""
    return real_root(Path(__file__).resolve().parents[3] / "examples" / "docs")


def option_hint(trigger: str, option: str) -> str:
    """How whoever started this sync can pass `option`: only ever an option their command has."""
    if trigger == "ingest":
        return f"re-run `ragbot ingest DOCS_DIR {option}`"
    if trigger in ("cli", "manual"):
        return f"re-run `ragbot sync {option}`"
    if trigger.startswith("slack:"):
        return f"`/rag-resync` cannot do that; run `ragbot sync {option}` on the bot's host"
    return f"run `ragbot sync {option}` once on the bot's host (a {trigger} sync never does it on its own)"


def check_docs_root(state: StateDB, docs_dir: Path, records: dict[str, FileRecord], *, switch: bool,
                    trigger: str) -> str | None:
    """Refuse to sync another folder into an index built from a different one; returns the old root
    when switching (its documents then leave the index), else None."""
    remembered = state.docs_root() or inferred_root(records)
    current = real_root(docs_dir)
    if remembered is None or remembered == current or not records:
        return None
    if switch or remembered == bundled_samples():
        return remembered
    raise SyncRefused(
        f"this index was built from {remembered}, not {current}; nothing was changed. To replace its documents "
        f"with those of {current}, {option_hint(trigger, SWITCH_OPTION)}; to keep it, leave DOCS_DIR unset "
        f"(the index's own folder is used) or set it to {remembered}."
    )
