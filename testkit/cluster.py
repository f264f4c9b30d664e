"""Pytest plugin of the real-system tier (issue 12; registered in tests/conftest.py): the session fixtures that
build and start the real OpenChoreo API server (gate 1), a real node (gate 2), real Argo (gate 3) and OpenChoreo's
planes on it (gate 4), and the two lines the terminal summary gets from them: why the tier failed (one
`FAIL: gate N: …` line) and how long building, booting and testing took (figures, never asserted)."""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.real_argo import ArgoBinaries, RealArgo, build_argo_binaries, render_pack
from testkit.real_node import NodeBinaries, RealNode, build_node_binaries
from testkit.real_openchoreo import ClusterBinaries, ClusterSetupError, RealOpenChoreo, build_binaries
from testkit.real_openchoreo_planes import (
    GIT_PASSWORD,
    PlaneBinaries,
    RealPlanes,
    build_plane_binaries,
    plane_secret_values,
)

_CLUSTER_TIMINGS: dict[str, float] = {}
_CLUSTER_FAILURES: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "node: needs a real Kubernetes node (issue 12 gates 2-3: kubelet on a private containerd); also `cluster`",
    )
    config.addinivalue_line(
        "markers",
        "planes: needs OpenChoreo's manager, cluster gateway and agent on the real node (issue 12 gate 4); also "
        "`cluster` and `node`",
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _CLUSTER_FAILURES:  # the one line that says why the real-system tier failed, at the very end
        terminalreporter.write_line(f"FAIL: {line}", red=True)
    if _CLUSTER_TIMINGS:
        figures = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in _CLUSTER_TIMINGS.items())
        terminalreporter.write_line(f"real-system tier: {figures}")


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


# ---------------------------------------------------------------------------------------------- gate 2: a real node
@pytest.fixture(scope="session")
def real_node_binaries() -> NodeBinaries:
    """etcd, kube-apiserver, kubelet, kube-controller-manager and kube-scheduler from the cache (built on first use).
    A failed build is an error of every test that needs them, never a skip."""
    started = time.monotonic()
    try:
        binaries = build_node_binaries()
    except ClusterSetupError as error:
        _CLUSTER_FAILURES.append(str(error).splitlines()[0])
        raise
    _CLUSTER_TIMINGS["node binaries ready"] = time.monotonic() - started
    return binaries


@pytest.fixture(scope="session")
def real_node(real_node_binaries: NodeBinaries) -> Iterator[RealNode]:
    """A real node on 127.0.0.1 (testkit/real_node.py), once per session; its teardown must restore the host
    (a NodeSetupError at teardown otherwise)."""
    node = RealNode(real_node_binaries)
    try:
        node.__enter__()
    except ClusterSetupError as error:
        _CLUSTER_FAILURES.append(str(error).splitlines()[0])
        raise
    _CLUSTER_TIMINGS.update({f"node boot {name}": seconds for name, seconds in node.timings.items()})
    started = time.monotonic()
    try:
        yield node
    finally:
        _CLUSTER_TIMINGS["tests using the node"] = time.monotonic() - started
        stopping = time.monotonic()
        try:
            node.stop()
        except ClusterSetupError as error:
            _CLUSTER_FAILURES.append(str(error).splitlines()[0])
            raise
        _CLUSTER_TIMINGS["node teardown"] = time.monotonic() - stopping


# ---------------------------------------------------------------------------------------------- gate 3: real Argo
def record_timing(name: str, seconds: float) -> None:
    """A figure for the terminal summary's timing line (never asserted)."""
    _CLUSTER_TIMINGS[name] = seconds


@pytest.fixture(scope="session")
def real_argo_binaries() -> ArgoBinaries:
    """workflow-controller and argoexec from the cache (built on first use); a failed build is an error, not a skip."""
    started = time.monotonic()
    try:
        binaries = build_argo_binaries()
    except ClusterSetupError as error:
        _CLUSTER_FAILURES.append(str(error).splitlines()[0])
        raise
    _CLUSTER_TIMINGS["Argo binaries ready"] = time.monotonic() - started
    return binaries


@pytest.fixture(scope="session")
def real_argo(real_node: RealNode, real_argo_binaries: ArgoBinaries) -> Iterator[RealArgo]:
    """Real Argo Workflows on the session's node (testkit/real_argo.py)."""
    argo = RealArgo(real_node, real_argo_binaries)
    try:
        argo.__enter__()
    except ClusterSetupError as error:
        _CLUSTER_FAILURES.append(str(error).splitlines()[0])
        raise
    _CLUSTER_TIMINGS.update({f"Argo start {name}": seconds for name, seconds in argo.timings.items()})
    try:
        yield argo
    finally:
        argo.stop()


@pytest.fixture(scope="session")
def tier_templates(real_argo: RealArgo) -> Iterator[Path]:
    """The pack rendered with this tier's settings (TIER_SETTINGS) into a temporary directory and applied with
    `kubectl apply -k`, once per session. A test that applies other templates re-applies this directory after."""
    with tempfile.TemporaryDirectory(prefix="pack-gate3-templates-") as tmp:
        started = time.monotonic()
        directory = render_pack(Path(tmp))
        real_argo.apply_pack(directory)
        _CLUSTER_TIMINGS["pack rendered and applied"] = time.monotonic() - started
        yield directory


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the session's real node run last (otherwise in file order). One node per host: a test that boots
    nodes of its own (gate 2's teardown test) must run before the session node takes the host lock, whatever the
    test files are called."""
    items.sort(key=lambda item: "real_node" in getattr(item, "fixturenames", ()))


# ---------------------------------------------------------------------------------------------- gate 4: the planes
@pytest.fixture(scope="session")
def real_plane_binaries() -> PlaneBinaries:
    """OpenChoreo's manager, cluster gateway and agent from the cache (built on first use; a failure is an error, not
    a skip), plus the External Secrets Operator when it is cached (else the ExternalSecret CRD alone)."""
    started = time.monotonic()
    try:
        binaries = build_plane_binaries()
    except ClusterSetupError as error:
        _CLUSTER_FAILURES.append(str(error).splitlines()[0])
        raise
    _CLUSTER_TIMINGS["plane binaries ready"] = time.monotonic() - started
    return binaries


@pytest.fixture(scope="session")
def real_planes(
    real_argo: RealArgo, real_openchoreo_binaries: ClusterBinaries, real_plane_binaries: PlaneBinaries
) -> Iterator[RealPlanes]:
    """OpenChoreo's manager, gateway, agent and openchoreo-api (and ESO) on the session's node and Argo
    (testkit/real_openchoreo_planes.py); the fake secret store serves the values `plane_secret_values` names."""
    client_secret = "gate4-publisher-" + secrets.token_urlsafe(16)
    assert real_argo.node.directory is not None
    planes = RealPlanes(
        real_argo,
        real_openchoreo_binaries,
        real_plane_binaries,
        client_secret=client_secret,
        secret_values=plane_secret_values(
            client_secret, (real_argo.node.directory / "pki" / "ca.crt").read_text(), GIT_PASSWORD
        ),
    )
    try:
        planes.__enter__()
    except ClusterSetupError as error:
        _CLUSTER_FAILURES.append(str(error).splitlines()[0])
        raise
    _CLUSTER_TIMINGS.update({f"planes start {name}": seconds for name, seconds in planes.timings.items()})
    try:
        yield planes
    finally:
        planes.stop()
