"""Reading an OCI image layout, as a directory or as the tar of one (an OCI archive): the build step's hand-off."""

from __future__ import annotations

import tarfile
from pathlib import Path


def read_member(path: Path, name: str) -> bytes | None:
    """The file `name` (`index.json`, `blobs/sha256/<hex>`) of the layout at `path`, a directory (also through a
    link) or an uncompressed tar; None when it has no such file."""
    if path.is_dir():
        member = path / name
        return member.read_bytes() if member.is_file() else None
    with tarfile.open(path, mode="r:") as tar:
        try:
            handle = tar.extractfile(name)
        except KeyError:
            return None
        return handle.read() if handle is not None else None


def total_bytes(path: Path) -> int:
    """The size of a file, or of every file in a layout directory (what a reader of the hand-off reads)."""
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
