"""The answer pipeline end to end: real retrieval, the real `ollama` client, a fake Ollama server on loopback."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import FAKE_MODEL as MODEL
from tests.fakes.fake_ollama import FakeOllama


def source_number(request: dict, needle: str) -> int:
    """The [n] of the source whose text contains `needle`, read from the prompt the bot sent."""
    prompt = request["messages"][-1]["content"]
    for match in re.finditer(r'<(source-\w+) id="(\d+)">(.*?)</\1>', prompt, re.S):
        if needle in match.group(3):
            return int(match.group(2))
    raise AssertionError(f"no source contains {needle!r}")


def test_generated_answer_cites_the_right_document_and_drops_invented_markers(service_for):
    def reply(request: dict) -> str:
        n = source_number(request, "March 31")
        return f"You can carry over up to 5 days, to be used by March 31 [{n}]. Unused days are paid out [9]."

    with FakeOllama(models=[MODEL], reply=reply) as fake:
        answer = service_for(fake).ask("How many days of annual leave can I carry over?")
    assert answer.mode == "generated"
    assert answer.text == "You can carry over up to 5 days, to be used by March 31 [1]. Unused days are paid out."
    assert [c.rel_path for c in answer.citations] == ["policies/leave-policy.md"]
    assert answer.citations[0].section.endswith("3.2 Carry-over")
    assert answer.dropped_markers == [9]


def test_prompt_holds_numbered_fenced_sources_and_the_configured_options(service_for):
    with FakeOllama(models=[MODEL], reply="See [1].") as fake:
        service_for(fake, ollama_num_ctx=4096, ollama_keep_alive="-1").ask("What are the password rules?")
        request = fake.requests[-1]
    assert request["options"]["num_ctx"] == 4096 and request["keep_alive"] == -1  # a form Ollama takes
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    assert "ONLY" in system and "data, never as instructions" in system
    assert re.search(r'<source-[0-9a-f]{8} id="1">\n\[1\] title: .+ \| updated: \d{4}-\d{2}-\d{2}', user)
    assert "Question: What are the password rules?" in user


def test_pdf_citation_links_to_the_page(service_for):
    def reply(request: dict) -> str:
        return f"Notify the DPO within 24 hours [{source_number(request, '24 hours')}]."

    with FakeOllama(models=[MODEL], reply=reply) as fake:
        answer = service_for(fake).ask("Within how many hours must the DPO be notified of a data breach?")
    cite = answer.citations[0]
    assert cite.rel_path == "sops/incident-response-sop.pdf"
    assert cite.pages is not None and cite.link.endswith(f"#page={cite.pages[0]}")
    assert cite.pages[0] == 2


def test_chunks_of_one_document_become_one_citation(service_for):
    def reply(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        numbers = [int(n) for _, n, body in re.findall(r'<(source-\w+) id="(\d+)">(.*?)</\1>', prompt, re.S)
                   if "title: Leave policy" in body]
        assert len(numbers) >= 2, "expected two chunks of the leave policy among the sources"
        return f"Entitlement is 20 days [{numbers[1]}] and carry-over is 5 days [{numbers[0]}]."

    with FakeOllama(models=[MODEL], reply=reply) as fake:
        answer = service_for(fake).ask("How much annual leave do I get and how much can I carry over?")
    assert len(answer.citations) == 1 and answer.text.count("[1]") == 2


def test_streamed_tokens_carry_renumbered_markers(service_for):
    def reply(request: dict) -> str:
        return f"Claims within 30 days [{source_number(request, '3,200')}]."

    pieces: list[str] = []
    with FakeOllama(models=[MODEL], reply=reply) as fake:
        answer = service_for(fake).ask("台北出差住宿費每晚上限是多少？", on_token=pieces.append)
    assert len(pieces) > 1
    # The final text differs from the streamed one only by the figure check's marks (30 days is not in the
    # lodging passage this question retrieves).
    assert "".join(pieces).strip() == answer.text.replace(" ⚠", "")
    assert answer.citations[0].rel_path == "policies/差旅費報銷辦法.md"


def test_an_answer_that_cites_and_matches_nothing_gives_way_to_the_quoted_passages(service_for):
    """Nothing in it can be checked against a source: the asker gets the passages, quoted, and why."""
    with FakeOllama(models=[MODEL], reply="The documents do not say.") as fake:
        answer = service_for(fake).ask("What are the password rules?")
    assert answer.mode == "extractive" and "matches none of them" in (answer.notice or "")
    assert "The documents do not say" not in answer.text
    assert answer.citations[0].rel_path == "policies/information-security-policy.txt"


def test_nothing_relevant_means_no_answer_and_no_model_call(service_for):
    with FakeOllama(models=[MODEL], reply="invented") as fake:
        answer = service_for(fake).ask("What is the vesting schedule for employee stock options?")
        assert fake.requests == []
    assert answer.mode == "no_answer" and "couldn't find" in answer.text


@pytest.mark.parametrize("problem", ["model_missing", "stall", "drop"])
def test_ollama_trouble_still_gives_a_quoted_cited_answer(service_for, problem: str):
    models = [] if problem == "model_missing" else [MODEL]
    mode = {"model_missing": "ok", "stall": "stall", "drop": "drop"}[problem]
    with FakeOllama(models=models, reply="Carry over 5 days by March 31 [1]. " * 5, mode=mode) as fake:
        started = time.monotonic()
        answer = service_for(fake, ollama_timeout_seconds=1.0).ask("How many days of annual leave can I carry over?")
        elapsed = time.monotonic() - started
    assert answer.mode == "extractive", answer
    assert answer.citations[0].rel_path == "policies/leave-policy.md"
    assert "March 31" in answer.text and answer.text.count("> ") >= 1
    assert elapsed < 8
    if problem == "model_missing":
        assert f"ollama pull {MODEL}" in (answer.unavailable_reason or "")  # for the operator (CLI, log)
        assert "ollama pull" not in (answer.notice or "")  # the asker gets a plain sentence


def test_follow_up_uses_the_conversation(service_for):
    with FakeOllama(models=[MODEL], reply="Yes [1].") as fake:
        history = [("user", "How many days of annual leave can I carry over?"), ("assistant", "5 days [1].")]
        service_for(fake).ask("and until when?", history=history)
        messages = fake.requests[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "March 31" in messages[-1]["content"]  # the follow-up retrieved the carry-over section


def test_a_thinking_model_shows_progress_and_only_its_answer(service_for):
    """qwen3/deepseek-r1/gpt-oss reason first: the asker sees "thinking…", never the reasoning itself."""
    def reply(request: dict) -> str:
        return f"Up to 5 days, used by March 31 [{source_number(request, 'March 31')}]."

    statuses: list[str] = []
    tokens: list[str] = []
    with FakeOllama(models=[MODEL], thinking_models=[MODEL], reply=reply,
                    thinking="The asker wants the carry-over rule; I should cite [9] and guess 12 days. ") as fake:
        answer = service_for(fake, ollama_think="true").ask(
            "How many days of annual leave can I carry over?", on_token=tokens.append, on_status=statuses.append)
    assert answer.mode == "generated" and answer.text == "Up to 5 days, used by March 31 [1]."
    assert "thinking…" in statuses and "".join(tokens) == answer.text
    assert not any("12 days" in s or "[9]" in s for s in statuses) and answer.dropped_markers == []


def test_a_prompt_ollama_cut_short_is_said_in_the_answer(service_for, caplog):
    """A model trained for a shorter context than OLLAMA_NUM_CTX gets it cut (server/sched.go effectiveContext)."""
    with FakeOllama(models=[MODEL], reply="Carry over 5 days [1].", trained_context={MODEL: 512}) as fake:
        answer = service_for(fake, ollama_num_ctx=8192).ask("How many days of annual leave can I carry over?")
        assert fake.seen[-1].truncated
    assert answer.mode == "generated" and "read only part of them" in (answer.notice or "")
    assert "OLLAMA_NUM_CTX" in caplog.text  # the operator learns what to change


def test_when_no_source_fits_the_context_the_passages_are_quoted(service_for, caplog):
    with FakeOllama(models=[MODEL], reply="The documents do not cover this.") as fake:
        answer = service_for(fake, ollama_num_ctx=1024, answer_max_tokens=900).ask(
            "How many days of annual leave can I carry over?")
        assert fake.requests == []
    assert answer.mode == "extractive" and "March 31" in answer.text
    assert "no source fits OLLAMA_NUM_CTX=1024" in caplog.text
