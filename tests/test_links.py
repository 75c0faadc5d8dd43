"""Citation links in Slack: openable web links, or one plain line saying no link is configured.

Without DOCS_BASE_URL a document's link is a file:// path (in a container: a path inside it), which
nobody in Slack can open; the promised "link to the place in the file" must not vanish silently.
"""

from __future__ import annotations

from pathlib import Path

from rag.answering.links import is_web_link
from rag.config import load_settings
from rag.service import Answer, Citation, RagService
from rag.values import Passage
from tests.conftest import SAMPLE_DOCS, UNREACHABLE_OLLAMA
from tests.slack_rendering import NOW, slack_text

NOTE = "links: not configured (an admin can set DOCS_BASE_URL)"


def test_only_web_links_can_be_opened_by_readers():
    assert is_web_link("https://files.example.com/hr/leave.md#carry-over")
    assert is_web_link("HTTP://intranet/handbook/a.pdf#page=3")
    assert not is_web_link("file:///docs/policies/leave-policy.md")
    assert not is_web_link("")
    assert not is_web_link(None)


def test_without_docs_base_url_an_answer_in_slack_says_links_are_not_configured(sample_index: Path):
    settings = load_settings(docs_dir=SAMPLE_DOCS, lancedb_uri=str(sample_index), ollama_host=UNREACHABLE_OLLAMA,
                             ollama_connect_timeout_seconds=1.0)
    answer = RagService(settings).ask("How many days of annual leave can I carry over?")
    assert answer.citations and answer.citations[0].doc_link.startswith("file://")  # what the index holds
    text = slack_text(answer)
    assert NOTE in text and text.count(NOTE) == 1
    assert "file://" not in text  # never offered as a link nobody can open


def test_zh_answers_say_it_in_chinese():
    citation = Citation(number=1, title="差旅政策", rel_path="policies/travel.md", kind="policy", modified=NOW,
                        doc_link="file:///docs/policies/travel.md",
                        passages=(Passage(section="住宿", pages=None, link="file:///docs/policies/travel.md#zhu-su",
                                          text="每晚上限 3,000 元"),))
    answer = Answer(question="出差住宿費每晚的上限是多少？", text="每晚上限 3,000 元 [1]", citations=[citation])
    text = slack_text(answer)
    assert "連結：未設定" in text and "DOCS_BASE_URL" in text


def test_with_docs_base_url_sources_are_linked_and_there_is_no_note():
    base = "https://git.example.com/handbook/-/blob/main"
    citation = Citation(number=1, title="Leave policy", rel_path="policies/leave-policy.md", kind="policy",
                        modified=NOW, doc_link=f"{base}/policies/leave-policy.md",
                        passages=(Passage(section="3.2 Carry-over", pages=None,
                                          link=f"{base}/policies/leave-policy.md#32-carry-over", text="5 days"),))
    text = slack_text(Answer(question="How many days carry over?", text="Five [1].", citations=[citation]))
    assert f"<{base}/policies/leave-policy.md|Leave policy>" in text
    assert NOTE not in text
