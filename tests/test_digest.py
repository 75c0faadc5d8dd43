"""The weekly gaps digest: `ragbot gaps`' report posted to ADMIN_CHANNEL by the bot's scheduler job.

Questions reach the bot through the real Bolt app; the job function is then run as the
scheduler would run it, against the fake Slack.
"""

from __future__ import annotations

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from bot.config import BotConfigError, BotSettings, load_bot_settings
from bot.followthrough.digest import post_gaps_digest
from bot.jobs import DIGEST_JOB, FOLLOW_THROUGH_JOB, add_bot_jobs
from tests import test_bot_http
from tests.test_bot_http import GENERAL, text_of

pytestmark = pytest.mark.timeout(120)

corpus = test_bot_http.corpus  # fixtures: the index built once per module, and the bot over it
make_bot = test_bot_http.make_bot

ADMIN_CHANNEL = "C0ADMINS"
OFF_TOPIC = "zebra quantum flute recital seating chart"


def test_digest_posts_the_gaps_report_to_the_admin_channel(make_bot):
    bot = make_bot(reply="should not be asked", private_corpus=True, ADMIN_CHANNEL=ADMIN_CHANNEL,
                   SYNC_REPORT_CHANNEL="C0SYNC", GAPS_DIGEST_CRON="0 8 * * mon")
    for _ in range(2):
        ts, _ = bot.ask(OFF_TOPIC)
        bot.wait_answer(GENERAL, ts)

    assert post_gaps_digest(bot.runtime)
    (digest,) = bot.slack.bot_messages(ADMIN_CHANNEL)
    shown = text_of(digest)
    assert "Gaps digest" in shown and "last 7 days" in shown
    assert "Declined as not covered by the documents (2)" in shown and f"2× {OFF_TOPIC}" in shown
    assert "GAPS_DIGEST_CRON blank turns this digest off" in shown
    assert not bot.slack.bot_messages("C0SYNC")  # ADMIN_CHANNEL wins over SYNC_REPORT_CHANNEL


def test_digest_falls_back_to_the_sync_report_channel_and_says_when_there_is_nothing(make_bot):
    bot = make_bot(reply="unused", private_corpus=True, SYNC_REPORT_CHANNEL="C0SYNC")
    assert post_gaps_digest(bot.runtime)
    (digest,) = bot.slack.bot_messages("C0SYNC")
    assert "Nothing to report for the last 7 days" in text_of(digest)


def test_digest_is_off_by_default_and_scheduled_only_when_configured(make_bot):
    bot = make_bot(reply="unused", private_corpus=True)
    assert not post_gaps_digest(bot.runtime) and not bot.slack.calls("chat.postMessage")
    scheduler = BackgroundScheduler()
    add_bot_jobs(scheduler, bot.runtime)
    assert scheduler.get_job(DIGEST_JOB) is None and scheduler.get_job(FOLLOW_THROUGH_JOB) is not None

    bot.runtime.settings = bot.runtime.settings.model_copy(update={"gaps_digest_cron": "0 8 * * mon",
                                                                   "admin_channel": ADMIN_CHANNEL})
    add_bot_jobs(scheduler, bot.runtime)
    job = scheduler.get_job(DIGEST_JOB)
    assert job is not None and "day_of_week='mon'" in str(job.trigger)


def test_digest_settings_are_checked_at_start_naming_the_variable():
    with pytest.raises(BotConfigError, match="GAPS_DIGEST_CRON"):
        load_bot_settings(GAPS_DIGEST_CRON="every monday")
    settings = BotSettings(SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1", GAPS_DIGEST_CRON="0 8 * * mon")
    with pytest.raises(BotConfigError, match="GAPS_DIGEST_CRON is set but there is no channel.*ADMIN_CHANNEL"):
        settings.check_can_start()
    assert BotSettings(GAPS_DIGEST_CRON=" ").gaps_digest_cron is None  # blank: off
