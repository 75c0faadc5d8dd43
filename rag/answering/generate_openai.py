"""Answer generation through an OpenAI-compatible chat API (LLM_API=openai), streamed over SSE.

This is how teams serve models for many users: vLLM, llama.cpp's `llama-server`, LM Studio, TGI, or a hosted
endpoint. It behaves like the Ollama backend (rag/answering/generate.py) in everything the asker sees: pieces streamed
as they come, reasoning (`delta.reasoning_content` / `reasoning`, or `<think>` tags in the content) kept out
of the answer, one-line `GenerationError`s that make rag/answering/ask.py quote passages instead, a per-read timeout
(a slow model that keeps streaming never times out), and truncation judged from `usage.prompt_tokens`
(asked for with `stream_options.include_usage`).

Such a server has one context size, set when it started; the prompt is fitted to the smaller of
OLLAMA_NUM_CTX and what the server reports (`/v1/models`: llama.cpp's `meta.n_ctx`, vLLM's `max_model_len`).
A server that refuses a prompt as too long names its size (llama.cpp: `exceed_context_size_error` with
`n_ctx`), and the message says that size, not ours.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2  # the HTTP client openai>=3 is built on: its timeouts and stream errors
import openai

from rag.answering.generation import GenerationResult, LLMHealth, checked, min_prompt_tokens
from rag.answering.ollama_errors import (
    GenerationError,
    GenerationTimeout,
    ModelNotPulled,
    OllamaUnavailable,
    context_too_long,
    server_context,
)
from rag.answering.ollama_params import ThinkSetting, parse_think
from rag.answering.thinking import ThinkTagSplitter

log = logging.getLogger(__name__)

THINKING_BUDGET_FACTOR = 3  # as for Ollama: reasoning may take up to 3x ANSWER_MAX_TOKENS before the answer


class OpenAIGenerator:
    """Streams chat completions from one model of an OpenAI-compatible server; safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 300,
        connect_timeout_s: float = 5,
        num_ctx: int = 8192,
        max_tokens: int = 768,
        temperature: float = 0.1,
        think: ThinkSetting = False,
    ) -> None:
        self.host = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.think = parse_think(think)
        self._num_ctx = num_ctx
        self._server_ctx: int | None = None  # learnt from /v1/models once
        self._ctx_lock = threading.Lock()
        self._ctx_checked = False
        # max_retries=0: a failed answer falls back to quoted passages at once instead of waiting out retries.
        self._client = openai.OpenAI(base_url=self.host, api_key=api_key or "unused", max_retries=0,
                                     timeout=openai.Timeout(timeout_s, connect=connect_timeout_s))
        self._probe = self._client.with_options(timeout=openai.Timeout(min(timeout_s, connect_timeout_s)))

    # -- what is sent -----------------------------------------------------------------------------------
    @property
    def num_ctx(self) -> int:
        """The context the prompt is fitted to: OLLAMA_NUM_CTX, or the server's own when that is smaller."""
        self._learn_context()
        return min(self._num_ctx, self._server_ctx) if self._server_ctx else self._num_ctx

    @property
    def num_predict(self) -> int:
        return self.max_tokens * (1 + THINKING_BUDGET_FACTOR) if self.think is not False else self.max_tokens

    def _extra_body(self) -> dict[str, Any]:
        """Thinking switches as vLLM and llama.cpp read them; nothing extra when thinking is off (the default)."""
        if self.think is False:
            return {}
        body: dict[str, Any] = {"chat_template_kwargs": {"enable_thinking": True}}
        if isinstance(self.think, str):
            body["reasoning_effort"] = {"max": "high"}.get(self.think, self.think)
        return body

    def close(self) -> None:
        self._client.close()

    # -- generation -----------------------------------------------------------------------------------
    def generate(self, messages: list[dict[str, str]], on_token: Callable[[str], None] | None = None,
                 on_thinking: Callable[[str], None] | None = None) -> GenerationResult:
        if not self.model.strip():
            raise GenerationError("no model configured for LLM_API=openai (set LLM_MODEL)")
        started = time.perf_counter()
        pieces: list[str] = []
        thoughts: list[str] = []
        splitter = ThinkTagSplitter()
        usage: Any = None
        finish = ""
        model = self.model
        for chunk in self._chunks(messages):
            model = chunk.model or model
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices[:1]:
                delta = choice.delta
                extra = delta.model_extra or {}
                reasoning = str(extra.get("reasoning_content") or extra.get("reasoning") or "")
                content, tagged = splitter.feed(delta.content or "")
                self._emit(content, reasoning + tagged, pieces, thoughts, on_token, on_thinking)
                finish = choice.finish_reason or finish
        content, tagged = splitter.finish()
        self._emit(content, tagged, pieces, thoughts, on_token, on_thinking)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        result = GenerationResult(
            text="".join(pieces), prompt_tokens=prompt_tokens,
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            seconds=time.perf_counter() - started, model=model,
            truncated_prompt=0 < prompt_tokens < min_prompt_tokens(messages),
            done_reason="length" if finish == "length" else "stop", thinking="".join(thoughts),
        )
        return checked(result, messages, num_predict=self.num_predict, cut_hint="it cut part of it")

    @staticmethod
    def _emit(content: str, thinking: str, pieces: list[str], thoughts: list[str],
              on_token: Callable[[str], None] | None, on_thinking: Callable[[str], None] | None) -> None:
        if thinking:
            thoughts.append(thinking)
            if on_thinking:
                on_thinking(thinking)
        if content:
            pieces.append(content)
            if on_token:
                on_token(content)

    def _chunks(self, messages: list[dict[str, str]]) -> Iterator[Any]:
        """The server's stream chunks, with every failure translated to a GenerationError."""
        log.debug("chat request to %s model %s: %s", self.host, self.model, messages)
        stream = None
        try:
            stream = self._client.chat.completions.create(
                model=self.model, messages=messages, stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True}, max_tokens=self.num_predict,
                temperature=self.temperature, extra_body=self._extra_body() or None,
            )
            yield from stream
        except openai.APITimeoutError as err:
            cause = err.__cause__
            if isinstance(cause, httpx2.ConnectTimeout):
                raise OllamaUnavailable(f"the model server is not reachable at {self.host}: no connection within "
                                        f"{self.connect_timeout_s:g} s (OLLAMA_CONNECT_TIMEOUT_SECONDS)") from err
            raise GenerationTimeout(f"the model server did not answer within {self.timeout_s:g} s "
                                    "(OLLAMA_TIMEOUT_SECONDS)") from err
        except openai.APIConnectionError as err:
            raise OllamaUnavailable(f"the model server is not reachable at {self.host}: "
                                    f"{_first_line(err.__cause__ or err)}") from err
        except openai.APIStatusError as err:
            raise self._status_error(err) from err
        except (httpx2.RemoteProtocolError, httpx2.ReadError) as err:
            raise OllamaUnavailable(f"the model server at {self.host} dropped the connection mid-answer: "
                                    f"{_first_line(err)}") from err
        finally:
            if stream is not None:
                stream.close()

    def _status_error(self, err: openai.APIStatusError) -> GenerationError:
        body = err.body if isinstance(err.body, dict) else {}
        error = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
        reason = _first_line(error.get("message") or err.message)
        if err.status_code == 404 and "model" in reason.lower():
            return ModelNotPulled(f"model '{self.model}' is not served at {self.host} (LLM_MODEL): {reason}")
        if err.status_code == 404:
            return OllamaUnavailable(f"{self.host} answered 404 for /chat/completions: is LLM_BASE_URL the API "
                                     "root (often ending in /v1)?")
        if err.status_code in (401, 403):
            return OllamaUnavailable(f"the model server at {self.host} refused the key (HTTP {err.status_code}): "
                                     "check LLM_API_KEY")
        if error.get("type") == "exceed_context_size_error" or "context" in reason.lower():
            n_ctx = error.get("n_ctx")
            return context_too_long(reason, num_ctx=self._num_ctx,
                                    server_ctx=int(n_ctx) if isinstance(n_ctx, int) else server_context(reason))
        return GenerationError(f"the model server returned HTTP {err.status_code}: {reason}")

    # -- what the server says about itself -------------------------------------------------------------
    def _models(self) -> list[Any]:
        return list(self._probe.models.list())

    def _learn_context(self) -> None:
        """Read the served model's context once (never fails: unknown stays OLLAMA_NUM_CTX)."""
        if self._ctx_checked:
            return
        with self._ctx_lock:
            if self._ctx_checked:
                return
            try:
                for entry in self._models():
                    if entry.id == self.model:
                        extra = entry.model_extra or {}
                        meta = extra.get("meta") or {}
                        ctx = meta.get("n_ctx") or extra.get("max_model_len") or extra.get("context_length")
                        self._server_ctx = int(ctx) if ctx else None
            except (openai.OpenAIError, httpx2.HTTPError, ValueError, TypeError) as err:
                log.debug("could not read the model's context from %s: %s", self.host, _first_line(err))
                return  # try again next time: the server may be starting
            self._ctx_checked = True
            if self._server_ctx and self._server_ctx < self._num_ctx:
                log.warning("the model server's context is %d tokens, smaller than OLLAMA_NUM_CTX=%d: prompts are "
                            "fitted to %d", self._server_ctx, self._num_ctx, self._server_ctx)

    def health(self) -> LLMHealth:
        """Whether the server answers and serves the model; never raises."""
        try:
            models = [m.id for m in self._models()]
        except openai.APIStatusError as err:
            return LLMHealth(False, False, [], f"the model server at {self.host} answered HTTP {err.status_code} "
                                               "for /models (LLM_BASE_URL, LLM_API_KEY)")
        except (openai.OpenAIError, httpx2.HTTPError, ValueError) as err:
            return LLMHealth(False, False, [], f"the model server is not reachable at {self.host}: "
                                               f"{_first_line(err.__cause__ or err)}")
        if self.model in models:
            message = f"{self.host} serves model '{self.model}'"
            if ctx := self.num_ctx:
                message += f" (prompts fitted to {ctx} tokens)"
            return LLMHealth(True, True, models, message)
        listed = ", ".join(models[:5]) or "none"
        return LLMHealth(True, False, models, f"model '{self.model}' is not served at {self.host} (LLM_MODEL); "
                                              f"it serves: {listed}")


def _first_line(err: object) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
