"""What a channel may see (CHANNEL_SCOPES): one rule for retrieval and for listings.

A path prefix names a folder (or one file) relative to the docs root and matches on
folder boundaries: `hr_docs/` admits `hr_docs/leave.md` and `hr_docs/a/b.md`, never
`hrXdocs/…` nor `hr_docs_old/…`. Characters mean themselves (`_`, `%`, `'`, spaces,
non-ASCII; names are compared in Unicode NFC, so a folder made on a Mac matches the
same name typed in Slack). Kinds match without regard to case. Retrieval pushes the
same rule into the LanceDB filter (`starts_with`, no LIKE wildcards) so a narrow scope
keeps its recall, and checks every hit with `admits` again.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def normalise_prefix(prefix: str) -> str:
    """`./hr_docs/`, `/hr_docs`, `hr_docs/*`, `hr_docs/**` → `hr_docs`; '' means the whole docs folder."""
    cleaned = prefix.strip().replace("\\", "/")
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    cleaned = cleaned.lstrip("/")
    while cleaned.endswith(("/**", "/*")):
        cleaned = cleaned.rsplit("/", 1)[0]
    if cleaned in ("*", "**"):
        cleaned = ""
    return _nfc(cleaned.rstrip("/"))


def _sql_str(value: str) -> str:
    """A LanceDB (DataFusion) SQL string literal: only the quote is special."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Scope:
    """Limits what a channel may see: path prefixes and/or kinds. Empty means everything."""

    path_prefixes: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    @property
    def folders(self) -> tuple[str, ...]:
        return tuple(normalise_prefix(p) for p in self.path_prefixes)

    def admits_path(self, rel_path: str) -> bool:
        if not self.path_prefixes:
            return True
        path = _nfc(rel_path)
        return any(not f or path == f or path.startswith(f + "/") for f in self.folders)

    def admits_kind(self, kind: str) -> bool:
        return not self.kinds or kind.lower() in {k.lower() for k in self.kinds}

    def admits(self, rel_path: str, kind: str) -> bool:
        """The rule: is this document in this scope?"""
        return self.admits_path(rel_path) and self.admits_kind(kind)

    def where(self) -> str | None:
        """The same rule as a LanceDB filter on `doc_path` and `kind` (None when it admits everything).

        Both the NFC and NFD spellings of a folder are asked for, since the index keeps names as
        the file system gave them; `admits` is applied to the results as well.
        """
        clauses = []
        if self.path_prefixes and all(self.folders):
            clauses.append("(" + " OR ".join(_path_clauses(self.folders)) + ")")
        if self.kinds:
            clauses.append("lower(kind) IN (" + ", ".join(_sql_str(k.lower()) for k in self.kinds) + ")")
        return " AND ".join(clauses) or None


def _path_clauses(folders: Iterable[str]) -> list[str]:
    out: list[str] = []
    for folder in folders:
        for spelling in dict.fromkeys((folder, unicodedata.normalize("NFD", folder))):
            out.append(f"doc_path = {_sql_str(spelling)}")
            out.append(f"starts_with(doc_path, {_sql_str(spelling + '/')})")
    return out
