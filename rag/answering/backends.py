"""The one place that picks the generation backend from the settings (LLM_API)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.answering.generation import Generator
    from rag.config import RagSettings


def make_generator(s: RagSettings) -> Generator:
    """The backend LLM_API names, built from the settings (imports only that backend's client)."""
    if s.llm_api == "openai":
        from rag.answering.generate_openai import OpenAIGenerator

        return OpenAIGenerator(
            s.llm_base_url or "", s.llm_model or "",
            api_key=s.llm_api_key.get_secret_value() if s.llm_api_key else None,
            timeout_s=s.ollama_timeout_seconds, connect_timeout_s=s.ollama_connect_timeout_seconds,
            num_ctx=s.ollama_num_ctx, max_tokens=s.answer_max_tokens, think=s.ollama_think,
        )
    from rag.answering.generate import OllamaGenerator

    return OllamaGenerator(
        s.ollama_host, s.ollama_model, timeout_s=s.ollama_timeout_seconds,
        connect_timeout_s=s.ollama_connect_timeout_seconds, keep_alive=s.ollama_keep_alive,
        num_ctx=s.ollama_num_ctx, max_tokens=s.answer_max_tokens, think=s.ollama_think,
    )
