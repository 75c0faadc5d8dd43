"""A fake Slack Web API on 127.0.0.1 for tests and benchmarks.

It speaks what slack_sdk's `WebClient` sends (JSON or form bodies, token in the
`Authorization: Bearer` header or a `token` field) and answers with Slack's real
shapes: HTTP 200 with `{"ok": true, ...}` or `{"ok": false, "error": "..."}`,
HTTP 429 with `Retry-After` when rate limiting. It keeps a small message store
(threads, edits, deletes, streaming state) so tests assert what a person in the
channel would see, and records every call for assertions:

    with FakeSlack() as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        ...
        slack.calls("chat.postMessage")
        slack.thread("C1", "1700000000.000100")  # messages as they now look

`response_url`s handed to slash commands point back here (`slack.response_url()`);
what the bot posts to them is in `slack.responses`.

Slack's published rules it enforces, each where it is implemented, with its source:
- method specs (arguments, errors, limits) from the JSON in github.com/slack-ruby/slack-api-ref
  (`methods/chat/chat.*.json`, generated from Slack's docs), cited below as "spec chat.X";
- rate-limit tiers from docs.slack.dev/apis/web-api/rate-limits (Tier 2: 20+/min, Tier 3: 50+/min,
  Tier 4: 100+/min, per method per workspace per app; chat.postMessage: about 1 per second per
  channel, and a workspace-wide limit of "several hundred" a minute on its own reference page) and
  each method's reference page (chat.startStream/stopStream Tier 2, chat.appendStream Tier 4,
  chat.update/delete Tier 3, chat.postEphemeral/views.open/users.info Tier 4, conversations.replies
  Tier 3). The fake grants the documented minimum and answers HTTP 429, `{"ok": false, "error":
  "ratelimited"}` and `Retry-After` in seconds past it; `rate_window` shrinks the minute for tests;
- `views.open`: trigger ids and modal view limits, in tests/fakes/slack_views.py with their sources;
- streams end at `chat.stopStream` or when Slack expires them (undocumented server-side timeout,
  about 5 minutes in reports: slackapi/python-slack-sdk#1859, whose maintainers' fix is `chat.update`
  on the stream's `ts` once it is no longer streaming).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import math
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes.slack_views import trigger_error, view_error

JSON_FIELDS = ("blocks", "chunks", "metadata", "attachments", "loading_messages", "view")
SECTION_LIMIT = 3000
BLOCK_LIMIT = 50  # spec chat.*: "msg_blocks_too_many: blocks are limited to 50 per message"
MARKDOWN_TEXT_LIMIT = 12_000  # spec chat.startStream/appendStream/stopStream/update: markdown_text ≤ 12,000
TEXT_LIMIT = 40_000  # chat.postMessage docs: text over 40,000 characters is refused (msg_too_long)
STREAM_TTL_SECONDS = 300.0  # python-slack-sdk#1859: streams die after about 5 minutes
# docs.slack.dev/apis/web-api/rate-limits: calls per minute granted by each tier (the documented minimum)
TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
# each method's reference page on docs.slack.dev ("Rate Limits" fact); conversations.replies is Tier 3 for
# internal (customer-built) apps, which this bot is. assistant.threads.setStatus is left unlimited: no tier is
# published for it that this fake could cite.
METHOD_TIER = {
    "chat.startStream": 2,
    "chat.stopStream": 2,
    "chat.appendStream": 4,
    "chat.update": 3,
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "views.open": 4,
    "users.info": 4,
    "conversations.replies": 3,
}
POST_MESSAGE_PER_CHANNEL_PER_MINUTE = 60  # rate-limits page: chat.postMessage ~1/s per channel, bursts allowed
# chat.postMessage's reference page: beyond one a second per channel, "limits governing your app's relationship
# with the entire workspace", "several hundred messages per minute": the fake grants 300, the low end of that
POST_MESSAGE_PER_WORKSPACE_PER_MINUTE = 300


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float  # time.monotonic() when received
    content_type: str
    response: dict[str, Any] | None = None
    status: int = 200  # HTTP status answered (429 when rate limited, 5xx when scripted)


@dataclass
class Message:
    channel: str
    ts: str
    text: str = ""
    blocks: list[dict] = field(default_factory=list)
    thread_ts: str | None = None
    user: str | None = None
    bot_id: str | None = None
    streaming: bool = False
    stream_started: float = 0.0  # time.monotonic() of chat.startStream
    deleted: bool = False
    edits: int = 0
    appends: int = 0
    metadata: dict[str, Any] | None = None

    def as_api(self, *, include_metadata: bool = False) -> dict[str, Any]:
        data = self._api()
        # conversations.replies returns a message's metadata only when asked with include_all_metadata
        # (slack-go/slack#1139, quoting api.slack.com/methods/conversations.replies#arg_include_all_metadata)
        if include_metadata and self.metadata:
            data["metadata"] = self.metadata
        return data

    def _api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        if self.user:
            data["user"] = self.user
        if self.bot_id:
            data["bot_id"] = self.bot_id
        if self.blocks:
            data["blocks"] = self.blocks
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        return data


@dataclass
class ResponseUrlPost:
    key: str
    body: dict[str, Any]
    at: float


class FakeSlack:
    def __init__(
        self,
        *,
        bot_token: str = "xoxb-fake-bot-token-000",
        app_token: str = "xapp-1-A0FAKE-fake-app-token",
        team_id: str = "T0FAKE",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        streaming: str = "ok",  # "ok", or the error to answer chat.startStream with ("not_allowed", ...)
        set_status: str = "ok",  # "ok", or the error for assistant.threads.setStatus
        expire_stream_after: int | None = None,  # appends accepted before a stream "expires"
        stream_ttl: float = STREAM_TTL_SECONDS,  # seconds after chat.startStream that Slack expires a stream
        rate_window: float = 60.0,  # the tiers' "per minute", shrinkable for tests
        tier_limits: dict[str, int] | None = None,  # per-method calls per window, overriding the tiers
        latency: float = 0.0,  # seconds added to every Web API call
        port: int = 0,  # 0: a free one; a fixed port lets a test start Slack "again" where a bot waits for it
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.socket_mode: FakeSocketMode | None = None  # created on the first apps.connections.open
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.streaming = streaming
        self.set_status = set_status
        self.expire_stream_after = expire_stream_after
        self.stream_ttl = stream_ttl
        self.rate_window = rate_window
        self.tier_limits = {m: TIER_PER_MINUTE[t] for m, t in METHOD_TIER.items()} | (tier_limits or {})
        self.latency = latency
        self.port = port
        self.users: dict[str, dict[str, Any]] = {}
        self.responses: list[ResponseUrlPost] = []
        self.views: list[dict[str, Any]] = []  # modals opened with views.open, as Slack returned them
        self._triggers: dict[str, float] = {}  # trigger_id -> time.monotonic() it was sent to the app
        self._triggers_used: set[str] = set()
        self._calls: list[Call] = []
        self._messages: dict[tuple[str, str], Message] = {}
        self._rate_limits: dict[str, list[int]] = {}
        self._failures: dict[str, list[tuple[str, int]]] = {}
        self._drops: dict[str, list[bool]] = {}
        self._recent: dict[str, list[float]] = {}  # accepted calls per rate-limit key, for the tiers
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._ts = itertools.count(1)
        self._ts_base = int(time.time())
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> FakeSlack:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.socket_mode is not None:
            self.socket_mode.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "use FakeSlack as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """For `WebClient(base_url=...)` / SLACK_API_URL."""
        return self.base_url + "/api/"

    def response_url(self, key: str | None = None) -> str:
        return f"{self.base_url}/response/{key or next(self._ts)}"

    # --- scripting ------------------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 0) -> None:
        """The next `times` calls of `method` get HTTP 429 with `Retry-After: retry_after`."""
        with self._lock:
            self._rate_limits.setdefault(method, []).extend([retry_after] * times)

    def fail_next(self, method: str, error: str, times: int = 1, *, status: int = 200) -> None:
        """The next `times` calls of `method` answer `{"ok": false, "error": error}` with HTTP `status`."""
        with self._lock:
            self._failures.setdefault(method, []).extend([(error, status)] * times)

    def drop_next(self, method: str, times: int = 1, *, processed: bool = False) -> None:
        """The next `times` calls of `method` lose their connection before the answer arrives.

        With `processed=True` Slack did the work first (the caller cannot tell which happened).
        """
        with self._lock:
            self._drops.setdefault(method, []).extend([processed] * times)

    def issue_trigger(self, *, age: float = 0.0) -> str:
        """A trigger_id as Slack puts in an interaction payload, sent `age` seconds ago (views.open checks it)."""
        with self._lock:
            trigger = f"{self._ts_base}.{next(self._ts)}.{hashlib.sha1(str(time.time()).encode()).hexdigest()[:12]}"
            self._triggers[trigger] = time.monotonic() - age
            return trigger

    def streaming_messages(self) -> list[Message]:
        """Messages still in the streaming state now (expired streams are not)."""
        with self._lock:
            now = time.monotonic()
            return [m for m in self._messages.values() if not m.deleted and self._is_streaming(m, now)]

    def add_user(
        self, user_id: str, *, is_admin: bool = False, is_owner: bool = False, name: str = ""
    ) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name or user_id.lower(),
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": False,
            "is_bot": False,
            "deleted": False,
        }

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str | None = None,
        thread_ts: str | None = None,
        bot: bool = False,
        blocks: list[dict] | None = None,
    ) -> str:
        """Seed a message (e.g. earlier thread history) as if someone had posted it; returns its ts."""
        with self._lock:
            ts = self._new_ts()
            self._messages[(channel, ts)] = Message(
                channel=channel,
                ts=ts,
                text=text,
                blocks=blocks or [],
                thread_ts=thread_ts,
                user=self.bot_user_id if bot else (user or "U0HUMAN"),
                bot_id=self.bot_id if bot else None,
            )
            return ts

    def new_ts(self) -> str:
        with self._lock:
            return self._new_ts()

    def _new_ts(self) -> str:
        return f"{self._ts_base}.{next(self._ts):06d}"

    # --- inspection -----------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def thread(self, channel: str, thread_ts: str, *, include_parent: bool = False) -> list[Message]:
        """The thread's messages as they now look (deleted ones gone), oldest first."""
        with self._lock:
            msgs = [
                m
                for m in self._messages.values()
                if m.channel == channel
                and not m.deleted
                and (m.thread_ts == thread_ts or (include_parent and m.ts == thread_ts))
            ]
        return sorted(msgs, key=lambda m: float(m.ts))

    def bot_messages(self, channel: str | None = None) -> list[Message]:
        with self._lock:
            msgs = [
                m
                for m in self._messages.values()
                if m.bot_id == self.bot_id and not m.deleted and (channel is None or m.channel == channel)
            ]
        return sorted(msgs, key=lambda m: float(m.ts))

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Block until `predicate()` is truthy (re-checked on every call received); return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"condition not met within {timeout} s; calls: {[c.method for c in self.calls()]}"
                )
            with self._changed:
                self._changed.wait(min(remaining, 0.05))

    # --- the API --------------------------------------------------------------------------------

    def _dispatch(
        self, method: str, args: dict[str, Any], token: str | None, content_type: str
    ) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        """Returns (HTTP status, headers, body); body None means: drop the connection unanswered."""
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            call = Call(method=method, args=args, token=token, at=time.monotonic(), content_type=content_type)
            self._calls.append(call)
            try:
                return self._answer(call)
            finally:
                self._changed.notify_all()

    def _answer(self, call: Call) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        method, args = call.method, call.args
        limits = self._rate_limits.get(method)
        if limits:
            retry_after = limits.pop(0)
            call.response, call.status = {"ok": False, "error": "ratelimited"}, 429
            return 429, {"Retry-After": str(retry_after)}, call.response
        if (wait := self._over_tier(method, args, call.at)) is not None:
            # rate-limits page: HTTP 429, `"error": "ratelimited"` and Retry-After in seconds
            call.response, call.status = {"ok": False, "error": "ratelimited"}, 429
            return 429, {"Retry-After": str(wait)}, call.response
        drops = self._drops.get(method)
        if drops:
            processed = drops.pop(0)
            if processed:
                self._run(method, args, call.token)
            call.status = 0
            return 0, {}, None
        failures = self._failures.get(method)
        if failures:
            error, status = failures.pop(0)
            call.response, call.status = {"ok": False, "error": error}, status
            return status, {}, call.response
        result = self._run(method, args, call.token)
        call.response = result
        return 200, {}, result

    def _run(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token != expected:
            return {"ok": False, "error": "invalid_auth"}
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        return handler(args) if handler else {"ok": False, "error": "unknown_method"}

    def _over_tier(self, method: str, args: dict[str, Any], now: float) -> int | None:
        """Seconds to wait (Retry-After) when this call is over its tier's budget; else count it."""
        if method in self.tier_limits:
            budgets = {method: self.tier_limits[method]}
        elif method == "chat.postMessage":
            scale = self.rate_window / 60
            budgets = {f"{method}:{args.get('channel')}": max(1, round(POST_MESSAGE_PER_CHANNEL_PER_MINUTE * scale)),
                       method: max(1, round(POST_MESSAGE_PER_WORKSPACE_PER_MINUTE * scale))}
        else:
            return None
        waits = []
        for key, budget in budgets.items():
            recent = [t for t in self._recent.get(key, []) if now - t < self.rate_window]
            self._recent[key] = recent
            if len(recent) >= budget:
                waits.append(max(1, math.ceil(self.rate_window - (now - recent[0]))))
        if waits:
            return max(waits)
        for key in budgets:  # counted only when accepted
            self._recent[key].append(now)
        return None

    def _record_response_url(self, key: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.responses.append(ResponseUrlPost(key=key, body=body, at=time.monotonic()))
            self._changed.notify_all()

    # Each _api_* runs under the lock and returns Slack's response body.

    def _api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "ragbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _check_blocks(self, args: dict[str, Any]) -> str | None:
        blocks = args.get("blocks")
        if blocks is None:
            return None
        if not isinstance(blocks, list):
            return "invalid_blocks"
        if len(blocks) > BLOCK_LIMIT:
            return "msg_blocks_too_many"
        for block in blocks:
            if not isinstance(block, dict) or "type" not in block:
                return "invalid_blocks"
            text = block.get("text")
            if isinstance(text, dict) and len(text.get("text", "")) > SECTION_LIMIT:
                return "invalid_blocks"
            elements = block.get("elements") or []
            if block.get("type") == "context" and len(elements) > 10:
                return "invalid_blocks"
            for el in elements:
                if el.get("type") == "button" and len(str(el.get("value", ""))) > 2000:
                    return "invalid_blocks"
        return None

    def _text_error(self, args: dict[str, Any]) -> str | None:
        """The text arguments' rules shared by chat.postMessage and chat.update."""
        markdown = args.get("markdown_text")
        if markdown is not None and (args.get("text") or args.get("blocks")):
            # spec chat.postMessage/update: "markdown_text … should not be used in conjunction with blocks or text"
            return "markdown_text_conflict"
        if markdown is not None and len(str(markdown)) > MARKDOWN_TEXT_LIMIT:
            return "msg_too_long"
        if len(str(args.get("text") or "")) > TEXT_LIMIT:
            return "msg_too_long"
        return self._check_blocks(args)

    def _apply_metadata(self, msg: Message, args: dict[str, Any]) -> str | None:
        """Set the message's metadata from `args` (when given); the error Slack gives for a bad one."""
        metadata, err = self._metadata(args)
        if err is None and metadata is not None:
            msg.metadata = metadata
        return err

    @staticmethod
    def _metadata(args: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """The `metadata` argument of chat.postMessage/update/stopStream, or the error Slack gives.

        Spec chat.*: "JSON object with event_type and event_payload fields"; errors
        `invalid_metadata_format` (not a JSON object) and `invalid_metadata_schema`
        (docs.slack.dev/messaging/message-metadata: event_type a string, event_payload an object).
        """
        meta = args.get("metadata")
        if meta is None:
            return None, None
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except ValueError:
                return None, "invalid_metadata_format"
        if not isinstance(meta, dict):
            return None, "invalid_metadata_format"
        if not isinstance(meta.get("event_type"), str) or not isinstance(meta.get("event_payload"), dict):
            return None, "invalid_metadata_schema"
        return meta, None

    def _api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks") and not args.get("markdown_text"):
            return {"ok": False, "error": "no_text"}
        if error := self._text_error(args):
            return {"ok": False, "error": error}
        metadata, error = self._metadata(args)
        if error:
            return {"ok": False, "error": error}
        ts = self._new_ts()
        msg = Message(
            metadata=metadata,
            channel=channel,
            ts=ts,
            text=str(args.get("text") or args.get("markdown_text") or ""),
            blocks=args.get("blocks") or [],
            thread_ts=args.get("thread_ts"),
            user=self.bot_user_id,
            bot_id=self.bot_id,
        )
        self._messages[(channel, ts)] = msg
        return {"ok": True, "channel": channel, "ts": ts, "message": msg.as_api()}

    def _api_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("user"):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "message_ts": self._new_ts()}

    def _own_message(self, args: dict[str, Any]) -> tuple[Message | None, dict[str, Any] | None]:
        msg = self._messages.get((str(args.get("channel")), str(args.get("ts"))))
        if msg is None or msg.deleted:
            return None, {"ok": False, "error": "message_not_found"}
        if msg.bot_id != self.bot_id:
            return None, {"ok": False, "error": "cant_update_message"}
        return msg, None

    def _is_streaming(self, msg: Message, now: float) -> bool:
        """Still streaming: not stopped, and not yet expired by Slack's server-side timeout."""
        if msg.streaming and now - msg.stream_started >= self.stream_ttl:
            msg.streaming = False  # python-slack-sdk#1859: the stream dies, the message stays as it was
        return msg.streaming

    def _api_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        msg, error = self._own_message(args)
        if msg is None:
            return error or {}
        if self._is_streaming(msg, time.monotonic()):
            # spec chat.update: "streaming_state_conflict: The message is currently streaming text and
            # cannot be edited."
            return {"ok": False, "error": "streaming_state_conflict"}
        if "text" not in args and "blocks" not in args and "markdown_text" not in args:
            return {"ok": False, "error": "no_text"}
        if err := self._text_error(args):
            return {"ok": False, "error": err}
        if err := self._apply_metadata(msg, args):
            return {"ok": False, "error": err}
        if "text" in args or "markdown_text" in args:
            msg.text = str(args.get("text") or args.get("markdown_text") or "")
        if "blocks" in args:
            msg.blocks = args["blocks"] or []
        msg.edits += 1
        return {"ok": True, "channel": msg.channel, "ts": msg.ts, "text": msg.text}

    def _api_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        # spec chat.delete lists no streaming-state error: a bot may delete its own message at any time
        msg, error = self._own_message(args)
        if msg is None:
            return error or {}
        msg.deleted = True
        msg.streaming = False
        return {"ok": True, "channel": msg.channel, "ts": msg.ts}

    def _api_assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.set_status != "ok":
            return {"ok": False, "error": self.set_status}
        if not args.get("channel_id") or not args.get("thread_ts") or "status" not in args:
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True}

    @staticmethod
    def _chunk_text(args: dict[str, Any]) -> str | None:
        """The markdown a streaming call carries (`markdown_text` and markdown_text chunks); None if invalid."""
        text = str(args.get("markdown_text") or "")
        chunks = args.get("chunks") or []
        if not isinstance(chunks, list):
            return None
        for chunk in chunks:
            if not isinstance(chunk, dict) or "type" not in chunk:
                return None  # spec chat.*Stream: "invalid_chunks"
            if chunk.get("type") == "markdown_text":
                text += str(chunk.get("text") or "")
        return text

    def _stream_message(self, args: dict[str, Any]) -> tuple[Message | None, dict[str, Any] | None]:
        """The streaming message named by channel + ts, or the error spec chat.appendStream/stopStream give."""
        if not args.get("channel") or not args.get("ts"):
            return None, {"ok": False, "error": "invalid_arguments"}  # both are required arguments
        msg = self._messages.get((str(args.get("channel")), str(args.get("ts"))))
        if msg is None or msg.deleted:
            return None, {"ok": False, "error": "message_not_found"}
        if msg.bot_id != self.bot_id:
            return None, {"ok": False, "error": "message_not_owned_by_app"}
        if not self._is_streaming(msg, time.monotonic()):
            # spec: "message_not_in_streaming_state" once stopped, or expired by Slack
            return None, {"ok": False, "error": "message_not_in_streaming_state"}
        return msg, None

    def _api_chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.streaming != "ok":
            return {"ok": False, "error": self.streaming}
        channel, thread_ts = args.get("channel"), args.get("thread_ts")
        if not channel or not thread_ts:
            return {"ok": False, "error": "invalid_arguments"}
        # spec chat.startStream: recipient_user_id / recipient_team_id "Required when streaming to channels"
        if not str(channel).startswith("D"):
            if not args.get("recipient_user_id"):
                return {"ok": False, "error": "missing_recipient_user_id"}
            if not args.get("recipient_team_id"):
                return {"ok": False, "error": "missing_recipient_team_id"}
        text = self._chunk_text(args)
        if text is None:
            return {"ok": False, "error": "invalid_chunks"}
        if len(text) > MARKDOWN_TEXT_LIMIT:
            return {"ok": False, "error": "msg_too_long"}
        ts = self._new_ts()
        self._messages[(channel, ts)] = Message(
            channel=channel,
            ts=ts,
            text=text,
            thread_ts=thread_ts,
            user=self.bot_user_id,
            bot_id=self.bot_id,
            streaming=True,
            stream_started=time.monotonic(),
        )
        return {"ok": True, "channel": channel, "ts": ts}

    def _api_chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        msg, error = self._stream_message(args)
        if msg is None:
            return error or {}
        if self.expire_stream_after is not None and msg.appends >= self.expire_stream_after:
            msg.streaming = False  # scripted early expiry
            return {"ok": False, "error": "message_not_in_streaming_state"}
        text = self._chunk_text(args)
        if text is None:
            return {"ok": False, "error": "invalid_chunks"}
        if not text:
            return {"ok": False, "error": "no_text"}  # spec chat.appendStream: markdown_text is required
        if len(text) > MARKDOWN_TEXT_LIMIT:
            return {"ok": False, "error": "msg_too_long"}
        msg.text += text
        msg.appends += 1
        return {"ok": True, "channel": msg.channel, "ts": msg.ts}

    def _api_chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        msg, error = self._stream_message(args)
        if msg is None:
            return error or {}
        text = self._chunk_text(args)
        if text is None:
            return {"ok": False, "error": "invalid_chunks"}
        if len(text) > MARKDOWN_TEXT_LIMIT:
            return {"ok": False, "error": "msg_too_long"}
        blocks = args.get("blocks")
        # spec chat.stopStream: blocks "will be rendered at the bottom of the finalized message",
        # at most 50 of them (msg_blocks_too_many)
        if err := self._check_blocks(args):
            return {"ok": False, "error": err}
        if err := self._apply_metadata(msg, args):
            return {"ok": False, "error": err}
        msg.text += text
        if blocks:
            msg.blocks = blocks
        msg.streaming = False
        return {"ok": True, "channel": msg.channel, "ts": msg.ts, "message": msg.as_api()}

    def _api_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if view is None or not args.get("trigger_id"):  # spec views.open: `view` required; we exchange triggers
            missing = "view" if view is None else "trigger_id"
            return {"ok": False, "error": "invalid_arguments",
                    "response_metadata": {"messages": [f"missing `{missing}`"]}}
        if bad := view_error(view):
            return {"ok": False, "error": bad[0], "response_metadata": {"messages": [bad[1]]}}
        trigger = args["trigger_id"]
        if error := trigger_error(trigger, self._triggers, self._triggers_used, time.monotonic()):
            return {"ok": False, "error": error}
        self._triggers_used.add(trigger)
        opened = {**view, "id": f"V{next(self._ts):08d}", "team_id": self.team_id, "state": {"values": {}},
                  "hash": f"{time.time():.0f}.{next(self._ts)}", "root_view_id": None, "bot_id": self.bot_id,
                  "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", "")}
        opened["root_view_id"] = opened["id"]
        self.views.append(opened)
        return {"ok": True, "view": opened}

    def _api_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode is None:
            self.socket_mode = FakeSocketMode(on_change=self._notify)
        return {"ok": True, "url": self.socket_mode.url}

    def _notify(self) -> None:
        with self._lock:
            self._changed.notify_all()

    def _api_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _api_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel")), str(args.get("ts"))
        parent = self._messages.get((channel, ts))
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        replies = [
            m
            for m in self._messages.values()
            if m.channel == channel and m.thread_ts == ts and m.ts != ts and not m.deleted
        ]
        msgs = [parent] + sorted(replies, key=lambda m: float(m.ts))
        limit = int(args.get("limit") or 1000)
        start = int(args.get("cursor") or 0)
        page = msgs[start : start + limit]
        more = start + limit < len(msgs)
        return {
            "ok": True,
            "messages": [m.as_api(include_metadata=_truthy(args.get("include_all_metadata"))) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }


def _truthy(value: Any) -> bool:
    """A boolean argument as slack_sdk sends it in a query string ("1"/"true") or JSON (true)."""
    return value is True or str(value).lower() in ("1", "true")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers: dict[str, str], content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._handle(b"")

    def do_POST(self) -> None:  # noqa: N802
        self._handle(self._body())

    def _handle(self, raw: bytes) -> None:
        url = urlparse(self.path)
        content_type = self.headers.get("Content-Type") or ""
        if url.path.startswith("/response/"):
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send(400, b"invalid_payload", {}, "text/plain")
                return
            self.fake._record_response_url(url.path.rsplit("/", 1)[-1], body)
            self._send(200, b"ok", {}, "text/plain")
            return
        if not url.path.startswith("/api/"):
            self._send(404, b"Not Found", {}, "text/plain")
            return
        method = url.path[len("/api/") :]
        args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if raw:
            if content_type.startswith("application/json"):
                args.update(json.loads(raw))
            else:
                args.update(
                    {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
                )
        for name in JSON_FIELDS:
            if isinstance(args.get(name), str) and args[name]:
                with contextlib.suppress(json.JSONDecodeError):  # Slack would answer invalid_blocks
                    args[name] = json.loads(args[name])
        token = None
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            token = auth[len("Bearer ") :]
        token = args.pop("token", None) or token
        status, headers, result = self.fake._dispatch(method, args, token, content_type)
        if result is None:  # scripted connection loss: no answer at all
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(status, json.dumps(result).encode(), headers, "application/json; charset=utf-8")


class FakeSocketMode:
    """Slack's Socket Mode websocket (plain ws:// on 127.0.0.1), enough for slack_sdk's built-in client.

    Sends `hello` on connect, answers pings, delivers envelopes with `send()` and
    records the client's acknowledgements (with any response payload) in `acks`.
    """

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._on_change = on_change or (lambda: None)
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.acks: dict[str, dict[str, Any]] = {}
        self.connections = 0
        self._ids = itertools.count(1)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link/?ticket=fake"

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.close()
        self._listener.close()

    def send(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0, retry_reason: str = "",
             accepts_response_payload: bool | None = None) -> str:
        """Deliver an envelope ("events_api", "slash_commands", "interactive") to the connected client."""
        envelope_id = f"env-{next(self._ids)}"
        message = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                   "accepts_response_payload": kind != "events_api" if accepts_response_payload is None
                   else accepts_response_payload,
                   "retry_attempt": retry_attempt, "retry_reason": retry_reason}
        with self._lock:
            conn = self._conns[-1]
            conn.sendall(self._frame(json.dumps(message).encode(), 0x1))
        return envelope_id

    @staticmethod
    def _frame(data: bytes, opcode: int) -> bytes:
        head = bytes([0x80 | opcode])
        if len(data) < 126:
            head += bytes([len(data)])
        elif len(data) < 65536:
            head += bytes([126]) + struct.pack("!H", len(data))
        else:
            head += bytes([127]) + struct.pack("!Q", len(data))
        return head + data

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            key = ""
            while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode().partition(":")
                if name.strip().lower() == "sec-websocket-key":
                    key = value.strip()
            accept = base64.b64encode(hashlib.sha1((key + self.GUID).encode()).digest()).decode()
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
            hello = {"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"},
                     "connection_info": {"app_id": "A0FAKE"}}
            with self._lock:
                self._conns.append(conn)
                self.connections += 1
                conn.sendall(self._frame(json.dumps(hello).encode(), 0x1))
            self._on_change()
            while not self._closed.is_set():
                head = reader.read(2)
                if len(head) < 2:
                    return
                opcode, length = head[0] & 0x0F, head[1] & 0x7F
                if length == 126:
                    length = struct.unpack("!H", reader.read(2))[0]
                elif length == 127:
                    length = struct.unpack("!Q", reader.read(8))[0]
                mask = reader.read(4) if head[1] & 0x80 else b"\0\0\0\0"
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(reader.read(length)))
                if opcode == 0x9:  # ping → pong
                    with self._lock:
                        conn.sendall(self._frame(data, 0xA))
                elif opcode == 0x8:
                    return
                elif opcode == 0x1:
                    message = json.loads(data)
                    if "envelope_id" in message:
                        self.acks[message["envelope_id"]] = message.get("payload") or {}
                        self._on_change()
        except OSError:
            return
        finally:
            with self._lock:
                if conn in self._conns:
                    self._conns.remove(conn)
            with contextlib.suppress(OSError):
                conn.close()
