"""Bolt listeners and the jobs they enqueue.

Listeners only check, dedup (in the middleware), enqueue and ack: they run on
Bolt's small listener pool, which must stay free so every request is acked
within Slack's 3 seconds. Everything slow (generation, listings, syncs, Web API
calls) runs on the runtime's worker pools. Every path that accepted a request
ends in a visible message: the answer, a no-answer with a hint, "busy", or the
reason it failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, BoltContext, Respond

from bot.delivery.redact import describe_exception
from bot.delivery.render import (
    SlackMessage,
    answer_messages,
    notice_message,
    sources_page,
    sync_report_message,
    sync_status_line,
)
from bot.delivery.reply import ThreadReply
from bot.durable.answers import DurableAnswers
from bot.durable.jobqueue import Job
from bot.listeners.comments import FeedbackComments
from bot.listeners.questions import Question, is_answerable, question_from_event, thread_history
from bot.listeners.votes import Votes
from rag.locks_redis import SyncLockUnavailable
from rag.service import SyncAlreadyRunning

if TYPE_CHECKING:
    from bot.app import BotRuntime

log = logging.getLogger(__name__)

HELP = ("Ask me a question about the company documents, e.g. _@me how many days of annual leave do I get?_ "
        "I answer in a thread and cite the documents I used. `/rag-sources` lists what I know.")
REFUSAL = (":no_entry: Only the bot's admins can run `/rag-resync`. Nothing was started. "
           "Ask an admin (listed in ADMIN_USER_IDS) if the documents look out of date.")
COMMAND_BUSY = ":hourglass: I'm overloaded right now; please try again in a minute."


class Handlers:
    def __init__(self, runtime: BotRuntime) -> None:
        self.rt = runtime
        self.comments = FeedbackComments(runtime, self._submit_control)  # what a 👎 was about
        self.votes = Votes(runtime, self.comments, self._submit_control)  # 👍/👎, once per user per answer

    # --- questions --------------------------------------------------------------------------------

    def on_event(self, body: dict[str, Any], context: BoltContext) -> None:
        """`app_mention` and `message` events: enqueue an answer for mentions and DMs."""
        if not is_answerable(body):
            return
        question: Question | None = None
        try:
            self.rt.bot_user_id = context.bot_user_id or self.rt.bot_user_id
            self.rt.bot_id = context.bot_id or self.rt.bot_id
            question = question_from_event(body, bot_user_id=self.rt.bot_user_id, bot_id=self.rt.bot_id)
            reply = self._reply_for(question)
            if not question.text:
                self._submit_control(partial(reply.finish, [notice_message(HELP, icon=":wave:")]))
                self._forget(question)
                return
            accepted = self.rt.answers.submit(partial(self.answer, question, reply))
            if accepted is None:
                self._post_busy(question)
                self._forget(question)
            elif not accepted.starts_now:
                self.rt.control.submit(partial(reply.queued, accepted.position))
        except Exception as err:  # never leave the asker with nothing
            log.exception("could not accept event %s", body.get("event_id"))
            if question is not None:
                self._post_quietly(question, notice_message(
                    f"Sorry, something went wrong before I could start: {self._reason(err)}", icon=":x:"))
                self._forget(question)

    def resume(self, job: Job) -> None:
        """A question whose process stopped before answering (bot.durable.jobqueue.JobKeeper): answer it here."""
        record = job.record
        question = question_from_event(record["body"], bot_user_id=record.get("bot_user_id") or self.rt.bot_user_id,
                                       bot_id=record.get("bot_id") or self.rt.bot_id)
        if DurableAnswers.exhausted(job):
            self._post_quietly(question, notice_message(
                f"Sorry, I couldn't answer this after {job.attempts - 1} tries. Please ask again.", icon=":x:"))
            self._forget(question)
        elif self.rt.answers.submit(partial(self.answer, question, self._reply_for(question), job),
                                    alone=job.suspect) is None:  # a death beside it killed it: run it alone
            self.rt.durable.retry_later(question)  # type: ignore[union-attr]

    def _forget(self, question: Question) -> None:
        if self.rt.durable is not None:
            self.rt.durable.done(question)

    def _reply_for(self, question: Question) -> ThreadReply:
        reply = ThreadReply(self.rt.client, channel=question.channel, thread_ts=question.thread_ts,
                            user_id=question.user, team_id=question.team,
                            update_interval=self.rt.settings.stream_update_seconds)
        if self.rt.durable is not None:
            self.rt.durable.mark(question, reply)
        return reply

    def answer(self, question: Question, reply: ThreadReply, job: Job | None = None) -> None:
        """Worker job: retrieve, generate (streaming), post the final answer — or the reason there is none.

        `job` is set for a question taken over from a process that stopped (bot.durable.answers).
        """
        if self.rt.durable is not None and self.rt.durable.skip(question, job):
            return
        reply.start()
        try:
            if not self.rt.warm.wait(0):  # just started: the ack went out, the answer waits for the model
                reply.status("starting up: loading the search model…")
                self.rt.warm.wait()
            history = thread_history(self.rt.client, question, self.rt.settings.thread_history_messages)
            answer = self.rt.rag.ask(
                question.text, history=history or None, scope=self.rt.settings.scope_for(question.channel),
                on_token=reply.token, on_status=reply.status, surface="slack",
            )
            messages = answer_messages(answer, now=datetime.now(UTC),
                                       stale_after_days=self.rt.rag.settings.stale_after_days)
            if self.rt.durable is not None:
                messages = self.rt.durable.final(question, job, messages)
            reply.finish(messages)
            self.rt.answered += 1
            if self.rt.followthrough is not None:  # watched, to be marked if a cited document changes
                self.rt.followthrough.record(channel=question.channel, thread_ts=question.thread_ts,
                                             ts=reply.final_ts, message=messages[-1], answer=answer)
        except Exception as err:
            log.exception("answering %s in %s failed", question.ts, question.channel)
            try:
                reply.fail(notice_message(
                    f"Sorry, I couldn't answer this: {self._reason(err)}. Please try again in a moment; "
                    "if it keeps failing, tell an admin.", icon=":x:"))
            except Exception:
                log.exception("could not report the failure in %s either", question.channel)
                if self.rt.durable is not None:
                    self.rt.durable.retry_later(question)  # nothing reached the asker: try again later
                return
        self._forget(question)

    def _post_busy(self, question: Question) -> None:
        pool = self.rt.answers
        self.rt.busy_replies += 1
        self._post_quietly(question, notice_message(
            f"I'm busy answering {pool.running + pool.waiting} questions right now and my queue is full. "
            "Please ask again in a minute.", icon=":hourglass:"))

    def _post_quietly(self, question: Question, message: SlackMessage) -> None:
        """A notice in the asker's thread, retried through rate limits until delivered (bot/delivery/notices.py)."""
        self.rt.notices.post(question.channel, question.thread_ts, message)

    # --- /rag-sources -----------------------------------------------------------------------------

    def on_sources(self, ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        filter_text = (command.get("text") or "").strip()
        job = partial(self.send_sources, respond, filter_text, command.get("channel_id"), 0, False)
        if self.rt.control.submit(job) is None:
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
        if self.rt.control.submit(job) is None:
            log.warning("control pool full; page request dropped")

    def send_sources(self, respond: Respond, filter_text: str, channel: str | None, page: int,
                     replace: bool) -> None:
        now = datetime.now(UTC)
        try:
            scope = self.rt.settings.scope_for(channel)
            docs = self.rt.rag.documents(filter_text or None, scope=scope)  # the rule retrieval uses too
            docs.sort(key=lambda d: ((d.title or d.rel_path).lower(), d.rel_path))
            try:
                running = self.rt.rag.sync_running_since()
            except SyncLockUnavailable:  # Redis is down: list the documents all the same
                running = None
            header = sync_status_line(self.rt.rag.last_sync_report(), running, now)
            message = sources_page(docs, filter_text=filter_text, page=page, now=now, header=header,
                                   scope=scope)
        except Exception as err:
            log.exception("listing documents failed")
            message = notice_message(f"Couldn't list the documents: {self._reason(err)}", icon=":x:")
        try:
            respond(text=message.text, blocks=message.blocks, response_type="ephemeral",
                    replace_original=replace)
        except Exception as err:
            log.error("could not send the document list: %s", self._reason(err))

    # --- /rag-resync ------------------------------------------------------------------------------

    def on_resync(self, ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        user = str(command.get("user_id") or "")
        words = (command.get("text") or "").lower().split()
        full = "full" in words
        listed = self.rt.admins.is_listed(user)
        if not listed and not self.rt.admins.needs_lookup:
            log.info("/rag-resync refused for %s", user)
            ack(text=REFUSAL)
            return
        if listed:
            try:
                running = self.rt.rag.sync_running_since()
            except SyncLockUnavailable as err:  # Redis is down: say why, never an HTTP 500
                ack(text=f":x: {err}")
                return
            if running is not None:
                ack(text=_already_running(running))
                return
        job = partial(self.run_sync, user, str(command.get("channel_id") or ""), respond, full, not listed)
        if self.rt.control.submit(job) is None:
            ack(text=COMMAND_BUSY)
        elif listed:
            ack(text=f":arrows_counterclockwise: Sync started{' (full re-index)' if full else ''}… "
                     "I'll post the report here when it's done.")
        else:
            ack()

    def run_sync(self, user: str, channel: str, respond: Respond, full: bool, check_admin: bool) -> None:
        deliver = partial(self._deliver_private, respond, user, channel)
        if check_admin:
            if not self.rt.admins.is_admin(user):
                log.info("/rag-resync refused for %s", user)
                deliver(notice_message(REFUSAL, icon=""))
                return
            try:
                running = self.rt.rag.sync_running_since()
            except SyncLockUnavailable as err:
                deliver(notice_message(str(err), icon=":x:"))
                return
            if running is not None:
                deliver(notice_message(_already_running(running), icon=""))
                return
            deliver(notice_message("Sync started… I'll post the report here when it's done.",
                                   icon=":arrows_counterclockwise:"))
        try:
            report = self.rt.rag.sync(trigger=f"slack:{user}", full=full)
        except SyncAlreadyRunning as err:
            deliver(notice_message(f"{err}; not starting a second one.", icon=":hourglass:"))
        except Exception as err:
            log.exception("sync requested by %s failed", user)
            deliver(notice_message(f"The sync failed: {self._reason(err)}", icon=":x:"))
        else:
            if self.rt.followthrough is not None:
                report.answers_marked = self.rt.followthrough.after_sync()
            deliver(sync_report_message(report))

    def _deliver_private(self, respond: Respond, user: str, channel: str, message: SlackMessage) -> None:
        """Through the command's response_url; if that expired (30 min), ephemeral, then a DM."""
        attempts: list[Callable[[], Any]] = [
            lambda: respond(text=message.text, blocks=message.blocks, response_type="ephemeral",
                            replace_original=False),
            lambda: self.rt.client.chat_postEphemeral(channel=channel, user=user, text=message.text,
                                                      blocks=message.blocks),
            lambda: self.rt.client.chat_postMessage(channel=user, text=message.text, blocks=message.blocks),
        ]
        for attempt in attempts:
            try:
                result = attempt()
                if getattr(result, "status_code", 200) < 300:
                    return
            except Exception as err:
                log.warning("could not deliver a message to %s: %s", user, self._reason(err))
        log.error("gave up delivering a message to %s", user)

    # --- feedback ---------------------------------------------------------------------------------

    def on_feedback(self, ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        """👍/👎: one vote per user per answer, then (👎) the comment modal (bot/listeners/votes.py)."""
        self.votes.on_click(ack, body, action, respond)

    # --- misc -------------------------------------------------------------------------------------

    def on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error for %s: %s", (body or {}).get("type"), self._reason(error))

    def _submit_control(self, job: Callable[[], Any]) -> None:
        if self.rt.control.submit(job) is None:
            job()  # the control pool is jammed: do the one quick call here rather than drop it

    def _reason(self, err: BaseException) -> str:
        return describe_exception(err, self.rt.redactor)


def _already_running(since: datetime) -> str:
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return (f":hourglass: A sync is already running (started {since.astimezone(UTC):%H:%M} UTC); "
            "not starting a second one. Its result will show in `/rag-sources`.")
