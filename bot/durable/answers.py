"""Durable questions around one answer (see bot/durable/jobqueue.py for the why; bot/coordination.py picks the
store). `DurableAnswers` is what the mention listener calls around an answer: record that a worker started it (how a
poison question is told from the innocent ones beside it, bot/durable/jobqueue.py), mark the
final message, skip a question the thread shows answered already, add the restart
note, and forget the job only once the answer (or the reason there is none) is posted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.delivery.render import SlackMessage
from bot.durable.jobqueue import Job, JobQueue, answer_marker, job_id_for, read_thread, with_restart_note

if TYPE_CHECKING:
    from bot.delivery.reply import ThreadReply
    from bot.listeners.questions import Question

log = logging.getLogger(__name__)


class DurableAnswers:
    """The job side of one answer: which question, whether it is a takeover, and when to forget it."""

    def __init__(self, jobs: JobQueue, client: WebClient) -> None:
        self.jobs = jobs
        self.client = client

    def job_id(self, question: Question) -> str:
        return job_id_for(question.channel, question.ts)

    def mark(self, question: Question, reply: ThreadReply) -> None:
        """Every final message for this question carries its marker (read back by `already_answered`)."""
        reply.metadata = answer_marker(self.job_id(question))

    def skip(self, question: Question, job: Job | None) -> bool:
        """True (and the job forgotten) when a takeover finds the answer already in the thread.

        Called by the worker as it starts on a question, so it also records the start in the queue:
        a death from here on counts against this question (alone, when it is a suspect run alone).
        """
        self.started(question, job)
        if job is None or not job.resumed:
            return False
        answered, leftovers = read_thread(self.client, question.channel, question.thread_ts, self.job_id(question),
                                          question.ts, question.bot_id)
        if answered:
            log.info("question %s was answered before its process stopped; not answering twice", job.id)
            self.done(question)
            return True
        for ts in leftovers:  # the dead attempt's progress line or half-streamed text
            try:
                self.client.chat_delete(channel=question.channel, ts=ts)
            except SlackClientError as err:
                log.warning("could not remove an unfinished message in %s: %s", question.channel, err)
        return False

    def started(self, question: Question, job: Job | None) -> None:
        try:
            self.jobs.start(self.job_id(question), alone=job is not None and job.suspect)
        except Exception as err:  # the queue is down: the answer goes on, without the count
            log.warning("could not record the start of question %s in the queue: %s", question.ts,
                        type(err).__name__)

    def final(self, question: Question, job: Job | None, messages: list[SlackMessage]) -> list[SlackMessage]:
        return with_restart_note(messages) if job is not None and job.resumed else messages

    def done(self, question: Question) -> None:
        try:
            self.jobs.done(self.job_id(question))
        except Exception as err:  # the answer is out; a takeover will find its marker and stop there
            log.warning("could not remove the answered question %s from the queue: %s", question.ts, err)

    def retry_later(self, question: Question) -> None:
        """Nothing could be posted: give the job back, to be tried again after a lease."""
        try:
            self.jobs.release(self.job_id(question), self.jobs.lease_seconds)
        except Exception as err:
            log.warning("could not give back the question %s: %s", question.ts, err)

    @staticmethod
    def exhausted(job: Job) -> bool:
        """Give up on it: too many takes, or it killed its process while answered alone (the poison)."""
        return job.exhausted


def capacity_of(pool: Any) -> Callable[[], int]:
    """Free places in a WorkerPool: how many jobs a takeover may start now."""
    return lambda: max(0, pool.threads + pool.max_queue - pool.running - pool.waiting)
