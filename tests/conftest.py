"""Suite-wide fixtures and rules.

With PACK_FAIL_ON_SKIP=1 (set by `make test` and so by CI) any skipped test fails the run: Docker-backed
tests must run, not skip.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator

import pytest

from tests.support.paths import SHARED
from tests.support.real_openchoreo import ClusterBinaries, ClusterSetupError, RealOpenChoreo, build_binaries

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

# Fixtures shared across modules: the real registries on 127.0.0.1.
pytest_plugins = ["tests.support.registry"]


def pytest_sessionstart(session: pytest.Session) -> None:
    if not SHARED.is_dir():
        raise pytest.UsageError(f"upstream reference material not found at {SHARED} (set PACK_SHARED_DIR)")


# Wall times of the real-system tier in this session, printed in the terminal summary (figures, never asserted).
_CLUSTER_TIMINGS: dict[str, float] = {}
_CLUSTER_FAILURES: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _CLUSTER_FAILURES:  # the one line that says why the real-system tier failed, at the very end
        terminalreporter.write_line(f"FAIL: {line}", red=True)
    if _CLUSTER_TIMINGS:
        figures = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in _CLUSTER_TIMINGS.items())
        terminalreporter.write_line(f"real-system tier, gate 1: {figures}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("PACK_FAIL_ON_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"FAIL: {len(skipped)} test(s) skipped; PACK_FAIL_ON_SKIP=1 forbids skips", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    """The local engine. Never skips: a missing engine is a failure of the set-up, not of the test."""
    import docker

    client = docker.from_env()
    client.ping()
    yield client
    client.close()


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
    """The real OpenChoreo API server v1.2.3 on 127.0.0.1 (tests/support/real_openchoreo.py), once per session."""
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
