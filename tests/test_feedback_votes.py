"""👎 clicked 25 times is one vote and one modal; a 900 KB comment with a lone surrogate is kept short and clean,
and the user always hears back (issue 17.6).

Real Bolt app over signed HTTP, the fake Slack (views.open's trigger rules, rate tiers), `ragbot gaps`
through typer's CliRunner on the same index.
"""

from __future__ import annotations

import json

import pytest

from bot.listeners.comments import COMMENT_MAX, clean_text
from tests import test_bot_http
from tests.test_bot_http import LEAVE_ANSWER, Bot, cite
from tests.test_feedback_comments import down_value, feedback_records, gaps

corpus = test_bot_http.corpus
make_bot = test_bot_http.make_bot

pytestmark = pytest.mark.timeout(180)


def click(bot: Bot, value: str, message: dict, user: str, *, rating: str = "down") -> None:
    sent = bot.send.block_action({"action_id": f"feedback_{rating}", "value": value}, user_id=user, message=message,
                                 response_url=bot.slack.response_url(), trigger_id=bot.slack.issue_trigger())
    assert sent.status == 200


def test_one_user_clicking_thumbs_down_25_times_is_one_vote_and_one_modal(make_bot):
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER), private_corpus=True)  # its own gaps log
    value, message = down_value(bot)
    for _ in range(25):
        click(bot, value, message, "U0ANGRY")
    bot.slack.wait_for(lambda: len(bot.slack.responses) >= 25)
    bot.wait_idle()
    assert len(bot.slack.calls("views.open")) == 1  # one modal
    downs = [r for r in feedback_records(bot) if r["rating"] == "down"]
    assert len(downs) == 1
    texts = [r.body["text"] for r in bot.slack.responses]
    assert sum("feedback was recorded" in t for t in texts) == 1  # every click hears back, once as the vote
    assert sum("your vote counts once" in t for t in texts) == 24
    assert "Answers marked 👎 (1):" in gaps(bot)

    click(bot, value, message, "U0OTHER")  # another person's vote on the same answer counts
    click(bot, value, message, "U0ANGRY", rating="up")  # and so does changing one's mind
    bot.slack.wait_for(lambda: len(bot.slack.responses) >= 27)
    bot.wait_idle()
    ratings = [r["rating"] for r in feedback_records(bot)]
    assert ratings.count("down") == 2 and ratings.count("up") == 1
    assert len(bot.slack.calls("views.open")) == 2


def test_a_huge_comment_with_a_lone_surrogate_is_cut_cleaned_and_confirmed(make_bot):
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER), private_corpus=True)
    value, message = down_value(bot)
    click(bot, value, message, "U0CRITIC")
    bot.slack.wait_for(lambda: bot.slack.views)
    bot.wait_idle()
    (view,) = bot.slack.views
    comment = "The figure is wrong\ud800 here\x00\x07\r\nsee the 2025 memo. " + "x" * 900_000
    sent = bot.send.view_submission(view, {"comment": {"comment_text": comment}}, user_id="U0CRITIC")
    assert sent.status == 200
    confirm = bot.slack.wait_for(lambda: bot.slack.calls("chat.postEphemeral"))[0]
    bot.wait_idle()
    shown = confirm.args["text"]
    assert "your comment was recorded" in shown and f"kept up to {COMMENT_MAX} characters" in shown
    (kept,) = [r for r in feedback_records(bot) if r["rating"] == "comment"]
    assert len(kept["comment"]) == COMMENT_MAX
    assert kept["comment"].startswith("The figure is wrong? here\nsee the 2025 memo. xxx")
    assert "\x00" not in kept["comment"] and "\x07" not in kept["comment"]
    out = gaps(bot)
    assert "The figure is wrong? here" in out and "x" * 3001 not in out


def test_clean_text_keeps_what_people_type():
    assert clean_text("Zeilen\n\tund 年假 ✓", 100) == ("Zeilen\n\tund 年假 ✓", False)
    assert clean_text("a\ud83db", 100) == ("a?b", False)  # half of a surrogate pair
    assert clean_text("ab\x1b[31mc", 100) == ("ab[31mc", False)  # no terminal escapes
    assert clean_text("x" * 10, 4) == ("xxxx", True)
    assert json.dumps(clean_text("\udfff", 5)[0]).encode("utf-8")


def test_with_log_questions_off_no_comment_is_asked_for(make_bot):
    """No modal whose comment would be dropped: the asker is not told "your comment was recorded" falsely."""
    bot = make_bot(reply=cite("Leave policy", LEAVE_ANSWER), private_corpus=True, rag={"log_questions": "off"})
    value, message = down_value(bot)
    click(bot, value, message, "U0QUIET")
    bot.slack.wait_for(lambda: len(bot.slack.responses) >= 1)
    bot.wait_idle()
    assert bot.slack.calls("views.open") == []
    assert [r["rating"] for r in feedback_records(bot)] == ["down"]  # the vote counts, without its text
