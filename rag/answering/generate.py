"""Answer generation through a local Ollama server, streamed piece by piece.

Every way Ollama can fail becomes one `GenerationError` subclass with a one-line
message (rag/answering/ollama_errors.py), so callers can fall back to an extractive answer.
Timeouts apply per read: a slow model that keeps streaming never times out, a
silent one does.

Thinking models (qwen3, deepseek-r1, gpt-oss) think by default; their reasoning
arrives in `message.thinking` and counts against `num_predict`. We always send
`think` (OLLAMA_THINK, off by default), give a thinking model room for its
reasoning on top of the answer, hand the reasoning to `on_thinking` (progress
only) and never into the answer, and retry once without `think` when a model
does not support it (remembered for the life of the generator).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing

import httpx
import ollama
from pydantic import ValidationError

from rag.answering.generation import GenerationResult, LLMHealth, checked, min_prompt_tokens
from rag.answering.ollama_errors import (
    ContextTooLong,
    GenerationError,
    GenerationTimeout,
    ModelNotPulled,
    NoAnswerWritten,
    OllamaUnavailable,
    reason_of,
    refuses_thinking,
    response_error,
    timeout_error,
)
from rag.answering.ollama_params import ThinkSetting, keep_alive_seconds, parse_think
from rag.answering.thinking import Piece, ThinkTagSplitter

__all__ = [
    "ContextTooLong", "GenerationError", "GenerationResult", "GenerationTimeout", "ModelNotPulled",
    "NoAnswerWritten", "OllamaGenerator", "OllamaHealth", "OllamaUnavailable",
]

OllamaHealth = LLMHealth  # the name callers used before there were two backends

log = logging.getLogger(__name__)

THINKING_BUDGET_FACTOR = 3  # a thinking model may reason for up to 3x ANSWER_MAX_TOKENS before answering
# docs/capabilities/thinking.mdx: gpt-oss ignores true/false ("the trace cannot be fully disabled"), takes levels.
_LEVELS_ONLY = ("gpt-oss",)


class OllamaGenerator:
    """Streams chat completions from one model on one Ollama server; safe to share between threads."""

    def __init__(
        self,
        host: str,
        model: str,
        *,
        timeout_s: float = 300,
        connect_timeout_s: float = 5,
        keep_alive: str | float = "30m",
        num_ctx: int = 8192,
        max_tokens: int = 768,
        temperature: float = 0.1,
        think: ThinkSetting = False,
    ) -> None:
        self.host = host
        self.model = model
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.keep_alive = keep_alive_seconds(keep_alive)
        self.num_ctx = num_ctx
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.think = parse_think(think)
        self._think_refused = False  # the model answered "does not support thinking" once
        self._client = ollama.Client(host=host, timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s))
        # A health probe only lists models: it must not hang for the (long) generation timeout.
        self._probe = ollama.Client(host=host, timeout=httpx.Timeout(min(timeout_s, connect_timeout_s)))

    # -- what is sent -----------------------------------------------------------------------------------
    @property
    def think_value(self) -> ThinkSetting:
        """The `think` sent: the setting, "low" for a levels-only model set to off, False once refused."""
        if self._think_refused:
            return False
        if self.think is False and self.model.lower().startswith(_LEVELS_ONLY):
            return "low"
        return self.think

    @property
    def num_predict(self) -> int:
        """Tokens the model may generate, reasoning included; the prompt leaves this much of num_ctx free."""
        thinks = self.think_value is not False
        return self.max_tokens * (1 + THINKING_BUDGET_FACTOR) if thinks else self.max_tokens

    @property
    def options(self) -> dict[str, float]:
        """Sent with every request: without num_ctx Ollama silently truncates long prompts to its default."""
        return {"num_ctx": self.num_ctx, "num_predict": self.num_predict, "temperature": self.temperature}

    def close(self) -> None:
        self._client.close()
        self._probe.close()

    # -- generation -----------------------------------------------------------------------------------
    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield the answer's text pieces as Ollama produces them (never the model's reasoning)."""
        with closing(self._pieces(messages)) as pieces:
            for piece in pieces:
                if piece.content:
                    yield piece.content

    def generate(self, messages: list[dict[str, str]], on_token: Callable[[str], None] | None = None,
                 on_thinking: Callable[[str], None] | None = None) -> GenerationResult:
        """The whole answer, calling `on_token` with each piece and `on_thinking` with each piece of reasoning."""
        started = time.perf_counter()
        pieces: list[str] = []
        thoughts: list[str] = []
        final: ollama.ChatResponse | None = None
        with closing(self._pieces(messages)) as stream:  # an on_token error closes the HTTP stream at once
            for piece in stream:
                if piece.thinking:
                    thoughts.append(piece.thinking)
                    if on_thinking:
                        on_thinking(piece.thinking)
                if piece.content:
                    pieces.append(piece.content)
                    if on_token:
                        on_token(piece.content)
                if piece.final is not None:
                    final = piece.final
        if final is None:  # _pieces() raises first; kept for type checkers
            raise OllamaUnavailable(f"Ollama at {self.host} ended the answer without finishing it")
        prompt_tokens = final.prompt_eval_count or 0
        result = GenerationResult(
            text="".join(pieces), prompt_tokens=prompt_tokens, completion_tokens=final.eval_count or 0,
            seconds=time.perf_counter() - started, model=final.model or self.model,
            truncated_prompt=self._truncated(messages, prompt_tokens), done_reason=final.done_reason or "stop",
            thinking="".join(thoughts),
        )
        return checked(result, messages, num_predict=self.num_predict,
                       cut_hint="it dropped or cut part of it (raise OLLAMA_NUM_CTX, or check the model's own "
                                "context limit)")

    def _truncated(self, messages: list[dict[str, str]], prompt_tokens: int) -> bool:
        """Whether Ollama evaluated less than the prompt we sent.

        Older runners cut a long prompt to exactly num_ctx tokens; current Ollama drops earlier messages
        (server/prompt.go chatPrompt) and then keeps about half of num_ctx (llm/llama_server.go,
        contextShiftPromptLimit), and reports what it kept. Either way the count falls below the
        fewest tokens our messages can take.
        """
        if prompt_tokens <= 0:  # not reported: nothing to conclude
            return False
        return prompt_tokens >= self.num_ctx or prompt_tokens < min_prompt_tokens(messages)

    def _pieces(self, messages: list[dict[str, str]]) -> Iterator[Piece]:
        """Answer and reasoning pieces, with "<think>…</think>" in the content moved to reasoning."""
        splitter = ThinkTagSplitter()
        with closing(self._parts(messages)) as parts:
            for part in parts:
                content, thinking = splitter.feed(part.message.content or "")
                thinking = (part.message.thinking or "") + thinking
                if part.done:
                    rest, more = splitter.finish()
                    content, thinking = content + rest, thinking + more
                yield Piece(content, thinking, part if part.done else None)

    def _parts(self, messages: list[dict[str, str]]) -> Iterator[ollama.ChatResponse]:
        """Ollama's chunks for this chat, with every failure translated to a GenerationError."""
        if not self.model.strip():
            raise GenerationError("no Ollama model configured (OLLAMA_MODEL is empty)")
        while True:
            think = self.think_value
            try:
                yield from self._chat(messages, think)
                return
            except ollama.ResponseError as err:
                if think is False or not refuses_thinking(err):
                    raise self._response_error(err) from err
                log.warning("model %s does not support thinking (%s): asking without `think` from now on",
                            self.model, reason_of(err))
                self._think_refused = True

    def _chat(self, messages: list[dict[str, str]], think: ThinkSetting) -> Iterator[ollama.ChatResponse]:
        """One /api/chat request. A refusal before any chunk propagates as ollama.ResponseError."""
        log.debug("chat request to %s model %s think %r: %s", self.host, self.model, think, messages)
        parts: Iterator[ollama.ChatResponse] | None = None
        finished = started = False
        try:
            parts = self._client.chat(model=self.model, messages=messages, stream=True, think=think,
                                      keep_alive=self.keep_alive, options=self.options)
            for part in parts:  # a refused connection surfaces here, at the first chunk
                if finished:
                    continue  # nothing follows the final chunk; read to the end so the connection is reused
                finished, started = bool(part.done), True
                yield part
        except ollama.ResponseError as err:
            if not started:
                raise  # _parts may retry it
            raise self._response_error(err) from err
        except httpx.TimeoutException as err:
            raise timeout_error(err, host=self.host, timeout_s=self.timeout_s,
                                connect_timeout_s=self.connect_timeout_s) from err
        except (httpx.RemoteProtocolError, httpx.ReadError) as err:
            if finished:  # the answer was complete: a connection lost afterwards changes nothing
                return
            raise OllamaUnavailable(
                f"Ollama at {self.host} dropped the connection mid-answer: {reason_of(err)}"
            ) from err
        except (httpx.TransportError, ConnectionError) as err:
            raise OllamaUnavailable(f"Ollama is not reachable at {self.host}: {reason_of(err)}") from err
        except (json.JSONDecodeError, ValidationError) as err:
            raise GenerationError(f"unexpected reply from {self.host} (is it an Ollama server?): "
                                  f"{reason_of(err)}") from err
        finally:
            if isinstance(parts, Generator):
                parts.close()  # releases the connection even when our caller stops early
        if not finished:
            raise OllamaUnavailable(f"Ollama at {self.host} ended the answer without finishing it")

    def _response_error(self, err: ollama.ResponseError) -> GenerationError:
        return response_error(err, host=self.host, model=self.model, num_ctx=self.num_ctx)

    # -- health ---------------------------------------------------------------------------------------
    def health(self) -> OllamaHealth:
        """Whether Ollama answers and has the model; never raises."""
        try:
            listed = self._probe.list()
        except ollama.ResponseError as err:
            return OllamaHealth(False, False, [],
                                f"Ollama is not reachable at {self.host}: HTTP {err.status_code} {err.error}")
        except httpx.TimeoutException:
            return OllamaHealth(False, False, [], f"Ollama is not reachable at {self.host}: no answer within "
                                                  f"{min(self.timeout_s, self.connect_timeout_s):g} s")
        except (httpx.HTTPError, ConnectionError, ValidationError, ValueError) as err:
            return OllamaHealth(False, False, [], f"Ollama is not reachable at {self.host}: {reason_of(err)}")
        models = [m.model for m in listed.models if m.model]
        pulled = self.model in models or f"{self.model}:latest" in models
        if pulled:
            message = f"Ollama at {self.host} has model '{self.model}'"
        else:
            message = f"model '{self.model}' is not pulled on {self.host}: run `ollama pull {self.model}`"
        return OllamaHealth(True, pulled, models, message)
