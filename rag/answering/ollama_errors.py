"""Every way an Ollama request can fail, as one-line messages a user can act on.

Ollama answers a refused request with an HTTP status and `{"error": "..."}`
(server/routes.go); an error after streaming began arrives as an `{"error": ...}`
line, which the `ollama` client raises with status -1. Callers catch
`GenerationError` and fall back to an extractive answer instead of a traceback.
"""

from __future__ import annotations

import re

import httpx
import ollama

_CONTEXT_ERROR = re.compile(r"context (length|window|size)|exceeds .*context|too many tokens", re.IGNORECASE)
# server/routes.go ChatHandler: c.JSON(400, {"error": fmt.Sprintf("%q does not support thinking", req.Model)})
_NO_THINKING = re.compile(r"does not support thinking", re.IGNORECASE)


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


class NoAnswerWritten(GenerationError):
    """The model spent its whole token budget thinking and wrote no answer."""


def refuses_thinking(err: ollama.ResponseError) -> bool:
    """Ollama's 400 for `think` sent to a model without the thinking capability."""
    return err.status_code == 400 and bool(_NO_THINKING.search(str(err.error)))


def response_error(err: ollama.ResponseError, *, host: str, model: str, num_ctx: int) -> GenerationError:
    reason = reason_of(err)
    if err.status_code == 404 and "model" in reason.lower():
        return ModelNotPulled(f"model '{model}' is not pulled on {host}: run `ollama pull {model}`")
    if err.status_code == 404:
        return OllamaUnavailable(f"{host} answered 404 for /api/chat ({reason}): is OLLAMA_HOST an Ollama server?")
    if _CONTEXT_ERROR.search(reason):
        return context_too_long(reason, num_ctx=num_ctx, server_ctx=server_context(reason))
    if err.status_code == -1:  # an error line in the middle of the stream
        return GenerationError(f"Ollama failed mid-answer: {reason}")
    return GenerationError(f"Ollama returned HTTP {err.status_code}: {reason}")


_SERVER_CONTEXT = re.compile(r"context[^0-9]{0,40}?\(?(\d{3,7})\s*tokens?", re.IGNORECASE)


def server_context(reason: str) -> int | None:
    """The context size a server names in its refusal ("exceeds the available context size (512 tokens)")."""
    match = _SERVER_CONTEXT.search(reason)
    return int(match.group(1)) if match else None


def context_too_long(reason: str, *, num_ctx: int, server_ctx: int | None) -> ContextTooLong:
    """One message, one context size: the server's when it names one, with OLLAMA_NUM_CTX only if it differs."""
    if server_ctx and server_ctx < num_ctx:
        return ContextTooLong(
            f"the prompt does not fit the server's context of {server_ctx} tokens, smaller than OLLAMA_NUM_CTX="
            f"{num_ctx}: set OLLAMA_NUM_CTX={server_ctx} or give the server a larger context"
        )
    if server_ctx:
        return ContextTooLong(f"the prompt does not fit the server's context of {server_ctx} tokens: "
                              "lower ANSWER_MAX_TOKENS or TOP_K, or give the server a larger context")
    return ContextTooLong(f"the prompt does not fit the model's context of {num_ctx} tokens (OLLAMA_NUM_CTX): "
                          f"{reason}")


def timeout_error(err: httpx.TimeoutException, *, host: str, timeout_s: float,
                  connect_timeout_s: float) -> GenerationError:
    if isinstance(err, httpx.ConnectTimeout):
        return OllamaUnavailable(
            f"Ollama is not reachable at {host}: no connection within {connect_timeout_s:g} s "
            "(OLLAMA_CONNECT_TIMEOUT_SECONDS)"
        )
    return GenerationTimeout(f"Ollama did not answer within {timeout_s:g} s (OLLAMA_TIMEOUT_SECONDS)")


def reason_of(err: BaseException) -> str:
    """The first line of an exception's message (httpx and pydantic messages can span many lines)."""
    if isinstance(err, ollama.ResponseError):
        text = str(err.error).strip()
        return (text.splitlines() or [f"HTTP {err.status_code}"])[0]
    if isinstance(err.__context__, httpx.HTTPError) and not isinstance(err, httpx.HTTPError):
        err = err.__context__  # the client hides "connection refused" behind a generic ConnectionError
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
