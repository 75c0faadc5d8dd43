"""Slack's published rules for `views.open`, as the fake Slack enforces them.

Sources, cited at each rule:
- "spec views.open": methods/views/views.open.json in github.com/slack-ruby/slack-api-ref (generated from
  Slack's docs): arguments `view` (required, JSON) and `trigger_id`; errors `invalid_trigger_id`
  (expected format "132456.7890123.abcdef"), `expired_trigger_id`, `exchanged_trigger_id`,
  `view_too_large` (over 250 kB) and `invalid_arguments` (its example answer names the bad argument in
  `response_metadata.messages`);
- "modal views": docs.slack.dev/reference/views/modal-views (the modal view object's fields and limits);
- "modals": docs.slack.dev/surfaces/modals: a trigger_id expires 3 seconds after it was sent to the app,
  and can be exchanged once.
"""

from __future__ import annotations

import json
import re
from typing import Any

TRIGGER_TTL_SECONDS = 3.0  # modals: "trigger_id … expires in 3 seconds"
TRIGGER_FORMAT = re.compile(r"^\d+\.\d+\.[0-9a-f]+$")  # spec views.open invalid_trigger_id: "132456.7890123.abcdef"
VIEW_BYTES_LIMIT = 250_000  # spec views.open view_too_large: "greater than 250kb"
TITLE_LIMIT = 24  # modal views: title, "plain_text … max length of 24 characters"
BUTTON_LIMIT = 24  # modal views: submit and close, "Max length of 24 characters"
BLOCKS_LIMIT = 100  # modal views: blocks, "Max of 100 blocks"
CALLBACK_ID_LIMIT = 255  # modal views: callback_id, "Max length of 255 characters"
METADATA_LIMIT = 3000  # modal views: private_metadata, "Max length of 3000 characters"
INPUT_MAX_LENGTH = 3000  # docs.slack.dev plain-text input element: max_length "between 1 and 3000"


def trigger_error(trigger_id: Any, issued: dict[str, float], used: set[str], now: float) -> str | None:
    """The error views.open answers for this trigger, or None when it may be exchanged now."""
    if not isinstance(trigger_id, str) or not TRIGGER_FORMAT.match(trigger_id):
        return "invalid_trigger_id"
    if trigger_id in used:
        return "exchanged_trigger_id"  # spec views.open: "already exchanged in a previous call"
    at = issued.get(trigger_id)
    if at is None or now - at > TRIGGER_TTL_SECONDS:
        return "expired_trigger_id"  # one this fake never sent is as good as an expired one
    return None


def view_error(view: Any) -> tuple[str, str] | None:
    """(error, message) for a modal view Slack would refuse, or None."""
    if not isinstance(view, dict):
        return "invalid_arguments", "invalid `view`: must be a JSON object"  # spec views.open: "JSON-encoded"
    if len(json.dumps(view, ensure_ascii=False).encode()) > VIEW_BYTES_LIMIT:
        return "view_too_large", "view over 250 kB"
    if view.get("type") != "modal":
        return "invalid_arguments", "`type` must be modal"  # modal views: "Set to modal for modals"
    problems = [
        _plain_text(view.get("title"), TITLE_LIMIT, "title", required=True),
        _plain_text(view.get("submit"), BUTTON_LIMIT, "submit"),
        _plain_text(view.get("close"), BUTTON_LIMIT, "close"),
    ]
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > BLOCKS_LIMIT:  # modal views: blocks required, ≤ 100
        problems.append(f"`blocks` must be a list of at most {BLOCKS_LIMIT}")
    elif any(b.get("type") == "input" for b in blocks if isinstance(b, dict)) and not view.get("submit"):
        problems.append("`submit` is required with an input block")  # modal views: submit
    else:
        problems.extend(_input_problem(b) for b in blocks)
    if len(str(view.get("callback_id") or "")) > CALLBACK_ID_LIMIT:
        problems.append(f"`callback_id` over {CALLBACK_ID_LIMIT} characters")
    if len(str(view.get("private_metadata") or "")) > METADATA_LIMIT:
        problems.append(f"`private_metadata` over {METADATA_LIMIT} characters")
    found = [p for p in problems if p]
    return ("invalid_arguments", found[0]) if found else None


def _plain_text(obj: Any, limit: int, name: str, *, required: bool = False) -> str | None:
    if obj is None:
        return f"`{name}` is required" if required else None
    if not isinstance(obj, dict) or obj.get("type") != "plain_text":  # modal views: "a plain_text element"
        return f"`{name}` must be a plain_text object"
    if not str(obj.get("text") or "") or len(str(obj["text"])) > limit:
        return f"`{name}` text must be 1 to {limit} characters"
    return None


def _input_problem(block: Any) -> str | None:
    """Input blocks (docs.slack.dev/reference/block-kit/blocks/input-block): a plain_text label of at most
    2000 characters and an element; a plain_text_input's max_length within 1..3000."""
    if not isinstance(block, dict) or "type" not in block:
        return "invalid block"
    if block["type"] != "input":
        return None
    element = block.get("element") or {}
    if _plain_text(block.get("label"), 2000, "label") or not element.get("type"):
        return "input block needs a plain_text label and an element"
    if element["type"] == "plain_text_input" and "max_length" in element and not (
            1 <= int(element["max_length"]) <= INPUT_MAX_LENGTH):
        return "plain_text_input max_length must be 1 to 3000"
    return None
