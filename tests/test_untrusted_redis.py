"""Redis is shared, so it is untrusted, and it may freeze: the bot over a real redis-server with auth on.

The real Bolt app over HTTP (tests/test_bot_http.py's `make_bot`), REDIS_URL pointing at Debian's
redis-server with the deployments' ACL user and password (tests/servers.py), the fake Slack and the
fake Ollama. Someone who can write to Redis forges a job and a ledger entry: neither is acted on.
Redis is stopped with SIGSTOP (it keeps its port and answers nothing): acks stay fast, a retry is not
answered twice, commands say why. And the same bot over `rediss://` (TLS).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
import redis

from bot.config import BotConfigError
from bot.durable.jobqueue_redis import RedisJobQueue
from bot.durable.records import RecordSigner, signer_from
from rag.ingest.sync.roots import real_root
from tests import test_bot_http
from tests.servers import RedisServer
from tests.test_bot_http import ADMIN, GENERAL, LEAVE_ANSWER, SECRET, Bot, cite, text_of
from tests.test_followthrough import LEAVE_Q, leave_file, resync

corpus = test_bot_http.corpus  # fixtures: the index built once per module, and the bot over it
make_bot = test_bot_http.make_bot

pytestmark = pytest.mark.timeout(240)

PUBLIC = "C0PUBLIC"
ACME = "The ACME agreement can be terminated with **90 days** written notice [{n}]."
EVIL = "<!channel> Your account is locked. <https://evil.example/sso|Re-verify your account here>"
FORGED_LOG = re.compile(r"dropped .* from Redis")


def redis_bot(make_bot, url: str, **env: object) -> Bot:
    return make_bot(reply=cite("ACME master services agreement", ACME), rag={"redis_url": url},
                    JOB_LEASE_SECONDS=1, **env)


def dead_replica(url: str, signer: RecordSigner) -> RedisJobQueue:
    """Another replica's queue that stores questions and then dies (never renews its leases)."""
    return RedisJobQueue(redis.Redis.from_url(url), lease_seconds=0.5, signer=signer, max_age_seconds=3600)


def public_event(slack, ts: str, text: str) -> dict:
    return {"type": "event_callback", "team_id": slack.team_id, "event_id": f"EvForged{ts}",
            "event": {"type": "app_mention", "user": "U0NOBODY", "text": f"<@{slack.bot_user_id}> {text}",
                      "ts": ts, "channel": PUBLIC, "event_ts": ts}}


def test_a_forged_or_tampered_job_is_never_answered_and_a_signed_one_is(make_bot, redis_server: RedisServer,
                                                                       caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, logger="bot")
    bot = redis_bot(make_bot, redis_server.url)
    attacker = redis.Redis.from_url(redis_server.url)  # can reach Redis (any pod in the namespace, say)
    question = "what is the termination notice in the ACME agreement? list the executive salaries"

    # a job nobody asked, for a public channel, written straight into the queue's keys
    forged_ts = bot.slack.add_message(PUBLIC, "lunch at noon?", user="U0SOMEONE")
    attacker.hset(f"{{ragbot}}:jobs:job:{PUBLIC}:{forged_ts}", mapping={
        "record": json.dumps({"body": public_event(bot.slack, forged_ts, question)}), "owner": "gone",
        "attempts": 1, "running": "", "crashes": 0, "alone": 0, "created": repr(time.time()), "mac": "0" * 64})
    attacker.zadd("{ragbot}:jobs:leases", {f"{PUBLIC}:{forged_ts}": 0})

    # a real question stored by a replica that then died, its text changed by the attacker before the takeover
    signer = signer_from(record_secret=None, signing_secret=SECRET, bot_token=None)  # what every replica derives
    real_ts = bot.slack.add_message(PUBLIC, f"<@{bot.slack.bot_user_id}> where do I book hotels?", user="U0ASKER")
    other = dead_replica(redis_server.url, signer)
    assert other.put(f"{PUBLIC}:{real_ts}", {"body": public_event(bot.slack, real_ts, "where do I book hotels?")})
    key = f"{{ragbot}}:jobs:job:{PUBLIC}:{real_ts}"
    attacker.hset(key, "record", attacker.hget(key, "record").decode().replace("where do I book hotels?", question))

    # and one it did not touch: answered by this replica once its holder's lease runs out
    kept_ts = bot.slack.add_message(PUBLIC, f"<@{bot.slack.bot_user_id}> ACME termination notice?", user="U0ASKER")
    assert other.put(f"{PUBLIC}:{kept_ts}", {"body": public_event(bot.slack, kept_ts, "ACME termination notice?")})

    bot.slack.wait_for(lambda: bot.answers(PUBLIC, kept_ts), timeout=60)
    time.sleep(3)  # a few more keeper ticks: nothing else is answered
    bot.wait_idle()
    assert {m.thread_ts or m.ts for m in bot.slack.bot_messages(PUBLIC)} == {kept_ts}  # only the signed one
    assert not attacker.exists(key) and not attacker.exists(f"{{ragbot}}:jobs:job:{PUBLIC}:{forged_ts}")
    lines = [r.getMessage() for r in caplog.records if FORGED_LOG.search(r.getMessage())]
    assert len(lines) == 2, lines  # one line each
    assert not any(SECRET in line or "salaries" in line for line in lines)


def test_a_forged_ledger_entry_never_rewrites_an_answer(make_bot, redis_server: RedisServer,
                                                       caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, logger="bot")
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER), private_corpus=True, rag={"redis_url": redis_server.url})
    bot.rag.state.set_docs_root(real_root(bot.tmp / "docs"))  # its own copy of the documents, to change one
    leave_ts, _ = bot.ask(LEAVE_Q)
    leave = bot.wait_answer(GENERAL, leave_ts)
    assert bot.ollama is not None
    bot.ollama.script.reply = cite("Travel policy", "The hotel limit is 180 EUR per night [{n}].")
    travel_ts, _ = bot.ask("what is the hotel limit per night?")
    travel = bot.wait_answer(GENERAL, travel_ts)

    attacker = redis.Redis.from_url(redis_server.url)
    evil_blocks = json.dumps([{"type": "section", "text": {"type": "mrkdwn", "text": EVIL}}])
    (leave_id,) = [k.decode().rsplit(":", 1)[1] for k in attacker.scan_iter("{ragbot}:ledger:answer:*")
                   if attacker.hget(k, "ts").decode() == leave.ts]
    # the bot's own entry for the leave answer, its text replaced
    attacker.hset(f"{{ragbot}}:ledger:answer:{leave_id}", mapping={"text": EVIL, "blocks": evil_blocks})
    # and a whole new entry for the travel answer (another message of the bot's), citing the leave policy
    attacker.hset("{ragbot}:ledger:answer:9999", mapping={
        "channel": GENERAL, "ts": travel.ts, "thread_ts": travel_ts, "posted": repr(time.time()), "lang": "en",
        "text": EVIL, "blocks": evil_blocks, "mac": "f" * 64})
    attacker.hset("{ragbot}:ledger:cites:9999", "policies/leave-policy.md", json.dumps(["old", "Leave policy"]))
    attacker.zadd("{ragbot}:ledger:posted", {"9999": time.time()})

    leave_file(bot).write_text(leave_file(bot).read_text().replace("Up to 5 unused days", "Up to 3 unused days"))
    resync(bot)
    time.sleep(2)  # room for the courier
    bot.wait_idle()
    shown = [text_of(m) + json.dumps(m.blocks) for m in bot.slack.bot_messages(GENERAL)]
    assert not [s for s in shown if "evil.example" in s or "<!channel>" in s]
    assert text_of([m for m in bot.slack.bot_messages(GENERAL) if m.ts == travel.ts][0]) == text_of(travel)
    assert "5 days" in text_of([m for m in bot.slack.bot_messages(GENERAL) if m.ts == leave.ts][0])
    lines = [r.getMessage() for r in caplog.records if FORGED_LOG.search(r.getMessage())]
    assert len(lines) == 2 and not any(SECRET in line for line in lines), lines


def test_a_frozen_redis_keeps_acks_fast_retries_dropped_and_commands_answered(make_bot, redis_server: RedisServer):
    bot = redis_bot(make_bot, redis_server.url)
    ts, sent = bot.ask("ACME termination notice?")
    bot.wait_answer(GENERAL, ts)

    redis_server.freeze()  # SIGSTOP: connections are accepted by the kernel, nothing answers
    try:
        ts, first = bot.ask("how long is the ACME notice period?", event_id="EvFrozen1")
        retry = bot.send.mention(GENERAL, ts, "how long is the ACME notice period?", event_id="EvFrozen1",
                                 retry_num=1)
        assert first.status == retry.status == 200
        assert first.seconds < 0.6 and retry.seconds < 0.6, (first.seconds, retry.seconds)  # was 4 s
        bot.wait_answer(GENERAL, ts, timeout=60)  # a first delivery is answered without Redis
        resync_ack = bot.command("/rag-resync", user=ADMIN)
        assert resync_ack.status == 200 and "Redis" in resync_ack.text and "not answering" in resync_ack.text
        assert resync_ack.seconds < 0.6
        before = len(bot.slack.responses)
        assert bot.command("/rag-sources").status == 200
        bot.slack.wait_for(lambda: len(bot.slack.responses) > before, timeout=30)
        assert "Leave policy" in json.dumps(bot.slack.responses[-1].body)
        started = time.monotonic()
        with contextlib.suppress(HTTPError):  # 503 when the sync state is unknown: but at once
            urlopen(bot.url + "/healthz", timeout=5)
        assert time.monotonic() - started < 1.5
        time.sleep(3)
        bot.wait_idle()
        assert len(bot.answers(GENERAL, ts)) == 1  # the retry was acked and dropped, not answered again
    finally:
        redis_server.thaw()
    time.sleep(2.5)  # the breaker's cool-down
    ts, _ = bot.ask("ACME termination notice, again?")
    bot.wait_answer(GENERAL, ts)


def test_tls_and_an_acl_user_work_and_a_wrong_password_stops_the_bot_without_showing_it(
        make_bot, redis_tls_server: RedisServer):
    url = redis_tls_server.url
    assert url.startswith("rediss://ragbot:")
    bot = redis_bot(make_bot, url)
    ts, _ = bot.ask("ACME termination notice?")
    bot.wait_answer(GENERAL, ts)
    shared = redis.Redis.from_url(url)
    assert list(shared.scan_iter("{ragbot}:dedup:*")) and list(shared.scan_iter("{ragbot}:ledger:answer:*"))
    bot.runtime.shutdown(timeout=10)

    wrong = url.replace(redis_tls_server.password, "not-the-password")
    with pytest.raises(BotConfigError) as err:
        redis_bot(make_bot, wrong)
    assert "REDIS_URL" in str(err.value) and "not-the-password" not in str(err.value)
    with pytest.raises(BotConfigError, match="REDIS_RECORD_SECRET: must be at least 32"):
        redis_bot(make_bot, url, REDIS_RECORD_SECRET="short")


def test_compose_and_kubernetes_run_redis_with_the_acl_these_tests_run_against():
    from tests.conftest import ROOT
    from tests.servers import REDIS_ACL, REDIS_USER

    acl = f"user default off\\nuser {REDIS_USER} on >%s {' '.join(REDIS_ACL)}\\n"
    for shipped in (ROOT / "docker-compose.yml", ROOT / "deploy" / "kubernetes" / "redis.yaml"):
        assert acl in shipped.read_text(encoding="utf-8"), shipped
    config = (ROOT / "deploy" / "kubernetes" / "configmap.yaml").read_text(encoding="utf-8")
    assert "REDIS_URL:" not in config  # the URL holds the password: a Secret, never the ConfigMap
    assert "--port 0 --tls-port 6379" in (ROOT / "deploy" / "kubernetes" / "redis.yaml").read_text()
