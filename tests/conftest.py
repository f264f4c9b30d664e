"""Suite-wide fixtures and rules.

With PACK_FAIL_ON_SKIP=1 (set by `make test` and so by CI) any skipped test fails the run: Docker-backed
tests must run, not skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from testkit import reference

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

# Fixtures shared across modules: the real registries on 127.0.0.1; the real OpenChoreo API server (issue 12).
pytest_plugins = ["testkit.registry", "testkit.cluster"]


def pytest_sessionstart(session: pytest.Session) -> None:
    problems = reference.check()
    if problems:  # one message naming the missing files and the command that fetches them
        raise pytest.UsageError(reference.missing_message(problems))


# Fixtures that need the Docker engine: a test using one must be marked `docker`, so the fast lane
# (`-m "not docker and not oracle and not cluster"`) never needs the engine.
DOCKER_FIXTURES = frozenset({"docker_client"})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so the check covers every collected test
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("docker") is None
    ]
    if unmarked:
        raise pytest.UsageError("tests that use the Docker engine must be marked docker: " + ", ".join(unmarked))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("PACK_FAIL_ON_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and reporter is not None:
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
