from __future__ import annotations

from datetime import UTC, datetime

from rag.answering.citations import CitedChunk, StreamingRenumberer, cited_sentences, make_citation, resolve_markers


def test_markers_renumbered_by_first_appearance_and_same_document_merged():
    # Sources 1 and 3 are chunks of the same document; the model cites 3 first.
    doc_key = {1: "a.md", 2: "b.pdf", 3: "a.md", 4: "c.docx"}
    resolved = resolve_markers("Carry-over is 5 days [3]. Claims take 30 days [2]. Also see [1].", doc_key)
    assert resolved.text == "Carry-over is 5 days [1]. Claims take 30 days [2]. Also see [1]."
    assert resolved.groups == [[3, 1], [2]]
    assert resolved.dropped == []


def test_marker_without_such_source_is_dropped_never_shown():
    resolved = resolve_markers("The cap is NT$3,000 [7]. Approval by a manager [2].", {1: "a", 2: "b", 3: "c", 4: "d"})
    assert "[7]" not in resolved.text and "7" not in resolved.text.replace("NT$3,000", "")
    assert resolved.text == "The cap is NT$3,000. Approval by a manager [1]."
    assert resolved.dropped == [7]


def test_grouped_and_fullwidth_markers():
    resolved = resolve_markers("報銷須於三十日內提出【2】，住宿上限 [1, 2]。", {1: "x", 2: "y"})
    assert resolved.text == "報銷須於三十日內提出[1]，住宿上限 [2][1]。"
    assert resolved.groups == [[2], [1]]


def test_streaming_renumbering_matches_final_text_even_when_markers_are_split():
    doc_key = {1: "a", 2: "b", 3: "a"}
    text = "First fact [2]. Second [3] and [9]. Done [1]."
    stream = StreamingRenumberer(doc_key)
    pieces = ["First fact [", "2", "]. Second [3", "] and [", "9]. Done [1", "]."]
    out = "".join(stream.feed(p) for p in pieces) + stream.finish()
    assert out == resolve_markers(text, doc_key).text


def test_brackets_that_are_not_markers_pass_through():
    stream = StreamingRenumberer({1: "a"})
    out = stream.feed("Use the form [HR-12] now [") + stream.feed("x] ok") + stream.finish()
    assert out == "Use the form [HR-12] now [x] ok"


# --- each place cited keeps its own section, page, link and evidence ---------------------------------

def row(section: str, text: str, *, page: int | None = None, doc: str = "policies/leave.md") -> dict:
    fmt = "pdf" if page else "md"
    return {"doc_path": doc, "title": "Leave policy", "kind": "policy", "format": fmt, "section": section,
            "page_start": page, "page_end": page, "link": f"https://docs.example/{doc}", "text": text,
            "modified": datetime(2026, 3, 2, tzinfo=UTC)}


CARRY = row("Leave policy › 3. Annual leave › 3.2 Carry-over",
            "Carry-over is decided by the manager. Up to 5 unused days can be carried over and must be taken "
            "by 31 March. Days not taken by then lapse.")
SICK = row("Leave policy › 4. Sick leave",
           "Sick leave is paid for up to 30 days a year. Report sick leave to your manager before 10:00 on the "
           "first day of absence.")


def test_sentences_are_attributed_to_the_sources_they_cite_even_with_markers_after_the_full_stop():
    claims = cited_sentences("You may carry over 5 days until 31 March [3]. Report sickness before 10:00. [1]\n"
                             "- Unused days lapse [1, 3]")
    assert claims == {3: ["You may carry over 5 days until 31 March.", "- Unused days lapse"],
                      1: ["Report sickness before 10:00.", "- Unused days lapse"]}


def test_a_document_cited_for_two_sections_lists_both_each_with_its_anchor_and_evidence():
    text = "You may carry over 5 days, to be taken by 31 March [1]. Call in sick before 10:00 [2]."
    claims = cited_sentences(text)
    cite = make_citation(1, [CitedChunk(CARRY, tuple(claims[1])), CitedChunk(SICK, tuple(claims[2]))])
    first, second = cite.passages
    assert (first.section, first.link) == (CARRY["section"], "https://docs.example/policies/leave.md#32-carry-over")
    assert first.evidence == "Up to 5 unused days can be carried over and must be taken by 31 March."
    assert (second.section, second.link) == (SICK["section"], "https://docs.example/policies/leave.md#4-sick-leave")
    assert second.evidence == "Report sick leave to your manager before 10:00 on the first day of absence."
    assert cite.doc_link == "https://docs.example/policies/leave.md"


def test_pdf_places_link_to_their_own_page_and_one_place_is_listed_once():
    p2 = row("MSA › 3. Fees", "Invoices are paid within 45 days of the invoice date.", page=2, doc="msa.pdf")
    p4 = row("MSA › 4. Term", "Either party may terminate with 60 days' written notice.", page=4, doc="msa.pdf")
    p4b = row("MSA › 4. Term", "The term renews automatically for 1 year.", page=4, doc="msa.pdf")
    cite = make_citation(1, [CitedChunk(p2, ("Pay within 45 days.",)), CitedChunk(p4b, ("Notice is 60 days.",)),
                             CitedChunk(p4, ("Notice is 60 days.",))])
    assert [(p.pages, p.link.rsplit("#", 1)[1]) for p in cite.passages] == [((2, 2), "page=2"), ((4, 4), "page=4")]
    assert cite.passages[1].evidence == "Either party may terminate with 60 days' written notice."  # the better match
    assert cite.location == "MSA › 3. Fees, p. 2; MSA › 4. Term, p. 4"
