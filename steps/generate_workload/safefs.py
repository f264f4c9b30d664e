"""Reading and probing paths the step does not own (the checkout, mounted Secrets, the output location) safely.

A path may name a FIFO (opening it blocks until a writer appears), a device, a socket, a directory, a name too
long for the kernel or a path through a regular file. None of these may hang the step or end in a traceback:
`regular_file_size` decides from `stat` (never opening anything that is not a regular file), and `read_regular`
opens with O_NONBLOCK and checks again with `fstat` on the open descriptor, so a path swapped for a FIFO between
the two calls cannot block either. Sizes are checked before reading, and the read itself is capped.
"""

from __future__ import annotations

import errno
import os
import stat


class NotRegularFile(OSError):
    """The path exists but is not a regular file (FIFO, device, socket, directory)."""


def describe_mode(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def reason(error: OSError) -> str:
    """A lower-case reason for an OSError, e.g. `file name too long`, `not a directory`."""
    if isinstance(error, (NotRegularFile, TooLarge)):
        return str(error.strerror)
    if error.errno:
        return os.strerror(error.errno).lower()
    return str(error).lower() or type(error).__name__


def regular_file_size(path: str | os.PathLike[str]) -> int:
    """The size of a regular file (following symlinks). Raises FileNotFoundError, NotRegularFile or another
    OSError (name too long, a path component that is a file, a symlink loop, permission denied)."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFile(errno.EINVAL, f"is {describe_mode(info.st_mode)}, not a regular file")
    return info.st_size


class TooLarge(OSError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"is {size} bytes, above the limit of {limit} bytes")
        self.size = size
        self.limit = limit


def read_regular(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`. Never blocks on a FIFO, never opens a device."""
    size = regular_file_size(path)
    if size > max_bytes:
        raise TooLarge(size, max_bytes)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # replaced between stat and open
            raise NotRegularFile(errno.EINVAL, f"is {describe_mode(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise TooLarge(info.st_size, max_bytes)
        chunks: list[bytes] = []
        remaining = max_bytes + 1  # a file that grows while read is caught too
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise TooLarge(len(data), max_bytes)
    return data


def lstat_or_none(path: str | os.PathLike[str]) -> os.stat_result | None:
    """`os.lstat`, None when nothing is there. Other errors (name too long, not a directory) propagate."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
