"""What every generation backend shares: its result, its health, and the one place that picks the backend.

Two backends speak to a local model: Ollama's own API (rag/answering/generate.py, the default) and the
OpenAI-compatible chat API (rag/answering/generate_openai.py: vLLM, llama.cpp's server, LM Studio, TGI). Both raise
`GenerationError` subclasses with one-line messages (rag/answering/ollama_errors.py), so rag/answering/ask.py falls
back to
quoted passages the same way for either. rag/answering/backends.py builds the one LLM_API names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from rag.answering.ollama_errors import NoAnswerWritten
from rag.answering.tokens import min_tokens

log = logging.getLogger("rag.answering.generate")


@dataclass
class GenerationResult:
    text: str
    prompt_tokens: int
    completion_tokens: int  # thinking included (Ollama's eval_count, OpenAI's usage.completion_tokens)
    seconds: float
    model: str
    truncated_prompt: bool  # the server saw less than the whole prompt: the answer may have missed sources
    done_reason: str = "stop"  # "length" when generation hit the token limit and was cut off
    thinking: str = ""  # the model's reasoning: for logs only, never shown as the answer


@dataclass
class LLMHealth:
    reachable: bool
    model_pulled: bool  # the model is there (Ollama: pulled; OpenAI-compatible: listed by /v1/models)
    models: list[str]
    message: str


class Generator(Protocol):
    """A chat model behind some API; safe to share between threads."""

    host: str
    model: str
    max_tokens: int

    @property
    def num_ctx(self) -> int: ...

    @property
    def num_predict(self) -> int: ...

    def generate(self, messages: list[dict[str, str]], on_token: Callable[[str], None] | None = None,
                 on_thinking: Callable[[str], None] | None = None) -> GenerationResult: ...

    def health(self) -> LLMHealth: ...

    def close(self) -> None: ...


def min_prompt_tokens(messages: list[dict[str, str]]) -> int:
    """The fewest tokens these messages can take: a server that reports fewer saw only part of them."""
    return sum(min_tokens(m.get("content") or "") for m in messages)


def checked(result: GenerationResult, messages: list[dict[str, str]], *, num_predict: int, cut_hint: str) -> \
        GenerationResult:
    """Log what one generation cost and whether the prompt was cut (`cut_hint` says what to do about it), and
    raise NoAnswerWritten when there is no answer (all the budget spent thinking, or nothing at all)."""
    log.info("generated %d tokens in %.1f s (prompt %d tokens, reasoning %d chars, model %s)",
             result.completion_tokens, result.seconds, result.prompt_tokens, len(result.thinking), result.model)
    if result.truncated_prompt:
        log.warning("the server saw %d tokens of a prompt of at least %d: %s", result.prompt_tokens,
                    min_prompt_tokens(messages), cut_hint)
    if not result.text.strip():
        if result.thinking and result.done_reason == "length":
            raise NoAnswerWritten(f"the model spent all {num_predict} tokens thinking and wrote no answer "
                                  "(set OLLAMA_THINK=false or raise ANSWER_MAX_TOKENS)")
        raise NoAnswerWritten("the model wrote an empty answer")
    if result.done_reason == "length":
        log.warning("answer cut off at %d tokens (ANSWER_MAX_TOKENS)", num_predict)
    return result
