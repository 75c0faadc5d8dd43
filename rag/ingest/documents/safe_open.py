"""Open a file under the docs root for reading without ever leaving the root.

The docs share is untrusted: between the scan and the read, a file (or one of its
folders) can be swapped for a symlink to `/etc/passwd` or the bot's `.env`. So
every path component below the root is opened relative to its parent with
`O_NOFOLLOW` (a symlink anywhere fails the open), the file is opened
`O_NONBLOCK` (a FIFO must not block the sync forever), it is checked with `lstat`
before the open (a device is never opened) and with `fstat` after it (the open
file is that same regular file).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class NotInsideRoot(OSError):
    """The path is (or passes through) a symlink or a special file: it is not read."""


def special_kind(mode: int) -> str:
    """'a FIFO', 'a socket', 'a device', … for a file mode that is not a regular file or folder."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def open_inside(root: Path, rel_path: str) -> int:
    """A read-only descriptor of the regular file `root/rel_path`; raises `NotInsideRoot` or `OSError`.

    The root itself may be a symlink (a mounted share often is); nothing below it may be.
    """
    parts = rel_path.split("/")
    if not rel_path or any(p in ("", ".", "..") for p in parts):
        raise NotInsideRoot(errno.EINVAL, f"not a plain relative path: {rel_path!r}")
    dir_fd = os.open(root, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                child = os.open(part, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dir_fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise NotInsideRoot(err.errno, f"folder {part!r} is a symlink or not a folder") from None
                raise
            os.close(dir_fd)
            dir_fd = child
        name = parts[-1]
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISREG(before.st_mode):
            raise NotInsideRoot(errno.EINVAL, f"is {special_kind(before.st_mode)}, not a regular file")
        try:
            fd = os.open(name, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, dir_fd=dir_fd)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.EMLINK):
                raise NotInsideRoot(err.errno, "is a symlink") from None
            raise
    finally:
        os.close(dir_fd)
    after = os.fstat(fd)
    if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise NotInsideRoot(errno.EINVAL, "was replaced while it was being opened")
    return fd


def read_inside(root: Path, rel_path: str, max_bytes: int) -> tuple[bytes, os.stat_result]:
    """The file's bytes (at most `max_bytes` + 1, so the caller can tell it is too big) and its stat."""
    fd = open_inside(root, rel_path)
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if st.st_size > max_bytes:
            return b"", st
        return handle.read(max_bytes + 1), st


def sha256_inside(root: Path, rel_path: str) -> str:
    digest = hashlib.sha256()
    with os.fdopen(open_inside(root, rel_path), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
