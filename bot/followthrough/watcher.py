"""Follow-through: a posted answer whose cited document changed, moved or was withdrawn gets a visible notice.

The answer stays as it was written; a context block above it says what happened
("⚠ *Leave policy* changed on 2026-12-03, after this answer — ask again for the
current version"), in Traditional Chinese for answers to Chinese questions.

- `record` (after the final message is delivered) puts the answer in the ledger
  (bot/followthrough/ledger.py: SQLite, or Redis with REDIS_URL) with the indexed version of each
  document it cites (the index row's hash, so replicas without a sync manifest of
  their own record it right too).
- `after_sync` (the bot's own syncs) and `check_index` (a scheduler job every
  ANSWER_CHECK_SECONDS, for syncs run by the CLI, the sync writer or another replica:
  the index's version moved) compare the ledger with the documents as indexed now and
  queue the answers to mark. Every replica does it; the ledger's atomic claims queue
  each change once, and a replica that dies mid-way leaves the rest to the others.
- The edit only ever puts the bot's notice above the answer as the bot recorded it (on
  Redis, signed: bot/durable/records.py). Every file-derived string in a notice is escaped, and a
  document moved where the answer's channel may not look (CHANNEL_SCOPES) is said to have
  "moved out of this channel's documents", never where to.
- A courier thread edits them with `chat.update` (Tier 3), within the optional share
  of the method's budget that bot/pacing keeps, so answers being delivered keep
  theirs; a `ratelimited` answer (its Retry-After is in the pacer) or another
  transient failure is retried later with backoff; nothing here ever waits in a
  listener or an answer. A message deleted in Slack (`message_not_found`,
  `cant_update_message`) or a channel gone is dropped from the ledger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from slack_sdk import WebClient

from bot.delivery.mrkdwn import SECTION_LIMIT, safe_text
from bot.delivery.pacing import Pacer, pacer_for
from bot.delivery.render import FALLBACK_TEXT_LIMIT, MAX_BLOCKS, SlackMessage
from bot.delivery.slack_calls import RetryPolicy, SlackCaller
from bot.followthrough.ledger import AnswerLedger, CitedDocument, Notice, PostedAnswer
from rag.index.privacy import PrivacyRule
from rag.index.state import FileRecord
from rag.language.cjk import is_chinese

if TYPE_CHECKING:
    from rag.retrieval.scope import Scope
    from rag.service import RagService
    from rag.values import Answer

log = logging.getLogger(__name__)

METHOD = "chat.update"
# chat.update errors after which the message can never be edited (spec chat.update, slack-api-ref)
GONE = {"message_not_found", "cant_update_message", "channel_not_found", "is_archived", "edit_window_closed"}
MAX_TRIES = 8
BACKOFF_FIRST_S, BACKOFF_MAX_S = 5.0, 600.0
IDLE_WAIT_S = 30.0

NOTICES = {
    "en": {
        "changed": ":warning: *{title}* changed on {date}, after this answer — ask again for the current version",
        "withdrawn": ":warning: *{title}* was withdrawn on {date}, after this answer — ask again for the current "
                     "version",
        "moved": ":warning: *{title}* moved to `{new_path}` on {date}, after this answer — ask again for a "
                 "working link",
        "moved_away": ":warning: *{title}* moved out of this channel's documents on {date}, after this answer — "
                      "ask again",
    },
    "zh": {
        "changed": ":warning: *{title}* 已於 {date} 更新（在此回答之後）— 請重新提問以取得最新版本",
        "withdrawn": ":warning: *{title}* 已於 {date} 撤下（在此回答之後）— 請重新提問以取得最新版本",
        "moved": ":warning: *{title}* 已於 {date} 移至 `{new_path}` — 請重新提問以取得有效連結",
        "moved_away": ":warning: *{title}* 已於 {date} 移出此頻道可查閱的文件（在此回答之後）— 請重新提問",
    },
}


def notice_line(notice: Notice, lang: str, scope: Scope | None = None) -> str:
    """One notice; `scope` is the answer's channel's (CHANNEL_SCOPES): a move it may not see names no path."""
    kind: str = notice.kind
    if kind == "moved" and scope is not None and not scope.admits(notice.new_path or "", notice.new_kind or ""):
        kind = "moved_away"
    template = NOTICES.get(lang, NOTICES["en"])[kind]
    return template.format(title=_inline(notice.title or notice.path), date=notice.at.date().isoformat(),
                           new_path=_inline(notice.new_path or "").replace("`", "'"))


def _inline(text: str) -> str:
    """A file-derived string inside one line of mrkdwn: escaped (no mention, broadcast or link survives), on
    one line, its `*` unable to end the bold around it."""
    return safe_text(" ".join(text.split())).replace("*", "∗")


def marked_message(answer: PostedAnswer, scope: Scope | None = None) -> SlackMessage:
    """The answer's final message as it was posted, with its notices in a context block above it."""
    lines = [notice_line(n, answer.lang, scope)[:SECTION_LIMIT] for n in answer.notices][:10]  # ≤ 10 elements
    base = list(answer.blocks)
    if len(base) + 1 > MAX_BLOCKS:  # a full message gives up its divider for the notice
        base = [b for i, b in enumerate(base) if not (b.get("type") == "divider" and i == _first_divider(base))]
    blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": line} for line in lines]}] + base
    text = "\n".join(lines) + "\n\n" + answer.text
    return SlackMessage(text=text[:FALLBACK_TEXT_LIMIT], blocks=blocks[:MAX_BLOCKS])


def _first_divider(blocks: list[dict]) -> int:
    return next((i for i, b in enumerate(blocks) if b.get("type") == "divider"), -1)


class FollowThrough:
    """One per bot process: records answers, marks them after syncs, edits them in the background."""

    def __init__(self, client: WebClient, rag: RagService, *, watch_days: float = 30.0,
                 pacer: Pacer | None = None, policy: RetryPolicy | None = None,
                 ledger: AnswerLedger | None = None,
                 scope_for: Callable[[str | None], Scope | None] | None = None) -> None:
        self.rag = rag
        self.watch_days = watch_days
        self.scope_for = scope_for or (lambda channel: None)
        from bot.coordination import open_ledger  # the one place the store is chosen

        self.ledger = ledger or open_ledger(rag.settings.resolved_state_dir, rag.settings.redis_url,
                                            watch_days=watch_days, rule=PrivacyRule.from_settings(rag.settings))
        self.slack = SlackCaller(client, pacer or pacer_for(client), policy or RetryPolicy())
        self.marked = 0  # answers edited with a notice by this process
        self._seen_version: int | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    # -- recording -------------------------------------------------------------------------------------
    def record(self, *, channel: str, thread_ts: str | None, ts: str | None, message: SlackMessage,
               answer: Answer) -> None:
        """Watch a delivered answer; never raises (the answer is already in Slack)."""
        if not ts or not answer.citations or self.watch_days <= 0:
            return
        try:
            # the version each passage was read from, as the index row said
            cited = [CitedDocument(c.rel_path, c.doc_sha256, c.title) for c in answer.citations]
            self.ledger.record(channel=channel, ts=ts, thread_ts=thread_ts, text=message.text,
                               blocks=message.blocks, lang="zh" if is_chinese(answer.question) else "en",
                               cited=cited)
        except Exception as err:  # the store is down (Redis frozen, a full disk): one line, not a traceback each time
            log.warning("could not record the answer in %s for follow-through: %s", channel, type(err).__name__)

    # -- after syncs -----------------------------------------------------------------------------------
    def after_sync(self) -> int:
        """Queue every watched answer whose cited documents changed; how many this process queued."""
        try:
            queued = self.ledger.mark(indexed_files(self.rag))
        except Exception:
            log.exception("follow-through after the sync failed")
            return 0
        if queued:
            log.info("%d posted answers cite changed documents; marking them", len(queued))
            self.wake()
        return len(queued)

    def check_index(self) -> int:
        """Scheduler job: follow through on index versions this process did not write (CLI, sync writer,
        other replicas), and take over edits a dead replica left queued."""
        queued = 0
        try:
            store = self.rag.store
            # a version in the middle of a sync may show a moved document gone: wait for the sync to end
            running = self.rag.sync_running_since() is not None
            version = int(store.table().version) if store.exists() and not running else None
        except Exception as err:  # e.g. Redis (the sync lock) not answering: the next round tries again
            log.warning("cannot tell whether the index changed: %s", err)
            version = None
        if version is not None and version != self._seen_version:
            queued = self.after_sync()
            self._seen_version = version
        try:
            due = self.ledger.next_due()
        except Exception:
            due = None
        if due is not None and due <= time.time():
            self.wake()
        return queued

    # -- the courier -----------------------------------------------------------------------------------
    def wake(self) -> None:
        with self._thread_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="follow-through", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self.ledger.claim_due()
            except Exception as err:
                log.warning("follow-through queue unreadable: %s", type(err).__name__)
                batch = []
            if not batch:
                self._idle()
                continue
            for answer in batch:
                if self._stop.is_set() or not self._wait_for_budget():
                    return
                self._edit(answer)

    def _idle(self) -> None:
        try:
            due = self.ledger.next_due()
        except Exception:
            due = None
        wait = IDLE_WAIT_S if due is None else min(IDLE_WAIT_S, max(0.05, due - time.time()))
        self._wake.wait(wait)
        self._wake.clear()

    def _wait_for_budget(self) -> bool:
        """Until an optional chat.update fits (answers keep the rest of the tier); False when stopping."""
        pacer = self.slack.pacer
        while not pacer.allows(METHOD):
            if self._stop.wait(max(0.2, min(5.0, pacer.wait_needed(METHOD) or 1.0))):
                return False
        return True

    def _edit(self, answer: PostedAnswer) -> None:
        if not answer.notices:  # only notices someone else wrote, now dropped: nothing of ours to add
            self.ledger.done(answer)
            return
        message = marked_message(answer, self.scope_for(answer.channel))
        try:
            result = self.slack.once(METHOD, channel=answer.channel, ts=answer.ts, text=message.text,
                                     blocks=message.blocks)
            failure = result.failure
            if failure is None:
                self.ledger.done(answer)
                self.marked += 1
            elif failure.code in GONE:
                log.info("answer %s in %s can no longer be edited (%s); no longer watched", answer.ts,
                         answer.channel, failure.code)
                self.ledger.drop(answer.id)
            elif failure.transient and answer.tries < MAX_TRIES:
                delay = failure.retry_after or min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** answer.tries)
                self.ledger.retry_later(answer.id, delay)
            else:
                log.warning("could not mark answer %s in %s (%s); giving up", answer.ts, answer.channel,
                            failure.code)
                self.ledger.done(answer)
        except Exception:
            log.exception("marking answer %s in %s failed", answer.ts, answer.channel)
            try:
                self.ledger.retry_later(answer.id, BACKOFF_MAX_S)
            except Exception:
                log.exception("follow-through queue unwritable")


def indexed_files(rag: RagService) -> dict[str, FileRecord]:
    """The documents as the index holds them now: what every replica sees, with or without a sync manifest."""
    files = {}
    for path, doc in rag.store.document_summaries().items():
        files[path] = FileRecord(rel_path=path, size=0, mtime_ns=0, sha256=str(doc.get("doc_sha256") or ""),
                                 kind=str(doc.get("kind") or ""), format=str(doc.get("format") or ""),
                                 title=str(doc.get("title") or path), link=str(doc.get("link") or ""),
                                 modified=doc.get("modified"), chunk_ids=list(doc["chunk_ids"]))
    return files
