"""What every generation backend shares: its result, its health, and the one place that picks the backend.

Two backends speak to a local model: Ollama's own API (rag/generate.py, the default) and the
OpenAI-compatible chat API (rag/generate_openai.py: vLLM, llama.cpp's server, LM Studio, TGI). Both raise
`GenerationError` subclasses with one-line messages (rag/ollama_errors.py), so rag/ask.py falls back to
quoted passages the same way for either. rag/backends.py builds the one LLM_API names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


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
