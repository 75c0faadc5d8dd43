"""The `ragbot` command line (ragbot/cli.py)."""

import sys

# httpx imports its own command-line client (click, rich, pygments: 0.1-0.25 s of a cold `ragbot ask`, issue 21)
# whenever those happen to be installed, and no ragbot command runs it; httpx's __init__ falls back to a stub
# `main` when that import fails, which None in sys.modules makes it do. (The `httpx` command is its own process.)
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
