"""Wiring the durable questions and the shared stores into the bot (see bot/jobqueue.py for the why).

`shared_stores` picks SQLite next to the index (one host, the default) or Redis
(REDIS_URL: several hosts) for the dedup claims and the job queue, and on Redis
also gives the Slack client a rate budget shared by all replicas. `DurableAnswers`
is what the handlers call around an answer: mark the final message, skip a question
the thread shows answered already, add the restart note, and forget the job only
once the answer (or the reason there is none) is posted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.config import BotConfigError, BotSettings
from bot.dedup import DedupStore
from bot.jobqueue import (
    MAX_ATTEMPTS,
    Job,
    JobQueue,
    SqliteJobQueue,
    answer_marker,
    job_id_for,
    read_thread,
    with_restart_note,
)
from bot.render import SlackMessage

if TYPE_CHECKING:
    from bot.questions import Question
    from bot.reply import ThreadReply
    from rag.service import RagService

log = logging.getLogger(__name__)


@dataclass
class SharedStores:
    dedup: Any  # DedupStore or RedisDedupStore: claim(*keys), purge(), close()
    jobs: JobQueue
    where: str  # "sqlite" or "redis", for the start-up log line


def shared_stores(rag: RagService, settings: BotSettings, client: WebClient) -> SharedStores:
    """SQLite files in the state directory, or Redis when REDIS_URL is set (checked reachable now)."""
    state_dir = rag.settings.resolved_state_dir
    url = rag.settings.redis_url
    ttl = settings.dedup_ttl_minutes * 60
    if not url:
        return SharedStores(
            dedup=DedupStore(settings.dedup_db or state_dir / "slack_dedup.sqlite3", ttl_seconds=ttl),
            jobs=SqliteJobQueue(settings.jobs_db or state_dir / "questions.sqlite3",
                                lease_seconds=settings.job_lease_seconds),
            where="sqlite")
    import redis

    from bot.jobqueue_redis import RedisJobQueue
    from bot.pacing import use_pacer
    from bot.redis_coord import RedisDedupStore, RedisPacer, connect

    conn = connect(url)
    try:
        conn.ping()
    except redis.RedisError as err:
        raise BotConfigError(f"REDIS_URL: cannot reach Redis ({type(err).__name__}: {err})") from None
    use_pacer(client, RedisPacer(conn))
    return SharedStores(dedup=RedisDedupStore(conn, ttl_seconds=ttl),
                        jobs=RedisJobQueue(conn, lease_seconds=settings.job_lease_seconds), where="redis")


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
        """True (and the job forgotten) when a takeover finds the answer already in the thread."""
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
        return job.attempts > MAX_ATTEMPTS


def capacity_of(pool: Any) -> Callable[[], int]:
    """Free places in a WorkerPool: how many jobs a takeover may start now."""
    return lambda: max(0, pool.threads + pool.max_queue - pool.running - pool.waiting)
