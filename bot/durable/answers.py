"""Wiring the durable questions and the shared stores into the bot (see bot/durable/jobqueue.py for the why).

`shared_stores` picks SQLite next to the index (one host, the default) or Redis
(REDIS_URL: several hosts) for the dedup claims, the job queue and the answers ledger,
and on Redis also gives the Slack client a rate budget shared by all replicas; every
store that can hold what people asked gets the one privacy rule (rag/privacy.py), and
on Redis every record the bot acts on is signed (bot/durable/records.py). `DurableAnswers`
is what the handlers call around an answer: record that a worker started it (how a
poison question is told from the innocent ones beside it, bot/durable/jobqueue.py), mark the
final message, skip a question the thread shows answered already, add the restart
note, and forget the job only once the answer (or the reason there is none) is posted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.config import BotConfigError, BotSettings
from bot.delivery.render import SlackMessage
from bot.durable.dedup import DedupStore
from bot.durable.jobqueue import Job, JobQueue, answer_marker, job_id_for, read_thread, with_restart_note
from bot.durable.jobqueue_sqlite import SqliteJobQueue
from bot.followthrough.feedback_log import FeedbackLog
from bot.followthrough.ledger import AnswerLedger, open_ledger
from rag.privacy import PrivacyRule

if TYPE_CHECKING:
    from bot.app import BotRuntime
    from bot.delivery.reply import ThreadReply
    from bot.listeners.questions import Question
    from rag.service import RagService

log = logging.getLogger(__name__)


@dataclass
class SharedStores:
    dedup: Any  # DedupStore or RedisDedupStore: claim(*keys), purge(), close()
    jobs: JobQueue
    ledger: AnswerLedger  # posted answers watched for changes to what they cite (bot/followthrough/watcher.py)
    feedback: FeedbackLog
    where: str  # "sqlite" or "redis", for the start-up log line


def apply_privacy_rule(runtime: BotRuntime) -> None:
    """LOG_QUESTIONS and QUESTION_RETENTION_DAYS applied to everything the bot keeps (a scheduler job, at start
    and every few hours: bot/jobs.py); never raises."""
    stores = [("feedback log", runtime.feedback), ("gaps log", runtime.rag.question_log),
              ("answers ledger", runtime.followthrough.ledger if runtime.followthrough else None),
              ("question queue", runtime.durable.jobs if runtime.durable else None)]
    for name, store in stores:
        prune = getattr(store, "prune", None)
        if prune is None:
            continue
        try:
            changed = prune()
        except Exception as err:  # the next run tries again; nothing here may stop the bot
            log.warning("could not apply the privacy rule to the %s: %s", name, type(err).__name__)
            continue
        if changed:
            log.info("privacy rule (LOG_QUESTIONS, QUESTION_RETENTION_DAYS): %d entries removed or redacted in the "
                     "%s", changed, name)


def shared_stores(rag: RagService, settings: BotSettings, client: WebClient) -> SharedStores:
    """SQLite files in the state directory, or Redis when REDIS_URL is set (checked reachable now)."""
    state_dir = rag.settings.resolved_state_dir
    url = rag.settings.redis_url
    ttl = settings.dedup_ttl_minutes * 60
    rule = PrivacyRule.from_settings(rag.settings)
    feedback = FeedbackLog(settings.feedback_log or state_dir / "feedback.jsonl", rule)
    watch = settings.answer_watch_days
    if not url:
        return SharedStores(
            dedup=DedupStore(settings.dedup_db or state_dir / "slack_dedup.sqlite3", ttl_seconds=ttl),
            jobs=SqliteJobQueue(settings.jobs_db or state_dir / "questions.sqlite3",
                                lease_seconds=settings.job_lease_seconds, max_age_seconds=rule.retention_seconds),
            ledger=open_ledger(state_dir, None, watch_days=watch, rule=rule), feedback=feedback, where="sqlite")
    import redis

    from bot.delivery.pacing import use_pacer
    from bot.durable.jobqueue_redis import RedisJobQueue
    from bot.durable.records import signer_from
    from bot.durable.redis_stores import RedisDedupStore, RedisPacer
    from rag.redis_client import connect, describe, secrets_of
    from rag.secrets import register_secrets

    register_secrets(*secrets_of(url))  # the password in REDIS_URL is scrubbed like every other secret
    try:
        signer = signer_from(record_secret=_secret(getattr(settings, "redis_record_secret", None)),
                             signing_secret=_secret(settings.slack_signing_secret),
                             bot_token=_secret(settings.slack_bot_token))
    except ValueError as err:
        raise BotConfigError(str(err)) from None
    conn = connect(url)
    try:
        _reachable(conn)
    except redis.RedisError as err:
        raise BotConfigError(f"REDIS_URL: cannot reach Redis at {describe(url)} ({type(err).__name__}: "
                             f"{_reason(err)})") from None
    use_pacer(client, RedisPacer(conn))
    from bot.followthrough.ledger_redis import RedisLedger

    return SharedStores(
        dedup=RedisDedupStore(conn, ttl_seconds=ttl),
        jobs=RedisJobQueue(conn, lease_seconds=settings.job_lease_seconds, signer=signer,
                           max_age_seconds=rule.retention_seconds),
        ledger=RedisLedger(conn, watch_days=watch, rule=rule, signer=signer), feedback=feedback, where="redis")


START_TRIES = 5  # a Redis just started, or a TLS handshake on a busy host, may miss one 200 ms window


def _reachable(conn: Any) -> None:
    """PING, a few times over ~10 s (each try within the one time-out policy), before the bot gives up."""
    import redis

    from rag.redis_client import COOLDOWN_S

    for attempt in range(START_TRIES):
        try:
            conn.ping()
            return
        except redis.AuthenticationError:  # a wrong user or password: trying again cannot help
            raise
        except (redis.ConnectionError, redis.TimeoutError):
            if attempt == START_TRIES - 1:
                raise
            import time

            time.sleep(COOLDOWN_S)


def _reason(err: BaseException) -> str:
    """redis-py's message (host and port, never the password), on one line."""
    from rag.secrets import scrub

    return scrub(" ".join(str(err).split()))[:200] or type(err).__name__


def _secret(value: Any) -> str | None:
    return value.get_secret_value().strip() if value is not None else None


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
