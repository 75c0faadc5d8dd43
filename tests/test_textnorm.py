"""Text is matched in one normalised form, documents and questions alike; what answers quote stays as written."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from rag.language.textnorm import TEXT_NORMALIZATION, normalize

# What pypdf emits for 銀行 / 變更 in insurance PDFs: CJK compatibility ideographs (U+FA08 行, U+F901 更).
PDF_BANK = "銀\ufa08"
PDF_CHANGE = "變\uf901"
PDF_HEAD_OFFICE = "總\ufa08"  # U+FA08 again, as a question pasted from such a PDF carries it


def test_compatibility_ideographs_and_full_width_forms_fold_to_what_people_type():
    assert normalize(f"{PDF_BANK}帳戶{PDF_CHANGE}") == "銀行帳戶變更"
    assert normalize("請填寫ＶＮＤ－２２表格，共３頁") == "請填寫VND-22表格,共3頁"
    assert normalize("the \u201cnotice\u201d period \u2013 30\u00a0days\u200b") == 'the "notice" period - 30 days'


def _docs(root: Path) -> Path:
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "bank.md").write_text(
        f"# 帳戶{PDF_CHANGE}\n\n客戶如需{PDF_CHANGE}撥款{PDF_BANK}帳戶，應填寫申請書並檢附存摺影本，"
        "於五個工作天內完成。\n",
        encoding="utf-8")
    (root / "policies" / "travel.md").write_text(
        "# 差旅\n\n國內出差住宿費每晚上限新臺幣三千二百元，交通費實報實銷。\n", encoding="utf-8")
    (root / "policies" / "leave.md").write_text(
        "# 請假\n\n員工請特別休假應於三日前提出申請，經主管核准後生效。\n", encoding="utf-8")
    (root / "policies" / "office.md").write_text(
        "# 聯絡\n\n總行營業部位於台北市，服務時間為週一至週五。\n", encoding="utf-8")
    return root


@pytest.fixture
def service(tmp_path: Path, make_settings):
    from rag.service import RagService

    svc = RagService(make_settings(docs_dir=_docs(tmp_path / "docs")))
    assert svc.sync(full=True).status == "ok"
    return svc


def test_a_document_with_compatibility_ideographs_is_found_by_a_normally_typed_question(service):
    result = service.search("銀行變更")
    assert result.hits and result.hits[0].doc_path == "policies/bank.md"
    assert not result.below_floor
    assert PDF_CHANGE in result.hits[0].row["text"]  # what the answer quotes is what the document says


def test_a_question_pasted_from_a_pdf_finds_the_normally_written_document(service):
    result = service.search(f"{PDF_HEAD_OFFICE}在哪裡？")
    assert not result.below_floor
    assert result.hits and result.hits[0].doc_path == "policies/office.md"


def test_the_index_records_its_normalisation_and_an_old_index_is_flagged_and_rebuilt_by_sync_full(
        tmp_path: Path, make_settings, caplog):
    from rag.index.store import TABLE
    from rag.service import RagService

    settings = make_settings(docs_dir=_docs(tmp_path / "docs"))
    svc = RagService(settings)
    assert svc.sync(full=True).status == "ok"
    meta = svc.store.table().schema.metadata
    assert meta[b"text_normalization"] == TEXT_NORMALIZATION.encode()

    # An index from before normalisation: same rows, no search_text column, no recorded version.
    import lancedb
    from lancedb.index import FTS

    db = lancedb.connect(settings.lancedb_uri)
    old = db.open_table(TABLE).to_arrow().drop_columns(["search_text"])
    old = old.replace_schema_metadata({k: v for k, v in meta.items() if k != b"text_normalization"})
    db.drop_table(TABLE)
    db.create_table(TABLE, data=old).create_index(
        "text", config=FTS(base_tokenizer="icu", with_position=False), name="text_idx")

    stale = RagService(settings)
    with caplog.at_level("WARNING", logger="rag.index.store"):
        result = stale.search("客戶如何申請撥款帳戶？")  # still answers from the old index
    assert result.hits and result.hits[0].doc_path == "policies/bank.md"
    notices = [r.getMessage() for r in caplog.records if "sync --full" in r.getMessage()]
    assert len(notices) == 1 and "normalisation" in notices[0]

    assert stale.sync(full=True).status == "ok"
    fresh = RagService(settings)
    assert fresh.store.table().schema.metadata[b"text_normalization"] == TEXT_NORMALIZATION.encode()
    assert fresh.store.outdated is None
    assert fresh.search("撥款銀行帳戶要怎麼變更？").hits[0].doc_path == "policies/bank.md"


def test_rows_keep_the_written_text_for_display_and_search_the_normalised_one(service):
    rows = service.store.table().search().where("doc_path = 'policies/bank.md'").limit(None).to_arrow()
    assert isinstance(rows, pa.Table)
    text, search_text = rows.column("text")[0].as_py(), rows.column("search_text")[0].as_py()
    assert PDF_BANK in text and "銀行" in search_text and PDF_BANK not in search_text
