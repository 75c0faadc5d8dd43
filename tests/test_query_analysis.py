"""What full-text search is sent: content words without question words, and phrases for what must match verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.retrieval.query import query_terms, text_query


def test_question_words_and_particles_are_left_out_of_the_full_text_query():
    assert text_query("「基本保額」是指什麼？").text == "基本保額"
    assert text_query("What is the carry-over limit?").text == "carry over limit"
    assert text_query("住宿費上限是多少呢？").text == "住宿費上限"
    assert text_query("What is it?").text  # nothing but question words: the question is sent as it is


def test_quoted_terms_form_numbers_and_article_numbers_are_phrases():
    assert text_query("「基本保額」是指什麼？").phrases == ("基本保額",)
    assert text_query("How do I file form VND-22?").phrases == ("VND-22",)
    assert text_query("第十二條規定的撤銷期限是幾天？").phrases == ("第十二條",)
    assert set(text_query('What does Article 12.3 say about the "notice period"?').phrases) == {
        "notice period", "Article 12.3"}
    assert text_query("what is a refund").phrases == ()


def test_one_stop_list_for_the_query_and_for_coverage_terms():
    assert "什麼" not in query_terms("「基本保額」是指什麼？") and "保額" in query_terms("「基本保額」是指什麼？")
    assert "多少" not in query_terms("住宿費上限是多少？")


FAQ = {  # short pages full of question words, as a bank's FAQ is
    "faq/basic.md": "# 基本資料是什麼\n\n基本資料是什麼？是指您的姓名、地址與電話。\n",
    "faq/policy.md": "# 保單是什麼\n\n保單是什麼？是指保險契約的書面憑證。\n",
    "faq/limit.md": "# 額度是什麼\n\n信用額度是什麼？是指可以刷卡的上限。\n",
    "faq/fee.md": "# 年費是什麼\n\n年費是什麼？是指每年收取的費用。\n",
    "faq/points.md": "# 紅利點數是什麼\n\n紅利點數是什麼？是指消費累積的點數。\n",
}
_FILL = ("要保人應於每年繳費日前繳交保險費，逾期未繳者本公司將以書面催告，"
         "催告到達翌日起三十日內仍未繳交者，本契約效力停止。")
RIDERS = {f"policies/rider-{i}.md": f"# 附約{i}\n\n本附約之保額依主契約約定。{_FILL * 2}\n" for i in range(8)}
POLICY = (  # 保額 is in every policy (low weight); the page about 基本保額 is long
    "# 壽險保單條款\n\n## 第三條 名詞定義\n\n本契約所稱基本保額，為本契約所載明之投保金額；基本保額得申請減少，"
    "但減少後之基本保額不得低於本公司規定之最低金額。" + _FILL * 3 + "\n"
)


@pytest.fixture
def bank(tmp_path: Path, make_settings):
    from rag.service import RagService

    docs = tmp_path / "docs"
    for rel, text in {**FAQ, **RIDERS, "policies/life.md": POLICY}.items():
        (docs / rel).parent.mkdir(parents=True, exist_ok=True)
        (docs / rel).write_text(text, encoding="utf-8")
    svc = RagService(make_settings(docs_dir=docs))
    assert svc.sync(full=True).status == "ok"
    return svc


def test_question_words_do_not_let_short_faq_pages_outrank_the_page_about_the_term(bank):
    for mode in ("fts", "hybrid"):
        result = bank.search("「基本保額」是指什麼？", mode=mode)
        assert result.hits and result.hits[0].doc_path == "policies/life.md", mode


def test_an_article_number_matches_as_a_phrase(bank):
    result = bank.search("第三條怎麼定義？", mode="fts")
    assert result.candidates and result.candidates[0].doc_path == "policies/life.md"


def test_a_question_with_quote_characters_still_gets_full_text_results(service_sample):
    hits = service_sample.search('What does "carry-over" mean for annual leave?', mode="fts").candidates
    assert hits and hits[0].doc_path == "policies/leave-policy.md"


def test_a_verbatim_form_number_ranks_above_its_parts_scattered(tmp_path: Path, make_settings):
    from rag.service import RagService

    docs = tmp_path / "docs" / "forms"
    docs.mkdir(parents=True)
    (docs / "scattered.md").write_text(
        "# Vendor forms\n\nEvery VND request is reviewed; keep the 22 receipts of the vendor visit, and the "
        "VND checklist for 22 vendors.\n", encoding="utf-8")
    (docs / "vnd-22.md").write_text(
        "# Supplier onboarding\n\nSuppliers register by sending the signed VND-22 with their bank details; "
        "approval takes ten working days and is confirmed by email to the requester and to accounting.\n",
        encoding="utf-8")
    svc = RagService(make_settings(docs_dir=tmp_path / "docs"))
    assert svc.sync(full=True).status == "ok"
    result = svc.search("Where is VND-22 sent?", mode="fts")
    assert result.candidates[0].doc_path == "forms/vnd-22.md"


@pytest.fixture
def service_sample(sample_index: Path, make_settings):
    from rag.service import RagService

    return RagService(make_settings(lancedb_uri=str(sample_index)))
