"""Pytest plugin of the real-system tier (issue 12; registered in tests/conftest.py): the session fixtures that
build and start the real OpenChoreo API server, and the two lines the terminal summary gets from them: why the tier
failed (one `FAIL: gate 1: …` line) and how long building, booting and testing took (figures, never asserted)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from testkit.real_openchoreo import ClusterBinaries, ClusterSetupError, RealOpenChoreo, build_binaries

_CLUSTER_TIMINGS: dict[str, float] = {}
_CLUSTER_FAILURES: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _CLUSTER_FAILURES:  # the one line that says why the real-system tier failed, at the very end
        terminalreporter.write_line(f"FAIL: {line}", red=True)
    if _CLUSTER_TIMINGS:
        figures = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in _CLUSTER_TIMINGS.items())
        terminalreporter.write_line(f"real-system tier, gate 1: {figures}")


@pytest.fixture(scope="session")
def real_openchoreo_binaries() -> ClusterBinaries:
    """etcd, kube-apiserver and openchoreo-api from the cache, built on first use. A failed build is an error of
    every test that needs them (ClusterSetupError, one line first), never a skip."""
    started = time.monotonic()
    try:
        binaries = build_binaries()
    except ClusterSetupError as error:
        _CLUSTER_FAILURES.append(str(error).splitlines()[0])
        raise
    _CLUSTER_TIMINGS["binaries ready"] = time.monotonic() - started
    return binaries


@pytest.fixture(scope="session")
def real_openchoreo(real_openchoreo_binaries: ClusterBinaries) -> Iterator[RealOpenChoreo]:
    """The real OpenChoreo API server on 127.0.0.1 (testkit/real_openchoreo.py), once per session."""
    client_secret = "gate1-publisher-" + secrets.token_urlsafe(16)
    system = RealOpenChoreo(real_openchoreo_binaries, client_secret=client_secret)
    try:
        system.__enter__()
    except ClusterSetupError as error:
        _CLUSTER_FAILURES.append(str(error).splitlines()[0])
        raise
    _CLUSTER_TIMINGS.update({f"boot {name}": seconds for name, seconds in system.timings.items()})
    started = time.monotonic()
    try:
        yield system
    finally:
        _CLUSTER_TIMINGS["tests using it"] = time.monotonic() - started
        system.stop()
