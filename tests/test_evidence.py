"""The quoted evidence: each source line shows the sentence of the cited passage that supports the answer.

Unit tests of the matching (English and Chinese), then the whole way through the real Bolt app to the
fake Slack, and through the CLI.
"""

from __future__ import annotations

import re
from pathlib import Path

from rag.answering.evidence import EVIDENCE_CHARS, best_sentence
from tests.test_bot_http import GENERAL, corpus, make_bot, text_of  # noqa: F401  (fixtures)

LEAVE = ("Every employee gets 25 days of paid annual leave per calendar year. Up to 5 unused days of annual leave "
         "can be carried over into the next year and must be taken by 31 March. Leave is requested in the HR "
         "portal at least two weeks ahead.")
HOTEL_ZH = "住宿費依實際支出核銷，台北市、新北市每晚上限為新臺幣 3,200 元，其他縣市每晚上限為新臺幣 2,400 元。"
TRAVEL_ZH = f"出差應事先經部門主管核准。{HOTEL_ZH}出差結束後 30 日內應檢據申請報銷。"


def test_the_sentence_carrying_the_claims_figures_and_words_is_chosen():
    evidence, score = best_sentence(LEAVE, ["You can carry over up to 5 days, to be taken by 31 March."])
    assert evidence == ("Up to 5 unused days of annual leave can be carried over into the next year and must be "
                        "taken by 31 March.")
    assert score > 0
    evidence, _ = best_sentence(LEAVE, ["You get 25 days a year."])
    assert evidence.startswith("Every employee gets 25 days")


def test_chinese_claims_match_on_character_bigrams():
    evidence, score = best_sentence(TRAVEL_ZH, ["台北出差住宿每晚最多可報銷新臺幣 3,200 元。"])
    assert evidence == HOTEL_ZH
    assert score > 0
    evidence, _ = best_sentence(TRAVEL_ZH, ["報銷要在出差結束後 30 日內申請。"])
    assert evidence == "出差結束後 30 日內應檢據申請報銷。"


def test_a_long_sentence_is_trimmed_around_what_matched():
    long = ("The Supplier shall, " + "subject to the conditions in the annexes and the service levels, " * 6
            + "refund fees paid in advance within 30 days of termination, " + "and other duties apply, " * 6 + "too.")
    evidence, _ = best_sentence(long, ["Prepaid fees are refunded within 30 days of termination."])
    assert len(evidence) <= EVIDENCE_CHARS
    assert "refund fees paid in advance within 30 days of termination" in evidence
    assert evidence.startswith("…") and evidence.endswith("…")


def test_table_rows_are_units_of_their_own():
    table = "Channel | Address | Response time\nEmail | help@x.example | 1 business day\nPhone | ext. 4357 | 1 hour"
    evidence, _ = best_sentence(table, ["Phone support answers within 1 hour."])
    assert evidence == "Phone | ext. 4357 | 1 hour"


# --- through the real Bolt app to the fake Slack -------------------------------------------------------------


def _numbers_of(prompt: str, needle: str) -> list[int]:
    """The numbers of the prompt's sources that contain `needle` (the fence tag may carry a random suffix)."""
    return [int(n) for n, body in re.findall(r'<source[-\w]* id="(\d+)">(.*?)</source', prompt, re.S) if needle in body]


def test_slack_answer_quotes_each_cited_section_with_its_own_place(make_bot):  # noqa: F811
    """One document cited for two sections: one source, each section listed with its own sentence."""

    def reply(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        carry, sick = _numbers_of(prompt, "carried over")[0], _numbers_of(prompt, "Report sick leave")[0]
        return (f"You can carry over up to 5 days, to be taken by 31 March [{carry}]. "
                f"If you are ill, tell your manager before 10:00 [{sick}].")

    bot = make_bot(reply=reply)
    ts, _ = bot.ask("how many leave days can I carry over, and how do I report sick leave?")
    shown = text_of(bot.wait_answer(GENERAL, ts))
    lines = shown.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("[1] "))
    assert "Leave policy" in lines[head] and "[2]" not in shown  # one source for the one document
    assert lines[head + 1].startswith("› Annual leave — “Up to 5 unused days of annual leave can be carried over")
    assert lines[head + 2] == "› Sick leave — “Report sick leave to your manager before 10:00 on the first day.”"


def test_slack_extractive_answer_cites_each_quoted_section(make_bot):  # noqa: F811
    """Ollama down: the quoted passages are cited under their own sections, not the first one's."""
    bot = make_bot(ollama_url="http://127.0.0.1:9")
    ts, _ = bot.ask("annual leave carry over and sick leave report")
    shown = text_of(bot.wait_answer(GENERAL, ts))
    assert "&gt; " in shown or "> " in shown
    places = [line for line in shown.splitlines() if line.startswith("› ")]
    assert "› Annual leave" in places and "› Sick leave" in places


def test_cli_lists_each_place_with_its_evidence(tmp_path: Path, corpus):  # noqa: F811
    from typer.testing import CliRunner

    from ragbot.cli import app
    from tests.fakes.fake_ollama import FakeOllama

    def reply(body: dict) -> str:
        numbers = _numbers_of(body["messages"][-1]["content"], "Report sick leave") if body.get("messages") else []
        return f"Report sick leave before 10:00 [{numbers[0]}]." if numbers else ""

    docs, index = corpus
    with FakeOllama(models=["llama3.2:3b"], reply=reply) as fake:
        result = CliRunner().invoke(app, ["--docs-dir", str(docs), "--index", str(index), "--ollama-host", fake.url,
                                          "--model", "llama3.2:3b", "ask", "how do I report sick leave?"])
    assert result.exit_code == 0, result.output
    sources = result.output.split("Sources:", 1)[1].strip().splitlines()
    assert sources[0].startswith("[1] Leave policy (updated ")
    assert sources[1].strip() == "› Sick leave — “Report sick leave to your manager before 10:00 on the first day.”"
    assert sources[2].strip().endswith("leave-policy.md#sick-leave")
