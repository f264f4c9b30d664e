"""Gate 2 of the real-system tier (issue 12): a real node on 127.0.0.1 (testkit/real_node.py). kubelet,
kube-controller-manager and kube-scheduler v1.36.3 from the `k8s.io/kubernetes` module on a private containerd: a
scheduled host-network pod runs to completion and its log is read through the API; no pod sees a nameserver other
than 127.0.0.1 and no image is ever pulled; every listener is on loopback; and teardown restores the host, so a
second run starts clean."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from testkit.procnet import tcp_listeners
from testkit.real_node import (
    BUSYBOX_IMAGE,
    NAMESERVER,
    HostState,
    NodeBinaries,
    RealNode,
    wait_until,
)

pytestmark = [pytest.mark.cluster, pytest.mark.node]


def _pod(name: str, script: str, *, host_network: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "hostNetwork": host_network,
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": [NAMESERVER]},
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["/bin/busybox", "sh", "-c", script],
                    "securityContext": {
                        "runAsUser": 10001,
                        "runAsNonRoot": True,
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def _run_pod_to_completion(node: RealNode, name: str, marker: str) -> str:
    node.api.create(_pod(name, f'echo "{marker}"; cat /etc/resolv.conf'))
    pod = node.wait_pod_phase("default", name, ("Succeeded", "Failed"))
    assert pod["status"]["phase"] == "Succeeded", pod["status"]
    assert pod["spec"]["nodeName"] == node.name  # placed by the real scheduler
    logs: list[str] = []

    def complete() -> bool:  # the log can trail the phase by a moment
        logs.append(node.pod_log("default", name))
        return marker in logs[-1]

    wait_until(f"pod {name}'s log", complete, 30)
    return logs[-1]


def test_teardown_restores_the_host_and_a_second_run_starts_clean(real_node_binaries: NodeBinaries) -> None:
    """Two nodes one after the other, each running a pod: the host (the sysctls the kubelet rewrites, kubepods
    cgroups, mounts, processes and host paths) is the same after each teardown as before the first start, and the
    second start finds it clean (RealNode refuses to start on a host left dirty). Runs before the session's node."""
    # The host is captured by each node under the host lock, not here: another checkout's node may be running until
    # this one gets the lock. stop() compares the host with that capture before it releases the lock.
    found: list[HostState | None] = []
    directories = []
    for run in (1, 2):
        with RealNode(real_node_binaries) as node:
            found.append(node.clean_host)
            assert node.directory is not None and node.state_directory is not None
            directories += [node.directory, node.state_directory]
            marker = f"run {run} {secrets.token_hex(4)}"
            assert marker in _run_pod_to_completion(node, f"clean-run-{run}", marker)
            during = HostState.capture()
            assert during.kubepods_cgroups, "the kubelet made no kubepods cgroups? (the check would be empty)"
            assert during.node_processes
        assert node.host_before is None, f"run {run}: stop() did not restore and check the host"
    assert found[0] is not None and found[0] == found[1], "the second run did not find the host as the first did"
    assert not [directory for directory in directories if Path(directory).exists()]


def test_a_pod_runs_to_completion_and_its_log_is_read_through_the_api(real_node: RealNode) -> None:
    marker = f"hello from a real node {secrets.token_hex(6)}"
    log = _run_pod_to_completion(real_node, "log-through-the-api", marker)
    assert marker in log
    assert f"nameserver {NAMESERVER}" in log
    # kubectl goes the same way (apiserver -> kubelet on 127.0.0.1, by the node's hostname)
    result = real_node.kubectl("logs", "-n", "default", "log-through-the-api")
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout


def test_a_pod_off_the_host_network_cannot_start(real_node: RealNode) -> None:
    """Fail-closed: the only CNI plugin is `loopback`, so a pod that is not on the host network never gets a
    sandbox (it would have no route anyway); it stays Pending with FailedCreatePodSandBox events."""
    real_node.api.create(_pod("off-host-network", "echo never", host_network=False))

    def sandbox_failed() -> bool:
        events = real_node.api.get("/api/v1/namespaces/default/events")["items"]
        return any(
            event["involvedObject"].get("name") == "off-host-network" and event["reason"] == "FailedCreatePodSandBox"
            for event in events
        )

    wait_until("FailedCreatePodSandBox for a pod off the host network", sandbox_failed, 60)
    pod = real_node.api.get("/api/v1/namespaces/default/pods/off-host-network")
    assert pod["status"]["phase"] == "Pending"
    real_node.api.request("DELETE", "/api/v1/namespaces/default/pods/off-host-network", ok=(200, 202))


def test_no_pod_has_a_nameserver_or_registry_other_than_loopback(real_node: RealNode) -> None:
    """After the pods above ran: every sandbox's resolv.conf names 127.0.0.1 only, every pod's DNS config too,
    every container image was imported beforehand (present under the exact name the pod uses) and containerd
    never received a single pull request."""
    real_node.api.create(_pod("dns-check", "cat /etc/resolv.conf"))
    real_node.wait_pod_phase("default", "dns-check", ("Succeeded",))
    resolv_confs = real_node.sandbox_resolv_confs()
    assert resolv_confs, "no sandbox resolv.conf found: the check would be empty"
    for path, text in resolv_confs.items():
        nameservers = [line.split()[1] for line in text.splitlines() if line.startswith("nameserver")]
        assert nameservers == [NAMESERVER], (path, text)
    local_images = set(real_node.image_names())
    pods = real_node.api.get("/api/v1/pods")["items"]
    assert pods
    for pod in pods:
        spec = pod["spec"]
        name = pod["metadata"]["name"]
        assert spec.get("hostNetwork") is True or name == "off-host-network", name
        dns = spec.get("dnsConfig") or {}
        assert set(dns.get("nameservers") or [NAMESERVER]) == {NAMESERVER}, (name, dns)
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            assert container["image"] in local_images or f"docker.io/{container['image']}" in local_images, (
                name,
                container["image"],
                sorted(local_images),
            )
    assert real_node.pulls_attempted() == []


def test_every_component_listens_on_loopback_only(real_node: RealNode) -> None:
    seen = {}
    for name, process in real_node._processes.items():
        assert process.popen is not None and process.exited() is None, f"{name} is not running"
        seen[name] = tcp_listeners(process.popen.pid)
    assert set(seen) == {"etcd", "kube-apiserver", "containerd", "kubelet", "kube-controller-manager", "kube-scheduler"}
    for name, listeners in seen.items():
        if name != "containerd":  # containerd's CRI stream server opens its listener on first exec/attach only
            assert listeners, f"{name} listens nowhere?"
        assert all(address.startswith("127.0.0.1:") for address in listeners), (name, listeners)
