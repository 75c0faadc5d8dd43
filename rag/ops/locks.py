"""One sync at a time per index: a thread lock in-process plus a file lock across processes.

The scheduled job, a manual "sync now" and other bot replicas on the same host
all go through this lock, so APScheduler's `max_instances` (which does not cover
one-off jobs with another id) is not what keeps syncs apart. The OS releases a
`flock` when its holder dies, so a sync killed with -9 never leaves the index
locked.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from rag.index.catalog import SyncAlreadyRunning

log = logging.getLogger(__name__)

_process_locks: dict[Path, threading.Lock] = {}
_registry_lock = threading.Lock()


class SyncLock:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._info_path = state_dir / "sync.lock.json"
        self._file_lock = FileLock(str(state_dir / "sync.lock"), timeout=0, thread_local=False)
        with _registry_lock:
            self._thread_lock = _process_locks.setdefault(state_dir.resolve(), threading.Lock())

    def acquire(self, trigger: str) -> None:
        """Take the lock or raise `SyncAlreadyRunning` saying since when the other sync runs."""
        if not self._thread_lock.acquire(blocking=False):
            raise SyncAlreadyRunning(*self._holder())
        try:
            self._file_lock.acquire()
        except Timeout:
            self._thread_lock.release()
            raise SyncAlreadyRunning(*self._holder()) from None
        except BaseException:  # e.g. the state folder is not writable: do not leave the thread lock taken
            self._thread_lock.release()
            raise
        info = {"pid": os.getpid(), "since": datetime.now(UTC).isoformat(), "trigger": trigger}
        tmp = self._info_path.with_suffix(f".{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(info))
            os.replace(tmp, self._info_path)  # a waiting process never reads half a file
        except OSError as err:  # only the "since when" message depends on it
            log.warning("could not record the sync lock holder: %s", err)

    def release(self) -> None:
        try:
            self._info_path.unlink(missing_ok=True)
        finally:
            self._file_lock.release()
            self._thread_lock.release()

    def running_since(self) -> datetime | None:
        """When the sync holding the lock started, or None when no sync runs."""
        if self._thread_lock.locked():
            return self._holder()[0]
        probe = FileLock(self._file_lock.lock_file, timeout=0)
        try:
            probe.acquire()
        except Timeout:
            return self._holder()[0]
        probe.release()
        return None

    def _holder(self) -> tuple[datetime, str]:
        try:
            info = json.loads(self._info_path.read_text())
            return datetime.fromisoformat(info["since"]), f"{info.get('trigger', '?')}, pid {info.get('pid')}"
        except (OSError, ValueError, KeyError):
            return datetime.now(UTC), ""
