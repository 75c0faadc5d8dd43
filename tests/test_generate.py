"""Generation through the real `ollama` client against a fake Ollama server on 127.0.0.1.

Each failure a user can meet (Ollama down, model not pulled, a stalled or crashed
model, an over-long prompt) must come out as one clear GenerationError, fast, and
a slow model that keeps streaming must never be cut off by the timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rag.generate import (
    ContextTooLong,
    GenerationError,
    GenerationTimeout,
    ModelNotPulled,
    OllamaGenerator,
    OllamaUnavailable,
)
from tests.fakes.fake_ollama import FakeOllama, closed_port_url

pytestmark = pytest.mark.timeout(20)

MODEL = "llama3.2:3b"
MESSAGES = [
    {"role": "system", "content": "Answer only from the sources."},
    {"role": "user", "content": '<source id="1">Leave: 25 days.</source>\n<source id="2">Carry-over: 5 days.'
                                '</source>\nQuestion: how many days of leave?'},
]
ANSWER = "You get 25 days of leave [1] and may carry over 5 [2]."


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL], reply=ANSWER) as server:
        yield server


def generator(url: str, model: str = MODEL, **kwargs: Any) -> OllamaGenerator:
    kwargs.setdefault("timeout_s", 5.0)
    kwargs.setdefault("connect_timeout_s", 1.0)
    return OllamaGenerator(url, model, **kwargs)


# --- a healthy server -------------------------------------------------------------------------------


def test_stream_yields_the_pieces_in_order_and_generate_returns_the_whole_answer(fake: FakeOllama) -> None:
    gen = generator(fake.url)
    pieces = list(gen.stream(MESSAGES))
    assert len(pieces) > 5 and "".join(pieces) == ANSWER

    seen: list[str] = []
    result = gen.generate(MESSAGES, on_token=seen.append)
    assert seen == pieces and result.text == ANSWER
    assert result.completion_tokens == len(pieces) and result.prompt_tokens > 0
    assert result.model == MODEL and not result.truncated_prompt and result.seconds > 0


def test_reply_can_depend_on_the_prompt_that_was_sent(fake: FakeOllama) -> None:
    fake.script.reply = lambda body: "Cited " + " and ".join(
        f"[{n}]" for n in ("1", "2") if f'<source id="{n}">' in body["messages"][-1]["content"])
    assert generator(fake.url).generate(MESSAGES).text == "Cited [1] and [2]"


def test_context_size_answer_length_and_keep_alive_reach_ollama(fake: FakeOllama) -> None:
    generator(fake.url, num_ctx=4096, max_tokens=300, temperature=0.2, keep_alive="1h").generate(MESSAGES)
    (sent,) = fake.requests
    assert sent["model"] == MODEL and sent["stream"] is True and sent["keep_alive"] == "1h"
    assert sent["options"] == {"num_ctx": 4096, "num_predict": 300, "temperature": 0.2}
    assert [{"role": m["role"], "content": m["content"]} for m in sent["messages"]] == MESSAGES


def test_answer_stops_at_max_tokens_and_says_so(fake: FakeOllama) -> None:
    result = generator(fake.url, max_tokens=3).generate(MESSAGES)
    assert result.text == "You get 25 " and result.completion_tokens == 3 and result.done_reason == "length"


def test_slow_model_that_keeps_streaming_is_not_timed_out(fake: FakeOllama) -> None:
    """The timeout is per read: 10 tokens at 0.2 s take ~1.8 s, longer than the 1 s timeout."""
    fake.script.reply = " ".join(f"w{i}" for i in range(10))
    fake.script.token_delay = 0.2
    started = time.monotonic()
    result = generator(fake.url, timeout_s=1.0).generate(MESSAGES)
    assert time.monotonic() - started > 1.5
    assert result.text == fake.script.reply and result.completion_tokens == 10


def test_prompt_longer_than_num_ctx_is_reported_as_truncated(fake: FakeOllama) -> None:
    long_messages = [*MESSAGES[:1], {"role": "user", "content": "policy text " * 2000}]  # ~6000 tokens
    result = generator(fake.url, num_ctx=2048).generate(long_messages)
    assert result.truncated_prompt and result.prompt_tokens == 2048 and result.text == ANSWER
    assert not generator(fake.url, num_ctx=8192).generate(long_messages).truncated_prompt


# --- failures ---------------------------------------------------------------------------------------


def test_unknown_model_says_which_model_to_pull(fake: FakeOllama) -> None:
    with pytest.raises(ModelNotPulled) as caught:
        generator(fake.url, model="mistral:7b").generate(MESSAGES)
    assert "ollama pull mistral:7b" in str(caught.value) and fake.url in str(caught.value)
    assert [c.status for c in fake.calls] == [404]


def test_closed_port_is_reported_unreachable_quickly() -> None:
    url = closed_port_url()
    started = time.monotonic()
    with pytest.raises(OllamaUnavailable) as caught:
        generator(url).generate(MESSAGES)
    with pytest.raises(OllamaUnavailable):
        next(generator(url).stream(MESSAGES))  # refused only when iterating: still translated
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith(f"Ollama is not reachable at {url}: ") and "refused" in message


def test_url_that_is_not_an_ollama_api_is_not_blamed_on_the_model(fake: FakeOllama) -> None:
    with pytest.raises(OllamaUnavailable, match="is OLLAMA_HOST an Ollama server"):
        generator(fake.url + "/proxy-prefix").generate(MESSAGES)


@pytest.mark.parametrize("fault_after", [0, 2], ids=["before-headers", "mid-stream"])
def test_stalled_model_times_out_with_the_setting_to_raise(fake: FakeOllama, fault_after: int) -> None:
    fake.script.mode, fake.script.fault_after = "stall", fault_after
    seen: list[str] = []
    started = time.monotonic()
    with pytest.raises(GenerationTimeout) as caught:
        generator(fake.url, timeout_s=0.5).generate(MESSAGES, on_token=seen.append)
    assert time.monotonic() - started < 3
    assert str(caught.value) == "Ollama did not answer within 0.5 s (OLLAMA_TIMEOUT_SECONDS)"
    assert len(seen) == fault_after


def test_connection_dropped_mid_answer_keeps_the_pieces_already_delivered(fake: FakeOllama) -> None:
    fake.script.mode, fake.script.fault_after = "drop", 3
    seen: list[str] = []
    with pytest.raises(OllamaUnavailable, match="dropped the connection mid-answer"):
        generator(fake.url).generate(MESSAGES, on_token=seen.append)
    assert seen == ["You ", "get ", "25 "]


def test_runner_crash_mid_stream_is_a_generation_error(fake: FakeOllama) -> None:
    fake.script.mode = "error_midstream"
    fake.script.error_message = "llama runner process has terminated: exit status 2"
    with pytest.raises(GenerationError, match="failed mid-answer: llama runner process has terminated"):
        list(generator(fake.url).stream(MESSAGES))


def test_context_length_error_from_ollama_is_context_too_long(fake: FakeOllama) -> None:
    fake.script.mode, fake.script.fault_after = "error_midstream", 0
    fake.script.error_message = "the input length exceeds the context length"
    with pytest.raises(ContextTooLong, match="OLLAMA_NUM_CTX"):
        generator(fake.url, num_ctx=2048).generate(MESSAGES)


def test_generator_recovers_once_ollama_is_back(fake: FakeOllama) -> None:
    gen = generator(fake.url)
    fake.script.mode = "drop"
    with pytest.raises(OllamaUnavailable):
        gen.generate(MESSAGES)
    fake.script.mode = "ok"
    assert gen.generate(MESSAGES).text == ANSWER


# --- health -----------------------------------------------------------------------------------------


def test_health_reachable_with_the_model_pulled() -> None:
    with FakeOllama(models=["nomic-embed-text:latest", "llama3.2:latest"]) as fake:
        health = generator(fake.url, model="llama3.2").health()  # Ollama's implicit ":latest" tag
    assert health.reachable and health.model_pulled
    assert health.models == ["nomic-embed-text:latest", "llama3.2:latest"]


def test_health_reachable_without_the_model(fake: FakeOllama) -> None:
    health = generator(fake.url, model="qwen2.5:7b").health()
    assert health.reachable and not health.model_pulled and health.models == [MODEL]
    assert "ollama pull qwen2.5:7b" in health.message


def test_health_unreachable() -> None:
    url = closed_port_url()
    health = generator(url).health()
    assert not health.reachable and not health.model_pulled and health.models == []
    assert health.message.startswith(f"Ollama is not reachable at {url}") and "refused" in health.message


# --- the fake itself behaves like Ollama ------------------------------------------------------------


@pytest.mark.parametrize(("body", "status", "error"), [
    (b"{not json", 400, "invalid character"),
    (b"", 400, "missing request body"),
    (b'{"messages": []}', 400, "model is required"),
    (b'{"model": "llama3.2:3b", "messages": [{"role": "robot", "content": "hi"}]}', 400, "invalid role"),
    (b'{"model": "llama3.2:3b", "messages": [{"role": "user", "content": 7}]}', 400, "cannot unmarshal"),
    (b'{"model": "llama3.2:3b", "messages": [], "keep_alive": "soon"}', 400, "invalid duration"),
    (b'{"model": "llama3.2:3b", "messages": [], "options": {"num_ctx": "big"}}', 400, "num_ctx"),
    (b'{"model": "gemma:2b", "messages": []}', 404, 'model "gemma:2b" not found, try pulling it first'),
])
def test_fake_rejects_what_ollama_rejects(fake: FakeOllama, body: bytes, status: int, error: str) -> None:
    response = httpx.post(fake.url + "/api/chat", content=body, timeout=5)
    assert response.status_code == status and error in response.json()["error"]


def test_fake_answers_without_streaming_and_lists_its_version(fake: FakeOllama) -> None:
    body = {"model": MODEL, "messages": MESSAGES, "stream": False}
    reply = httpx.post(fake.url + "/api/chat", json=body, timeout=5).json()
    assert reply["done"] is True and reply["message"]["content"] == ANSWER and reply["done_reason"] == "stop"
    assert httpx.get(fake.url + "/api/version", timeout=5).json() == {"version": "0.12.0"}


def test_fake_shuts_down_promptly_while_a_response_is_stalled() -> None:
    errors: list[BaseException] = []
    fake = FakeOllama(models=[MODEL], mode="stall", fault_after=1, stall_seconds=15).start()

    def ask() -> None:
        try:
            generator(fake.url, timeout_s=10).generate(MESSAGES)
        except GenerationError as err:
            errors.append(err)

    client = threading.Thread(target=ask, daemon=True)
    client.start()
    deadline = time.monotonic() + 5
    while not fake.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    fake.stop()
    client.join(timeout=5)
    assert time.monotonic() - started < 3 and not client.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], OllamaUnavailable)
