"""Sending requests to the bot's HTTP endpoint exactly as Slack does, signed with the signing secret.

Slack signs `v0:{timestamp}:{raw body}` with HMAC-SHA256 and sends it as
`X-Slack-Signature: v0=<hex>` with `X-Slack-Request-Timestamp`; re-deliveries carry
`X-Slack-Retry-Num` / `X-Slack-Retry-Reason`. Events are JSON; slash commands and
interactions are form-encoded (`payload=<json>` for interactions).

`serve_wsgi(app)` runs a WSGI application on 127.0.0.1 with the server production
uses (`bot.http.server.serve_http`), so tests exercise the real server, guard and Bolt app.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import itertools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlparse

_ids = itertools.count(1)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Sent:
    status: int
    body: bytes
    seconds: float  # from sending to the full response (the ack latency Slack sees)

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def text(self) -> str:
        """What the user sees from an ack: Bolt answers plain text, or JSON with a "text" field."""
        try:
            data = json.loads(self.body or b"null")
        except json.JSONDecodeError:
            return self.body.decode()
        return str(data.get("text", "")) if isinstance(data, dict) else self.body.decode()


class SlackSender:
    """Posts signed events, slash commands and interactions to `url` (…/slack/events)."""

    def __init__(
        self,
        url: str,
        signing_secret: str,
        *,
        team_id: str = "T0FAKE",
        api_app_id: str = "A0FAKE",
        bot_user_id: str = "U0BOT",
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.bot_user_id = bot_user_id
        self.timeout = timeout

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Sent:
        ts = int(time.time()) if timestamp is None else timestamp
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": signature or sign(self.signing_secret, ts, body),
            **(headers or {}),
        }
        parsed = urlparse(self.url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=self.timeout)
        started = time.monotonic()
        try:
            conn.request("POST", parsed.path, body=body, headers=all_headers)
            resp = conn.getresponse()
            data = resp.read()
            return Sent(status=resp.status, body=data, seconds=time.monotonic() - started)
        finally:
            conn.close()

    # --- Events API ---------------------------------------------------------------------------------

    def event_body(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        return event_envelope(event, team_id=self.team_id, api_app_id=self.api_app_id, event_id=event_id,
                              bot_user_id=self.bot_user_id)

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        **kwargs: Any,
    ) -> Sent:
        body = json.dumps(self.event_body(event, event_id=event_id)).encode()
        headers = dict(kwargs.pop("headers", None) or {})
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason})
        return self.post(body, "application/json", headers=headers, **kwargs)

    def mention(
        self,
        channel: str,
        ts: str,
        text: str,
        *,
        user: str = "U0ASKER",
        thread_ts: str | None = None,
        event_id: str | None = None,
        **kwargs: Any,
    ) -> Sent:
        event = mention_event(
            channel, ts, text, user=user, thread_ts=thread_ts, team=self.team_id, bot_user_id=self.bot_user_id
        )
        return self.event(event, event_id=event_id, **kwargs)

    # --- slash commands and interactions ------------------------------------------------------------

    def command(
        self,
        command: str,
        text: str = "",
        *,
        user_id: str = "U0ASKER",
        channel_id: str = "C0GENERAL",
        response_url: str,
        **kwargs: Any,
    ) -> Sent:
        body = self.command_body(command, text, user_id=user_id, channel_id=channel_id, response_url=response_url)
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def command_body(
        self, command: str, text: str = "", *, user_id: str = "U0ASKER", channel_id: str = "C0GENERAL",
        response_url: str,
    ) -> bytes:
        """A slash command's form body as Slack posts it; `trigger_id` is new for every invocation."""
        form = {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{next(_ids)}.trigger",
        }
        return urlencode(form).encode()

    def block_action(
        self,
        action: dict[str, Any],
        *,
        user_id: str = "U0ASKER",
        channel_id: str = "C0GENERAL",
        message: dict[str, Any] | None = None,
        response_url: str,
        trigger_id: str | None = None,
        **kwargs: Any,
    ) -> Sent:
        """A button click; `trigger_id` is one the fake Slack issued (`FakeSlack.issue_trigger`) when the
        bot is to open a modal with it."""
        payload = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_id.lower(), "team_id": self.team_id},
            "api_app_id": self.api_app_id,
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": (message or {}).get("ts", ""),
                "channel_id": channel_id,
                "is_ephemeral": message is None,
            },
            "trigger_id": trigger_id or f"{int(time.time())}.{next(_ids)}.0ff1ce",  # spec views.open format
            "team": {"id": self.team_id, "domain": "fake"},
            "channel": {"id": channel_id, "name": "general"},
            "message": message,
            "response_url": response_url,
            "actions": [{"block_id": "b", "action_ts": str(time.time()), "type": "button", **action}],
        }
        if message is None:
            del payload["message"]
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)

    def view_submission(
        self,
        view: dict[str, Any],
        values: dict[str, dict[str, str | None]],
        *,
        user_id: str = "U0ASKER",
        **kwargs: Any,
    ) -> Sent:
        """A modal submitted, as docs.slack.dev/reference/interaction-payloads/view-interactions-payload shows:
        the opened `view` (as views.open returned it) with `state.values[block_id][action_id]` = {type, value},
        each element's type taken from the view's input blocks (an empty plain-text input sends null)."""
        types = {(b.get("block_id"), b["element"].get("action_id")): b["element"].get("type")
                 for b in view.get("blocks") or [] if b.get("type") == "input" and b.get("element")}
        state = {block: {action: {"type": types.get((block, action), "plain_text_input"), "value": value}
                         for action, value in actions.items()} for block, actions in values.items()}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": self.team_id},
            "api_app_id": self.api_app_id,
            "token": "legacy-verification-token",
            "trigger_id": f"{int(time.time())}.{next(_ids)}.0ff1ce",
            "view": {**view, "state": {"values": state}},
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)


def event_envelope(event: dict[str, Any], *, team_id: str, api_app_id: str = "A0FAKE",
                   event_id: str | None = None, bot_user_id: str = "U0BOT") -> dict[str, Any]:
    """An Events API `event_callback` as Slack delivers it (over HTTP or Socket Mode)."""
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_ids):010d}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def mention_event(
    channel: str,
    ts: str,
    text: str,
    *,
    user: str = "U0ASKER",
    thread_ts: str | None = None,
    team: str = "T0FAKE",
    bot_user_id: str = "U0BOT",
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{bot_user_id}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": team,
        "client_msg_id": f"cm-{next(_ids)}",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def dm_event(
    channel: str, ts: str, text: str, *, user: str = "U0ASKER", team: str = "T0FAKE"
) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": team,
        "client_msg_id": f"cm-{next(_ids)}",
    }


@contextmanager
def serve_wsgi(app: Callable[..., Any], **server_options: Any) -> Iterator[str]:
    """Serve `app` with the bot's production HTTP server on 127.0.0.1:<free port>; yields the base URL."""
    from bot.http.server import serve_http

    server = serve_http(app, "127.0.0.1", 0, **server_options)
    server.serve_in_thread()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.stop()
