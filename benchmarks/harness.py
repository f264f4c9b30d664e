"""Measurements, statistics, the result table and the JSON document, plus the run context and timers."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JSONValue = Any


class Skip(Exception):
    """A benchmark (or one of its parts) cannot run here: its prerequisites are missing."""


class BenchError(Exception):
    """A measured command failed: the benchmark's result would be meaningless."""


@dataclass
class Measurement:
    """One table row: `samples` are seconds (unit "s") or sizes (unit "MiB"); empty when skipped or failed."""

    name: str
    samples: list[float] = field(default_factory=list)
    unit: str = "s"
    ratio: float | None = None
    ratio_label: str = ""  # what the ratio is, e.g. "ours/theirs" or "x cold"
    notes: str = ""
    status: str = "ok"  # ok | skipped | failed
    extra: dict[str, JSONValue] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def minimum(self) -> float | None:
        return min(self.samples) if self.samples else None

    @property
    def maximum(self) -> float | None:
        return max(self.samples) if self.samples else None

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "name": self.name,
            "status": self.status,
            "unit": self.unit,
            "runs": self.runs,
            "median": self.median,
            "min": self.minimum,
            "max": self.maximum,
            "samples": [round(sample, 4) for sample in self.samples],
            "ratio": None if self.ratio is None else round(self.ratio, 4),
            "ratio_label": self.ratio_label,
            "notes": self.notes,
            "extra": self.extra,
        }


def measurement_from_json(data: Mapping[str, JSONValue]) -> Measurement:
    """The inverse of `Measurement.to_json` (for re-printing a saved run's table)."""
    return Measurement(
        name=str(data["name"]),
        samples=[float(sample) for sample in data.get("samples", [])],
        unit=str(data.get("unit", "s")),
        ratio=None if data.get("ratio") is None else float(data["ratio"]),
        ratio_label=str(data.get("ratio_label", "")),
        notes=str(data.get("notes", "")),
        status=str(data.get("status", "ok")),
        extra=dict(data.get("extra") or {}),
    )


def skipped(name: str, reason: str) -> Measurement:
    return Measurement(name, status="skipped", notes=f"skipped: {reason}")


def failed(name: str, reason: str) -> Measurement:
    return Measurement(name, status="failed", notes=f"FAILED: {reason}")


def ratio(numerator: Measurement | float | None, denominator: Measurement | float | None) -> float | None:
    """median(a) / median(b), None when either is missing or the denominator is zero."""
    a = numerator.median if isinstance(numerator, Measurement) else numerator
    b = denominator.median if isinstance(denominator, Measurement) else denominator
    if a is None or b is None or b == 0:
        return None
    return a / b


def median_of(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# --- table ------------------------------------------------------------------------------------------------------


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.2f} s"
    if unit in ("MB", "MiB"):
        return f"{value:.1f} {unit}"
    if unit == "%":
        return f"{value:.1f} %"
    return f"{value:.3g} {unit}"


def format_ratio(measurement: Measurement) -> str:
    if measurement.ratio is None:
        return ""
    label = f" {measurement.ratio_label}" if measurement.ratio_label else ""
    return f"{measurement.ratio:.2f}{label}"


TABLE_COLUMNS = ("name", "runs", "median", "min", "max", "ratio", "notes")


def table_rows(measurements: Sequence[Measurement]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for m in measurements:
        if m.status != "ok":
            rows.append((m.name, "0", "-", "-", "-", "", m.notes))
            continue
        rows.append(
            (
                m.name,
                str(m.runs),
                format_value(m.median, m.unit),
                format_value(m.minimum, m.unit),
                format_value(m.maximum, m.unit),
                format_ratio(m),
                m.notes,
            )
        )
    return rows


def render_table(measurements: Sequence[Measurement], *, markdown: bool = False) -> str:
    """A plain-text (aligned) or Markdown table, one row per measurement."""
    rows = table_rows(measurements)
    if markdown:
        lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|"]
        for row in rows:
            cells = [cell.replace("|", "\\|") for cell in row]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)
    widths = [len(column) for column in TABLE_COLUMNS[:-1]]
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            widths[index] = max(widths[index], len(cell))
    right = {1, 2, 3, 4}

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[index]) if index in right else cell.ljust(widths[index])
            for index, cell in enumerate(cells[:-1])
        ]
        return "  ".join([*parts, cells[-1]]).rstrip()

    out = [line(TABLE_COLUMNS), line(["-" * width for width in widths] + ["-----"])]
    out.extend(line(row) for row in rows)
    return "\n".join(out)


# --- machine ----------------------------------------------------------------------------------------------------


def _version(argv: Sequence[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({type(error).__name__})"
    text = (result.stdout or result.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


def machine_info() -> dict[str, JSONValue]:
    memory_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except OSError:
        pass
    os_name = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.partition("=")[2].strip('"')
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "memory_gib": round(memory_kib / (1024 * 1024), 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker_server": _version(["docker", "version", "--format", "{{.Server.Version}}"]),
        "buildah": _version(["buildah", "--version"]),
        "podman": _version(["podman", "--version"]),
        "skopeo": _version(["skopeo", "--version"]),
        "docker_registry": _version(["docker-registry", "--version"]),
    }


def describe_machine(info: Mapping[str, JSONValue]) -> str:
    return (
        f"{info.get('cpus')} cores, {info.get('memory_gib')} GiB, {info.get('os')} (kernel {info.get('kernel')}), "
        f"docker {info.get('docker_server')}, {info.get('buildah')}, {info.get('podman')}, {info.get('skopeo')}, "
        f"Python {info.get('python')}; load average at start {info.get('load_average')}"
        + (f"; scratch {info['scratch']}" if info.get("scratch") else "")
    )


# --- run context ------------------------------------------------------------------------------------------------


@dataclass
class Context:
    """What every benchmark gets: run counts, a scratch directory, shared resources and a progress log."""

    quick: bool
    runs: int
    workdir: Path
    stack: ExitStack
    resources: dict[str, object] = field(default_factory=dict)
    progress: Callable[[str], None] = lambda message: print(message, file=sys.stderr, flush=True)

    def log(self, message: str) -> None:
        self.progress(f"[bench] {message}")

    def scratch(self, name: str) -> Path:
        """A fresh directory under the run's scratch area."""
        path = self.workdir / name
        index = 1
        while path.exists():
            index += 1
            path = self.workdir / f"{name}-{index}"
        path.mkdir(parents=True)
        return path

    def shared(self, key: str, factory: Callable[[], object]) -> object:
        """A resource created once per run (e.g. the registry) and released when the run ends."""
        if key not in self.resources:
            self.resources[key] = factory()
        return self.resources[key]


# --- timing -----------------------------------------------------------------------------------------------------


@dataclass
class Timed:
    """A finished command: wall time, exit code, and its output lines with arrival times (s since start)."""

    seconds: float
    returncode: int
    lines: list[tuple[float, str]]

    @property
    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def first(self, needle: str) -> float | None:
        """Arrival time of the first line containing `needle`."""
        for at, line in self.lines:
            if needle in line:
                return at
        return None

    def count(self, needle: str) -> int:
        return sum(1 for _, line in self.lines if needle in line)

    def tail(self, count: int = 15) -> str:
        return "\n".join(line for _, line in self.lines[-count:])


def run_timed(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 1800,
) -> Timed:
    """Run argv with stdout+stderr merged, timing it and each output line. Raises BenchError on failure."""
    started = time.monotonic()
    lines: list[tuple[float, str]] = []
    try:
        process = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            text=True,
            errors="replace",
        )
    except FileNotFoundError as error:
        raise BenchError(f"{argv[0]}: not found") from error
    assert process.stdout is not None
    with process:
        for raw in process.stdout:
            lines.append((time.monotonic() - started, raw.rstrip("\n")))
            if time.monotonic() - started > timeout:
                process.kill()
                raise BenchError(f"{' '.join(argv[:4])}: timed out after {timeout:.0f}s")
    seconds = time.monotonic() - started
    timed = Timed(seconds, process.returncode, lines)
    if check and process.returncode != 0:
        raise BenchError(f"{' '.join(argv[:6])} exited {process.returncode}:\n{timed.tail()}")
    return timed


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as elapsed: ...` then `elapsed[0]` holds the seconds."""
    holder: list[float] = []
    started = time.monotonic()
    try:
        yield holder
    finally:
        holder.append(time.monotonic() - started)


def write_json(path: Path, document: Mapping[str, JSONValue]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
