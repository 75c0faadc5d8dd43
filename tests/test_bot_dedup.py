"""The dedup store: one winner per event across threads, processes and restarts; claims expire."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from bot.durable.dedup import DedupStore, event_claim_keys, invocation_claim_keys


def test_only_one_of_many_threads_claims_an_event(tmp_path: Path):
    store = DedupStore(tmp_path / "d.sqlite3", ttl_seconds=900)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(store.claim("event:T:Ev1", "msg:C1:1.0001"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert wins.count(True) == 1


def test_same_message_under_another_event_id_is_a_duplicate_but_claims_nothing_new(tmp_path: Path):
    store = DedupStore(tmp_path / "d.sqlite3", ttl_seconds=900)
    assert store.claim("event:T:Ev1", "msg:C1:1.0001")
    assert not store.claim("event:T:Ev2", "msg:C1:1.0001")  # app_mention + message.im twin
    # the losing claim was rolled back as a whole: Ev2 itself is still free for another message
    assert store.claim("event:T:Ev2", "msg:C1:1.0002")


def test_claims_survive_a_restart_and_expire_after_the_ttl(tmp_path: Path):
    now = [1000.0]
    path = tmp_path / "d.sqlite3"
    first = DedupStore(path, ttl_seconds=900, clock=lambda: now[0])
    assert first.claim("event:T:Ev1")
    first.close()
    restarted = DedupStore(path, ttl_seconds=900, clock=lambda: now[0])
    now[0] += 899
    assert not restarted.claim("event:T:Ev1")
    now[0] += 2
    assert restarted.claim("event:T:Ev1")


def _claim_all(path: str, keys: list[str], out: multiprocessing.Queue) -> None:
    store = DedupStore(Path(path), ttl_seconds=900)
    out.put([k for k in keys if store.claim(k)])


def test_processes_sharing_the_store_never_both_win(tmp_path: Path):
    keys = [f"event:T:Ev{i}" for i in range(60)]
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(str(tmp_path / "d.sqlite3"), keys, out)) for _ in range(3)]
    DedupStore(tmp_path / "d.sqlite3", ttl_seconds=900).close()  # create the schema once up front
    for p in procs:
        p.start()
    won = [k for _ in procs for k in out.get(timeout=60)]
    for p in procs:
        p.join(30)
    assert sorted(won) == sorted(keys)


def test_claim_keys_cover_event_id_and_channel_ts():
    body = {
        "type": "event_callback",
        "team_id": "T1",
        "event_id": "Ev9",
        "event": {"type": "app_mention", "channel": "C1", "ts": "1.5"},
    }
    assert event_claim_keys(body) == ("event:T1:Ev9", "msg:C1:1.5")
    assert event_claim_keys({"type": "block_actions"}) == ()


def test_commands_and_clicks_claim_their_trigger_id():
    command = {"command": "/rag-resync", "team_id": "T1", "trigger_id": "123.456.abc", "user_id": "U1"}
    click = {"type": "block_actions", "team": {"id": "T1"}, "trigger_id": "789.1.def"}
    assert invocation_claim_keys(command) == ("trigger:T1:123.456.abc",)
    assert invocation_claim_keys(click) == ("trigger:T1:789.1.def",)
    assert invocation_claim_keys({"type": "event_callback", "trigger_id": "x"}) == ()
    assert invocation_claim_keys({"command": "/rag-sources"}) == ()  # nothing stable to key on
