"""Durable questions: accepted before the ack, forgotten only once the thread shows the answer.

Slack does not re-deliver an event that was acked, so a question that lived only in
a process's memory was lost when that process died (deploy, OOM kill, node drain).
Here every answerable event is written to a `JobQueue` by a middleware *before*
Bolt acks it, under a lease held by the process that received it. That process
renews its leases while it works (`JobKeeper`) and removes the job once the answer,
or the reason there is none, is posted. If it dies, its leases run out and any live
process — another replica, or the same one after a restart — takes the job over,
checks the thread for an answer already posted for it (a `metadata` marker on every
final message, read back with `conversations.replies`), and answers it with a short
note that it was delayed by a restart.

Two stores, one interface: `bot.durable.jobqueue_sqlite.SqliteJobQueue` (a file next to the index, shared by
the processes on a host, the default) and `bot.durable.jobqueue_redis.RedisJobQueue` (REDIS_URL,
for replicas on several hosts).

A poison question (one whose answering kills the process: a parser or model blow-up,
an OOM kill) must not take innocent questions down with it, again and again, on every
replica. Each job records, in the store, that a worker is answering it (`start`) and
whether it ran alone in its process; a takeover of a job whose holder died while
answering it counts a crash for *that* job only. A job with a crash is answered alone
(bot/workers.py: no other answer runs beside it in that process), so a second death
while it runs is its own doing: after `MAX_ALONE_CRASHES` of those it is given up with
"couldn't answer after N tries", while the questions that merely shared a worker pool
with it are answered. Counts live with the job, so they add up across replicas.

Privacy: the stored event holds the question and the asker's id until the answer is
posted. `done` deletes it, and the SQLite file overwrites deleted rows and checkpoints
its WAL (rag/index/sqlite_file.py), so nothing of it stays on disk; a job older than the
retention (rag/index/privacy.py) is dropped unanswered.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.delivery.render import SlackMessage

log = logging.getLogger(__name__)

MARKER_EVENT = "ragbot_answer"  # metadata.event_type on every final message the bot posts for a question
RESTART_NOTE = "(answered after a restart)"
MAX_ATTEMPTS = 5  # takes of one job before the asker is told it cannot be answered
MAX_ALONE_CRASHES = 2  # deaths of its process while it was answered alone: the job is the poison
THREAD_PAGES = 5
RUNNING_ALONE, RUNNING_SHARED = "alone", "shared"


@dataclass(frozen=True)
class Job:
    id: str  # "<channel>:<ts>" of the asking message
    record: dict[str, Any]  # {"body": the Slack event envelope, "bot_user_id": …, "bot_id": …}
    attempts: int  # 1 when first taken; more after a takeover or a failed delivery
    crashes: int = 0  # times its process died while answering it, on any replica
    alone_crashes: int = 0  # of those, while it was the only answer running in that process

    @property
    def resumed(self) -> bool:
        return self.attempts > 1

    @property
    def suspect(self) -> bool:
        """Its process died while answering it: answer it alone, so a second death is its own."""
        return self.crashes > 0

    @property
    def exhausted(self) -> bool:
        return self.attempts > MAX_ATTEMPTS or self.alone_crashes >= MAX_ALONE_CRASHES


class JobQueue(Protocol):
    lease_seconds: float
    owner: str

    def put(self, job_id: str, record: dict[str, Any]) -> bool:
        """Store a new job leased to this process; False when it is already there (a duplicate)."""

    def start(self, job_id: str, *, alone: bool) -> None:
        """A worker of this process begins answering the job (`alone`: no other answer runs beside it)."""

    def done(self, job_id: str) -> None:
        """Forget the job: its answer or its reason for none is posted."""

    def release(self, job_id: str, delay: float) -> None:
        """Give the job back, to be taken again after `delay` seconds (delivery failed)."""

    def renew(self) -> None:
        """Extend the lease of every job this process holds."""

    def take_expired(self, limit: int) -> list[Job]:
        """Lease up to `limit` jobs whose holder stopped renewing (died) to this process; a job that was being
        answered when its holder died has a crash counted (an alone crash when it ran alone)."""

    def holds(self, job_id: str) -> bool:
        """Whether this process still holds the job's lease."""

    def close(self) -> None: ...


def new_owner() -> str:
    """A name unique to this process run: a restarted process is a new owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def job_id_for(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def event_job_id(body: dict[str, Any]) -> str | None:
    event = body.get("event") or {}
    channel, ts = event.get("channel"), event.get("ts")
    return job_id_for(str(channel), str(ts)) if channel and ts else None


class JobKeeper:
    """Renews this process's leases and takes over jobs whose holder died, as often as the lease allows."""

    def __init__(self, jobs: JobQueue, capacity: Callable[[], int], resume: Callable[[Job], None]) -> None:
        self.jobs = jobs
        self.capacity = capacity
        self.resume = resume
        self.interval = max(0.2, jobs.lease_seconds / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def tick(self) -> None:
        self.jobs.renew()
        for job in self.jobs.take_expired(self.capacity()):
            log.warning("taking over the question %s (attempt %d): its process stopped answering",
                        job.id, job.attempts)
            self.resume(job)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as err:  # the store is down for a moment: the leases are long enough to wait
                log.warning("job queue unavailable: %s", err)


class DurableQuestionsMiddleware(Middleware):
    """Writes each answerable event to the job queue before Bolt acks it; drops one already queued."""

    def __init__(self, jobs: JobQueue, is_answerable: Callable[[dict[str, Any]], bool]) -> None:
        self.jobs = jobs
        self.is_answerable = is_answerable

    def process(self, *, req: BoltRequest, resp: BoltResponse,
                next: Callable[[], BoltResponse]) -> BoltResponse:
        body = req.body or {}
        job_id = event_job_id(body) if self.is_answerable(body) else None
        if job_id is None:
            return next()
        record = {"body": body, "bot_user_id": req.context.bot_user_id, "bot_id": req.context.bot_id}
        try:
            fresh = self.jobs.put(job_id, record)
        except Exception as err:  # never refuse a question because the queue is down: answer it, not durably
            log.warning("job queue unavailable (%s); answering %s without a durable record", type(err).__name__,
                        job_id)
            return next()
        if fresh:
            return next()
        log.info("question %s is already queued; duplicate dropped", job_id)
        return BoltResponse(status=200, body="")


# --- the marker on answers, and the restart note ---------------------------------------------------


def answer_marker(job_id: str) -> dict[str, Any]:
    """Slack message metadata naming the question a final message answers (docs.slack.dev message metadata)."""
    return {"event_type": MARKER_EVENT, "event_payload": {"question": job_id}}


def read_thread(client: WebClient, channel: str, thread_ts: str, job_id: str, question_ts: str,
                bot_id: str | None) -> tuple[bool, list[str]]:
    """(answered, leftovers) for a question taken over: whether the thread holds a final message of ours
    for it (its metadata marker), and the ts of the unmarked messages of ours between the question and
    the next person's message (a dead attempt's progress line or half-streamed text) to delete.

    An unreadable thread counts as not answered: a second answer is better than none.
    """
    cursor: str | None = None
    leftovers: list[str] = []
    after_question, closed = False, False
    try:
        for _ in range(THREAD_PAGES):
            resp = client.conversations_replies(channel=channel, ts=thread_ts, limit=200, cursor=cursor,
                                                include_all_metadata=True)
            for msg in resp.get("messages") or []:
                meta = msg.get("metadata") or {}
                if meta.get("event_type") == MARKER_EVENT and (meta.get("event_payload") or {}).get(
                        "question") == job_id:
                    return True, []
                ours = bool(bot_id and msg.get("bot_id") == bot_id)
                if msg.get("ts") == question_ts:
                    after_question = True
                elif after_question and not ours:
                    closed = True
                elif after_question and not closed and ours and not meta:
                    leftovers.append(str(msg["ts"]))
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not resp.get("has_more") or not cursor:
                break
    except SlackClientError as err:
        log.warning("could not read thread %s in %s to check for an answer: %s", thread_ts, channel, err)
    return False, leftovers


def with_restart_note(messages: list[SlackMessage]) -> list[SlackMessage]:
    """The same messages, the last one saying the answer was delayed by a restart."""
    if not messages:
        return messages
    last = messages[-1]
    note = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"_{RESTART_NOTE}_"}]}
    blocks = list(last.blocks)
    if len(blocks) < 50:  # Slack's limit per message
        at = next((i for i, b in enumerate(blocks) if b.get("type") == "actions"), len(blocks))
        blocks.insert(at, note)
    return [*messages[:-1], SlackMessage(text=f"{last.text} {RESTART_NOTE}", blocks=blocks)]
