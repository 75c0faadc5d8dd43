"""Leave the process without the interpreter's teardown once a command that loaded torch is done.

Tearing down torch, the model and onnxruntime costs 1.0–1.3 s after the answer is already on
screen. Skipping it with `os._exit` is safe only because of when it happens: the command has
returned, so every index write was committed (a LanceDB commit is durable when the call
returns, SQLite transactions are committed in `rag.index.state`), sync locks were released in
`finally` blocks (and the OS drops flocks of a dead process anyway), and the Click context is
closed. What is left is buffered output and log handlers, flushed here first. A process with
other live non-daemon threads (work in flight) takes the normal exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

_HEAVY = ("torch", "onnxruntime")  # native libraries whose teardown is the slow part
_IDLE_POOLS = ("fts-search",)  # executor threads that only wait for work once a command has returned


def _status(code: object) -> int:
    """SystemExit.code as the process status, the way Python itself maps it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _nothing_in_flight() -> bool:
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon or not thread.is_alive():
            continue
        if not thread.name.startswith(_IDLE_POOLS):
            return False
    return True


def run_then_exit(run: Callable[[], object]) -> NoReturn:
    """Run the CLI; exit at once when it loaded a heavy native library, else the ordinary way."""
    try:
        run()
        code: object = 0
    except SystemExit as exit:
        code = exit.code
    if not any(name in sys.modules for name in _HEAVY) or not _nothing_in_flight():
        sys.exit(code)
    status = _status(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`ragbot ask … | head`): nothing to deliver
            stream.flush()
    os._exit(status)
