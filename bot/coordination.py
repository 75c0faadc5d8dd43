"""The one place that decides where the bot's shared state lives: SQLite next to the index, or Redis.

Given the settings, `shared_stores` returns the de-duplication claims, the durable question queue, the answers
ledger and the feedback log for one host (SQLite files in the state directory, the default) or for several
replicas (REDIS_URL: every call through rag/ops/redis_client.py's one connection helper and time-out policy), and
on Redis gives the Slack client a rate budget all replicas share (bot/delivery/pacing.py) and signs every record
the bot acts on (bot/durable/records.py). The sync lock makes the same choice in rag/ops/locks_redis.py, the one
place the CLI (which runs without the bot) shares. Every store that can hold what people asked gets the one
privacy rule (rag/index/privacy.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient

from bot.config import BotConfigError, BotSettings
from bot.durable.dedup import DedupStore
from bot.durable.jobqueue import JobQueue
from bot.durable.jobqueue_sqlite import SqliteJobQueue
from bot.followthrough.feedback_log import FeedbackLog
from bot.followthrough.ledger import LEDGER_FILE, AnswerLedger
from bot.listeners.votes import VOTES_FILE
from rag.index.privacy import PrivacyRule

if TYPE_CHECKING:
    from bot.durable.records import RecordSigner
    from rag.index.state_rows import FileRecord
    from rag.service import RagService

log = logging.getLogger(__name__)


@dataclass
class SharedStores:
    dedup: Any  # DedupStore or RedisDedupStore: claim(*keys), purge(), close()
    jobs: JobQueue
    ledger: AnswerLedger  # posted answers watched for changes to what they cite (bot/followthrough/watcher.py)
    feedback: FeedbackLog
    where: str  # "sqlite" or "redis", for the start-up log line


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
    from rag.ops.redis_client import connect, describe, secrets_of
    from rag.ops.secrets import register_secrets

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

    from rag.ops.redis_client import COOLDOWN_S

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
    from rag.ops.secrets import scrub

    return scrub(" ".join(str(err).split()))[:200] or type(err).__name__


def _secret(value: Any) -> str | None:
    return value.get_secret_value().strip() if value is not None else None


def open_ledger(state_dir: Path, redis_url: str | None, *, watch_days: float, rule: PrivacyRule | None = None,
                signer: RecordSigner | None = None) -> AnswerLedger:
    """Redis when REDIS_URL is set (replicas on several hosts), else SQLite in the state directory.

    On Redis, `signer` signs and checks every record; without one the ledger can only count (`affected`).
    """
    if redis_url:
        from bot.followthrough.ledger_redis import RedisLedger
        from rag.ops.redis_client import connect

        return RedisLedger(connect(redis_url), watch_days=watch_days, rule=rule, signer=signer)
    from bot.followthrough.ledger_sqlite import SqliteLedger

    return SqliteLedger(state_dir / LEDGER_FILE, watch_days=watch_days, rule=rule)


def count_affected(state_dir: Path, files: Mapping[str, FileRecord], *, watch_days: float,
                   redis_url: str | None = None) -> int:
    """Posted answers the bot will mark after this sync (0 when no bot ever recorded one; nothing is created).

    `watch_days` is the bot's ANSWER_WATCH_DAYS, so the count is what the bot will really mark.
    """
    if not redis_url and not (state_dir / LEDGER_FILE).exists():
        return 0
    try:
        ledger = open_ledger(state_dir, redis_url, watch_days=watch_days)
    except Exception:
        return 0
    try:
        return ledger.affected(files)
    except Exception:  # a count for the report only: an unreadable ledger must not fail the sync
        return 0
    finally:
        ledger.close()


def vote_store(stores: SharedStores, state_dir: Path, retention_days: float) -> Any:
    """Where votes are claimed: beside the event de-duplication (Redis when the bot shares it), else SQLite."""
    from bot.durable.dedup import DedupStore

    ttl = retention_days * 86400
    redis = getattr(stores.dedup, "redis", None)
    if stores.where == "redis" and redis is not None:
        from bot.durable.redis_stores import PREFIX, RedisDedupStore

        return RedisDedupStore(redis, ttl_seconds=ttl, prefix=f"{PREFIX}:votes")
    return DedupStore(state_dir / VOTES_FILE, ttl_seconds=ttl)
