"""The shipped Traditional Chinese regulations set (bench/quality/data/twlaw) is what its README says it is."""

from __future__ import annotations

from bench.quality import datasets
from bench.quality.build_twlaw import question_for, short_name


def test_every_gold_span_is_the_text_of_the_cited_article() -> None:
    ds = datasets.load("twlaw")
    assert len(ds.doc_ids) >= 300 and len(ds.queries) >= 600
    for q in ds.queries:
        (span,) = q.spans
        text = (ds.corpus / ds.path_of(span.doc_id)).read_text(encoding="utf-8")
        heading = text[: span.start].rstrip("\n").rsplit("\n", 1)[-1]
        assert heading.startswith("第 ") and heading.endswith(" 條"), q.qid
        assert q.qid.endswith(heading.replace(" ", "")), q.qid  # the article the question was made from
        assert text[span.start:span.end].strip() and "\n\n" not in text[span.start:span.end]


def test_scoped_questions_are_the_plain_ones_naming_the_regulation() -> None:
    ds = datasets.load("twlaw")
    assert ds.doc_level_scoped
    for q in ds.queries[:200]:
        name = (ds.corpus / ds.path_of(q.doc_ids[0])).read_text(encoding="utf-8").split("\n", 1)[0]
        assert q.scoped.endswith(q.question) and short_name(name) in q.scoped[: -len(q.question)]


def test_templates_turn_an_article_into_a_question_and_skip_deleted_ones() -> None:
    import random

    rng = random.Random(0)
    assert question_for("（刪除）", rng) is None
    assert question_for("本辦法依保險法第一百四十八條第四項規定訂定之。", rng) == "本辦法是依據哪一條規定訂定的？"
    assert question_for("保險業應於每會計年度終了後三個月內，將財務報告報主管機關備查。", rng) == (
        "保險業應於每會計年度終了後幾個月內？")
    assert question_for("違反第五條規定者，處新臺幣六萬元以上三十萬元以下罰鍰。", rng) == (
        "違反第五條規定者，處多少罰鍰？")
    assert short_name("消防法施行細則") == "消防法細則"
    assert short_name("保險業內部控制及稽核制度實施辦法") == "保險業內部控制及稽核制度"
