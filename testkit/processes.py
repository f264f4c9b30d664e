"""Run a program as a user or Argo runs it: a subprocess, output captured as text, bounded by a timeout, and no
exception on a non-zero exit (the tests assert on the exit code and the one error line)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from testkit.paths import ROOT

DEFAULT_TIMEOUT_SECONDS = 120.0


def run(
    argv: Sequence[str],
    *,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """`argv` in `cwd` (the checkout by default) with `env` (the caller's environment when None)."""
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def python_module(
    module: str,
    args: Sequence[str] = (),
    *,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """`python -m module args` with this interpreter."""
    return run([sys.executable, "-m", module, *args], cwd=cwd, env=env, timeout=timeout)


def python_code(
    code: str,
    *,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """`python -c code` with this interpreter (a fresh process: what it imports starts from nothing)."""
    return run([sys.executable, "-c", code], cwd=cwd, env=env, timeout=timeout)
