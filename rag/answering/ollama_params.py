"""OLLAMA_KEEP_ALIVE and OLLAMA_THINK, parsed the way Ollama itself parses them.

Ollama's `keep_alive` (api/types.go, `Duration.UnmarshalJSON`) takes a JSON
number of seconds or a string for Go's `time.ParseDuration`; a negative value
means "keep loaded forever". The server's own OLLAMA_KEEP_ALIVE
(envconfig/config.go, `KeepAlive`) also takes a bare integer as seconds. A bare
number sent as a *string* ("3600") is refused with HTTP 400 `time: missing unit
in duration "3600"`, so we accept every form Ollama documents and always send a
number of seconds, which every Ollama version takes.

`think` (api/types.go, `ThinkValue`) is a bool or a level.
"""

from __future__ import annotations

import re

# Go's time.ParseDuration units (src/time/format.go, unitMap), in seconds; µ is U+00B5, μ is U+03BC.
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)")

THINK_LEVELS = ("low", "medium", "high", "max")  # api/types.go ThinkValue.IsValid
_FALSE = {"false", "off", "no", "0"}
_TRUE = {"true", "on", "yes", "1"}

ThinkSetting = bool | str


def go_duration_seconds(text: str) -> float:
    """Seconds in a Go duration string ("30m", "1h30m", "-1m", "300ms", "0"); ValueError like Go's."""
    s = text
    sign = -1.0 if s[:1] == "-" else 1.0
    s = s[1:] if s[:1] in "+-" else s
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total, pos = 0.0, 0
    while pos < len(s):
        match = _PART.match(s, pos)
        if match is None:
            number = _NUMBER.match(s, pos)
            if number and number.end() == len(s):
                raise ValueError(f'time: missing unit in duration "{text}"')
            if number:
                unit = re.match(r"[^\d.]*", s[number.end():]).group(0)  # type: ignore[union-attr]
                raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def keep_alive_seconds(value: str | float) -> float:
    """OLLAMA_KEEP_ALIVE as seconds to send: a number is seconds, a string a number or a Go duration.

    Negative means forever (sent as -1); 0 unloads the model after each answer.
    """
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds or a duration like 30m, 1h30m or -1")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        try:
            seconds = float(text) if _NUMBER.fullmatch(text) else go_duration_seconds(text)
        except ValueError as err:
            raise ValueError(f"must be a number of seconds or a duration like 30m, 1h30m or -1 ({err})") from None
    if seconds < 0:
        return -1
    return int(seconds) if seconds.is_integer() else seconds


def parse_think(value: str | bool) -> ThinkSetting:
    """OLLAMA_THINK: false (default), true, or a level: low, medium, high, max."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in _FALSE or not text:
        return False
    if text in _TRUE:
        return True
    if text in THINK_LEVELS:
        return text
    raise ValueError("must be one of false, true, low, medium, high, max")
