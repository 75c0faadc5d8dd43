"""One sync at a time across hosts: a Redis lock with a token and a lease (REDIS_URL).

`rag.ops.locks.SyncLock` (a file lock) keeps syncs apart on one host, and the OS frees
it when its holder dies. Across hosts the lock is a Redis key set with NX and an
expiry (the lease), holding a random token and who holds it; a thread renews the
expiry while the sync runs, and only the holder of the token may renew or delete
it (compare-and-set in Lua). A holder killed with -9 stops renewing, so the key
expires and the next sync starts at most one lease later.

The lease only has to outlive a renewal gap (a renewal every lease/3), not a
sync: a long sync keeps its lock for as long as it runs.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from rag.index.catalog import SyncAlreadyRunning
from rag.ops.redis_client import check_redis_url, connect, describe

__all__ = ["RedisSyncLock", "SyncLockLike", "SyncLockUnavailable", "check_redis_url", "sync_lock_for"]

log = logging.getLogger(__name__)

KEY = "{ragbot}:sync-lock"
DEFAULT_LEASE_SECONDS = 60.0

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SyncLockLike(Protocol):
    def acquire(self, trigger: str) -> None: ...
    def release(self) -> None: ...
    def running_since(self) -> datetime | None: ...


def sync_lock_for(state_dir: Path, redis_url: str | None, *, lease_seconds: float = DEFAULT_LEASE_SECONDS
                  ) -> SyncLockLike:
    """The Redis lock when REDIS_URL is set, else the host's file lock."""
    if redis_url:
        return RedisSyncLock(redis_url, lease_seconds=lease_seconds)
    from rag.ops.locks import SyncLock

    return SyncLock(state_dir)


class SyncLockUnavailable(RuntimeError):
    """Redis, which holds the sync lock, did not answer: whether a sync runs is unknown, so none is started."""


class RedisSyncLock:
    def __init__(self, url_or_client: Any, *, lease_seconds: float = DEFAULT_LEASE_SECONDS, key: str = KEY) -> None:
        self.where = describe(url_or_client) if isinstance(url_or_client, str) else "Redis"
        self.redis = connect(url_or_client) if isinstance(url_or_client, str) else url_or_client
        self.key = key
        self.lease_seconds = lease_seconds
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)
        self._token: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._local = threading.Lock()  # one holder per process object

    def acquire(self, trigger: str) -> None:
        """Take the lock or raise `SyncAlreadyRunning` saying since when the other sync runs."""
        if not self._local.acquire(blocking=False):
            raise SyncAlreadyRunning(*self._holder())
        try:
            token = uuid.uuid4().hex
            info = {"token": token, "since": datetime.now(UTC).isoformat(), "trigger": trigger,
                    "pid": os.getpid(), "host": socket.gethostname()}
            value = json.dumps(info)  # the whole value is the token: only its writer can renew or delete it
            try:
                taken = self.redis.set(self.key, value, nx=True, px=int(self.lease_seconds * 1000))
            except Exception as err:
                raise self._unavailable(err) from None
            if not taken:
                raise SyncAlreadyRunning(*self._holder())
        except BaseException:
            self._local.release()
            raise
        self._token = value
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._keep, args=(self._token, self._stop), name="sync-lock-lease",
                                         daemon=True)
        self._renewer.start()

    def _keep(self, token: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease_seconds / 3):
            try:
                if not self._renew(keys=[self.key], args=[token, int(self.lease_seconds * 1000)]):
                    log.error("the sync lock's lease ran out while this sync ran; another sync may start")
                    return
            except Exception as err:  # Redis away for a moment: the lease covers two more tries
                log.warning("could not renew the sync lock: %s", err)

    def release(self) -> None:
        try:
            self._stop.set()
            if self._token is not None:
                try:
                    self._release(keys=[self.key], args=[self._token])
                except Exception as err:  # the lease frees it: nobody waits longer than SYNC_LOCK_LEASE_SECONDS
                    log.warning("could not release the sync lock on Redis (%s); it frees itself within "
                                "SYNC_LOCK_LEASE_SECONDS", type(err).__name__)
        finally:
            self._token = None
            self._local.release()

    def running_since(self) -> datetime | None:
        """When the sync holding the lock started, or None when no sync runs (`SyncLockUnavailable`: unknown)."""
        try:
            raw = self.redis.get(self.key)
        except Exception as err:
            raise self._unavailable(err) from None
        if raw is None:
            return None
        return self._parse(raw)[0]

    def _unavailable(self, err: BaseException) -> SyncLockUnavailable:
        return SyncLockUnavailable(f"Redis ({self.where}, REDIS_URL) is not answering, so no sync can start "
                                   f"now ({type(err).__name__}); try again in a minute")

    def _holder(self) -> tuple[datetime, str]:
        try:
            raw = self.redis.get(self.key)
        except Exception:
            raw = None
        return self._parse(raw) if raw is not None else (datetime.now(UTC), "")

    @staticmethod
    def _parse(raw: bytes | str) -> tuple[datetime, str]:
        try:
            info = json.loads(raw)
            return (datetime.fromisoformat(info["since"]),
                    f"{info.get('trigger', '?')}, pid {info.get('pid')} on {info.get('host', '?')}")
        except (ValueError, KeyError, TypeError):
            return datetime.now(UTC), ""
