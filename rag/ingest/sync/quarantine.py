"""A file whose parse kills the sync is quarantined: never parsed again until its bytes change.

A hostile or broken file can take the whole process down while it is read (the kernel's OOM
killer, a crash in a parser's C code); no exception is raised, so nothing could record it, and
the start-up sync would read it again after every restart. So the sync writes "parsing X" next
to the state DB before each parse and removes it after. A marker still there at the next sync
means the process died reading X: X is recorded as quarantined (`ragbot sources`, the sync
report, `/healthz`) and left alone until the file changes or `ragbot release X`.

The marker is a small file replaced atomically, not an SQLite transaction: a kill -9 keeps what
was written (the page cache survives the process), and two fsyncs per file would cost a full
ingest of 10,000 files a minute.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MARKER = "parsing.json"


@dataclass(frozen=True)
class LeftOver:
    """The file a sync was parsing when its process died."""

    rel_path: str
    size: int
    mtime_ns: int
    sha256: str | None
    since: datetime

    @property
    def reason(self) -> str:
        when = self.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (f"a sync stopped while reading this file ({when}: killed, out of memory or crashed); quarantined, "
                "not read again until the file changes")


class ParseMarker:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / MARKER

    def begin(self, rel_path: str, size: int, mtime_ns: int, sha256: str | None) -> None:
        record = {"path": rel_path, "size": size, "mtime_ns": mtime_ns, "sha256": sha256,
                  "since": datetime.now(UTC).isoformat()}
        tmp = self.path.with_name(MARKER + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, self.path)

    def end(self) -> None:
        self.path.unlink(missing_ok=True)

    def left_over(self) -> LeftOver | None:
        """What the last sync was parsing when it died, or None (call under the sync lock)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return LeftOver(str(data["path"]), int(data["size"]), int(data["mtime_ns"]), data.get("sha256"),
                            datetime.fromisoformat(data["since"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):  # unreadable: nothing to go by
            self.end()
            return None
