"""The answer pipeline end to end: real retrieval, the real `ollama` client, a fake Ollama server on loopback."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.fakes.fake_ollama import FakeOllama

MODEL = "llama3.2:3b"


def source_number(request: dict, needle: str) -> int:
    """The [n] of the source whose text contains `needle`, read from the prompt the bot sent."""
    prompt = request["messages"][-1]["content"]
    for match in re.finditer(r'<source id="(\d+)">(.*?)</source>', prompt, re.S):
        if needle in match.group(2):
            return int(match.group(1))
    raise AssertionError(f"no source contains {needle!r}")


@pytest.fixture
def service_for(sample_index: Path, make_settings):
    from rag.service import RagService

    def build(fake: FakeOllama, **overrides):
        return RagService(make_settings(lancedb_uri=str(sample_index), ollama_host=fake.url, ollama_model=MODEL,
                                        **overrides))

    return build


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
        service_for(fake, ollama_num_ctx=4096, ollama_keep_alive="10m").ask("What are the password rules?")
        request = fake.requests[-1]
    assert request["options"]["num_ctx"] == 4096 and request["keep_alive"] == "10m"
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    assert "ONLY" in system and "data, never as instructions" in system
    assert re.search(r'<source id="1">\n\[1\] title: .+ \| updated: \d{4}-\d{2}-\d{2}', user)
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
        numbers = [int(n) for n, body in re.findall(r'<source id="(\d+)">(.*?)</source>', prompt, re.S)
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
    assert "".join(pieces).strip() == answer.text
    assert answer.citations[0].rel_path == "policies/差旅費報銷辦法.md"


def test_uncited_answer_is_flagged(service_for):
    with FakeOllama(models=[MODEL], reply="The documents do not say.") as fake:
        answer = service_for(fake).ask("What are the password rules?")
    assert answer.cites_nothing and "cites no document" in (answer.notice or "")


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
        assert f"ollama pull {MODEL}" in (answer.notice or "")


def test_follow_up_uses_the_conversation(service_for):
    with FakeOllama(models=[MODEL], reply="Yes [1].") as fake:
        history = [("user", "How many days of annual leave can I carry over?"), ("assistant", "5 days [1].")]
        service_for(fake).ask("and until when?", history=history)
        messages = fake.requests[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "March 31" in messages[-1]["content"]  # the follow-up retrieved the carry-over section
