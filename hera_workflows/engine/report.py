"""Progress lines while the pipeline runs, and the summary table at the end."""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from typing import TextIO

from hera_workflows.engine.status import POD, SKIPPED, SUCCEEDED, Node

# Output parameters worth a column in the summary, in this order; others follow.
KEY_OUTPUTS = ("git-revision", "commit-sha", "image", "image-url", "image-digest", "workload-cr")
_MAX_VALUE = 72


def _clock() -> str:
    return datetime.now().strftime("%H:%M:%S")


def _short(value: str) -> str:
    value = value.replace("\n", "⏎")
    return value if len(value) <= _MAX_VALUE else value[: _MAX_VALUE - 1] + "…"


def key_outputs(node: Node) -> str:
    params = {
        str(p.get("name")): str(p.get("value")) for p in (node.outputs or {}).get("parameters") or [] if "value" in p
    }
    names = [n for n in KEY_OUTPUTS if n in params] + sorted(n for n in params if n not in KEY_OUTPUTS)
    parts = []
    for name in names:
        value = params[name]
        if name == "workload-cr" or "\n" in value:
            parts.append(f"{name}=<{len(value.encode())} bytes>")
        else:
            parts.append(f"{name}={_short(value)}")
    return " ".join(parts)


class Reporter:
    """Writes to `stream` (None: silent). Thread-safe: parallel steps share it."""

    def __init__(self, stream: TextIO | None = sys.stdout, *, logs: bool = True) -> None:
        self.stream = stream
        self.logs = logs
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def step_started(self, node: Node, retries: int | None) -> None:
        attempt = f" attempt {retries + 1}" if retries else ""
        self._write(f"[{_clock()}] ▶ {_step(node)} ({node.template_label}){attempt}")

    def step_finished(self, node: Node) -> None:
        mark = "✔" if node.phase == SUCCEEDED else "✘"
        tail = "" if node.phase == SUCCEEDED else f" {node.phase}: {node.message}"
        self._write(f"[{_clock()}] {mark} {_step(node)} {node.seconds:.1f}s{tail}")

    def retrying(self, node: Node, attempts: int, limit: int, delay: float) -> None:
        exit_code = (node.outputs or {}).get("exitCode", "-")
        self._write(
            f"[{_clock()}] ↻ {_step(node)} failed (exit {exit_code}); retry {attempts}/{limit}"
            + (f" in {delay:.1f}s" if delay else "")
        )

    def log(self, node: Node, line: str) -> None:
        if self.logs:
            self._write(f"    {_step(node)} │ {line.rstrip()}")

    def summary(self, nodes: list[Node]) -> None:
        if self.stream is None:
            return
        self._write(summary_table(nodes))


def _step(node: Node) -> str:
    return node.display_name.split("(", 1)[0] if node.retried else node.display_name


def summary_table(nodes: list[Node]) -> str:
    rows = [("STEP", "TEMPLATE", "PHASE", "DURATION", "KEY OUTPUTS")]
    for node in sorted((n for n in nodes if n.type in (POD, SKIPPED)), key=lambda n: (n.started, n.name)):
        step = node.display_name
        outputs = key_outputs(node) if node.phase == SUCCEEDED else (node.message or "")
        rows.append((step, node.template_label, node.phase, f"{node.seconds:.1f}s", _short(outputs) if outputs else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] for row in rows]
    return "\n".join(line.rstrip() for line in lines)
