"""A cited document moved where a channel may not look: the notice there names no path, and nothing from a file
name can ping.

The real Bolt app over HTTP against the fake Slack (tests/test_bot_http.py's `make_bot`), CHANNEL_SCOPES
keeping the legal channel to `contracts/`. The ACME contract is cited in the legal channel and in the
general one, then moved to `archive/<!channel>.md`. Before: both notices said "moved to `archive/…`",
telling the legal channel where the contract went. Now the legal channel reads that it "moved out of
this channel's documents"; the general channel, which may see it, gets the path, escaped.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.followthrough.ledger import Notice
from bot.followthrough.watcher import notice_line
from rag.ingest.sync.roots import real_root
from rag.retrieval.scope import Scope
from tests import test_bot_http
from tests.fakes.fake_slack import Message
from tests.test_bot_http import GENERAL, LEGAL, Bot, cite, text_of
from tests.test_followthrough import resync

corpus = test_bot_http.corpus
make_bot = test_bot_http.make_bot

pytestmark = pytest.mark.timeout(180)

ACME = "The ACME agreement can be terminated with **90 days** written notice [{n}]."
MOVED_AWAY = re.compile(r"\*ACME master services agreement\* moved out of this channel's documents on "
                        r"\d{4}-\d\d-\d\d, after this answer")


def posted(bot: Bot, channel: str, ts: str) -> Message:
    (found,) = [m for m in bot.slack.bot_messages(channel) if m.ts == ts]
    return found


def test_a_contract_moved_out_of_a_channels_scope_is_not_located_there_and_its_name_cannot_ping(make_bot):
    bot = make_bot(reply=cite("ACME master services agreement", ACME), private_corpus=True,
                   CHANNEL_SCOPES=f"{LEGAL}=contracts/")
    bot.rag.state.set_docs_root(real_root(bot.tmp / "docs"))
    legal_ts, _ = bot.ask("what is the ACME termination notice?", channel=LEGAL)
    legal = bot.wait_answer(LEGAL, legal_ts)
    general_ts, _ = bot.ask("what is the ACME termination notice?", channel=GENERAL)
    general = bot.wait_answer(GENERAL, general_ts)

    archive = bot.tmp / "docs" / "archive"
    archive.mkdir()
    (bot.tmp / "docs" / "contracts" / "acme-msa.md").rename(archive / "<!channel>.md")
    resync(bot)

    bot.slack.wait_for(lambda: MOVED_AWAY.search(text_of(posted(bot, LEGAL, legal.ts))), timeout=30)
    bot.slack.wait_for(lambda: "moved to" in text_of(posted(bot, GENERAL, general.ts)), timeout=30)
    shown_legal = text_of(posted(bot, LEGAL, legal.ts)) + str(posted(bot, LEGAL, legal.ts).blocks)
    assert "archive" not in shown_legal and "channel&gt;" not in shown_legal  # not where it went
    assert "90 days" in shown_legal  # the answer itself stays
    shown_general = text_of(posted(bot, GENERAL, general.ts))
    assert "moved to `archive/&lt;!channel&gt;.md`" in shown_general  # its channel may see it: escaped
    for message in (posted(bot, LEGAL, legal.ts), posted(bot, GENERAL, general.ts)):
        assert "<!channel>" not in message.text + str(message.blocks)


def test_every_file_derived_string_in_a_notice_is_inert():
    at = datetime(2026, 12, 3, tzinfo=UTC)
    hostile = Notice("c/x.md", "moved", "<!channel> *Pay* <https://evil.example|here> @here", at,
                     "c/<!everyone>`code`.md", "contract")
    line = notice_line(hostile, "en", Scope(path_prefixes=("c",)))
    assert "<!" not in line and "<https" not in line and "@here" not in line  # no ping, no disguised link
    assert line.count("*") == 2 and line.count("`") == 2  # the title cannot end the bold, the path the code span
    away = notice_line(hostile, "zh", Scope(path_prefixes=("legal",)))
    assert "移出此頻道" in away and "everyone" not in away and "c/" not in away
