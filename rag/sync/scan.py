"""Which document files the docs folder holds now: a stat of each, no reading, no hashing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from rag.config import RagSettings
from rag.documents import iter_document_paths


class SyncRefused(Exception):
    """The sync would do harm (empty or missing source); the index is kept as it is."""


@dataclass
class FileStat:
    path: Path
    rel_path: str
    size: int
    mtime_ns: int
    sha256: str | None = None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(settings: RagSettings) -> list[FileStat]:
    """Stat every document file under the docs root (no reading, no hashing)."""
    root = settings.docs_dir
    try:
        paths = iter_document_paths(root, settings.include_globs, settings.exclude_globs)
    except (FileNotFoundError, NotADirectoryError) as err:
        raise SyncRefused(f"docs folder {root} is missing or not a folder ({err.__class__.__name__}); "
                          "the index was kept as it is (DOCS_DIR)") from None
    except PermissionError:
        raise SyncRefused(f"docs folder {root} is not readable; the index was kept as it is") from None
    stats = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue
        stats.append(FileStat(path, path.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return stats
