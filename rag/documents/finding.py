"""Which files under the documents folder are documents: include/exclude globs, safe walking."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)


def iter_document_paths(root: Path, include: list[str], exclude: list[str]) -> list[Path]:
    """Files under `root` matching an include glob and no exclude glob, sorted by relative path.

    Globs use gitignore-like rules on the POSIX relative path: `*` stays within one folder,
    `**/` spans any number of folders (including none), a pattern without `/` matches at any
    depth, and an excluded folder excludes everything in it (so `**/.*` also hides `.git/`).
    Matching ignores case, so `Policy.PDF` is found by `**/*.pdf`. A missing root raises
    instead of returning nothing: the sync must not read an unmounted share as "all deleted".
    """
    if not root.exists():
        raise FileNotFoundError(f"documents folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"documents path is not a folder: {root}")
    includes = [_glob_regex(p) for p in include if p.strip()]
    excludes = [_glob_regex(p) for p in exclude if p.strip()]
    found = sorted(rel for rel in _walk_files(root, excludes) if any(r.fullmatch(rel) for r in includes))
    return [root / rel for rel in found]


def _walk_files(root: Path, excludes: list[re.Pattern[str]]) -> Iterator[str]:
    """Relative POSIX paths of regular files, pruning excluded folders and symlink loops."""
    root_abs = os.path.abspath(root)

    def on_error(err: OSError) -> None:
        if err.filename is not None and os.path.abspath(err.filename) == root_abs:
            raise err  # an unreadable root must not look like an empty one
        logger.warning("skipping unreadable folder %s: %s", err.filename, err.strerror)

    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # a symlink back up the tree
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not any(r.fullmatch(prefix + d) for r in excludes))
        for name in filenames:
            rel = prefix + name
            if not any(r.fullmatch(rel) for r in excludes) and os.path.isfile(os.path.join(dirpath, name)):
                yield rel


def _glob_regex(pattern: str) -> re.Pattern[str]:
    pat = pattern.strip().replace("\\", "/")
    while pat.startswith("./"):
        pat = pat[2:]
    pat = pat.lstrip("/")
    if "/" not in pat:
        pat = "**/" + pat
    out: list[str] = []
    i = 0
    while i < len(pat):
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("/**", i) and i + 3 == len(pat):
            out.append("(?:/.*)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif pat[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pat[i] == "?":
            out.append("[^/]")
            i += 1
        elif pat[i] == "[" and (j := pat.find("]", i + 2)) != -1:
            body = pat[i + 1:j].replace("\\", "\\\\")
            if body.startswith("!"):
                body = "^" + body[1:]
            elif body.startswith("^"):
                body = "\\" + body
            out.append(f"[{body}]")
            i = j + 1
        else:
            out.append(re.escape(pat[i]))
            i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)
