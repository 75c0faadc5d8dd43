"""Who may run `/rag-resync`: listed user ids, and optionally Slack workspace admins/owners."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

log = logging.getLogger(__name__)

CACHE_SECONDS = 600.0


class AdminCheck:
    def __init__(self, client: WebClient, admin_ids: Iterable[str], *, include_workspace_admins: bool,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.admin_ids = frozenset(admin_ids)
        self.include_workspace_admins = include_workspace_admins
        self._clock = clock
        self._cache: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def is_listed(self, user_id: str) -> bool:
        return user_id in self.admin_ids

    @property
    def needs_lookup(self) -> bool:
        return self.include_workspace_admins

    def is_admin(self, user_id: str) -> bool:
        """Listed, or (when enabled) a workspace admin/owner per `users.info`; a failed lookup means no."""
        if self.is_listed(user_id):
            return True
        if not self.include_workspace_admins:
            return False
        now = self._clock()
        with self._lock:
            cached = self._cache.get(user_id)
            if cached and now - cached[0] < CACHE_SECONDS:
                return cached[1]
        try:
            user = self.client.users_info(user=user_id).get("user") or {}
        except SlackClientError as err:
            log.warning("users.info failed for %s: %s; treating as not an admin", user_id, err)
            return False
        verdict = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        with self._lock:
            self._cache[user_id] = (now, verdict)
        return verdict
