"""Questions: @mentions and DMs accepted at once, answered on the answer pool, never left without a reply.

The listener only checks, enqueues and acks (the middleware has de-duplicated the event and stored the question
before: bot/durable/jobqueue.py): it runs on Bolt's small listener pool, which must stay free so every request is
acked within Slack's 3 seconds. Every question that was accepted ends in a visible message: the answer, a
no-answer with a hint, "busy", or the reason it failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_bolt import BoltContext

from bot.delivery.render import SlackMessage, answer_messages, notice_message
from bot.delivery.reply import ThreadReply
from bot.durable.answers import DurableAnswers
from bot.durable.jobqueue import Job
from bot.listeners.common import reason
from bot.listeners.questions import Question, is_answerable, question_from_event, thread_history

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.config import BotSettings
    from bot.delivery.notices import Notices
    from bot.delivery.redact import Redactor
    from bot.followthrough.watcher import FollowThrough
    from bot.http.warmup import WarmUp
    from bot.workers import WorkerPool
    from rag.service import RagService

log = logging.getLogger(__name__)

HELP = ("Ask me a question about the company documents, e.g. _@me how many days of annual leave do I get?_ "
        "I answer in a thread and cite the documents I used. `/rag-sources` lists what I know.")


@dataclass
class Activity:
    """Who the bot is in this workspace (learnt from events) and what it has done (for /healthz)."""

    bot_user_id: str | None = None
    bot_id: str | None = None
    answered: int = 0
    busy_replies: int = 0


class Mentions:
    """Accepts questions and answers them (`answer` runs on the answer pool; `resume` takes over a dead
    process's question)."""

    def __init__(self, *, rag: RagService, client: WebClient, settings: BotSettings, answers: WorkerPool,
                 control: WorkerPool, notices: Notices, durable: DurableAnswers, warm: WarmUp,
                 followthrough: FollowThrough | None, activity: Activity, redactor: Redactor,
                 submit: Callable[[Callable[[], Any]], None]) -> None:
        self.rag, self.client, self.settings = rag, client, settings
        self.answers, self.control, self.notices = answers, control, notices
        self.durable, self.warm, self.followthrough = durable, warm, followthrough
        self.activity, self.redactor = activity, redactor
        self._submit = submit  # the control pool, or here when it is jammed

    def on_event(self, body: dict[str, Any], context: BoltContext) -> None:
        """`app_mention` and `message` events: enqueue an answer for mentions and DMs."""
        if not is_answerable(body):
            return
        question: Question | None = None
        try:
            self.activity.bot_user_id = context.bot_user_id or self.activity.bot_user_id
            self.activity.bot_id = context.bot_id or self.activity.bot_id
            question = question_from_event(body, bot_user_id=self.activity.bot_user_id, bot_id=self.activity.bot_id)
            reply = self._reply_for(question)
            if not question.text:
                self._submit(partial(reply.finish, [notice_message(HELP, icon=":wave:")]))
                self._forget(question)
                return
            accepted = self.answers.submit(partial(self.answer, question, reply))
            if accepted is None:
                self._post_busy(question)
                self._forget(question)
            elif not accepted.starts_now:
                self.control.submit(partial(reply.queued, accepted.position))
        except Exception as err:  # never leave the asker with nothing
            log.exception("could not accept event %s", body.get("event_id"))
            if question is not None:
                self._post_quietly(question, notice_message(
                    f"Sorry, something went wrong before I could start: {reason(self.redactor, err)}", icon=":x:"))
                self._forget(question)

    def resume(self, job: Job) -> None:
        """A question whose process stopped before answering (bot.durable.jobqueue.JobKeeper): answer it here."""
        record = job.record
        question = question_from_event(record["body"],
                                       bot_user_id=record.get("bot_user_id") or self.activity.bot_user_id,
                                       bot_id=record.get("bot_id") or self.activity.bot_id)
        if DurableAnswers.exhausted(job):
            self._post_quietly(question, notice_message(
                f"Sorry, I couldn't answer this after {job.attempts - 1} tries. Please ask again.", icon=":x:"))
            self._forget(question)
        elif self.answers.submit(partial(self.answer, question, self._reply_for(question), job),
                                    alone=job.suspect) is None:  # a death beside it killed it: run it alone
            self.durable.retry_later(question)

    def _forget(self, question: Question) -> None:
        self.durable.done(question)

    def _reply_for(self, question: Question) -> ThreadReply:
        reply = ThreadReply(self.client, channel=question.channel, thread_ts=question.thread_ts,
                            user_id=question.user, team_id=question.team,
                            update_interval=self.settings.stream_update_seconds)
        self.durable.mark(question, reply)
        return reply

    def answer(self, question: Question, reply: ThreadReply, job: Job | None = None) -> None:
        """Worker job: retrieve, generate (streaming), post the final answer — or the reason there is none.

        `job` is set for a question taken over from a process that stopped (bot.durable.answers).
        """
        if self.durable.skip(question, job):
            return
        reply.start()
        try:
            if not self.warm.wait(0):  # just started: the ack went out, the answer waits for the model
                reply.status("starting up: loading the search model…")
                self.warm.wait()
            history = thread_history(self.client, question, self.settings.thread_history_messages)
            answer = self.rag.ask(
                question.text, history=history or None, scope=self.settings.scope_for(question.channel),
                on_token=reply.token, on_status=reply.status, surface="slack",
            )
            messages = answer_messages(answer, now=datetime.now(UTC),
                                       stale_after_days=self.rag.settings.stale_after_days)
            messages = self.durable.final(question, job, messages)
            reply.finish(messages)
            self.activity.answered += 1
            if self.followthrough is not None:  # watched, to be marked if a cited document changes
                self.followthrough.record(channel=question.channel, thread_ts=question.thread_ts,
                                             ts=reply.final_ts, message=messages[-1], answer=answer)
        except Exception as err:
            log.exception("answering %s in %s failed", question.ts, question.channel)
            try:
                reply.fail(notice_message(
                    f"Sorry, I couldn't answer this: {reason(self.redactor, err)}. Please try again in a moment; "
                    "if it keeps failing, tell an admin.", icon=":x:"))
            except Exception:
                log.exception("could not report the failure in %s either", question.channel)
                self.durable.retry_later(question)  # nothing reached the asker: try again later
                return
        self._forget(question)

    def _post_busy(self, question: Question) -> None:
        pool = self.answers
        self.activity.busy_replies += 1
        self._post_quietly(question, notice_message(
            f"I'm busy answering {pool.running + pool.waiting} questions right now and my queue is full. "
            "Please ask again in a minute.", icon=":hourglass:"))

    def _post_quietly(self, question: Question, message: SlackMessage) -> None:
        """A notice in the asker's thread, retried through rate limits until delivered (bot/delivery/notices.py)."""
        self.notices.post(question.channel, question.thread_ts, message)
