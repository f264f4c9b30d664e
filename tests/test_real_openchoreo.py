"""The real-system tier's own kit (testkit/real_openchoreo.py, issue 12 gate 1): every process it starts
listens on 127.0.0.1 only, a component that cannot start fails the set-up with one line and the logs that explain
it, teardown leaves no process and no directory behind, and the fake server answers 22 requests exactly as the real
openchoreo-api v1.2.3 does (a differential test that keeps the fake from drifting)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit.fake_openchoreo import FakeOpenChoreo
from testkit.procnet import TCP_LISTEN, tcp_sockets
from testkit.real_openchoreo import (
    PUBLISHER_CLIENT_ID,
    UNBOUND_CLIENT_ID,
    ClusterBinaries,
    ClusterSetupError,
    RealOpenChoreo,
)

pytestmark = pytest.mark.cluster


def test_every_socket_is_on_loopback(real_openchoreo: RealOpenChoreo) -> None:
    """Listeners bound to 127.0.0.1 only, and every connection (client or server side) between loopback
    addresses: nothing leaves 127.0.0.0/8. A snapshot after the contract tests have run (same session)."""
    seen = {}
    for process in real_openchoreo.processes:
        assert process.popen is not None and process.exited() is None, f"{process.name} is not running"
        seen[process.name] = tcp_sockets(process.popen.pid)
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
    assert [process.name for process in system.processes] == ["etcd", "kube-apiserver", "openchoreo-api"]
    for process in system.processes:
        assert process.exited() is not None, f"{process.name} still running"
    assert system.directory is not None and not system.directory.exists()


def _workload(name: str = "greeter-workload", **spec: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {
            "owner": {"projectName": "default", "componentName": "greeter"},
            "container": {"image": "registry.local/x:v1", "env": [{"key": "A", "value": "b"}]},
            "endpoints": {"http": {"type": "HTTP", "port": 8080, "visibility": ["external"]}},
        },
    }
    document["spec"].update(spec)
    return document


W, ITEM, RUN = "workloads", "workloads/greeter-workload", "workflowruns/greeter-run-1"
ME = "publisher"
OWNER_OTHER = {"projectName": "default", "componentName": "other"}
OWNER_NOPE = {"projectName": "default", "componentName": "nope"}
RUN_BODY = {
    "metadata": {"name": "greeter-run-1", "resourceVersion": "1", "annotations": {"a": "b"}},
    "spec": {"workflow": {"kind": "ClusterWorkflow", "name": "dockerfile-builder"}},
}


def _port(port: Any, kind: str = "HTTP") -> dict[str, Any]:
    return {"h": {"type": kind, "port": port}}


# (what, method, path under the namespace, body as JSON or raw bytes, who asks: publisher / unbound / nobody)
DIFFERENTIAL_CASES: list[tuple[str, str, str, Any, str]] = [
    ("create", "POST", W, _workload(), ME),
    ("create again", "POST", W, _workload(), ME),
    ("read", "GET", ITEM, None, ME),
    ("replace", "PUT", ITEM, _workload(container={"image": "registry.local/x:v2"}), ME),
    ("replace port 0", "PUT", ITEM, _workload(endpoints=_port(0)), ME),
    ("move owner", "PUT", ITEM, _workload(owner=OWNER_OTHER), ME),
    ("unknown component", "POST", W, _workload("w1", owner=OWNER_NOPE), ME),
    ("port too high", "POST", W, _workload("w2", endpoints=_port(70000)), ME),
    ("endpoint type", "POST", W, _workload("w3", endpoints=_port(8080, "REST")), ME),
    ("empty image", "POST", W, _workload("w4", container={"image": ""}), ME),
    ("port as text", "POST", W, _workload("w5", endpoints=_port("80")), ME),
    ("unknown field dropped", "POST", W, _workload("w6", bogus={"x": 1}), ME),
    ("no name", "POST", W, _workload("", container={"image": "x"}), ME),
    ("not JSON", "POST", W, b"{not json", ME),
    ("no component name", "POST", W, _workload("w7", owner={"projectName": "default"}), ME),
    ("read missing", "GET", f"{W}/ghost", None, ME),
    ("replace missing", "PUT", f"{W}/ghost", _workload("ghost"), ME),
    ("read run", "GET", RUN, None, ME),
    ("read missing run", "GET", "workflowruns/ghost", None, ME),
    ("replace run, stale version", "PUT", RUN, RUN_BODY, ME),
    ("no role", "POST", W, _workload(), "unbound"),
    ("no token", "POST", W, _workload(), "nobody"),
]


def _comparable(status: int, body: Any) -> tuple[int, Any]:
    """Status and body without what differs by nature (uid, timestamps, status conditions of a controller-less run,
    the Go decoder's wording after its prefix)."""
    if isinstance(body, str):
        return status, body.split(":", 1)[0]
    if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
        body = dict(body)
        body["metadata"] = {k: v for k, v in body["metadata"].items() if k not in ("uid", "creationTimestamp")}
        if body.get("kind") == "WorkflowRun":
            body.pop("status", None)
    return status, body


def _answers(url: str, token_url: str, namespace: str, secrets: dict[str, tuple[str, str]]) -> list[tuple[int, Any]]:
    tokens = {
        who: httpx.post(
            token_url, data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
        ).json()["access_token"]
        for who, (cid, secret) in secrets.items()
    }
    answers = []
    with httpx.Client(trust_env=False, timeout=10) as client:
        for _, method, path, body, who in DIFFERENTIAL_CASES:
            headers = {"Authorization": f"Bearer {tokens[who]}"} if who in tokens else {}
            if isinstance(body, bytes):
                headers["Content-Type"] = "application/json"
                response = client.request(
                    method, f"{url}/api/v1/namespaces/{namespace}/{path}", content=body, headers=headers
                )
            else:
                response = client.request(
                    method, f"{url}/api/v1/namespaces/{namespace}/{path}", json=body, headers=headers
                )
            try:
                payload = response.json()
            except ValueError:
                payload = response.text
            answers.append(_comparable(response.status_code, payload))
    return answers


def test_the_fake_answers_like_the_real_server(real_openchoreo: RealOpenChoreo) -> None:
    """The same requests to both servers, answer by answer: the fake (used alone by the fault-injection tests)
    must not drift from the real openchoreo-api v1.2.3. Multi-error 422s are left out: their order is not stable."""
    namespace = real_openchoreo.new_namespace()
    for component in ("greeter", "other"):
        real_openchoreo.add_component(namespace, "default", component)
    real_openchoreo.add_run(namespace, "greeter-run-1", "default", "greeter")
    real = _answers(
        real_openchoreo.url,
        real_openchoreo.token_url,
        namespace,
        {
            "publisher": (PUBLISHER_CLIENT_ID, real_openchoreo.client_secret),
            "unbound": (UNBOUND_CLIENT_ID, real_openchoreo.unbound_client_secret),
        },
    )
    with FakeOpenChoreo(client_secret="fake-secret", unbound_clients={UNBOUND_CLIENT_ID: "unbound-secret"}) as fake:
        for component in ("greeter", "other"):
            fake.add_component(namespace, "default", component)
        fake.add_run(namespace, "greeter-run-1")
        fake.runs[(namespace, "greeter-run-1")].labels = {
            "openchoreo.dev/project": "default",
            "openchoreo.dev/component": "greeter",
        }
        answers = _answers(
            fake.url,
            fake.token_url,
            namespace,
            {"publisher": (PUBLISHER_CLIENT_ID, "fake-secret"), "unbound": (UNBOUND_CLIENT_ID, "unbound-secret")},
        )
    differences = [
        f"{case[0]}: real {real_answer} / fake {fake_answer}"
        for case, real_answer, fake_answer in zip(DIFFERENTIAL_CASES, real, answers, strict=True)
        if real_answer != fake_answer
    ]
    assert not differences, "\n".join(differences)
