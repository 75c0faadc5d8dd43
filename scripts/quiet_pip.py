"""Run one pip step quietly: a line saying what it does, pip's own output only when it fails.

pip and the build backend print warning boxes and notices (setuptools' "Editable installation" box,
ignored index locations) that bury the demo's output; a user needs them only when something breaks.
Set RAGBOT_SETUP_VERBOSE=1 to see pip's output as it runs.

Usage: python scripts/quiet_pip.py "installing ragbot" install -e ".[dev]"
"""

from __future__ import annotations

import os
import subprocess
import sys


def verbose() -> bool:
    return os.environ.get("RAGBOT_SETUP_VERBOSE", "").strip().lower() not in ("", "0", "false", "no")


def run_pip(what: str, args: list[str], env: dict[str, str] | None = None) -> None:
    """Run `python -m pip ARGS` for this interpreter; on failure print pip's output and exit 1."""
    print(f"· {what}", flush=True)
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    if verbose():
        code = subprocess.run(cmd, env=env).returncode
        output = ""
    else:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        code, output = proc.returncode, proc.stdout + proc.stderr
    if code:
        sys.stderr.write(output)
        sys.stderr.write(f"error: {what} failed (pip's output above; RAGBOT_SETUP_VERBOSE=1 shows it live)\n")
        raise SystemExit(1)


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit('usage: quiet_pip.py "WHAT IT DOES" PIP-ARGUMENTS...')
    run_pip(argv[0], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
