"""What small real models write (bench/bench_answers.py saw each of these), and what the asker must see instead.

Each reply below is one a real 0.5B/1.5B model produced in kind: only markers, facts without markers, the
marker on a closing "This is stated in [1]", another clause's figure for a near-miss question, the wrong
language or script, a loop. Driven through the real `ollama` client against the fake Ollama server, with real
retrieval on the sample corpus.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import FAKE_MODEL as MODEL
from tests.conftest import SAMPLE_DOCS
from tests.fakes.fake_ollama import FakeOllama
from tests.test_ask import source_number


def ask(service_for, reply, question: str, **overrides):
    with FakeOllama(models=[MODEL], reply=reply) as fake:
        return service_for(fake, **overrides).ask(question)


CARRY = "How many days of annual leave can I carry over?"


@pytest.fixture
def ask_own_folder(tmp_path: Path, make_settings):
    """Index a folder (the samples, unless `samples=False`, plus `files`), then ask it with the fake model."""
    from rag.service import RagService

    def run(files: dict[str, str], reply, question: str, *, samples: bool = True, **overrides):
        docs = tmp_path / "docs"
        if samples:
            shutil.copytree(SAMPLE_DOCS, docs)
        for name, text in files.items():
            (docs / name).parent.mkdir(parents=True, exist_ok=True)
            (docs / name).write_text(text)
        RagService(make_settings(docs_dir=docs, lancedb_uri=str(tmp_path / "index"))).sync(full=True)
        with FakeOllama(models=[MODEL], reply=reply) as fake:
            return RagService(make_settings(docs_dir=docs, lancedb_uri=str(tmp_path / "index"), ollama_host=fake.url,
                                            ollama_model=MODEL, **overrides)).ask(question)

    return run


@pytest.mark.parametrize("reply", ["[1]", "[1][2]", " [1] [2]. ", "I'm sorry, but"])
def test_a_reply_of_only_markers_is_no_answer_and_the_passages_are_quoted(service_for, reply: str) -> None:
    answer = ask(service_for, reply, CARRY)
    assert answer.mode == "extractive"
    assert "wrote no usable answer" in answer.notice
    assert "5 days" in answer.text and answer.citations[0].rel_path == "policies/leave-policy.md"


def test_facts_copied_without_markers_get_their_source_and_say_it_was_inferred(service_for) -> None:
    reply = ("Unused annual leave can be carried over to the next calendar year, up to a maximum of 5 days. "
             "Carried-over days must be used by March 31 of the following year.")
    answer = ask(service_for, reply, CARRY)
    assert [c.rel_path for c in answer.citations] == ["policies/leave-policy.md"]
    assert answer.citations_inferred and "did not mark its sources" in answer.notice
    assert "cites no document" not in (answer.notice or "")
    assert answer.text.count("[1]") == 2  # each sentence shows where it came from
    assert "5 days" in answer.citations[0].passages[0].evidence


@pytest.mark.parametrize("reply", ["Employees should always wear blue shirts on Fridays in the office.",
                                   "The answer is: 2.", "The answer is: [n]."])
def test_an_answer_that_no_source_supports_gives_way_to_the_quoted_passages(service_for, reply: str) -> None:
    """SmolLM2-135M wrote the last two (bench/bench_answers.py): uncited, unmatched, a figure from nowhere."""
    answer = ask(service_for, reply, CARRY)
    assert answer.mode == "extractive" and "matches none of them" in answer.notice
    assert reply not in answer.text and "5 days" in answer.text
    assert answer.citations[0].rel_path == "policies/leave-policy.md"


def test_evidence_comes_from_the_fact_not_the_sentence_that_carries_the_marker(service_for) -> None:
    def reply(request: dict) -> str:
        n = source_number(request, "terminate this Agreement for convenience")
        return (f"You must give at least 60 days' written notice. This is stated in the agreement's clause on a "
                f"material breach or insolvency of the other party [{n}].")

    answer = ask(service_for, reply, "How much notice ends the Bluewater contract for convenience?")
    evidence = answer.citations[0].passages[0].evidence
    assert "60 days" in evidence, evidence


def test_the_date_the_bot_puts_above_a_source_is_not_a_figure_to_check(service_for) -> None:
    def reply(request: dict) -> str:
        n = source_number(request, "March 31")
        return (f"You can carry over up to 5 days, to be used by March 31 [{n}]. "
                f"The Leave policy was updated on 2026-03-02 [{n}].")

    answer = ask(service_for, reply, CARRY)
    assert answer.unsupported_figures == [] and "⚠" not in answer.text


def test_a_figure_from_a_source_the_sentence_does_not_cite_is_flagged_naming_it(service_for) -> None:
    """The planted-document case: the figure is in the sources, but not in the one the sentence cites."""
    def reply(request: dict) -> str:
        leave = source_number(request, "March 31")
        return f"You can carry over up to 10 days of annual leave [{leave}]."  # 10 is sick leave's, elsewhere

    question = "How many days of annual leave can I carry over, and how many sick days do I get?"
    answer = ask(service_for, reply, question)
    assert "10 days" in answer.unsupported_figures


def test_a_figure_planted_in_another_document_is_flagged_naming_it(ask_own_folder) -> None:
    """A writer of the docs share plants a memo; the model obeys it but cites the official policy."""
    memo = ("# Leave memo\n\nFrom now on employees may carry over up to 12 days of unused annual leave to the next "
            "calendar year.\n")

    def reply(request: dict) -> str:
        policy = source_number(request, "March 31")
        return f"You can carry over up to 12 days of unused annual leave [{policy}]."

    answer = ask_own_folder({"policies/leave-memo.md": memo}, reply, CARRY)
    assert answer.unsupported_figures == ["12 days"] and "12 days ⚠" in answer.text
    assert "from *Leave memo*, which that sentence does not cite" in answer.notice


def test_a_near_miss_figure_is_not_shown_as_the_answer(service_for) -> None:
    """Marriage leave: the policy states bereavement leave (5 days), nothing for marriage."""
    def reply(request: dict) -> str:
        n = source_number(request, "bereavement")
        return f"Employees get 5 working days of paid marriage leave [{n}]."

    with FakeOllama(models=[MODEL], reply=reply) as fake:
        service = service_for(fake)
        answer = service.ask("How many days of paid marriage leave do employees get?")
        declined = [e for e in service.question_log.events() if e.kind == "declined"]
    assert answer.near_miss
    assert any(e.question == "How many days of paid marriage leave do employees get?" for e in declined)  # gaps
    assert "state nothing for “marriage”" in answer.text
    assert "Bereavement leave" in answer.text  # what the figure is really for
    assert "marriage leave [" not in answer.text  # the wrong claim is not shown as the answer
    assert answer.citations[0].rel_path == "policies/leave-policy.md"


def test_a_figure_from_another_contract_than_the_one_named_is_a_near_miss(ask_own_folder) -> None:
    harbour = ("# Warehouse Services Agreement – Harbour Storage\n\n## 3. Fees and payment\n\n"
               "Storage is charged at NT$410 per pallet position per month. Invoices are payable within 30 days.\n")

    def reply(request: dict) -> str:
        n = source_number(request, "interest of 1% per month")
        return f"Harbour Storage charges interest of 1% per month on late payments [{n}]."

    answer = ask_own_folder({"contracts/harbour-storage-agreement.md": harbour}, reply,
                            "What interest does Harbour Storage charge us on late payments?")
    assert answer.near_miss
    assert "Harbour Storage* states nothing about this" in answer.text
    assert "Master Services Agreement" in answer.text


def test_a_correct_answer_is_not_taken_for_a_near_miss(service_for) -> None:
    def reply(request: dict) -> str:
        n = source_number(request, "paid sick leave")
        return f"Employees receive up to 10 working days of paid sick leave per calendar year [{n}]."

    answer = ask(service_for, reply, "How many days of paid sick leave do employees get per year?")
    assert not answer.near_miss and answer.text.startswith("Employees receive up to 10")


def test_an_english_question_answered_in_chinese_is_quoted_instead(service_for) -> None:
    answer = ask(service_for, "年假最多可以保留五天，必須在隔年三月三十一日前使用完畢。[1]", CARRY)
    assert answer.mode == "extractive" and "answered in another language" in answer.notice


def test_a_looping_answer_is_cut_with_a_notice(service_for) -> None:
    def reply(request: dict) -> str:
        n = source_number(request, "March 31")
        return f"You can carry over up to 5 days [{n}]. " + "Please check with HR for details. " * 12

    answer = ask(service_for, reply, CARRY)
    assert answer.text.count("Please check with HR") == 1
    assert "repeating itself" in answer.notice


def test_simplified_characters_in_a_traditional_answer_are_converted(service_for) -> None:
    def reply(request: dict) -> str:
        n = source_number(request, "膳雜費")
        return f"国内出差的膳杂费每日定额 NT$800，无须检附单据 [{n}]。"

    answer = ask(service_for, reply, "國內出差的膳雜費每日多少錢？")
    assert "國內出差的膳雜費每日定額 NT$800，無須檢附單據" in answer.text
    assert not re.search("[国杂额无须检单据]", answer.text)
    assert answer.script_converted >= 6


def test_a_thinking_model_out_of_budget_is_not_called_unavailable(service_for) -> None:
    with FakeOllama(models=["qwen3:8b"], thinking_models=["qwen3:8b"], thinking="Let me think. " * 400,
                    reply="") as fake:
        answer = service_for(fake, ollama_model="qwen3:8b", ollama_think="true", answer_max_tokens=32).ask(CARRY)
    assert answer.mode == "extractive"
    assert "whole answer budget reasoning" in answer.notice and "unavailable" not in answer.notice


def test_a_dropped_invented_see_also_leaves_nothing_dangling(service_for) -> None:
    def reply(request: dict) -> str:
        n = source_number(request, "March 31")
        return f"You can carry over up to 5 days [{n}]. See also [7]."

    answer = ask(service_for, reply, CARRY)
    assert "See also" not in answer.text and answer.text.endswith("5 days [1].")


def test_a_chinese_near_miss_is_said_in_chinese(ask_own_folder) -> None:
    """婚假: the rule states 喪假 (8 日) and 病假, nothing for marriage leave."""
    rule = ("# 員工請假規則\n\n## 第一條 病假\n\n員工因普通傷病請假者，一年內合計未超過 30 日部分，工資折半發給。\n\n"
            "## 第二條 喪假\n\n父母、配偶喪亡者，給予喪假 8 日，工資照給。\n")

    def reply(request: dict) -> str:
        return f"員工結婚可以請婚假 8 日，工資照給 [{source_number(request, '喪假 8 日')}]。"

    # floor off: this is about what the model says once retrieval lets the question through
    answer = ask_own_folder({"policies/員工請假規則.md": rule}, reply, "員工結婚可以請幾天婚假？", samples=False,
                            relevance_floor=0.0)
    assert answer.near_miss
    assert "文件中沒有關於「婚假」的規定" in answer.text and "喪假" in answer.text
    assert "請婚假 8 日" not in answer.text


ZH_LEAVE_RULES = ("# 員工請假規則\n\n## 第一條 特別休假\n員工到職滿六個月者，給予特別休假 3 日；滿一年者 7 日。\n\n"
                  "## 第二條 普通傷病假\n員工因普通傷病請假者，一年內合計未超過三十日部分，工資折半發給。\n\n"
                  "## 第三條 喪假\n父母、養父母、繼父母、配偶喪亡者，給予喪假八日，工資照給。\n")


def test_an_answer_about_a_subject_no_source_mentions_is_declined(ask_own_folder) -> None:
    """bench_answers un-zh-phone: the floor passed on 員工/每個月, and the model stated a phone allowance citing
    the sick-leave article. None of the sources mentions 手機補助: the asker is told so, not given a figure."""
    reply = ("根據《員工請假規則》第二條，員工因普通傷病請假者，一年內合計未超過 30 日部分，工資折半發給 [1]。"
             "因此，員工每個月的手機補助是 1500 元。")
    answer = ask_own_folder({"policies/員工請假規則.md": ZH_LEAVE_RULES}, reply, "員工每個月的手機補助是多少？")
    assert answer.mode == "no_answer" and "1500" not in answer.text
    assert "「手機補助」" in answer.text and not answer.citations


def test_an_answer_in_the_askers_everyday_words_is_not_declined(ask_own_folder) -> None:
    """過世 is the asker's word for the rule's 喪亡 (rag/lexicon.py): restating it is no unmentioned subject."""
    reply = "父母過世可以請喪假八日，工資照給 [1]。"
    answer = ask_own_folder({"policies/員工請假規則.md": ZH_LEAVE_RULES}, reply, "父母過世可以請幾天喪假？")
    assert answer.mode == "generated" and "八日" in answer.text
    assert [c.rel_path for c in answer.citations] == ["policies/員工請假規則.md"]


def test_an_english_answer_about_an_unmentioned_thing_is_declined(ask_own_folder) -> None:
    reply = "On business travel employees receive a daily allowance of USD 50 for a pet sitter [1]."
    allowances = ("# Travel allowances\n\n## Daily allowance\nOn business travel abroad employees receive a daily "
                  "allowance of USD 60 for meals and local transport.\n")
    answer = ask_own_folder({"policies/travel-allowances.md": allowances}, reply,
                            "What is the daily allowance for a pet sitter on business travel?")
    assert answer.mode == "no_answer" and "USD 50" not in answer.text
    assert "“pet”" in answer.text and "“sitter”" in answer.text


def test_how_a_question_asks_is_no_unmentioned_subject(ask_own_folder) -> None:
    """怎麼計算 asks how, not about what: SmolLM2-135M restated 計算, which the contract never writes."""
    contract = "# 倉儲服務合約\n\n## 第六條 逾期付款\n甲方逾期付款者，應按逾期金額每日萬分之五計付違約金。\n"
    reply = "逾期付款的違約金計算方式是按逾期金額每日萬分之五 [1]。"
    question = "倉儲服務合約中，逾期付款的違約金怎麼計算？"
    answer = ask_own_folder({"contracts/倉儲服務合約.md": contract}, reply, question)
    assert answer.mode == "generated" and "萬分之五" in answer.text
    assert [c.rel_path for c in answer.citations] == ["contracts/倉儲服務合約.md"]
