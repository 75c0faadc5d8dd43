"""Which document files the docs folder holds now: a stat of each, no reading, no hashing.

What is refused (symlinks, FIFOs, undecodable names: see `rag.ingest.documents.finding`) comes
back with its reason for the report. The error for a missing or unreadable folder says
which user this process runs as: a container's uid often cannot read a mounted share.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import RagSettings
from rag.ingest.documents.finding import find_documents
from rag.ingest.documents.safe_open import sha256_inside


class SyncRefused(Exception):
    """The sync would do harm (empty or missing source, another docs root); the index is kept as it is."""


@dataclass
class FileStat:
    path: Path
    rel_path: str
    size: int
    mtime_ns: int
    sha256: str | None = None


@dataclass
class Scan:
    stats: list[FileStat] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (printable path, reason)


def sha256_file(root: Path, rel_path: str) -> str:
    """The file's hash, read through the same guarded open as the parser (no symlink, no FIFO)."""
    return sha256_inside(root, rel_path)


def own_folders(settings: RagSettings) -> list[Path]:
    """The index and state folders: never documents, even when they live inside the docs folder."""
    folders = [settings.resolved_state_dir]
    if settings.index_is_local:
        folders.append(Path(settings.lancedb_uri.removeprefix("file://")))
    return [f if f.is_absolute() else Path.cwd() / f for f in folders]


def process_user() -> str:
    getuid = getattr(os, "getuid", None)
    return f"uid {getuid()}" if getuid else "this user"


def check_docs_folder(settings: RagSettings) -> None:
    """Refuse a sync of a docs folder that does not exist, before anything else is said about it."""
    root = settings.docs_dir
    if not root.exists():
        raise SyncRefused(f"docs folder {root} does not exist; the index was kept as it is (DOCS_DIR)")
    if not root.is_dir():
        raise SyncRefused(f"docs folder {root} is not a folder; the index was kept as it is (DOCS_DIR)")


def scan(settings: RagSettings) -> Scan:
    """Stat every document file under the docs root (no reading, no hashing)."""
    root = settings.docs_dir
    try:
        found = find_documents(root, settings.include_globs, settings.exclude_globs, never=own_folders(settings))
    except (FileNotFoundError, NotADirectoryError) as err:
        raise SyncRefused(f"docs folder {root} is missing or not a folder ({err.__class__.__name__}); "
                          "the index was kept as it is (DOCS_DIR)") from None
    except PermissionError:
        raise SyncRefused(f"docs folder {root} is not readable by this process ({process_user()}); make it "
                          "readable by that user (the container runs as uid 10001); the index was kept "
                          "as it is") from None
    result = Scan(skipped=found.skipped)
    for path in found.paths:
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            continue
        result.stats.append(FileStat(path, path.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return result
