"""Writing output files: atomically (temp file + rename), all-or-nothing, never a partial file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from steps.common.contract import OUT_WORKLOAD_CR, OUTPUTS_DIR, OUTPUTS_DIR_ENV, WORKLOAD_CR_FILE


def atomic_write(path: str | os.PathLike[str], data: str | bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def outputs_dir() -> Path:
    return Path(os.environ.get(OUTPUTS_DIR_ENV) or OUTPUTS_DIR)


def output_path(name: str) -> Path:
    """Where output parameter `name` is written (the workload CR has its own contract path)."""
    if name == OUT_WORKLOAD_CR:
        return Path(WORKLOAD_CR_FILE)
    return outputs_dir() / name


class Outputs:
    """Collects output parameter values and writes them all at the end, so a failing step writes none."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def set(self, name: str, value: str) -> None:
        self._values[name] = value

    def commit(self) -> dict[str, Path]:
        written: dict[str, Path] = {}
        for name, value in self._values.items():
            path = output_path(name)
            atomic_write(path, value)
            written[name] = path
        return written
