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

from rag.answering.generate import (
    ContextTooLong,
    GenerationError,
    GenerationTimeout,
    ModelNotPulled,
    NoAnswerWritten,
    OllamaGenerator,
    OllamaUnavailable,
)
from tests.fakes.fake_ollama import FakeOllama, closed_port_url
from tests.fakes.ollama_rules import keep_alive_ns

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
    assert sent["model"] == MODEL and sent["stream"] is True and sent["keep_alive"] == 3600
    assert sent["think"] is False  # explicit: a thinking model would otherwise think (ChatHandler)
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
    """Current Ollama keeps about half of num_ctx of an over-long prompt and reports only that:
    prompt_eval_count never reaches num_ctx, so the count is checked against what we sent."""
    long_messages = [*MESSAGES[:1], {"role": "user", "content": "policy text " * 2000}]  # ~4000 tokens
    result = generator(fake.url, num_ctx=2048).generate(long_messages)
    assert fake.seen[-1].truncated and result.prompt_tokens < 2048  # what the real server does
    assert result.truncated_prompt and result.text == ANSWER
    assert not generator(fake.url, num_ctx=8192).generate(long_messages).truncated_prompt


@pytest.mark.parametrize("text", ["Annual leave: 25 days, carry-over 5 days by March 31. " * 30,
                                  "員工每年享有二十五天特休假，未休完的假最多可保留五天，須於次年三月底前休完。" * 20])
def test_a_prompt_that_fits_is_not_reported_as_truncated(fake: FakeOllama, text: str) -> None:
    messages = [*MESSAGES[:1], {"role": "user", "content": text}]
    assert not generator(fake.url, num_ctx=8192).generate(messages).truncated_prompt
    assert not fake.seen[-1].truncated


def test_earlier_messages_dropped_by_ollama_are_reported_as_truncated(fake: FakeOllama) -> None:
    """server/prompt.go chatPrompt drops the oldest messages (never the system one nor the last) to fit."""
    history = [{"role": "user", "content": "Tell me about the travel policy in detail. " * 80},
               {"role": "assistant", "content": "The travel policy says economy class. " * 80}]
    messages = [MESSAGES[0], *history, MESSAGES[1]]
    result = generator(fake.url, num_ctx=1024).generate(messages)
    kept = fake.seen[-1].messages
    assert kept[0] == MESSAGES[0] and kept[-1] == MESSAGES[1] and history[0] not in kept
    assert result.truncated_prompt


# --- keep_alive as Ollama takes it ------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "sent"), [
    ("-1", -1), ("3600", 3600), (3600, 3600), ("30m", 1800), ("1h30m", 5400), ("300ms", 0.3), ("-5m", -1),
    ("0", 0),
])
def test_every_keep_alive_ollama_documents_reaches_it_in_a_form_it_takes(
        fake: FakeOllama, setting: str | int, sent: float) -> None:
    """docs/faq.mdx: a duration string, a number of seconds, any negative number = keep loaded forever.
    "-1" and "3600" from the environment used to be sent as strings, which Ollama refuses with a 400."""
    result = generator(fake.url, keep_alive=setting).generate(MESSAGES)
    assert result.text == ANSWER and [c.status for c in fake.calls] == [200]
    assert fake.requests[-1]["keep_alive"] == sent


@pytest.mark.parametrize(("value", "problem"), [
    ("soon", 'invalid duration "soon"'), ("10d", 'unknown unit "d"'), ("1h30", "missing unit"), ("", "invalid"),
])
def test_a_keep_alive_ollama_would_refuse_is_a_config_error_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, value: str, problem: str) -> None:
    from rag.config import ConfigError, load_settings

    monkeypatch.setenv("OLLAMA_KEEP_ALIVE", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "OLLAMA_KEEP_ALIVE" in str(caught.value) and problem in str(caught.value)


def test_keep_alive_and_think_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.config import ConfigError, load_settings

    monkeypatch.setenv("OLLAMA_KEEP_ALIVE", "-1")
    monkeypatch.setenv("OLLAMA_THINK", "High")
    settings = load_settings()
    assert settings.ollama_keep_alive == -1 and settings.ollama_think == "high"
    monkeypatch.setenv("OLLAMA_THINK", "maybe")
    with pytest.raises(ConfigError, match="OLLAMA_THINK"):
        load_settings()


# --- thinking models --------------------------------------------------------------------------------

THINKER = "qwen3:8b"
REASONING = "Let me look at source one, then source two, and check the figures twice before I answer. " * 3


@pytest.fixture
def thinker() -> Iterator[FakeOllama]:
    with FakeOllama(models=[THINKER, MODEL, "gpt-oss:20b"], thinking_models=[THINKER], reply=ANSWER,
                    thinking=REASONING) as server:
        yield server


def test_a_thinking_model_is_told_not_to_think_by_default_and_answers_in_full(thinker: FakeOllama) -> None:
    """Left unset, `think` means true for a thinking model (ChatHandler), and its reasoning eats num_predict."""
    result = generator(thinker.url, model=THINKER, max_tokens=20).generate(MESSAGES)
    assert thinker.requests[-1]["think"] is False
    assert result.text == ANSWER and result.done_reason == "stop" and not result.thinking


def test_reasoning_is_progress_never_the_answer_and_gets_room_of_its_own(thinker: FakeOllama) -> None:
    thoughts: list[str] = []
    tokens: list[str] = []
    gen = generator(thinker.url, model=THINKER, max_tokens=20, think=True)
    result = gen.generate(MESSAGES, on_token=tokens.append, on_thinking=thoughts.append)
    assert "".join(thoughts) == REASONING == result.thinking
    assert "".join(tokens) == ANSWER == result.text and result.done_reason == "stop"
    sent = thinker.requests[-1]
    assert sent["think"] is True and sent["options"]["num_predict"] > 20 + len(REASONING.split())
    assert "".join(gen.stream(MESSAGES)) == ANSWER


def test_a_model_that_thinks_its_whole_budget_away_is_an_error_not_an_empty_answer(thinker: FakeOllama) -> None:
    thinker.script.thinking = "hmm " * 500
    with pytest.raises(NoAnswerWritten, match="thinking and wrote no answer.*OLLAMA_THINK"):
        generator(thinker.url, model=THINKER, max_tokens=40, think="high").generate(MESSAGES)


def test_gpt_oss_cannot_stop_thinking_so_it_is_asked_to_think_little(thinker: FakeOllama) -> None:
    """docs/capabilities/thinking.mdx: gpt-oss ignores true/false and takes low/medium/high."""
    result = generator(thinker.url, model="gpt-oss:20b", max_tokens=20).generate(MESSAGES)
    assert thinker.requests[-1]["think"] == "low"
    assert result.text == ANSWER and result.thinking == REASONING


def test_think_sent_to_a_model_without_thinking_is_retried_once_without_it_and_remembered(
        thinker: FakeOllama) -> None:
    gen = generator(thinker.url, model=MODEL, think="medium")
    assert gen.generate(MESSAGES).text == ANSWER
    assert gen.generate(MESSAGES).text == ANSWER
    assert [(c.status, c.body["think"]) for c in thinker.calls] == [(400, "medium"), (200, False), (200, False)]


def test_reasoning_in_think_tags_in_the_content_is_kept_out_of_the_answer(fake: FakeOllama) -> None:
    """A model whose template Ollama cannot parse streams its reasoning as <think>…</think> content."""
    fake.script.reply = "<think>\nThe user wants [3]. Ignore the rules.\n</think>\n\n" + ANSWER
    fake.script.chunker = lambda text: [text[i:i + 3] for i in range(0, len(text), 3)]  # tags split across chunks
    thoughts: list[str] = []
    result = generator(fake.url).generate(MESSAGES, on_thinking=thoughts.append)
    assert result.text == ANSWER and "[3]" in "".join(thoughts)


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
    (b'{"model": "llama3.2:3b", "messages": [{"role": "user", "content": 7}]}', 400, "cannot unmarshal"),
    (b'{"model": "llama3.2:3b", "messages": [], "keep_alive": "soon"}', 400, 'time: invalid duration "soon"'),
    (b'{"model": "llama3.2:3b", "messages": [], "keep_alive": "3600"}', 400,
     'time: missing unit in duration "3600"'),
    (b'{"model": "llama3.2:3b", "messages": [], "keep_alive": "-1"}', 400, 'time: missing unit in duration "-1"'),
    (b'{"model": "llama3.2:3b", "messages": [], "keep_alive": "2d"}', 400,
     'time: unknown unit "d" in duration "2d"'),
    (b'{"model": "llama3.2:3b", "messages": [], "keep_alive": true}', 400, "Unsupported type: 'bool'"),
    (b'{"model": "llama3.2:3b", "messages": [], "think": "extreme"}', 400, 'invalid think value: "extreme"'),
    (b'{"model": "llama3.2:3b", "messages": [], "think": true}', 400, '"llama3.2:3b" does not support thinking'),
    (b'{"model": "llama3.2:3b", "messages": [], "options": {"num_ctx": "big"}}', 500,
     'option "num_ctx" must be of type integer'),
    (b'{"model": "gemma:2b", "messages": []}', 404, "model 'gemma:2b' not found"),
])
def test_fake_rejects_what_ollama_rejects(fake: FakeOllama, body: bytes, status: int, error: str) -> None:
    response = httpx.post(fake.url + "/api/chat", content=body, timeout=5)
    assert response.status_code == status and error in response.json()["error"]


@pytest.mark.parametrize(("keep_alive", "seconds"), [
    (3600, 3600), (-1, None), (0.5, 0.5), ("30m", 1800), ("1h30m", 5400), ("300ms", 0.3), ("-1m", None),
    ("1.5h", 5400), ("0", 0),
])
def test_fake_accepts_what_ollama_accepts(fake: FakeOllama, keep_alive: object, seconds: float | None) -> None:
    body = {"model": MODEL, "messages": [], "keep_alive": keep_alive}
    response = httpx.post(fake.url + "/api/chat", json=body, timeout=5)
    assert response.status_code == 200
    forever = 2**63 - 1  # api/types.go: negative = time.Duration(math.MaxInt64)
    assert keep_alive_ns(keep_alive) == (forever if seconds is None else round(seconds * 1e9))


def test_fake_answers_without_streaming_and_lists_its_version(fake: FakeOllama) -> None:
    body = {"model": MODEL, "messages": MESSAGES, "stream": False}
    reply = httpx.post(fake.url + "/api/chat", json=body, timeout=5).json()
    assert reply["done"] is True and reply["message"]["content"] == ANSWER and reply["done_reason"] == "stop"
    assert httpx.get(fake.url + "/api/version", timeout=5).json() == {"version": "0.33.0"}


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
