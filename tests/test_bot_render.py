"""What a Slack user sees: safe text, answers split under Slack's limits, dated sources, listings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.delivery.listings import sources_page, sync_report_message, sync_status_line
from bot.delivery.mrkdwn import link, markdown_to_mrkdwn, plain_from_slack, safe_text, split_sections, unescape
from bot.delivery.render import BUTTON_VALUE_LIMIT, MAX_BLOCKS, answer_messages
from rag.answering.freshness import humanize_age
from rag.service import Answer, Citation, DocumentInfo, SyncReport
from rag.values import Passage

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


LEAVE_URL = "https://docs.example.com/hr/leave.md#annual-leave"


def citation(
    n: int = 1,
    *,
    title: str = "Leave policy",
    days_old: int = 21,
    link_url: str = LEAVE_URL,
    section: str = "Leave › Annual leave",
    pages: tuple[int, int] | None = None,
    evidence: str = "",
    more: tuple[Passage, ...] = (),
) -> Citation:
    return Citation(
        number=n,
        title=title,
        rel_path=f"hr/doc{n}.md",
        kind="policy",
        modified=NOW - timedelta(days=days_old),
        doc_link=link_url.split("#")[0],
        passages=(Passage(section=section, pages=pages, link=link_url, text="...", evidence=evidence), *more),
    )


def all_text(blocks: list[dict]) -> str:
    out = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        for el in block.get("elements") or []:
            if el.get("type") == "mrkdwn":
                out.append(el["text"])
    return "\n".join(out)


def test_model_text_cannot_ping_people_or_disguise_links():
    hostile = (
        "Ask <!channel> and <!here|here> or <!everyone>; ping <@U123ABC> in <#C999|secret>; "
        "click <https://evil.example|the leave policy> & enjoy; also @here"
    )
    out = markdown_to_mrkdwn(hostile)
    for raw in ("<!channel>", "<!here", "<!everyone>", "<@U123ABC>", "<#C999", "<https://evil"):
        assert raw not in out
    assert "&lt;!channel&gt;" in out and "&amp; enjoy" in out
    assert "@here" not in out  # the plain word is broken with a zero-width joiner
    assert unescape(out).replace("\u2060", "").startswith("Ask <!channel>")  # still readable as text


def test_markdown_becomes_slack_mrkdwn_with_visible_link_targets():
    out = markdown_to_mrkdwn("## Carry-over\n**Five days** max, see [the form](https://hr.example/form).\n- one")
    assert out.splitlines()[0] == "*Carry-over*"
    assert "*Five days*" in out
    assert "the form (https://hr.example/form)" in out
    assert "• one" in out


def test_titles_and_urls_are_escaped_inside_links():
    text = link("https://docs.example.com/a b|c.md?x=1&y=<2>", "Q&A <draft> | v2")
    assert text.startswith("<https://docs.example.com/a%20b%7Cc.md?x=1&amp;y=%3C2%3E|")
    assert text.endswith("Q&amp;A &lt;draft&gt; \u2758 v2>")
    assert link("file:///srv/docs/leave.md", "Leave") == "*Leave*"  # file links are not clickable in Slack


def test_split_sections_keeps_every_character_and_stays_under_the_limit():
    para = ("Employees may carry over up to five days &amp; must use them by March. " * 30).strip()
    text = "\n\n".join([para] * 6) + "\n\n" + "x" * 7000  # includes one unbreakable run
    pieces = split_sections(text, limit=3000)
    assert all(len(p) <= 3000 for p in pieces)
    assert "".join(pieces).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert not any(p.endswith("&am") or p.endswith("&") for p in pieces)


def test_long_answer_is_split_into_sections_under_slack_limits_with_sources_last():
    body = "\n\n".join(f"Paragraph {i}: " + "words " * 400 for i in range(60))  # ~150k chars: more than one message
    answer = Answer(question="q", text=body, citations=[citation(1), citation(2, title="Travel")])
    messages = answer_messages(answer, now=NOW, stale_after_days=365)
    assert len(messages) == 2
    for message in messages:
        assert len(message.blocks) <= MAX_BLOCKS
        for block in message.blocks:
            if isinstance(block.get("text"), dict):
                assert len(block["text"]["text"]) <= 3000
    shown = "".join(all_text([b for m in messages for b in m.blocks if b["type"] == "section"]).split())
    assert shown == "".join(markdown_to_mrkdwn(body).split())
    assert messages[-1].blocks[-1]["type"] == "actions"
    assert "Travel" in all_text(messages[-1].blocks)


def test_sources_show_section_page_date_age_and_stale_flag():
    fresh = citation(1, days_old=21, pages=(3, 4), section="Benefits")
    old = citation(2, title="Old SOP", days_old=800)
    answer = Answer(question="q", text="Five days [1][2].", citations=[fresh, old])
    text = all_text(answer_messages(answer, now=NOW, stale_after_days=365)[0].blocks)
    assert "[1] <https://docs.example.com/hr/leave.md|Leave policy> · updated 2025-06-09 (3 weeks ago)" in text
    assert "\n› <https://docs.example.com/hr/leave.md#annual-leave|Benefits, pp. 3–4>" in text
    old_line = next(line for line in text.splitlines() if "Old SOP" in line)
    assert "possibly outdated" in old_line and "2 years ago" in old_line
    fresh_line = next(line for line in text.splitlines() if "Leave policy" in line)
    assert "outdated" not in fresh_line


def test_no_answer_suggests_rag_sources_and_notice_is_shown():
    answer = Answer(question="q", text="Not in the documents.", mode="no_answer")
    text = all_text(answer_messages(answer, now=NOW, stale_after_days=365)[0].blocks)
    assert "/rag-sources" in text
    extractive = Answer(
        question="q",
        text="> quoted",
        mode="extractive",
        citations=[citation()],
        notice="Answer generation is unavailable (Ollama is not reachable)",
    )
    text = all_text(answer_messages(extractive, now=NOW, stale_after_days=365)[0].blocks)
    assert "Ollama is not reachable" in text


def test_feedback_buttons_carry_question_and_sources_within_slack_limits():
    long_question = "Why " * 2000
    answer = Answer(question=long_question, text="x", citations=[citation(i) for i in range(1, 40)])
    actions = answer_messages(answer, now=NOW, stale_after_days=365)[-1].blocks[-1]
    ids = [el["action_id"] for el in actions["elements"]]
    assert ids == ["feedback_up", "feedback_down"]
    value = actions["elements"][0]["value"]
    assert len(value) <= BUTTON_VALUE_LIMIT
    data = json.loads(value)
    assert data["q"].startswith("Why Why") and data["s"][0] == "hr/doc1.md"


def test_age_wording():
    assert humanize_age(NOW, NOW) == "today"
    assert humanize_age(NOW - timedelta(days=1), NOW) == "yesterday"
    assert humanize_age(NOW - timedelta(days=21), NOW) == "3 weeks ago"
    assert humanize_age(NOW - timedelta(days=70), NOW) == "2 months ago"
    assert humanize_age(NOW - timedelta(days=400), NOW) == "1 year ago"


def doc(path: str, title: str, kind: str = "policy") -> DocumentInfo:
    return DocumentInfo(
        rel_path=path,
        title=title,
        kind=kind,
        format="md",
        modified=NOW - timedelta(days=3),
        last_synced=NOW - timedelta(hours=1),
        chunk_count=4,
        link=f"https://d.example/{path}",
    )


def test_sources_page_paginates_within_block_limits():
    docs = [doc(f"p/{i:03d}.md", f"Policy {i:03d}") for i in range(40)]
    first = sources_page(docs, filter_text="policy", page=0, now=NOW, header="hdr")
    assert len(first.blocks) <= MAX_BLOCKS
    text = all_text(first.blocks)
    assert "Policy 000" in text and "Policy 039" not in text and "page 1 of 3" in text
    buttons = first.blocks[-1]["elements"]
    assert [json.loads(b["value"]) for b in buttons] == [{"f": "policy", "p": 1}]
    last = sources_page(docs, filter_text="policy", page=2, now=NOW, header="hdr")
    assert "Policy 039" in all_text(last.blocks)
    assert [json.loads(b["value"])["p"] for b in last.blocks[-1]["elements"]] == [1]


def test_sync_report_lists_changes_and_failure_reasons():
    report = SyncReport(
        started=NOW,
        finished=NOW + timedelta(seconds=3),
        status="partial",
        added=["a.md"],
        changed=["b.md"],
        removed=["c.md"],
        failed=[("bad.pdf", "encrypted PDF: ask for an unprotected copy")],
    )
    text = all_text(sync_report_message(report).blocks)
    assert "partial" in text and "1 added, 1 changed, 1 removed, 1 failed" in text
    assert "`bad.pdf: encrypted PDF: ask for an unprotected copy`" in text


def test_a_failed_or_mostly_failed_sync_says_so_and_why_in_the_status_line():
    crashed = SyncReport(started=NOW, finished=NOW, status="failed", message="OSError: [Errno 5] I/O error")
    line = sync_status_line(crashed, None, NOW)
    assert "*failed*" in line and "I/O error" in line
    mostly = SyncReport(started=NOW, finished=NOW, status="partial", added=["a.md"],
                        failed=[("b.pdf", "x"), ("c.pdf", "y")])
    assert "*most files failed*" in sync_status_line(mostly, None, NOW)


def test_sync_report_lists_what_was_skipped_and_why():
    report = SyncReport(started=NOW, finished=NOW, status="ok",
                        skipped=[("link-to-env.md", "points outside the docs folder")])
    assert "`link-to-env.md: points outside the docs folder`" in all_text(sync_report_message(report).blocks)


def test_slack_markup_in_questions_becomes_plain_text():
    text = "<@U0BOT> what does <#C1|legal> say about <https://x.example/a|this> &amp; <@U2>?"
    expected = "what does #legal say about this (https://x.example/a) & @user?"
    assert plain_from_slack(text, drop_user="U0BOT") == expected
    assert safe_text("a<b") == "a&lt;b"


def test_answers_to_chinese_questions_get_chinese_labels():
    answer = Answer(
        question="出差住宿費每晚的上限是多少？",
        text="每晚上限為 180 歐元 [1]。",
        citations=[citation(1, title="差旅政策", days_old=21)],
    )
    message = answer_messages(answer, now=NOW, stale_after_days=365)[0]
    text = all_text(message.blocks)
    assert "*來源*" in text and "更新於 2025-06-09 (3 週前)" in text
    assert [el["text"]["text"] for el in message.blocks[-1]["elements"]] == ["👍 有幫助", "👎 沒幫助"]


def test_each_place_cited_is_listed_with_its_own_link_and_evidence():
    """Two chunks of one document: one source, each section linked to its own anchor, each with its quote."""
    base = "https://docs.example.com/hr/leave.md"
    sick = Passage(section="Leave policy › 4. Sick leave", pages=None, link=base + "#4-sick-leave", text="...",
                   evidence="Report sick leave to your manager before 10:00 on the first day.")
    cite = citation(1, section="Leave policy › 3. Annual leave › 3.2 Carry-over", link_url=base + "#32-carry-over",
                    evidence="Up to 5 unused days can be carried over <!channel> & taken by 31 March.", more=(sick,))
    answer = Answer(question="q", text="Carry over 5 days [1]; report sickness by 10:00 [1].", citations=[cite])
    text = all_text(answer_messages(answer, now=NOW, stale_after_days=365)[0].blocks)
    lines = text.splitlines()
    head = lines.index(next(line for line in lines if line.startswith("[1] ")))
    assert lines[head + 1] == (f"› <{base}#32-carry-over|3. Annual leave › 3.2 Carry-over> — "
                               "“Up to 5 unused days can be carried over &lt;!channel&gt; &amp; taken by 31 March.”")
    assert lines[head + 2] == (f"› <{base}#4-sick-leave|4. Sick leave> — "
                               "“Report sick leave to your manager before 10:00 on the first day.”")


def test_source_lines_stay_within_block_kit_limits_on_many_long_places():
    places = tuple(Passage(section=f"Section {i} " + "x" * 300, pages=(i, i), link=f"{LEAVE_URL}{i}", text="...",
                           evidence="e" * 200) for i in range(30))
    cites = [citation(n, title="T" * 400, more=places) for n in range(1, 13)]
    message = answer_messages(Answer(question="q", text="a [1]", citations=cites), now=NOW, stale_after_days=365)[-1]
    contexts = [b for b in message.blocks if b["type"] == "context"]
    assert all(len(b["elements"]) <= 10 for b in contexts) and len(message.blocks) <= MAX_BLOCKS
    elements = [el["text"] for b in contexts for el in b["elements"]]
    assert all(len(t) <= 3000 for t in elements)
    assert all(t.endswith(("”", " more)")) or "›" not in t for t in elements)  # places dropped whole
    assert sum(t.count("[") for t in elements) >= 12  # every source still listed
