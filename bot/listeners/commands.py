"""/rag-sources (what the bot knows, paged) and /rag-resync (admins only: sync now and report).

Each is acked at once with what can be said then; the listing and the sync run on the control pool and answer
through the command's response_url (then ephemeral, then a DM, when that expired).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, Respond

from bot.delivery.listings import sources_page, sync_report_message, sync_status_line
from bot.delivery.render import SlackMessage, notice_message
from bot.listeners.common import reason
from rag.ops.locks_redis import SyncLockUnavailable
from rag.service import SyncAlreadyRunning

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.config import BotSettings
    from bot.delivery.redact import Redactor
    from bot.followthrough.watcher import FollowThrough
    from bot.listeners.admins import AdminCheck
    from bot.workers import WorkerPool
    from rag.service import RagService

log = logging.getLogger(__name__)

REFUSAL = (":no_entry: Only the bot's admins can run `/rag-resync`. Nothing was started. "
           "Ask an admin (listed in ADMIN_USER_IDS) if the documents look out of date.")
COMMAND_BUSY = ":hourglass: I'm overloaded right now; please try again in a minute."


class Commands:
    def __init__(self, *, rag: RagService, client: WebClient, settings: BotSettings, admins: AdminCheck,
                 control: WorkerPool, followthrough: FollowThrough | None, redactor: Redactor) -> None:
        self.rag, self.client, self.settings, self.admins = rag, client, settings, admins
        self.control, self.followthrough, self.redactor = control, followthrough, redactor

    def on_sources(self, ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        filter_text = (command.get("text") or "").strip()
        job = partial(self.send_sources, respond, filter_text, command.get("channel_id"), 0, False)
        if self.control.submit(job) is None:
            ack(text=COMMAND_BUSY)
        else:
            ack()

    def on_sources_page(self, ack: Ack, body: dict[str, Any], action: dict[str, Any],
                        respond: Respond) -> None:
        ack()
        try:
            value = json.loads(action.get("value") or "{}")
        except json.JSONDecodeError:
            value = {}
        channel = (body.get("channel") or {}).get("id")
        page = int(value.get("p") or 0)
        job = partial(self.send_sources, respond, str(value.get("f") or ""), channel, page, True)
        if self.control.submit(job) is None:
            log.warning("control pool full; page request dropped")

    def send_sources(self, respond: Respond, filter_text: str, channel: str | None, page: int,
                     replace: bool) -> None:
        now = datetime.now(UTC)
        try:
            scope = self.settings.scope_for(channel)
            docs = self.rag.documents(filter_text or None, scope=scope)  # the rule retrieval uses too
            docs.sort(key=lambda d: ((d.title or d.rel_path).lower(), d.rel_path))
            try:
                running = self.rag.sync_running_since()
            except SyncLockUnavailable:  # Redis is down: list the documents all the same
                running = None
            header = sync_status_line(self.rag.last_sync_report(), running, now)
            message = sources_page(docs, filter_text=filter_text, page=page, now=now, header=header,
                                   scope=scope)
        except Exception as err:
            log.exception("listing documents failed")
            message = notice_message(f"Couldn't list the documents: {reason(self.redactor, err)}", icon=":x:")
        try:
            respond(text=message.text, blocks=message.blocks, response_type="ephemeral",
                    replace_original=replace)
        except Exception as err:
            log.error("could not send the document list: %s", reason(self.redactor, err))

    # --- /rag-resync ------------------------------------------------------------------------------

    def on_resync(self, ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        user = str(command.get("user_id") or "")
        words = (command.get("text") or "").lower().split()
        full = "full" in words
        listed = self.admins.is_listed(user)
        if not listed and not self.admins.needs_lookup:
            log.info("/rag-resync refused for %s", user)
            ack(text=REFUSAL)
            return
        if listed:
            try:
                running = self.rag.sync_running_since()
            except SyncLockUnavailable as err:  # Redis is down: say why, never an HTTP 500
                ack(text=f":x: {err}")
                return
            if running is not None:
                ack(text=_already_running(running))
                return
        job = partial(self.run_sync, user, str(command.get("channel_id") or ""), respond, full, not listed)
        if self.control.submit(job) is None:
            ack(text=COMMAND_BUSY)
        elif listed:
            ack(text=f":arrows_counterclockwise: Sync started{' (full re-index)' if full else ''}… "
                     "I'll post the report here when it's done.")
        else:
            ack()

    def run_sync(self, user: str, channel: str, respond: Respond, full: bool, check_admin: bool) -> None:
        deliver = partial(self._deliver_private, respond, user, channel)
        if check_admin:
            if not self.admins.is_admin(user):
                log.info("/rag-resync refused for %s", user)
                deliver(notice_message(REFUSAL, icon=""))
                return
            try:
                running = self.rag.sync_running_since()
            except SyncLockUnavailable as err:
                deliver(notice_message(str(err), icon=":x:"))
                return
            if running is not None:
                deliver(notice_message(_already_running(running), icon=""))
                return
            deliver(notice_message("Sync started… I'll post the report here when it's done.",
                                   icon=":arrows_counterclockwise:"))
        try:
            report = self.rag.sync(trigger=f"slack:{user}", full=full)
        except SyncAlreadyRunning as err:
            deliver(notice_message(f"{err}; not starting a second one.", icon=":hourglass:"))
        except Exception as err:
            log.exception("sync requested by %s failed", user)
            deliver(notice_message(f"The sync failed: {reason(self.redactor, err)}", icon=":x:"))
        else:
            if self.followthrough is not None:
                report.answers_marked = self.followthrough.after_sync()
            deliver(sync_report_message(report))

    def _deliver_private(self, respond: Respond, user: str, channel: str, message: SlackMessage) -> None:
        """Through the command's response_url; if that expired (30 min), ephemeral, then a DM."""
        attempts: list[Callable[[], Any]] = [
            lambda: respond(text=message.text, blocks=message.blocks, response_type="ephemeral",
                            replace_original=False),
            lambda: self.client.chat_postEphemeral(channel=channel, user=user, text=message.text,
                                                      blocks=message.blocks),
            lambda: self.client.chat_postMessage(channel=user, text=message.text, blocks=message.blocks),
        ]
        for attempt in attempts:
            try:
                result = attempt()
                if getattr(result, "status_code", 200) < 300:
                    return
            except Exception as err:
                log.warning("could not deliver a message to %s: %s", user, reason(self.redactor, err))
        log.error("gave up delivering a message to %s", user)


def _already_running(since: datetime) -> str:
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return (f":hourglass: A sync is already running (started {since.astimezone(UTC):%H:%M} UTC); "
            "not starting a second one. Its result will show in `/rag-sources`.")
