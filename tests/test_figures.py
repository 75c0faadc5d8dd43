"""The figure check: a number the answer states that its sources do not hold is caught; rewording is not."""

from __future__ import annotations

from datetime import date

import pytest

from rag.answering.figures import check_figures, extract_figures

LEAVE = ("3.2 Carry-over. Unused annual leave can be carried over to the next calendar year, up to a maximum "
         "of 5 days. Carried-over days must be used by 31 March. Sick leave: 10 days a year with pay.")
TRAVEL = "台北市、新北市每晚 NT$3,200，其他縣市每晚 NT$2,400。出差結束後 30 日內應檢附單據申請報銷。"


def flagged(answer: str, *sources: str) -> list[str]:
    return [f.text for f in check_figures(answer, sources).unsupported]


@pytest.mark.parametrize("answer", [
    "You can carry over up to 5 days of annual leave [1].",
    "You can carry over up to five days of annual leave [1].",
    "Carried-over leave must be used by 31 March [1].",
])
def test_correct_english_figures_pass(answer: str) -> None:
    assert flagged(answer, LEAVE) == []


@pytest.mark.parametrize("answer", [
    "台北每晚上限為 3200 元[1]。",
    "台北市每晚最多 NT$3,200 [1]。",
    "出差結束後三十日內要申請報銷[1]。",
])
def test_correct_chinese_figures_pass(answer: str) -> None:
    assert flagged(answer, TRAVEL) == []


def test_a_changed_figure_is_caught_even_when_the_value_appears_elsewhere() -> None:
    # 10 appears in the source, but about sick leave, not carry-over.
    assert flagged("You can carry over up to 10 days of annual leave [1].", LEAVE) == ["10 days"]
    assert flagged("台北市每晚上限 NT$3,400 [1]。", TRAVEL) == ["NT$3,400"]
    assert flagged("出差結束後 60 日內申請[1]。", TRAVEL) == ["60 日"]


def test_a_unit_must_agree() -> None:
    assert flagged("Unused annual leave can be carried over up to 5 weeks.", LEAVE) == ["5 weeks"]


def test_number_words_and_parentheses_mean_the_same_number() -> None:
    source = "Either party may terminate this agreement with ninety (90) days' written notice."
    assert flagged("The agreement can be terminated with 90 days' written notice [1].", source) == []
    assert flagged("The agreement can be terminated with 60 days' written notice [1].", source) == ["60 days"]


def test_dates_match_across_formats() -> None:
    source = "This policy is effective July 20, 2012 and was last updated 2013-10-08."
    assert flagged("The policy was last updated on October 8, 2013 [1].", source) == []
    assert flagged("該政策最後更新於2013年10月8日[1]。", source) == []
    assert flagged("The policy was last updated on October 9, 2013 [1].", source) == ["October 9, 2013"]


def test_form_and_article_numbers_must_appear_as_written() -> None:
    source = "Submit form VND-22 to Procurement. 依第十二條規定辦理。"
    assert flagged("Use form vnd-22 [1].", source) == []
    assert flagged("Use form VND-23 [1].", source) == ["VND-23"]
    assert flagged("依第12條辦理[1]。", source) == []
    assert flagged("依第十三條辦理[1]。", source) == ["第十三條"]


def test_markers_and_list_numbers_are_not_figures() -> None:
    assert extract_figures("1. Ask your manager [2].\n2. File the form [3].") == []


def test_values_are_normalised() -> None:
    values = [f.value for f in extract_figures("NT$3,200, 三十日, 2026年3月2日, 15%")]
    assert values == [3200.0, 30.0, date(2026, 3, 2), 15.0]


def test_an_answer_in_another_language_than_its_source_is_judged_on_the_value() -> None:
    english = "Claims for sick leave: 10 days a year with pay."
    assert flagged("Claims within 30 days [1].", TRAVEL, english) == []
    assert flagged("Claims within 45 days [1].", TRAVEL, english) == ["45 days"]


# --- per sentence, against what it cites (rag/answering/claim_check.py) ----------------------------------------------

CONTRACT = ("9. Termination Either party may terminate this Agreement by giving 90 days' written notice. "
            "10. Confidentiality Each party keeps the other party's information secret for 5 years.")


def flagged_per_claim(claims: list[tuple[str, tuple[int, ...]]], sources: list[str], headers: list[str] = ()) -> list:
    from rag.answering.claim_check import Claim, check_claims

    check = check_claims([Claim(text, cites) for text, cites in claims], sources, headers)
    return [(f.figure.text, f.found_in) for f in check.flagged]


def test_a_wrong_clause_number_that_exists_elsewhere_in_the_source_is_flagged() -> None:
    assert flagged_per_claim([("Termination is covered in section 10, with 90 days' notice.", (1,))], [CONTRACT]) == \
        [("10", None)]
    assert flagged_per_claim([("Termination is covered in section 9, with 90 days' notice.", (1,))], [CONTRACT]) == []


def test_a_figure_only_an_uncited_source_holds_is_flagged_with_that_source() -> None:
    sources = ["Unused annual leave can be carried over, up to a maximum of 5 days.",
               "Memo: employees may carry over up to 12 days of unused annual leave."]
    claim = "You can carry over up to 12 days of annual leave."
    assert flagged_per_claim([(claim, (1,))], sources) == [("12 days", 2)]
    assert flagged_per_claim([(claim, ())], sources) == []  # a sentence citing nothing is checked against all


def test_the_header_date_and_a_restated_month_and_day_are_not_false_alarms() -> None:
    source = ("Unused annual leave can be carried over, up to a maximum of 5 days. Carried-over days must be "
              "used by March 31 of the following year.")
    header = "[1] title: Leave policy | section: 3. Annual leave › 3.2 Carry-over | updated: 2026-03-02"
    claims = [("You can carry over up to 5 days, to be used by March 31.", (1,)),
              ("The policy was updated on March 2, 2026.", (1,))]
    assert flagged_per_claim(claims, [source], [header]) == []
    wrong_day = "You can carry over up to 5 days, to be used by March 30."
    assert flagged_per_claim([(wrong_day, (1,))], [source], [header]) == [("March 30", None)]
    assert flagged_per_claim([("You can carry over up to 3 days.", (1,))], [source], [header]) == [("3 days", None)]
