"""Answer generation through a local Ollama server, streamed piece by piece.

Every way Ollama can fail (not running, model not pulled, stalled, crashed
mid-answer, context overflow) becomes one `GenerationError` subclass with a
one-line message a user can act on, so callers can fall back to an extractive
answer instead of showing a traceback. Timeouts come from configuration and
apply per read: a slow model that keeps streaming never times out, a silent one
does.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass

import httpx
import ollama
from pydantic import ValidationError

log = logging.getLogger(__name__)

_CONTEXT_ERROR = re.compile(r"context (length|window|size)|exceeds .*context|too many tokens", re.IGNORECASE)


class GenerationError(Exception):
    """Generation failed; str(err) is a one-line message for users."""


class OllamaUnavailable(GenerationError):
    """Ollama cannot be reached, or dropped the connection."""


class ModelNotPulled(GenerationError):
    """The configured model is not present on the Ollama server."""


class GenerationTimeout(GenerationError):
    """Ollama stopped sending data for longer than the configured timeout."""


class ContextTooLong(GenerationError):
    """Ollama refused the prompt because it does not fit the model's context."""


@dataclass
class GenerationResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    model: str
    truncated_prompt: bool  # Ollama cut the prompt to num_ctx: the answer may have missed sources
    done_reason: str = "stop"  # "length" when the answer hit max_tokens and was cut off


@dataclass
class OllamaHealth:
    reachable: bool
    model_pulled: bool
    models: list[str]
    message: str


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
    ) -> None:
        self.host = host
        self.model = model
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.keep_alive = keep_alive
        self.num_ctx = num_ctx
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._client = ollama.Client(host=host, timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s))
        # A health probe only lists models: it must not hang for the (long) generation timeout.
        self._probe = ollama.Client(host=host, timeout=httpx.Timeout(min(timeout_s, connect_timeout_s)))

    @property
    def options(self) -> dict[str, float]:
        """Sent with every request: without num_ctx Ollama silently truncates long prompts to its default."""
        return {"num_ctx": self.num_ctx, "num_predict": self.max_tokens, "temperature": self.temperature}

    def close(self) -> None:
        self._client.close()
        self._probe.close()

    # -- generation -----------------------------------------------------------------------------------
    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield the answer's text pieces as Ollama produces them."""
        with closing(self._parts(messages)) as parts:
            for part in parts:
                if part.message.content:
                    yield part.message.content

    def generate(self, messages: list[dict[str, str]],
                 on_token: Callable[[str], None] | None = None) -> GenerationResult:
        """The whole answer, calling `on_token` with each piece as it arrives."""
        started = time.perf_counter()
        pieces: list[str] = []
        final: ollama.ChatResponse | None = None
        with closing(self._parts(messages)) as parts:  # an on_token error closes the HTTP stream at once
            for part in parts:
                if part.message.content:
                    pieces.append(part.message.content)
                    if on_token:
                        on_token(part.message.content)
                if part.done:
                    final = part
        if final is None:  # _parts() raises first; kept for type checkers
            raise OllamaUnavailable(f"Ollama at {self.host} ended the answer without finishing it")
        seconds = time.perf_counter() - started
        prompt_tokens = final.prompt_eval_count or 0
        result = GenerationResult(
            text="".join(pieces), prompt_tokens=prompt_tokens, completion_tokens=final.eval_count or 0,
            seconds=seconds, model=final.model or self.model, truncated_prompt=prompt_tokens >= self.num_ctx,
            done_reason=final.done_reason or "stop",
        )
        log.info("generated %d tokens in %.1f s (prompt %d tokens, model %s)",
                 result.completion_tokens, seconds, prompt_tokens, result.model)
        if result.truncated_prompt:
            log.warning("Ollama truncated the prompt to num_ctx=%d tokens: raise OLLAMA_NUM_CTX or send less",
                        self.num_ctx)
        if result.done_reason == "length":
            log.warning("answer cut off at %d tokens (ANSWER_MAX_TOKENS)", self.max_tokens)
        return result

    def _parts(self, messages: list[dict[str, str]]) -> Iterator[ollama.ChatResponse]:
        """Ollama's chunks for this chat, with every failure translated to a GenerationError."""
        if not self.model.strip():
            raise GenerationError("no Ollama model configured (OLLAMA_MODEL is empty)")
        log.debug("chat request to %s model %s: %s", self.host, self.model, messages)
        parts: Iterator[ollama.ChatResponse] | None = None
        finished = False
        try:
            parts = self._client.chat(model=self.model, messages=messages, stream=True,
                                      keep_alive=self.keep_alive, options=self.options)
            for part in parts:  # a refused connection surfaces here, at the first chunk
                if finished:
                    continue  # nothing follows the final chunk; read to the end so the connection is reused
                log.debug("chunk: %r", part.message.content)
                finished = bool(part.done)
                yield part
        except ollama.ResponseError as err:
            raise self._response_error(err) from err
        except httpx.TimeoutException as err:
            raise self._timeout(err) from err
        except (httpx.RemoteProtocolError, httpx.ReadError) as err:
            if finished:  # the answer was complete: a connection lost afterwards changes nothing
                return
            raise OllamaUnavailable(
                f"Ollama at {self.host} dropped the connection mid-answer: {_reason(err)}"
            ) from err
        except (httpx.TransportError, ConnectionError) as err:
            raise OllamaUnavailable(f"Ollama is not reachable at {self.host}: {_reason(err)}") from err
        except (json.JSONDecodeError, ValidationError) as err:
            raise GenerationError(f"unexpected reply from {self.host} (is it an Ollama server?): "
                                  f"{_reason(err)}") from err
        finally:
            if isinstance(parts, Generator):
                parts.close()  # releases the connection even when our caller stops early
        if not finished:
            raise OllamaUnavailable(f"Ollama at {self.host} ended the answer without finishing it")

    def _timeout(self, err: httpx.TimeoutException) -> GenerationError:
        if isinstance(err, httpx.ConnectTimeout):
            return OllamaUnavailable(
                f"Ollama is not reachable at {self.host}: no connection within {self.connect_timeout_s:g} s "
                "(OLLAMA_CONNECT_TIMEOUT_SECONDS)"
            )
        return GenerationTimeout(
            f"Ollama did not answer within {self.timeout_s:g} s (OLLAMA_TIMEOUT_SECONDS)"
        )

    def _response_error(self, err: ollama.ResponseError) -> GenerationError:
        reason = str(err.error).strip()
        if err.status_code == 404 and "model" in reason.lower():
            return ModelNotPulled(
                f"model '{self.model}' is not pulled on {self.host}: run `ollama pull {self.model}`"
            )
        if err.status_code == 404:
            return OllamaUnavailable(
                f"{self.host} answered 404 for /api/chat ({reason}): is OLLAMA_HOST an Ollama server?"
            )
        if _CONTEXT_ERROR.search(reason):
            return ContextTooLong(
                f"the prompt does not fit the model's context of {self.num_ctx} tokens "
                f"(OLLAMA_NUM_CTX): {reason}"
            )
        if err.status_code == -1:  # an error line in the middle of the stream
            return GenerationError(f"Ollama failed mid-answer: {reason}")
        return GenerationError(f"Ollama returned HTTP {err.status_code}: {reason}")

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
            return OllamaHealth(False, False, [], f"Ollama is not reachable at {self.host}: {_reason(err)}")
        models = [m.model for m in listed.models if m.model]
        pulled = self.model in models or f"{self.model}:latest" in models
        if pulled:
            message = f"Ollama at {self.host} has model '{self.model}'"
        else:
            message = f"model '{self.model}' is not pulled on {self.host}: run `ollama pull {self.model}`"
        return OllamaHealth(True, pulled, models, message)


def _reason(err: BaseException) -> str:
    """The first line of an exception's message (httpx and pydantic messages can span many lines)."""
    if isinstance(err.__context__, httpx.HTTPError) and not isinstance(err, httpx.HTTPError):
        err = err.__context__  # the client hides "connection refused" behind a generic ConnectionError
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
