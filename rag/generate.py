"""Generation through the official `ollama` client, streaming, with errors a user can act on.

The client has no timeout by default; ours comes from config and is a per-read
timeout, so a slow local model that keeps streaming tokens never hits it while
a stalled one does. With `stream=True` a refused connection only surfaces at
the first chunk, so errors are translated while iterating, not at the call.
`num_ctx` is always sent: without it Ollama silently truncates long prompts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import ollama

log = logging.getLogger(__name__)


class GenerationError(Exception):
    """Generation failed; str(err) is one line meant for the user."""


class OllamaUnavailable(GenerationError):
    pass


class ModelNotPulled(GenerationError):
    pass


class GenerationTimeout(GenerationError):
    pass


class ContextTooLong(GenerationError):
    pass


@dataclass
class GenerationResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    model: str
    truncated_prompt: bool


@dataclass
class OllamaHealth:
    reachable: bool
    model_pulled: bool
    models: list[str]
    message: str


class OllamaGenerator:
    def __init__(
        self,
        host: str,
        model: str,
        *,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 5.0,
        keep_alive: str | float = "30m",
        num_ctx: int = 8192,
        max_tokens: int = 768,
        temperature: float = 0.1,
    ) -> None:
        self.host = host
        self.model = model
        self.timeout_s = timeout_s
        self.keep_alive = keep_alive
        self.num_ctx = num_ctx
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._client = ollama.Client(host=host, timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s))
        self._last: dict[str, Any] = {}

    def _translate(self, err: Exception) -> GenerationError:
        if isinstance(err, GenerationError):
            return err
        if isinstance(err, ollama.ResponseError):
            message = str(err.error)
            if err.status_code == 404 or "not found" in message.lower():
                return ModelNotPulled(
                    f"model '{self.model}' is not pulled on {self.host}: run `ollama pull {self.model}`"
                )
            if "context" in message.lower() and ("length" in message.lower() or "exceed" in message.lower()):
                return ContextTooLong(f"the prompt is longer than the model's context ({message}); "
                                      "raise OLLAMA_NUM_CTX or lower TOP_K")
            return GenerationError(f"Ollama error: {message}")
        if isinstance(err, httpx.TimeoutException) and not isinstance(err, httpx.ConnectTimeout):
            return GenerationTimeout(
                f"Ollama did not answer within {self.timeout_s:g} s (OLLAMA_TIMEOUT_SECONDS)"
            )
        if isinstance(err, httpx.ConnectError | httpx.ConnectTimeout | ConnectionError):
            return OllamaUnavailable(f"Ollama is not reachable at {self.host}: {err or type(err).__name__}")
        if isinstance(err, httpx.RemoteProtocolError | httpx.ReadError | httpx.NetworkError):
            return OllamaUnavailable(f"the connection to Ollama at {self.host} broke mid-answer: "
                                     f"{err or type(err).__name__}")
        return GenerationError(f"Ollama failed: {type(err).__name__}: {err}")

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield answer text as Ollama streams it; the final chunk's statistics go to `self._last`."""
        self._last = {}
        try:
            response = self._client.chat(
                model=self.model, messages=messages, stream=True, keep_alive=self.keep_alive,
                options={"num_ctx": self.num_ctx, "num_predict": self.max_tokens, "temperature": self.temperature},
            )
            for part in response:
                piece = part.message.content if part.message else ""
                if part.done:
                    self._last = {"prompt_eval_count": part.prompt_eval_count or 0,
                                  "eval_count": part.eval_count or 0}
                if piece:
                    yield piece
        except Exception as err:  # translated into one of ours, with the cause kept for the logs
            raise self._translate(err) from err

    def generate(
        self, messages: list[dict[str, str]], on_token: Callable[[str], None] | None = None,
    ) -> GenerationResult:
        started = time.perf_counter()
        pieces = []
        for piece in self.stream(messages):
            pieces.append(piece)
            if on_token:
                on_token(piece)
        prompt_tokens = int(self._last.get("prompt_eval_count", 0))
        truncated = prompt_tokens >= self.num_ctx
        if truncated:
            log.warning("Ollama evaluated %d prompt tokens with num_ctx %d: the prompt was truncated",
                        prompt_tokens, self.num_ctx)
        log.debug("generated %d tokens", self._last.get("eval_count", 0))
        return GenerationResult(
            text="".join(pieces), prompt_tokens=prompt_tokens,
            completion_tokens=int(self._last.get("eval_count", 0)), seconds=time.perf_counter() - started,
            model=self.model, truncated_prompt=truncated,
        )

    def health(self) -> OllamaHealth:
        """Is Ollama reachable, and is our model pulled? (`ragbot doctor`, bot start-up)."""
        try:
            listed = self._client.list()
        except Exception as err:
            translated = self._translate(err)
            return OllamaHealth(False, False, [], str(translated))
        names = [m.model or "" for m in listed.models]
        wanted = {self.model, f"{self.model}:latest"}
        pulled = any(name in wanted for name in names)
        message = "ok" if pulled else f"model '{self.model}' is not pulled: run `ollama pull {self.model}`"
        return OllamaHealth(True, pulled, names, message)
