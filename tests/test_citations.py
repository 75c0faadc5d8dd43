from __future__ import annotations

from rag.citations import StreamingRenumberer, resolve_markers


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
