"""Follow-through end to end: an answer posted in Slack is edited in place when a document it cites changes.

The real Bolt app over HTTP against the fake Slack (which enforces chat.update's rules and Tier 3),
a real RagService over a private copy of the corpus, the fake Ollama: ask, change the documents,
sync (through /rag-resync, or as the CLI does, noticed by the bot's scheduler job), and look at the
very message that was posted.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk import WebClient
from typer.testing import CliRunner

from bot.coordination import count_affected
from bot.durable.records import RecordSigner
from bot.followthrough.ledger import AnswerLedger, CitedDocument, Notice, PostedAnswer
from bot.followthrough.ledger_sqlite import SqliteLedger
from bot.followthrough.watcher import marked_message, notice_line
from rag.index.state import FileRecord
from rag.ingest.sync.roots import real_root
from rag.ops.locks import SyncLock
from tests import test_bot_http
from tests.fakes.fake_slack import Message
from tests.test_bot_http import ADMIN, GENERAL, LEAVE_ANSWER, Bot, cite, text_of

corpus = test_bot_http.corpus  # fixtures: the index built once per module, and the bot over it
make_bot = test_bot_http.make_bot

pytestmark = pytest.mark.timeout(180)

SIGNER = RecordSigner("followthrough-test-record-secret-0123456789")  # what the bot signs Redis records with
LEAVE_Q = "how many days of annual leave can I carry over?"
TRAVEL = "The hotel limit is 180 EUR per night in capital cities [{n}]."
NOTICE = re.compile(r"\*Leave policy\* changed on \d{4}-\d\d-\d\d, after this answer — ask again for the current "
                    r"version")


def start(make_bot, reply=None) -> Bot:
    """A bot over its own copy of the corpus (the copy is the index's folder now)."""
    bot = make_bot(reply=reply or cite("Leave policy", LEAVE_ANSWER), private_corpus=True)
    bot.rag.state.set_docs_root(real_root(bot.tmp / "docs"))
    return bot


def message(bot: Bot, ts: str) -> Message:
    (found,) = [m for m in bot.slack.bot_messages(GENERAL) if m.ts == ts]
    return found


def leave_file(bot: Bot) -> Path:
    return bot.tmp / "docs" / "policies" / "leave-policy.md"


def resync(bot: Bot) -> str:
    """/rag-resync as an admin; the report as the admin sees it."""
    before = len(bot.slack.responses)
    assert bot.command("/rag-resync", user=ADMIN).status == 200
    bot.slack.wait_for(lambda: len(bot.slack.responses) > before, timeout=60)
    bot.wait_idle()
    return text_of(bot.slack.responses[-1].body)


def wait_marked(bot: Bot, ts: str, pattern: str | re.Pattern[str], timeout: float = 20) -> Message:
    bot.slack.wait_for(lambda: re.search(pattern, text_of(message(bot, ts))), timeout)
    return message(bot, ts)


def test_changed_document_marks_that_exact_answer_once_and_leaves_others_alone(make_bot):
    bot = start(make_bot)
    leave_ts, _ = bot.ask(LEAVE_Q)
    leave = bot.wait_answer(GENERAL, leave_ts)
    assert bot.ollama is not None
    bot.ollama.script.reply = cite("Travel policy", TRAVEL)  # from now on the model cites the travel policy
    travel_ts, _ = bot.ask("what is the hotel limit per night?")
    travel = bot.wait_answer(GENERAL, travel_ts)
    bot.ask("what about hotels?", thread_ts=leave_ts)  # the thread moves on; the answer is still marked
    bot.wait_idle()

    leave_file(bot).write_text(leave_file(bot).read_text().replace("Up to 5 unused days", "Up to 3 unused days"))
    report = resync(bot)
    assert "1 changed" in report and "1 posted answer cites changed documents: marked with a notice" in report

    marked = wait_marked(bot, leave.ts, NOTICE)
    shown = text_of(marked)
    assert re.search(r"carry over up to \*5 days\*", shown) and "Leave policy" in shown  # the answer is kept
    assert marked.blocks[0]["type"] == "context" and NOTICE.search(marked.blocks[0]["elements"][0]["text"])
    assert any(b.get("block_id") == "feedback" for b in marked.blocks)  # buttons still there
    assert message(bot, travel.ts).edits == travel.edits  # the travel answer cites nothing that changed
    assert "changed on" not in text_of(message(bot, travel.ts))

    updates = len(bot.slack.calls("chat.update"))
    again = resync(bot)  # nothing changed since: nothing is marked twice
    time.sleep(1)
    assert "marked with a notice" not in again and len(bot.slack.calls("chat.update")) == updates
    assert len(NOTICE.findall(text_of(message(bot, leave.ts)))) == 1


def test_withdrawn_document_synced_from_the_cli_is_noticed_by_the_bot(make_bot):
    bot = start(make_bot)
    ts, _ = bot.ask(LEAVE_Q)
    answer = bot.wait_answer(GENERAL, ts)
    leave_file(bot).unlink()

    result = CliRunner().invoke(
        __import__("ragbot.cli", fromlist=["app"]).app,
        ["--index", str(bot.rag.settings.lancedb_uri), "--docs-dir", str(bot.tmp / "docs"), "sync"])
    assert result.exit_code == 0, result.output
    assert "1 posted answer cite" in result.output and "the bot will mark them" in result.output
    assert "withdrawn" not in text_of(message(bot, answer.ts))  # the CLI has no Slack client

    assert bot.runtime.followthrough is not None
    time.sleep(bot.rag.settings.read_consistency_seconds)  # the bot's reader sees the CLI's index version by now
    lock = SyncLock(bot.rag.settings.resolved_state_dir)
    lock.acquire("sync")  # while a sync runs, its index versions are not followed through yet
    try:
        assert bot.runtime.followthrough.check_index() == 0
    finally:
        lock.release()
    assert bot.runtime.followthrough.check_index() == 1  # the scheduler's job: an index version it did not write
    marked = wait_marked(bot, answer.ts, r"\*Leave policy\* was withdrawn on \d{4}-\d\d-\d\d, after this answer")
    assert "carry over up to" in text_of(marked)
    assert bot.runtime.followthrough.check_index() == 0  # the same version is not followed through twice



def test_an_edit_another_process_claimed_and_never_made_is_taken_over(make_bot):
    from bot.followthrough.ledger import LEDGER_FILE
    from bot.followthrough.watcher import indexed_files

    bot = start(make_bot)
    ts, _ = bot.ask(LEAVE_Q)
    answer = bot.wait_answer(GENERAL, ts)
    edits = answer.edits
    leave_file(bot).write_text(leave_file(bot).read_text().replace("Up to 5 unused days", "Up to 3 unused days"))
    result = CliRunner().invoke(
        __import__("ragbot.cli", fromlist=["app"]).app,
        ["--index", str(bot.rag.settings.lancedb_uri), "--docs-dir", str(bot.tmp / "docs"), "sync"])
    assert result.exit_code == 0, result.output

    # another bot process on the host notices the sync first, claims the edit, and is killed before making it
    time.sleep(bot.rag.settings.read_consistency_seconds)
    other = SqliteLedger(bot.rag.settings.resolved_state_dir / LEDGER_FILE, claim_seconds=1)
    assert len(other.mark(indexed_files(bot.rag))) == 1 and len(other.claim_due()) == 1
    followthrough = bot.runtime.followthrough
    assert followthrough is not None
    assert followthrough.check_index() == 0  # nothing left to claim: the change is the dead process's
    time.sleep(1.1)  # its claim runs out
    followthrough.check_index()  # the scheduler's next look takes the edit over
    marked = wait_marked(bot, answer.ts, NOTICE)
    assert len(NOTICE.findall(text_of(marked))) == 1 and marked.edits == edits + 1

def test_answer_deleted_in_slack_does_not_break_the_sync(make_bot):
    bot = start(make_bot)
    ts, _ = bot.ask(LEAVE_Q)
    answer = bot.wait_answer(GENERAL, ts)
    WebClient(token=bot.slack.bot_token, base_url=bot.slack.api_url).chat_delete(channel=GENERAL, ts=answer.ts)
    assert bot.runtime.followthrough is not None and bot.runtime.followthrough.ledger.watched() == 1

    leave_file(bot).write_text(leave_file(bot).read_text() + "\nNew paragraph.\n")
    before = len(bot.slack.calls("chat.update"))
    report = resync(bot)
    assert "1 changed" in report
    ledger = bot.runtime.followthrough.ledger
    bot.slack.wait_for(lambda: ledger.watched() == 0, 20)  # message_not_found: no longer watched
    (update,) = bot.slack.calls("chat.update")[before:]
    assert update.args["ts"] == answer.ts
    assert update.response == {"ok": False, "error": "message_not_found"}
    assert ledger.pending_count() == 0

    ts2, _ = bot.ask(LEAVE_Q)  # the bot answers on as before
    assert "carry over" in text_of(bot.wait_answer(GENERAL, ts2))


def test_rate_limited_edit_is_retried_after_retry_after(make_bot):
    bot = start(make_bot)
    ts, _ = bot.ask(LEAVE_Q)
    answer = bot.wait_answer(GENERAL, ts)
    bot.slack.rate_limit("chat.update", times=1, retry_after=1)
    leave_file(bot).write_text(leave_file(bot).read_text().replace("31 March", "30 April"))
    resync(bot)
    wait_marked(bot, answer.ts, NOTICE)
    statuses = [c.status for c in bot.slack.calls("chat.update")]
    assert statuses[0] == 429 and statuses[-1] == 200


def test_notices_in_traditional_chinese_and_within_block_kit_limits():
    at = datetime(2026, 12, 3, tzinfo=UTC)
    assert notice_line(Notice("p/leave.md", "changed", "請假規則", at), "zh") == (
        ":warning: *請假規則* 已於 2026-12-03 更新（在此回答之後）— 請重新提問以取得最新版本")
    assert "撤下" in notice_line(Notice("p/leave.md", "withdrawn", "請假規則", at), "zh")
    moved = notice_line(Notice("p/leave.md", "moved", "Leave <policy>", at, "hr/leave.md"), "en")
    assert moved.startswith(":warning: *Leave &lt;policy&gt;* moved to `hr/leave.md` on 2026-12-03")

    full = [{"type": "section", "text": {"type": "mrkdwn", "text": f"part {i}"}} for i in range(47)]
    full += [{"type": "divider"}, {"type": "context", "elements": [{"type": "mrkdwn", "text": "Sources"}]},
             {"type": "actions", "block_id": "feedback", "elements": []}]
    answer = PostedAnswer(1, GENERAL, "1.0", None, at, "en", "part 0", full, [Notice("a", "changed", "A", at)])
    marked = marked_message(answer)
    assert len(marked.blocks) == 50 and marked.blocks[0]["type"] == "context"
    assert [b for b in marked.blocks if b["type"] == "section"] == full[:47]  # every part of the answer kept
    assert marked.blocks[-1]["block_id"] == "feedback"


def record(rel_path: str, sha: str, *, withdrawn: bool = False) -> FileRecord:
    return FileRecord(rel_path=rel_path, size=1, mtime_ns=1, sha256=sha, kind="policy", format="md",
                      title=rel_path, link="", modified=datetime(2020, 1, 1, tzinfo=UTC),
                      chunk_ids=[] if withdrawn else ["c1"], withdrawn=withdrawn)


@pytest.fixture(params=["sqlite", "redis"])
def ledgers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., AnswerLedger]]:
    """Ledgers sharing one store, as bot processes do: one SQLite file on a host, or one Redis for replicas."""
    made: list[AnswerLedger] = []

    def make(**kwargs: object) -> AnswerLedger:
        if request.param == "sqlite":
            ledger: AnswerLedger = SqliteLedger(tmp_path / "answers.sqlite3", **kwargs)  # type: ignore[arg-type]
        else:
            import redis

            from bot.followthrough.ledger_redis import RedisLedger

            url = request.getfixturevalue("redis_url")
            ledger = RedisLedger(redis.Redis.from_url(url), signer=SIGNER, **kwargs)  # type: ignore[arg-type]
        made.append(ledger)
        return ledger

    yield make
    for ledger in made:
        ledger.close()


def posted(ledger: AnswerLedger, ts: str, *docs: tuple[str, str]) -> None:
    ledger.record(channel="C1", ts=ts, thread_ts=None, text=f"answer {ts}", blocks=[{"type": "divider"}],
                  lang="en", cited=[CitedDocument(path, sha, path.title()) for path, sha in docs])


def test_ledger_marks_each_change_once_follows_a_move_and_shares_its_queue_between_processes(ledgers):
    first, second = ledgers(), ledgers()  # two bot processes
    posted(first, "1.1", ("p/leave.md", "v1"), ("p/travel.md", "t1"))
    files = {"p/leave.md": record("p/leave.md", "v1"), "p/travel.md": record("p/travel.md", "t1")}
    assert first.mark(files) == []  # unchanged documents touch nothing

    files = {"p/leave.md": record("p/leave.md", "v2"), "p/travel.md": record("p/travel.md", "t1")}
    assert second.affected(files) == 1  # what `ragbot sync` reports
    (answer_id,) = second.mark(files)
    assert first.mark(files) == []  # marked once, whoever looks first
    (claimed,) = first.claim_due()
    assert claimed.id == answer_id and claimed.ts == "1.1" and claimed.blocks == [{"type": "divider"}]
    assert second.claim_due() == []  # claimed by the other process
    assert [(n.kind, n.path) for n in claimed.notices] == [("changed", "p/leave.md")]
    first.done(claimed)

    moved = {"p/leave.md": record("p/leave.md", "v2"), "hr/travel.md": record("hr/travel.md", "t1")}
    assert first.mark(moved) == [answer_id]
    (claimed,) = first.claim_due()
    assert [(n.kind, n.new_path) for n in claimed.notices] == [("changed", None), ("moved", "hr/travel.md")]
    first.done(claimed)
    assert first.mark(moved) == []  # watched under its new path now

    gone = {"p/leave.md": record("p/leave.md", "v2", withdrawn=True), "hr/travel.md": record("hr/travel.md", "t1")}
    assert first.mark(gone) == [answer_id]
    (claimed,) = first.claim_due()
    assert {n.kind for n in claimed.notices} == {"withdrawn", "moved"}  # one notice per document, the latest
    first.drop(claimed.id)
    assert first.watched() == 0 and first.pending_count() == 0


def test_replicas_marking_at_once_queue_each_change_once_and_a_dead_courier_leaves_its_answers(ledgers):
    now = [1_000_000.0]
    replicas = [ledgers(claim_seconds=60, clock=lambda: now[0]) for _ in range(3)]
    for i in range(30):  # answers posted through every replica
        posted(replicas[i % 3], f"{i}.0", ("p/leave.md", "v1"), ("p/travel.md", "t1" if i % 2 else "t0"))
    changed = {"p/leave.md": record("p/leave.md", "v2"), "p/travel.md": record("p/travel.md", "t1")}
    start = threading.Barrier(3)
    queued: list[list[int]] = [[] for _ in replicas]

    def mark(i: int) -> None:
        start.wait()
        queued[i] = replicas[i].mark(changed)

    threads = [threading.Thread(target=mark, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len({a for q in queued for a in q}) == 30 == replicas[0].pending_count()  # every answer queued, once
    assert all(r.mark(changed) == [] for r in replicas)  # and never again for the same change

    dead = replicas[0].claim_due(limit=5)  # a courier claims five answers, then its process dies
    assert len(dead) == 5
    alive = [a for r in replicas[1:] for a in r.claim_due(limit=50)]
    assert len(alive) == 25 and not {a.id for a in alive} & {a.id for a in dead}
    for answer in alive:
        replicas[1].done(answer)
    assert replicas[2].claim_due(limit=50) == []  # still claimed by the dead one
    now[0] += 61  # its claim ran out: the others take the answers over, notices and all
    taken = replicas[2].claim_due(limit=50)
    assert sorted(a.id for a in taken) == sorted(a.id for a in dead)
    for answer in taken:  # each with its own notices: both documents changed for the even ones
        i = int(answer.ts.split(".")[0])
        assert {n.path for n in answer.notices} == {"p/leave.md"} | ({"p/travel.md"} if i % 2 == 0 else set())
    for answer in taken:
        replicas[2].done(answer)
    assert all(r.pending_count() == 0 for r in replicas)


def test_a_change_during_an_edit_keeps_the_answer_queued_for_its_new_notice(ledgers):
    first, second = ledgers(), ledgers()
    posted(first, "1.1", ("p/leave.md", "v1"), ("p/travel.md", "t1"))
    first.mark({"p/leave.md": record("p/leave.md", "v2"), "p/travel.md": record("p/travel.md", "t1")})
    (editing,) = first.claim_due()  # being edited with one notice...
    assert second.mark({"p/leave.md": record("p/leave.md", "v2"), "p/travel.md": record("p/travel.md", "t2")})
    assert second.claim_due() == []  # ...no second editor while the first one works
    first.done(editing)  # the first edit lacks the new notice: the answer stays queued, free at once
    (again,) = second.claim_due()
    assert {n.path for n in again.notices} == {"p/leave.md", "p/travel.md"}
    second.done(again)
    assert first.pending_count() == 0


def test_ragbot_sync_counts_affected_answers_from_the_bots_ledger(tmp_path: Path, redis_url: str):
    import redis

    from bot.followthrough.ledger_redis import RedisLedger

    files = {"p/leave.md": record("p/leave.md", "v2")}
    assert count_affected(tmp_path, files, watch_days=30) == 0  # no bot ever recorded an answer: nothing made
    assert not (tmp_path / "answers.sqlite3").exists()
    posted(RedisLedger(redis.Redis.from_url(redis_url), signer=SIGNER), "1.1", ("p/leave.md", "v1"))
    assert count_affected(tmp_path, files, watch_days=30, redis_url=redis_url) == 1
    posted(SqliteLedger(tmp_path / "answers.sqlite3"), "1.1", ("p/leave.md", "v2"), ("p/other.md", "o1"))
    assert count_affected(tmp_path, files, watch_days=30) == 1  # p/other.md is gone from the index


def test_ledger_forgets_answers_after_answer_watch_days(ledgers):
    now = [1_000_000.0]
    ledger = ledgers(watch_days=30, clock=lambda: now[0])
    posted(ledger, "1.1", ("p/leave.md", "v1"))
    now[0] += 31 * 86400
    assert ledger.mark({"p/leave.md": record("p/leave.md", "v2")}) == [] and ledger.watched() == 0
