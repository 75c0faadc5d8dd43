"""Which files under the documents folder are documents: include/exclude globs, and containment.

The docs share is untrusted input. Only regular files whose real path is inside
the root are documents: no symlink below the root is followed (one pointing
outside would publish `/etc/passwd` or the bot's own `.env`; one pointing inside
would index a file twice, or loop), FIFOs, sockets and devices are never opened,
names that are not valid UTF-8 cannot be stored or cited, and hidden entries
(`.git/`, `.env`) and the bot's own index and state folders are never documents,
whatever the globs say. Each refused entry that would otherwise be a document is
returned with the reason, for the sync report; so is every file of a type the bot
cannot read (.doc, .rtf, images …), wherever it is and whatever the globs say, so that
nothing in the share vanishes silently (EXCLUDE_GLOBS silences them).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rag.ingest.documents.formats import FORMATS, suffix_of, unsupported_reason
from rag.ingest.documents.safe_open import special_kind

logger = logging.getLogger(__name__)

OUTSIDE = "points outside the docs folder"


@dataclass
class FoundDocuments:
    paths: list[Path] = field(default_factory=list)  # root / relative path, sorted by relative path
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (printable relative path, reason)


def printable_path(rel_path: str) -> str:
    """A relative path safe to store, log and post: undecodable bytes and control characters escaped."""
    raw = os.fsencode(rel_path).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in raw)


def is_decodable(name: str) -> bool:
    """False for a name that was not valid UTF-8 on disk (Python keeps its bytes as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def iter_document_paths(root: Path, include: list[str], exclude: list[str]) -> list[Path]:
    """The documents under `root` (see `find_documents`), without the skipped entries."""
    return find_documents(root, include, exclude).paths


def find_documents(root: Path, include: list[str], exclude: list[str], *,
                   never: Iterable[Path] = ()) -> FoundDocuments:
    """Files under `root` matching an include glob and no exclude glob, sorted by relative path.

    Globs use gitignore-like rules on the POSIX relative path: `*` stays within one folder,
    `**/` spans any number of folders (including none), a pattern without `/` matches at any
    depth, and an excluded folder excludes everything in it. Matching ignores case, so
    `Policy.PDF` is found by `**/*.pdf`. `never` are folders (the index, the state) that are
    not walked even when they are under the root. A missing or unreadable root raises instead
    of returning nothing: the sync must not read an unmounted share as "all deleted".
    """
    if not root.exists():
        raise FileNotFoundError(f"documents folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"documents path is not a folder: {root}")
    includes = [_glob_regex(p) for p in include if p.strip()]
    excludes = [_glob_regex(p) for p in exclude if p.strip()]
    walker = _Walker(os.path.realpath(root), includes, excludes, {os.path.realpath(p) for p in never})
    walker.walk()
    found = FoundDocuments(skipped=sorted(walker.skipped))
    found.paths = [root / rel for rel in sorted(walker.files)]
    return found


class _Walker:
    """Walks the real tree below the root without following any symlink."""

    def __init__(self, root_real: str, includes: list[re.Pattern[str]], excludes: list[re.Pattern[str]],
                 never: set[str]) -> None:
        self.root_real = root_real
        self.includes, self.excludes, self.never = includes, excludes, never
        self.files: list[str] = []
        self.skipped: list[tuple[str, str]] = []

    def _wanted(self, rel: str) -> bool:
        return any(r.fullmatch(rel) for r in self.includes)

    def _excluded(self, rel: str) -> bool:
        return any(r.fullmatch(rel) for r in self.excludes)

    def walk(self) -> None:
        stack = [("", self.root_real)]
        while stack:
            prefix, folder = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda e: e.name, reverse=True)
            except OSError as err:
                if not prefix:
                    raise  # an unreadable root must not look like an empty one
                self.skipped.append((printable_path(prefix), f"cannot read the folder: {_uid_reason(err)}"))
                continue
            for entry in entries:
                rel = prefix + entry.name
                if entry.name.startswith(".") or self._excluded(rel) or entry.path in self.never:
                    continue  # hidden entries and the bot's own folders are never documents
                try:
                    mode = entry.stat(follow_symlinks=False).st_mode
                except OSError:
                    continue  # gone since the listing
                if stat.S_ISDIR(mode):
                    if not is_decodable(entry.name):
                        self.skipped.append((printable_path(rel) + "/", _UNDECODABLE))
                    else:
                        stack.append((rel + "/", entry.path))
                    continue
                if stat.S_ISLNK(mode):
                    self._link(entry.path, rel)
                    continue
                suffix = suffix_of(entry.name)
                if stat.S_ISREG(mode) and suffix not in FORMATS:
                    self.skipped.append((printable_path(rel), unsupported_reason(suffix)))
                    continue
                if not self._wanted(rel):
                    continue
                if not stat.S_ISREG(mode):
                    self.skipped.append((printable_path(rel), f"is {special_kind(mode)}: never opened"))
                elif not is_decodable(entry.name):
                    self.skipped.append((printable_path(rel), _UNDECODABLE))
                else:
                    self.files.append(rel)

    def _link(self, path: str, rel: str) -> None:
        """Report a symlink that would otherwise be a document (or lead to some); never follow it."""
        try:
            target = os.path.realpath(path, strict=True)
            is_dir = os.path.isdir(target)
        except OSError as err:
            if self._wanted(rel) or err.errno == errno.ELOOP:
                reason = "a symlink loop" if err.errno == errno.ELOOP else "a broken symlink (its target is missing)"
                self.skipped.append((printable_path(rel), reason))
            return
        if not is_dir and not self._wanted(rel):
            return
        shown = printable_path(rel) + ("/" if is_dir else "")
        inside = target == self.root_real or target.startswith(self.root_real.rstrip(os.sep) + os.sep)
        if not inside:
            self.skipped.append((shown, OUTSIDE))
            return
        where = printable_path(os.path.relpath(target, self.root_real).replace(os.sep, "/"))
        self.skipped.append((shown, f"a symlink to {where} inside the docs folder: not followed, "
                                    "so nothing is indexed twice"))


_UNDECODABLE = "the name is not valid UTF-8 (rename the file; it is shown here with its bytes escaped)"


def _uid_reason(err: OSError) -> str:
    if isinstance(err, PermissionError):
        return f"permission denied for this process (uid {_uid()})"
    return err.strerror or str(err)


def _uid() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid else "?"


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
