"""Boilerplate shared by many contracts (GROUP_DUPLICATES): one slot, every document named, the named one wins.

Through the real pipeline: the contracts of tests/duplicates_corpus.py ingested with the real model and
LanceDB, answers from the real `ollama` client against the fake Ollama, rendered for Slack and the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.config import ConfigError, load_settings
from rag.retrieval.duplicates import figure_values, near_duplicates, resemblance, shingles
from rag.service import RagService
from ragbot.cli import app
from tests.conftest import UNREACHABLE_OLLAMA
from tests.duplicates_corpus import (
    EN_CONFIDENTIALITY,
    EN_PARTIES,
    ZH_CONFIDENTIALITY,
    ZH_PARTIES,
    write_contracts,
)
from tests.fakes.fake_ollama import FakeOllama
from tests.slack_rendering import slack_text

MODEL = "llama3.2:3b"
EN_TITLES = [f"{p} supply agreement" for p in EN_PARTIES]
ZH_TITLES = [f"{p}採購合約" for p in ZH_PARTIES]
# (question about the shared clause, a few words of it, the heading of its section, every contract's title)
SHARED = {
    "en": ("How long do the confidentiality obligations last?", "survive termination", "Confidentiality", EN_TITLES),
    "zh": ("保密義務在合約終止後持續多久？", "繼續有效", "保密義務", ZH_TITLES),
}


@pytest.fixture(scope="module")
def contracts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(docs folder, index) of the contracts, ingested once for this module."""
    root = tmp_path_factory.mktemp("contracts")
    docs = write_contracts(root / "docs")
    report = RagService(load_settings(docs_dir=docs, lancedb_uri=str(root / "index"),
                                      ollama_host=UNREACHABLE_OLLAMA)).sync(full=True)
    assert report.status == "ok" and len(report.added) == len(EN_PARTIES) + len(ZH_PARTIES), report
    return docs, root / "index"


@pytest.fixture
def service(contracts: tuple[Path, Path]) -> Callable[..., RagService]:
    docs, index = contracts

    def build(**overrides: object) -> RagService:
        values: dict[str, object] = {"docs_dir": docs, "lancedb_uri": str(index), "ollama_host": UNREACHABLE_OLLAMA,
                                     "ollama_model": MODEL, "ollama_timeout_seconds": 10.0}
        return RagService(load_settings(**{**values, **overrides}))

    return build


def cite(needle: str) -> Callable[[dict], str]:
    """A model that answers from the source holding `needle`, citing it."""
    def reply(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        for _tag, number, body in re.findall(r'<(source-\w+) id="(\d+)">(.*?)</\1>', prompt, re.S):
            if needle in body:
                return f"The clause says so [{number}]."
        raise AssertionError(f"no source holds {needle!r}")
    return reply


def shared_hits(retrieval, section: str) -> list:
    return [h for h in retrieval.hits if str(h.row["section"]).endswith(section)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_clause_in_every_contract_is_one_source_that_names_all_of_them(service, lang: str) -> None:
    question, needle, section, titles = SHARED[lang]
    with FakeOllama(models=[MODEL], reply=cite(needle)) as fake:
        svc = service(ollama_host=fake.url)
        retrieval = svc.search(question)
        answer = svc.ask(question)
        prompt = fake.requests[-1]["messages"]
    copies = shared_hits(retrieval, section)
    assert len(copies) == 1  # one slot for the clause, not one per contract
    group = [copies[0].doc_path, *(d.doc_path for d in copies[0].duplicates)]
    assert len(set(group)) == len(titles) and all(f"/{lang}/" in path for path in group)
    # The model is told the clause is shared, and by which documents, instead of being shown it N times.
    assert f"same text in {len(titles)} documents" in prompt[-1]["content"]
    assert "never present one of them as the only source" in prompt[0]["content"]
    assert sum(needle in m for m in re.findall(r"<source-\w+ id=\"\d+\">.*?</source", prompt[-1]["content"], re.S)) == 1
    # The reader is told too: the cited copy's place says the clause appears in N documents, naming them.
    (citation,) = answer.citations
    (passage,) = [p for p in citation.passages if p.shared]
    assert not passage.shared.named and len(passage.shared.documents) == len(titles) - 1
    text = slack_text(answer)
    if lang == "en":
        shown = re.search(r"appears in 6 documents: (.+?) and 1 more", text)
        assert shown, text
        names = shown.group(1).split(", ")
        assert len(names) == 5 and set(names) < set(titles) and citation.title == names[0]
    else:
        shown = re.search(r"同一段文字見於 5 份文件：(\S+)", text)
        assert shown, text
        assert sorted(shown.group(1).rstrip("_").split("、")) == sorted(titles)


@pytest.mark.parametrize(("question", "named", "lang"), [
    ("What does the Globex supply agreement say about confidentiality?", "Globex supply agreement", "en"),
    ("東亞物流採購合約的保密條款怎麼規定？", "東亞物流採購合約", "zh"),
])
def test_a_question_naming_one_contract_cites_that_contract_and_lists_the_others_as_also_in(
        service, question: str, named: str, lang: str) -> None:
    needle = SHARED[lang][1]
    titles = SHARED[lang][3]
    with FakeOllama(models=[MODEL], reply=cite(needle)) as fake:
        answer = service(ollama_host=fake.url).ask(question)
        prompt = fake.requests[-1]["messages"][-1]["content"]
    (citation,) = answer.citations
    assert citation.title == named
    assert any(p.section.endswith(SHARED[lang][2]) for p in citation.passages)  # the clause's own place
    (passage,) = [p for p in citation.passages if p.shared]
    assert passage.shared.named
    others = {d.title for d in passage.shared.documents}
    assert named not in others and others < set(titles)
    assert "also in: " in prompt
    label = "also in: " if lang == "en" else "亦見於："
    line = next(line for line in slack_text(answer).splitlines() if label in line)
    assert named not in line.split(label, 1)[1]


def test_distinct_passages_still_reach_the_top_k(service) -> None:
    """Five copies of the 保密 clause took all five slots; grouped, the termination clauses get in.

    Those read alike too, but each gives another notice period (30, 60, 90… days): not one text.
    """
    question = SHARED["zh"][0]
    retrieval = service().search(question)
    sections = [str(h.row["section"]).rsplit(" › ", 1)[-1] for h in retrieval.hits]
    assert sections.count("第三條 保密義務") == 1, sections
    termination = [h for h in retrieval.hits if str(h.row["section"]).endswith("第四條 契約終止")]
    assert len(termination) >= 2 and not any(h.duplicates for h in termination)
    assert len({h.doc_path for h in termination}) == len(termination)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_when_the_llm_is_down_the_quoted_clause_says_in_how_many_documents_it_appears(
        contracts: tuple[Path, Path], lang: str) -> None:
    docs, index = contracts
    question, needle, _, titles = SHARED[lang]
    result = CliRunner().invoke(app, ["--index", str(index), "--docs-dir", str(docs), "--ollama-host",
                                      UNREACHABLE_OLLAMA, "ask", question])
    assert result.exit_code == 0, result.output
    out = result.output
    assert needle in out  # the passage itself, quoted
    (line,) = [line for line in out.splitlines() if f"appears in {len(titles)} documents: " in line]  # CLI: English
    assert sum(title in line for title in titles) == min(len(titles), 5)
    assert line.endswith(" and 1 more") == (len(titles) > 5)
    assert out.count(needle) == 1  # quoted once, not once per contract


def test_the_off_switch_restores_one_slot_per_copy(service, contracts: tuple[Path, Path]) -> None:
    question, needle, section, titles = SHARED["en"]
    assert len(shared_hits(service(group_duplicates=False).search(question), section)) == 5  # TOP_K copies
    docs, index = contracts
    result = CliRunner().invoke(app, ["--index", str(index), "--docs-dir", str(docs), "--ollama-host",
                                      UNREACHABLE_OLLAMA, "ask", question], env={"GROUP_DUPLICATES": "off"})
    assert result.exit_code == 0, result.output
    assert "appears in" not in result.output and result.output.count(needle) >= 2
    with pytest.raises(ConfigError, match="GROUP_DUPLICATES"):
        load_settings(group_duplicates="sometimes")


def party(name: str, short: str) -> str:
    return EN_CONFIDENTIALITY.replace("Each party", f"{name} and the Customer each").replace("the other party", short)


@pytest.mark.parametrize(("a", "b", "one_text"), [
    (party("Acme Ltd", "Acme"), party("Globex Inc.", "Globex"), True),  # other party names: 0.80
    (ZH_CONFIDENTIALITY.replace("雙方", "甲方華新公司與乙方"), ZH_CONFIDENTIALITY.replace("雙方", "甲方東亞公司與乙方"),
     True),  # 0.92
    (EN_CONFIDENTIALITY, EN_CONFIDENTIALITY + " Public information is not confidential information.", True),
    (EN_CONFIDENTIALITY, EN_CONFIDENTIALITY.replace("three (3) years", "five (5) years"), False),  # 0.91, figures
    (ZH_CONFIDENTIALITY, ZH_CONFIDENTIALITY.replace("三年", "五年"), False),
    (EN_CONFIDENTIALITY, "The Supplier must treat as secret any non-public data it receives from the Customer, "
     "limit access to staff who need it, and return or destroy it when the contract ends.", False),  # 0.02
    (ZH_CONFIDENTIALITY, "乙方應將甲方提供之一切資料視為機密，僅得於履行本契約所必要之範圍內使用，"
     "契約結束時應返還或銷毀。", False),
])
def test_one_text_means_near_identical_words_and_the_same_figures(a: str, b: str, one_text: bool) -> None:
    same = near_duplicates(shingles(a), shingles(b)) and figure_values(a) == figure_values(b)
    assert same is one_text, resemblance(shingles(a), shingles(b))
