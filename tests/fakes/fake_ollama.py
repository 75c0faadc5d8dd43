"""A fake Ollama HTTP server on 127.0.0.1 that speaks the real wire protocol.

It applies real Ollama's rules (tests/fakes/ollama_rules.py, each citing its source
in github.com/ollama/ollama): the 400s of binding a request (keep_alive parsed by
Go's time.ParseDuration, think values), "model not found", "does not support
thinking", option types; thinking models that stream `message.thinking` before
the content and count it against num_predict; a prompt longer than num_ctx
trimmed the way current Ollama trims it, with the prompt_eval_count it reports.
It streams NDJSON over HTTP/1.1 chunked encoding, so an abrupt close mid-stream
looks to the client exactly like a crashed server.

    with FakeOllama(models=["llama3.2:3b"], reply="Hello [1].", token_delay=0.01) as fake:
        ...  # point the client at fake.url; inspect fake.requests afterwards
    FakeOllama(models=["qwen3:8b"], thinking_models=["qwen3:8b"], thinking="Let me see.")

Faults (`mode`): "ok", "stall" (stop sending for `stall_seconds`), "drop" (close the
socket mid-stream), "error_midstream" (an `{"error": ...}` line, as when a runner
dies; before any chunk it is an HTTP 500 like server/routes.go streamResponse).
For an unreachable server use `closed_port_url()`. Every wait is bounded and wakes
up when the server stops, so a fault never blocks shutdown.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from tests.fakes.ollama_rules import (
    DEFAULT_NUM_CTX,
    DEFAULT_NUM_KEEP,
    PromptSeen,
    Refused,
    check_chat,
    check_options,
    fit_prompt,
    keep_alive_ns,
)

Mode = Literal["ok", "stall", "drop", "error_midstream"]
Reply = str | Callable[[dict[str, Any]], str]

VERSION = "0.33.0"
TRAINED_CONTEXT = 131072  # a model's own context length (GGUF llama.context_length), unless told otherwise
# docs/capabilities/thinking.mdx: gpt-oss takes levels only; true/false is ignored and it always reasons
# (its harmony parser, harmony/harmonyparser.go, sends the analysis channel as thinking whatever `think` says).
_ALWAYS_THINKS = ("gpt-oss",)

# Sockets bound but never listening: connecting to them is refused, and nothing else can take the port.
_RESERVED: list[socket.socket] = []


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    _RESERVED.append(sock)
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def split_words(text: str) -> list[str]:
    """Chunks like a tokenizer's: words with their trailing whitespace; joining them gives the text back."""
    return re.findall(r"\S+\s*|\s+", text)


@dataclass
class Script:
    """How the fake answers /api/chat; tests may change it between requests."""

    reply: Reply = "The answer is in the documents [1]."
    mode: Mode = "ok"
    token_delay: float = 0.0  # seconds between chunks (a model generating at a fixed rate)
    chunker: Callable[[str], list[str]] = split_words
    fault_after: int = 2  # chunks sent before a fault; 0 with "stall": no headers yet (model loading)
    stall_seconds: float = 10.0
    error_message: str = "llama runner process has terminated: signal: killed"
    thinking: Reply = "The user asks about leave. Source 1 covers it, so I will cite [1]."  # thinking models


@dataclass
class Call:
    method: str
    path: str
    status: int
    body: Any = None


@dataclass
class _State:
    models: list[str]
    script: Script
    thinking_models: set[str] = field(default_factory=set)
    trained_context: dict[str, int] = field(default_factory=dict)
    seen: list[PromptSeen] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: list[Call] = field(default_factory=list)
    connections: set[socket.socket] = field(default_factory=set)


class _Abort(Exception):
    """The client went away or the server is stopping: end this response quietly."""


class FakeOllama:
    """Context manager running the fake on an ephemeral port; `url` is its base URL."""

    def __init__(self, models: list[str] | None = None, script: Script | None = None, *,
                 thinking_models: list[str] | None = None, trained_context: dict[str, int] | None = None,
                 **behaviour: Any) -> None:
        script = script or Script()
        for name, value in behaviour.items():
            if not hasattr(script, name):
                raise TypeError(f"unknown FakeOllama behaviour {name!r}")
            setattr(script, name, value)
        self._state = _State(models=list(models if models is not None else ["llama3.2:3b"]), script=script,
                             thinking_models=set(thinking_models or ()),
                             trained_context=dict(trained_context or {}))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration / inspection -------------------------------------------------------------------
    @property
    def script(self) -> Script:
        return self._state.script

    @script.setter
    def script(self, value: Script) -> None:
        self._state.script = value

    @property
    def models(self) -> list[str]:
        return self._state.models

    @property
    def calls(self) -> list[Call]:
        """Every request, in arrival order: method, path, status answered, parsed body."""
        with self._state.lock:
            return list(self._state.calls)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Parsed JSON bodies of every /api/chat request (valid or not), in arrival order."""
        return [c.body for c in self.calls if c.path.endswith("/api/chat") and isinstance(c.body, dict)]

    @property
    def seen(self) -> list[PromptSeen]:
        """For each answered chat: the messages the model kept and the prompt_eval_count reported."""
        with self._state.lock:
            return list(self._state.seen)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeOllama is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> FakeOllama:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.state = self._state
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-ollama", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._state.stopping.set()  # wakes stalled and slow responses
        self._server.shutdown()
        with self._state.lock:
            open_connections = list(self._state.connections)
        for conn in open_connections:  # idle keep-alive connections would otherwise wait for a request
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, like Ollama's Go server
    server_version = "fake-ollama"
    timeout = 30  # an idle keep-alive connection ends by itself
    server: _Server

    # -- plumbing -------------------------------------------------------------------------------------
    @property
    def state(self) -> _State:
        return self.server.state

    def setup(self) -> None:
        super().setup()
        with self.state.lock:
            self.state.connections.add(self.connection)

    def finish(self) -> None:
        with self.state.lock:
            self.state.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
        return

    def _record(self, status: int, body: Any = None) -> None:
        with self.state.lock:
            self.state.calls.append(Call(self.command, self.path, status, body))

    def _send_json(self, status: int, payload: Any, body: Any = None) -> None:
        self._record(status, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, status: int, text: str) -> None:
        self._record(status)
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self.state.stopping.wait(seconds):
            raise _Abort

    def _chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        except OSError as err:
            raise _Abort from err

    # -- routes ---------------------------------------------------------------------------------------
    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/":
            self._send_text(200, "Ollama is running")
        elif self.path == "/api/tags":
            self._send_json(200, {"models": [_model_entry(name) for name in self.state.models]})
        elif self.path == "/api/version":
            self._send_json(200, {"version": VERSION})
        elif self.path in ("/api/chat", "/api/show"):
            self._send_text(405, "405 method not allowed")
        else:
            self._send_text(404, "404 page not found")

    def do_POST(self) -> None:  # noqa: N802
        raw = self._read_body()
        if self.path not in ("/api/chat", "/api/show"):
            self._send_text(404, "404 page not found")
            return
        if not raw.strip():
            self._send_json(400, {"error": "missing request body"})
            return
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            self._send_json(400, {"error": f"invalid character in request body: {err}"})
            return
        if not isinstance(body, dict):
            self._send_json(400, {"error": "json: cannot unmarshal request body into a request object"}, body)
            return
        if self.path == "/api/show":
            self._show(body)
        else:
            self._chat(body)

    def _resolve(self, name: str) -> str | None:
        for candidate in (name, f"{name}:latest"):
            if candidate in self.state.models:
                return candidate
        return None

    def _thinks(self, model: str) -> bool:
        return model in self.state.thinking_models or model.startswith(_ALWAYS_THINKS)

    def _show(self, body: dict[str, Any]) -> None:
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not name:
            self._send_json(400, {"error": "model is required"}, body)
        elif (model := self._resolve(name)) is None:
            self._send_json(404, {"error": f"model '{name}' not found"}, body)
        else:
            capabilities = ["completion", "tools"] + (["thinking"] if self._thinks(model) else [])
            self._send_json(200, {
                "license": "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT", "modelfile": f"FROM {model}\n",
                "parameters": 'stop "<|eot_id|>"', "template": "{{ .Prompt }}",
                "details": _model_entry(model)["details"],
                "model_info": {"general.architecture": "llama",
                               "llama.context_length": self.state.trained_context.get(model, TRAINED_CONTEXT)},
                "capabilities": capabilities, "modified_at": _now(),
            }, body)

    def _chat(self, body: dict[str, Any]) -> None:
        """server/routes.go ChatHandler, in its order: bind, model lookup, think capability, options, answer."""
        try:
            check_chat(body)
        except Refused as err:
            self._send_json(err.status, {"error": str(err)}, body)
            return
        model = self._resolve(body["model"])
        if model is None:  # ChatHandler: s.getModel fails with os.IsNotExist
            self._send_json(404, {"error": f"model '{body['model']}' not found"}, body)
            return
        think = body.get("think")
        if self._thinks(model):
            think = True if think is None else think  # ChatHandler: a thinking model thinks unless told not to
        elif think is True or isinstance(think, str):  # ThinkValue.Bool(): true or any level
            self._send_json(400, {"error": f'"{body["model"]}" does not support thinking'}, body)
            return
        options = body.get("options") or {}
        try:
            check_options(options)
        except Refused as err:
            self._send_json(err.status, {"error": str(err)}, body)
            return
        messages = body.get("messages") or []
        started = time.perf_counter_ns()
        if not messages:  # Ollama only loads (or, with keep_alive 0, unloads) the model
            self._record(200, body)
            unload = body.get("keep_alive") is not None and keep_alive_ns(body["keep_alive"]) == 0
            reason = "unload" if unload else "load"
            self._reply_whole(_final(body["model"], "", "", reason, started, 0, 0))
            return
        # server/sched.go effectiveContext: num_ctx is capped at the context the model was trained for
        num_ctx = min(int(options.get("num_ctx") or DEFAULT_NUM_CTX),
                      self.state.trained_context.get(model, TRAINED_CONTEXT))
        seen = fit_prompt(messages, num_ctx, int(options.get("num_keep", DEFAULT_NUM_KEEP)))
        self._record(200, body)
        with self.state.lock:
            self.state.seen.append(seen)
        script = self.state.script
        reasons = self._thinking_chunks(model, think, body, script)
        answer = [c for c in script.chunker(_text(script.reply, body)) if c]
        chunks = [("thinking", c) for c in reasons] + [("content", c) for c in answer]
        limit = options.get("num_predict")
        done_reason = "stop"
        if isinstance(limit, int | float) and 0 <= limit < len(chunks):  # reasoning counts against num_predict
            chunks, done_reason = chunks[: int(limit)], "length"
        if body.get("stream", True) is False:
            if script.mode == "stall":
                self._wait(script.stall_seconds)
            content = "".join(c for kind, c in chunks if kind == "content")
            thinking = "".join(c for kind, c in chunks if kind == "thinking")
            self._reply_whole(_final(body["model"], content, thinking, done_reason, started,
                                     seen.prompt_eval_count, len(chunks)))
            return
        try:
            self._stream(body["model"], chunks, done_reason, started, seen.prompt_eval_count, script)
        except _Abort:
            self.close_connection = True

    def _thinking_chunks(self, model: str, think: Any, body: dict[str, Any], script: Script) -> list[str]:
        if not self._thinks(model):
            return []
        if think is False and not model.startswith(_ALWAYS_THINKS):
            return []
        return [c for c in script.chunker(_text(script.thinking, body)) if c]

    def _reply_whole(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, model: str, chunks: list[tuple[str, str]], done_reason: str, started: int,
                prompt_tokens: int, script: Script) -> None:
        if script.mode == "error_midstream" and script.fault_after <= 0:
            # server/routes.go streamResponse: an error before anything was written gets a status of its own
            self._send_json(500, {"error": script.error_message})
            return
        faulted = script.mode == "ok"
        if script.mode == "stall" and script.fault_after <= 0:
            self._wait(script.stall_seconds)  # like a model that is still loading: not even headers yet
            faulted = True
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        try:
            self.end_headers()
        except OSError as err:
            raise _Abort from err
        for i, (kind, piece) in enumerate(chunks):
            if i >= script.fault_after and not faulted:
                faulted = True
                self._fault(script)
            if i:
                self._wait(script.token_delay)
            message = {"role": "assistant", "content": piece if kind == "content" else ""}
            if kind == "thinking":
                message["thinking"] = piece  # api/types.go Message.Thinking, omitempty
            line = {"model": model, "created_at": _now(), "message": message, "done": False}
            self._chunk(json.dumps(line).encode() + b"\n")
        if not faulted:  # the reply was shorter than fault_after chunks
            self._fault(script)
        final = _final(model, "", "", done_reason, started, prompt_tokens, len(chunks))
        self._chunk(json.dumps(final).encode() + b"\n")
        self._chunk(b"")  # the terminating zero-length chunk

    def _fault(self, script: Script) -> None:
        if script.mode == "stall":
            self._wait(script.stall_seconds)  # then carry on, like an overloaded server catching up
        elif script.mode == "drop":
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            raise _Abort
        elif script.mode == "error_midstream":
            self._chunk(json.dumps({"error": script.error_message}).encode() + b"\n")
            self._chunk(b"")
            raise _Abort


def _text(reply: Reply, body: dict[str, Any]) -> str:
    return reply(body) if callable(reply) else reply


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _final(model: str, content: str, thinking: str, done_reason: str, started: int, prompt_tokens: int,
           eval_count: int) -> dict[str, Any]:
    total = time.perf_counter_ns() - started
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    return {
        "model": model, "created_at": _now(), "message": message,
        "done": True, "done_reason": done_reason, "total_duration": total, "load_duration": total // 10,
        "prompt_eval_count": prompt_tokens, "prompt_eval_duration": total // 5,
        "eval_count": eval_count, "eval_duration": total // 2,
    }


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "name": name, "model": name, "modified_at": "2026-01-15T10:00:00.000000000Z", "size": 2019393189,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                    "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
    }
