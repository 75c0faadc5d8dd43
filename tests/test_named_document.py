"""A question that names its document gets that document's passages, ranked by what it asks of it.

Two privacy policies of the same shape; the question names acme.com. Before, the per-document cap showed
the model globex.com's retention clause (7 years) second, right after acme.com's (18 months): a passage of
the wrong company, with a figure the answer could take. Now every slot is acme.com's, the passage that
answers first, and a document retrieval itself ranks above the named one keeps its slot.
Real model, real LanceDB index.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.retrieval.named import named_document, without_naming

SECTIONS = (
    ("Scope", "This privacy policy describes how {site} handles information. By using the site you accept this "
              "privacy policy."),
    ("Changes", "We may change this privacy policy at any time; the privacy policy on this page is the current "
                "privacy policy of {site}."),
    ("Contact", "Questions about this privacy policy can be sent to privacy@{site}; our privacy team answers "
                "questions about the privacy policy."),
    ("Cookies", "We use cookies and similar technologies to remember your preferences and measure traffic."),
    ("Sharing", "We share information with service providers who process it on our behalf under contract, and "
                "with authorities when the law requires."),
    ("Security", "Information is encrypted in transit and at rest, and access is limited to staff who need it."),
    ("Children", "The site is not directed at children under 13 and we do not knowingly collect their information."),
)
RETENTION = {"acme.com": "Account records are deleted 18 months after the account is closed; backups are "
                         "overwritten within 35 days.",
             "globex.com": "Account records are kept for 7 years to meet tax law, then deleted."}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    from rag.config import load_settings
    from rag.service import RagService
    from tests.conftest import UNREACHABLE_OLLAMA

    root = tmp_path_factory.mktemp("named")
    docs = root / "docs"
    docs.mkdir()
    for site, retention in RETENTION.items():
        parts = [f"# {site} privacy policy\n"] + [f"## {name}\n\n{body.format(site=site)}\n" for name, body in SECTIONS]
        (docs / f"{site}.md").write_text("\n".join([*parts, f"## Retention\n\n{retention}\n"]), encoding="utf-8")
    svc = RagService(load_settings(docs_dir=docs, lancedb_uri=str(root / "index"), ollama_host=UNREACHABLE_OLLAMA))
    assert svc.sync(full=True).status == "ok"
    return svc


def test_the_named_document_takes_the_slots_with_the_answer_first(service):
    result = service.search("In the privacy policy of acme.com: how long do you keep my account records?")
    assert not result.below_floor
    assert [h.doc_path for h in result.hits] == ["acme.com.md"] * len(result.hits) and len(result.hits) >= 3
    assert "18 months" in result.hits[0].row["text"]


def test_a_question_naming_no_document_still_sees_several(service):
    result = service.search("How long are account records kept?")
    assert {h.doc_path for h in result.hits} == {"acme.com.md", "globex.com.md"}


def test_the_naming_clause_is_what_is_left_out_of_the_passage_ranking():
    row = {"title": "acme.com privacy policy", "doc_path": "acme.com.md"}
    assert without_naming("In the privacy policy of acme.com: how long do you keep my records?", row) == (
        "how long do you keep my records?")
    assert without_naming("依勞工請假規則，父母過世可以請幾天假？", {"title": "勞工請假規則", "doc_path": "x.txt"}) == (
        "父母過世可以請幾天假？")
    # nothing but the name: the question is kept whole
    assert without_naming("acme.com privacy policy", row) == "acme.com privacy policy"


def test_a_document_is_named_only_when_its_title_stands_out(tmp_path: Path):
    from rag.retrieval.candidates import Candidate
    from rag.retrieval.query import query_terms

    def cand(title: str) -> Candidate:
        return Candidate(row={"chunk_id": title, "title": title, "doc_path": f"{title}.md"})

    both = [cand("acme.com privacy policy"), cand("globex.com privacy policy")]
    named = "In the privacy policy of acme.com: cookies?"
    assert named_document(both, query_terms(named), named) == "acme.com privacy policy.md"
    unnamed = "What does the privacy policy say about cookies?"
    assert named_document(both, query_terms(unnamed), unnamed) is None
    # a word shared with a title in passing is not a name: no clause of the question is mostly the title
    rules = [cand("勞工保險失能給付標準"), cand("職業安全衛生設施規則")]
    situational = "我因為生病失能，該怎麼算失能程度？"
    assert named_document(rules, query_terms(situational), situational) is None
