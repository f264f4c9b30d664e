"""The real-system tier's own kit (tests/support/real_openchoreo.py, issue 12 gate 1): every process it starts
listens on 127.0.0.1 only, a component that cannot start fails the set-up with one line and the logs that explain
it, and teardown leaves no process and no directory behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.support.real_openchoreo import ClusterBinaries, ClusterSetupError, RealOpenChoreo

pytestmark = pytest.mark.cluster

TCP_LISTEN = "0A"


def _tcp_sockets(pid: int) -> list[tuple[str, str, str]]:
    """(state, local host:port, remote host:port) of every TCP socket the process holds, read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    sockets = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                sockets.append((fields[3], _decode_address(fields[1]), _decode_address(fields[2])))
    return sockets


def _decode_address(address: str) -> str:
    host_hex, port_hex = address.split(":")
    return f"{_decode_host(host_hex)}:{int(port_hex, 16)}"


def _decode_host(host_hex: str) -> str:
    if len(host_hex) == 8:  # IPv4, little-endian
        return ".".join(str(int(host_hex[i : i + 2], 16)) for i in (6, 4, 2, 0))
    if host_hex == "0" * 32:
        return "[::]"
    if host_hex == "0000000000000000FFFF00000100007F":
        return "127.0.0.1"  # IPv4-mapped loopback
    return f"[{host_hex}]"


def test_every_socket_is_on_loopback(real_openchoreo: RealOpenChoreo) -> None:
    """Listeners bound to 127.0.0.1 only, and every connection (client or server side) between loopback
    addresses: nothing leaves 127.0.0.0/8. A snapshot after the contract tests have run (same session)."""
    seen = {}
    for process in real_openchoreo._processes:
        assert process.popen is not None and process.exited() is None, f"{process.name} is not running"
        seen[process.name] = _tcp_sockets(process.popen.pid)
    assert set(seen) == {"etcd", "kube-apiserver", "openchoreo-api"}
    for name, sockets in seen.items():
        listeners = [local for state, local, _ in sockets if state == TCP_LISTEN]
        assert listeners, f"{name} listens nowhere?"
        assert all(local.startswith("127.0.0.1:") for local in listeners), (name, listeners)
        connections = [(local, remote) for state, local, remote in sockets if state != TCP_LISTEN]
        for local, remote in connections:
            assert local.startswith("127.") and remote.startswith("127."), (name, local, remote)
    for url in (real_openchoreo.url, real_openchoreo.api.url, real_openchoreo.token_url):
        assert url.split("//", 1)[1].startswith("127.0.0.1:"), url


def test_a_component_that_cannot_start_fails_with_one_line_and_its_log(
    real_openchoreo_binaries: ClusterBinaries, tmp_path: Path
) -> None:
    broken = tmp_path / real_openchoreo_binaries.openchoreo_api.name
    broken.write_text("#!/bin/sh\necho 'simulated start-up failure: no route to the identity provider' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    binaries = ClusterBinaries(real_openchoreo_binaries.etcd, real_openchoreo_binaries.kube_apiserver, broken)
    system = RealOpenChoreo(binaries, client_secret="unused-secret")
    with pytest.raises(ClusterSetupError) as caught:
        system.__enter__()
    first, *rest = str(caught.value).splitlines()
    assert first == "gate 1: openchoreo-api exited with 3 while waiting for openchoreo-api /ready"
    logs = "\n".join(rest)
    assert "simulated start-up failure: no route to the identity provider" in logs
    assert "----- etcd (pid" in logs and "----- kube-apiserver (pid" in logs
    # Teardown by PID: every process is gone and the run's directory removed.
    assert [process.name for process in system._processes] == ["etcd", "kube-apiserver", "openchoreo-api"]
    for process in system._processes:
        assert process.exited() is not None, f"{process.name} still running"
    assert system.directory is not None and not system.directory.exists()
