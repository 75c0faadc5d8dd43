"""Real Ollama's rules for /api/chat, as the fake server applies them.

Each rule names its source in github.com/ollama/ollama (read at v0.33). Kept apart
from rag/ on purpose: the fake is a model of the server, so that our client is
tested against Ollama's rules, not against its own reading of them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

INT_OPTIONS = {"num_ctx", "num_predict", "num_keep", "seed", "top_k", "num_batch", "num_gpu", "main_gpu",
               "num_thread", "repeat_last_n"}
FLOAT_OPTIONS = {"temperature", "top_p", "min_p", "typical_p", "repeat_penalty", "presence_penalty",
                 "frequency_penalty"}
DEFAULT_NUM_CTX = 4096  # envconfig/config.go OLLAMA_CONTEXT_LENGTH: "default: 4k/32k/256k based on VRAM"
DEFAULT_NUM_KEEP = 4  # api/types.go DefaultOptions: NumKeep: 4
THINK_LEVELS = ("high", "medium", "low", "max")  # api/types.go ThinkValue.UnmarshalJSON

# Go's time.ParseDuration (src/time/format.go): unitMap, in nanoseconds.
_GO_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
             "m": 60_000_000_000, "h": 3_600_000_000_000}


class Refused(ValueError):
    """Ollama refuses the request with this HTTP status and `{"error": str(err)}` (server/routes.go)."""

    status = 500


class BadRequest(Refused):
    status = 400


def go_parse_duration(orig: str) -> int:
    """Nanoseconds, or the error Go's time.ParseDuration gives (a port of its loop, without overflow checks)."""
    s, neg = orig, False
    if s[:1] in ("-", "+"):
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if s == "":
        raise BadRequest(f'time: invalid duration "{orig}"')
    total = 0.0
    while s:
        if not (s[0] == "." or s[0].isdigit()):
            raise BadRequest(f'time: invalid duration "{orig}"')
        whole = re.match(r"\d*", s).group()  # type: ignore[union-attr]
        s = s[len(whole):]
        frac = ""
        if s[:1] == ".":
            frac = re.match(r"\d*", s[1:]).group()  # type: ignore[union-attr]
            s = s[1 + len(frac):]
        if not whole and not frac:
            raise BadRequest(f'time: invalid duration "{orig}"')  # no digits (e.g. ".s")
        unit = re.match(r"[^\d.]*", s).group()  # type: ignore[union-attr]
        s = s[len(unit):]
        if not unit:
            raise BadRequest(f'time: missing unit in duration "{orig}"')
        if unit not in _GO_UNITS:
            raise BadRequest(f'time: unknown unit "{unit}" in duration "{orig}"')
        total += float(f"{whole or 0}.{frac or 0}") * _GO_UNITS[unit]
    return int(-total if neg else total)


def keep_alive_ns(value: Any) -> int:
    """api/types.go Duration.UnmarshalJSON: a number is seconds, a string a Go duration; negative = forever."""
    forever = 2**63 - 1  # time.Duration(math.MaxInt64)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        go_type = {bool: "bool", dict: "map[string]interface {}", list: "[]interface {}"}.get(type(value), "?")
        raise BadRequest(f"Unsupported type: '{go_type}'")
    if isinstance(value, str):
        ns = go_parse_duration(value)
        return forever if ns < 0 else ns
    return forever if value < 0 else int(value * 1_000_000_000)


def check_think(value: Any) -> None:
    """api/types.go ThinkValue.UnmarshalJSON: a bool or one of the levels."""
    if isinstance(value, bool):
        return
    if isinstance(value, str):
        if value not in THINK_LEVELS:
            raise BadRequest(f'invalid think value: "{value}" (must be "high", "medium", "low", "max", true, or false)')
        return
    raise BadRequest('think must be a boolean or string ("high", "medium", "low", "max", true, or false)')


def check_chat(body: dict[str, Any]) -> None:
    """The 400s of binding the body to api.ChatRequest (server/routes.go ChatHandler: c.ShouldBindJSON)."""
    messages = body.get("messages")
    if messages is not None and not isinstance(messages, list):
        raise BadRequest("json: cannot unmarshal object into Go struct field ChatRequest.messages of type "
                         "[]api.Message")
    for m in messages or []:  # api.Message.UnmarshalJSON lower-cases the role and checks nothing else
        if not isinstance(m, dict):
            raise BadRequest("json: cannot unmarshal string into Go value of type api.Alias")
        if not isinstance(m.get("content", ""), str):
            raise BadRequest("json: cannot unmarshal number into Go struct field Alias.content of type string")
    if body.get("keep_alive") is not None:
        keep_alive_ns(body["keep_alive"])
    if body.get("think") is not None:
        check_think(body["think"])
    if not isinstance(body.get("stream", True), bool):
        raise BadRequest("json: cannot unmarshal string into Go struct field ChatRequest.stream of type bool")
    if not isinstance(body.get("options") or {}, dict):
        raise BadRequest("json: cannot unmarshal string into Go struct field ChatRequest.options of type "
                         "map[string]interface {}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model is required")


def check_options(options: dict[str, Any]) -> None:
    """api/types.go Options.FromMap, run while scheduling the runner: a wrong type is an HTTP 500
    (server/routes.go handleScheduleError, default case)."""
    for name, value in options.items():
        if value is None:
            continue
        if name in INT_OPTIONS and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise Refused(f'option "{name}" must be of type integer')
        if name in FLOAT_OPTIONS and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise Refused(f'option "{name}" must be of type float32')


# -- the prompt the model sees --------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W\d_]+|\d{1,3}|\n+|[^\w\s]|\s+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
TEMPLATE_TOKENS_PER_MESSAGE = 5  # e.g. Llama 3: <|start_header_id|>role<|end_header_id|>\n\n … <|eot_id|>
TEMPLATE_TOKENS_FIXED = 5  # <|begin_of_text|> and the assistant header that starts the answer


def count_tokens(text: str) -> int:
    """A stand-in tokenizer near Llama 3's counts (bench/results/token_bounds.txt): about one token per
    English word (long words more), one per CJK character, digit groups of three, each punctuation mark."""
    tokens = 0
    for match in _TOKEN.finditer(text):
        piece = match.group()
        if piece[0].isspace():
            tokens += piece[0] == "\n"
        elif piece[0].isdigit() or not piece[0].isalpha():
            tokens += 1
        else:
            cjk = len(_CJK.findall(piece))
            tokens += cjk + math.ceil((len(piece) - cjk) / 6)
    return tokens


def rendered_tokens(messages: list[dict[str, Any]]) -> int:
    return TEMPLATE_TOKENS_FIXED + sum(count_tokens(m.get("content") or "") + TEMPLATE_TOKENS_PER_MESSAGE
                                       for m in messages)


@dataclass
class PromptSeen:
    messages: list[dict[str, Any]]  # what chatPrompt kept
    prompt_eval_count: int  # what the runner evaluated, as Ollama reports it
    truncated: bool


def fit_prompt(messages: list[dict[str, Any]], num_ctx: int, num_keep: int) -> PromptSeen:
    """What current Ollama does with a prompt longer than num_ctx.

    server/prompt.go chatPrompt: drop messages from the front until the rendered prompt fits num_ctx,
    keeping the system messages and always the last message. Then llm/llama_server.go
    completionPromptForRequest: a prompt still over num_ctx - 1 tokens keeps its first num_keep tokens (+1 for
    BOS) and its end, cut to contextShiftPromptLimit = num_ctx - max((num_ctx - keep) / 2, 1) tokens.
    prompt_eval_count is cache_n + prompt_n: the tokens kept (llamaServerTimings.promptEvalCount).
    """
    start = 0
    kept = messages
    for i in range(len(messages)):
        system = [m for m in messages[:i] if m.get("role") == "system"]
        kept = system + messages[i:]
        start = i
        if rendered_tokens(kept) <= num_ctx:
            break
    total = rendered_tokens(kept)
    if total <= num_ctx - 1:
        return PromptSeen(kept, total, start > 0)
    keep = min(num_keep + 1, num_ctx - 1)
    limit = num_ctx - max((num_ctx - keep) // 2, 1)
    return PromptSeen(kept, limit, True)
