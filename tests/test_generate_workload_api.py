"""The API contract of generate-workload-cr (issue #2, item 5; issue 12, gate 1) on 127.0.0.1.

The contract tests (create, 409 → full replace, image-only merge, run annotations, 400, 422, 403, bad client
secret, server down) run twice: against the fake server (testkit/fake_openchoreo.py) and, marked `cluster`,
against OpenChoreo's real `openchoreo-api` v1.2.3 on a real kube-apiserver and etcd built from the Go module proxy
(testkit/real_openchoreo.py). There the only stand-in is the identity provider (testkit/oauth_issuer.py).
Where the servers differed, the real one won and the fake was corrected. The remaining tests use the fake alone:
they inject faults (5xx, dropped connections, expired tokens, conflicts), TLS set-ups and the requests on the wire,
which the real server cannot be made to show. Everything else is real: httpx, TLS with an openssl-made CA, the
option parsing of the step, the redactor.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol

import pytest

from steps.common import contract
from steps.common.log import StepError, StepLogger
from steps.generate_workload.api import (
    ANNOTATION_FROM_SOURCE,
    ANNOTATION_WORKLOAD,
    RUN_ANNOTATION_ATTEMPTS,
    publish,
    validate_api_options,
)
from steps.generate_workload.options import GenerateWorkloadOptions
from testkit import processes
from testkit.fake_openchoreo import FakeOpenChoreo, TlsFiles, make_tls_files
from testkit.paths import ROOT
from testkit.real_openchoreo import UNBOUND_CLIENT_ID, RealOpenChoreo

NS = "default"
PROJECT = "default"
COMPONENT = "greeter"
RUN = "greeter-run-0a1b2c3d"
NAME = f"{COMPONENT}-workload"
IMAGE = "registry.local/default-default-greeter:v1-0a1b2c3d"
CLIENT_SECRET = "Sd8-client-secret-never-print-7Qx"
UNBOUND_SECRET = "Unbound-client-secret-3Kp"
WORKLOADS_PATH = f"/api/v1/namespaces/{NS}/workloads"
WORKLOAD_PATH = f"{WORKLOADS_PATH}/{NAME}"
RUN_PATH = f"/api/v1/namespaces/{NS}/workflowruns/{RUN}"
LEGACY_PATH = f"/api/v1/namespaces/{NS}/projects/{PROJECT}/components/{COMPONENT}/workloads"


def workload_cr(
    image: str = IMAGE, port: int = 8080, env: list[dict[str, str]] | None = None, namespace: str = NS
) -> dict[str, Any]:
    return {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {
            "owner": {"projectName": PROJECT, "componentName": COMPONENT},
            "container": {"image": image, "env": env if env is not None else [{"key": "GREETING", "value": "héllo"}]},
            "endpoints": {"http": {"type": "HTTP", "port": port, "visibility": ["external"]}},
        },
    }


def without_type_meta(cr: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in cr.items() if key not in ("apiVersion", "kind")}


@pytest.fixture(autouse=True)
def _local_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy may divert the traffic away from 127.0.0.1; no leftover API env from the caller."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for option in GenerateWorkloadOptions.OPTIONS:
        monkeypatch.delenv(option.env, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeOpenChoreo]:
    with FakeOpenChoreo(client_secret=CLIENT_SECRET) as server:
        server.add_component(NS, PROJECT, COMPONENT)
        server.add_run(NS, RUN)
        yield server


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "client-secret"
    path.write_text(CLIENT_SECRET + "\n")  # as `kubectl create secret --from-file` often leaves it
    return path


def options_for(
    fake: FakeOpenChoreo | None,
    secret_file: Path | None,
    *extra: str,
    mode: str = "workloads",
    environ: dict[str, str] | None = None,
) -> GenerateWorkloadOptions:
    """The step's own option parsing, so the options are exactly what main() passes to publish()."""
    argv = ["--image", IMAGE, "-n", NS, "-p", PROJECT, "-c", COMPONENT, "--api-mode", mode]
    argv += ["--api-retries", "3", "--api-retry-backoff", "0", "--api-timeout", "5"]
    if fake is not None:
        argv += ["--api-server-url", fake.url, "--oauth-token-url", fake.token_url, "--run-name", RUN]
    if secret_file is not None:
        argv += ["--oauth-client-secret-file", str(secret_file)]
    return GenerateWorkloadOptions.parse("generate-workload-cr", "test", argv=[*argv, *extra], environ=environ or {})


def run_publish(
    options: GenerateWorkloadOptions, cr: dict[str, Any] | None = None, *, from_source: bool = True
) -> None:
    publish(cr or workload_cr(), from_source=from_source, opts=options, log=StepLogger("generate-workload-cr"))


def expect_failure(
    options: GenerateWorkloadOptions, cr: dict[str, Any] | None = None, *, from_source: bool = True
) -> StepError:
    with pytest.raises(StepError) as caught:
        run_publish(options, cr, from_source=from_source)
    return caught.value


# ------------------------------------------------------------------------------ the contract, on both servers
# Each test below runs against the fake server and against the real openchoreo-api v1.2.3 (marker `cluster`;
# testkit/real_openchoreo.py). Where the two answered differently the real one won and the fake was fixed.


class Backend(Protocol):
    """What the contract tests need from a server: its URLs and credentials, seeding, and what it stored."""

    namespace: str
    url: str
    token_url: str
    client_secret: str
    unbound_client: tuple[str, str]  # a client the IdP knows but no role binding grants anything

    def add_component(self, project: str, component: str) -> None: ...
    def add_run(self, name: str) -> None: ...
    def put_workload(self, cr: dict[str, Any]) -> None: ...
    def workload(self, name: str) -> dict[str, Any] | None: ...
    def run(self, name: str) -> dict[str, Any]: ...
    def reject_next_tokens(self, count: int) -> None: ...


class FakeBackend:
    def __init__(self, fake: FakeOpenChoreo) -> None:
        self.fake = fake
        self.namespace = NS
        self.url = fake.url
        self.token_url = fake.token_url
        self.client_secret = fake.client_secret
        self.unbound_client = next(iter(fake.unbound_clients.items()))

    def add_component(self, project: str, component: str) -> None:
        self.fake.add_component(self.namespace, project, component)

    def add_run(self, name: str) -> None:
        self.fake.add_run(self.namespace, name)

    def put_workload(self, cr: dict[str, Any]) -> None:
        self.fake.put_workload(self.namespace, cr)

    def workload(self, name: str) -> dict[str, Any] | None:
        return self.fake.workloads.get((self.namespace, name))

    def run(self, name: str) -> dict[str, Any]:
        return self.fake.runs[(self.namespace, name)].document()

    def reject_next_tokens(self, count: int) -> None:
        self.fake.issue_expired_tokens = count


class RealBackend:
    def __init__(self, system: RealOpenChoreo) -> None:
        self.system = system
        self.namespace = system.new_namespace()  # a namespace per test: no state crosses tests
        self.url = system.url
        self.token_url = system.token_url
        self.client_secret = system.client_secret
        self.unbound_client = (UNBOUND_CLIENT_ID, system.unbound_client_secret)

    def add_component(self, project: str, component: str) -> None:
        self.system.add_component(self.namespace, project, component)

    def add_run(self, name: str) -> None:
        self.system.add_run(self.namespace, name, PROJECT, COMPONENT)

    def put_workload(self, cr: dict[str, Any]) -> None:
        self.system.put_workload(self.namespace, cr)

    def workload(self, name: str) -> dict[str, Any] | None:
        return self.system.workload(self.namespace, name)

    def run(self, name: str) -> dict[str, Any]:
        return self.system.run(self.namespace, name)

    def reject_next_tokens(self, count: int) -> None:
        assert self.system.issuer is not None
        self.system.issuer.untrusted_tokens = count  # signed with a key the JWKS does not publish


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.cluster)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The fake server, or the real openchoreo-api (started once per session), with the Component and the
    WorkflowRun seeded (through the kube-apiserver for the real one)."""
    if request.param == "fake":
        with FakeOpenChoreo(client_secret=CLIENT_SECRET, unbound_clients={UNBOUND_CLIENT_ID: UNBOUND_SECRET}) as fake:
            server: Backend = FakeBackend(fake)
            server.add_component(PROJECT, COMPONENT)
            server.add_run(RUN)
            yield server
        return
    system: RealOpenChoreo = request.getfixturevalue("real_openchoreo")
    server = RealBackend(system)
    server.add_component(PROJECT, COMPONENT)
    server.add_run(RUN)
    yield server
    assert system.issuer is not None
    system.issuer.untrusted_tokens = 0


@pytest.fixture
def backend_secret(backend: Backend, tmp_path: Path) -> Path:
    path = tmp_path / "backend-client-secret"
    path.write_text(backend.client_secret + "\n")
    return path


def backend_options(backend: Backend, secret_file: Path, *extra: str) -> GenerateWorkloadOptions:
    argv = ["--image", IMAGE, "-n", backend.namespace, "-p", PROJECT, "-c", COMPONENT, "--api-mode", "workloads"]
    argv += ["--api-retries", "3", "--api-retry-backoff", "0", "--api-timeout", "10"]
    argv += ["--api-server-url", backend.url, "--oauth-token-url", backend.token_url, "--run-name", RUN]
    argv += ["--oauth-client-secret-file", str(secret_file)]
    return GenerateWorkloadOptions.parse("generate-workload-cr", "test", argv=[*argv, *extra], environ={})


def workloads_path(backend: Backend) -> str:
    return f"/api/v1/namespaces/{backend.namespace}/workloads"


def run_annotations(backend: Backend, name: str = RUN) -> dict[str, str]:
    annotations: dict[str, str] = backend.run(name)["metadata"].get("annotations") or {}
    return annotations


def test_create_stores_the_workload_and_annotates_the_run(
    backend: Backend, backend_secret: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cr = workload_cr(namespace=backend.namespace)
    run_publish(backend_options(backend, backend_secret), cr)

    stored = backend.workload(NAME)
    assert stored is not None
    assert stored["spec"] == cr["spec"]
    assert stored["metadata"]["labels"] == {"openchoreo.dev/project": PROJECT, "openchoreo.dev/component": COMPONENT}
    run = backend.run(RUN)
    annotations = run["metadata"]["annotations"]
    assert annotations[ANNOTATION_WORKLOAD] == json.dumps(
        without_type_meta(cr), separators=(",", ":"), ensure_ascii=False
    )
    assert "héllo" in annotations[ANNOTATION_WORKLOAD]  # like jq -c: no \u escapes
    assert annotations[ANNOTATION_FROM_SOURCE] == "true"
    assert run["metadata"]["labels"]["openchoreo.dev/component"] == COMPONENT  # the PUT kept labels and spec
    assert run["spec"]["workflow"] == {"kind": "ClusterWorkflow", "name": "dockerfile-builder"}
    err = capsys.readouterr().err
    assert f"created Workload {backend.namespace}/{NAME}" in err
    assert f"annotated WorkflowRun {backend.namespace}/{RUN}" in err


def test_conflict_from_source_replaces_the_whole_workload(backend: Backend, backend_secret: Path) -> None:
    old = workload_cr(image="registry.local/old:v1", env=[{"key": "FROM_UI", "value": "kept?"}])
    old["metadata"]["annotations"] = {"edited-by": "ui"}
    backend.put_workload(old)
    new = workload_cr(namespace=backend.namespace)

    run_publish(backend_options(backend, backend_secret), new, from_source=True)

    stored = backend.workload(NAME)
    assert stored is not None
    assert stored["spec"] == new["spec"]
    assert not stored["metadata"].get("annotations")  # full replace: the UI's edits are gone by design
    assert stored["metadata"]["labels"] == {"openchoreo.dev/project": PROJECT, "openchoreo.dev/component": COMPONENT}
    assert run_annotations(backend)[ANNOTATION_FROM_SOURCE] == "true"


def test_conflict_without_descriptor_changes_only_the_image(backend: Backend, backend_secret: Path) -> None:
    edited = workload_cr(image="registry.local/old:v1", env=[{"key": "FROM_UI", "value": "keep me"}], port=9090)
    edited["metadata"]["labels"] = {"team": "payments"}
    edited["metadata"]["annotations"] = {"edited-by": "ui"}
    backend.put_workload(edited)  # as if edited in the cluster (UI, kubectl)
    generated = workload_cr(namespace=backend.namespace, env=[])  # an auto-generated CR: image only

    run_publish(backend_options(backend, backend_secret), generated, from_source=False)

    stored = backend.workload(NAME)
    assert stored is not None
    expected_spec = json.loads(json.dumps(edited["spec"]))
    expected_spec["container"]["image"] = IMAGE
    assert stored["spec"] == expected_spec  # env and endpoints edited in the cluster survive
    assert stored["metadata"]["annotations"] == {"edited-by": "ui"}
    assert stored["metadata"]["labels"]["team"] == "payments"
    annotations = run_annotations(backend)
    assert annotations[ANNOTATION_FROM_SOURCE] == "false"
    assert json.loads(annotations[ANNOTATION_WORKLOAD]) == without_type_meta(generated)


def _with_spec(**changes: Any) -> dict[str, Any]:
    cr = workload_cr()
    cr["spec"].update(changes)
    return cr


@pytest.mark.parametrize(
    ("cr", "status", "expected"),
    [
        pytest.param(
            _with_spec(owner={"projectName": PROJECT, "componentName": "nope"}),
            "400 Bad Request",
            "Referenced component not found (BAD_REQUEST)",
            id="unknown-component-400",
        ),
        pytest.param(
            workload_cr(port=70000),
            "422 Unprocessable Entity",
            "spec.endpoints.http.port: Invalid value: 70000: spec.endpoints.http.port in body should be less than "
            "or equal to 65535",
            id="port-422",
        ),
        pytest.param(
            _with_spec(endpoints={"http": {"type": "REST", "port": 8080}}),
            "422 Unprocessable Entity",
            'spec.endpoints.http.type: Unsupported value: "REST": supported values:',
            id="endpoint-type-422",
        ),
    ],
)
def test_rejections_name_method_path_status_and_server_error(
    backend: Backend, backend_secret: Path, cr: dict[str, Any], status: str, expected: str
) -> None:
    cr = json.loads(json.dumps(cr))
    cr["metadata"]["namespace"] = backend.namespace
    error = expect_failure(backend_options(backend, backend_secret), cr)
    assert error.exit_code == contract.EXIT_FAILURE
    message = str(error)
    assert message.startswith(f"POST {workloads_path(backend)} -> {status}: ")
    assert expected in message
    assert backend.workload(NAME) is None
    assert ANNOTATION_WORKLOAD not in run_annotations(backend)


def test_422_on_replace_is_reported(backend: Backend, backend_secret: Path) -> None:
    backend.put_workload(workload_cr())
    error = expect_failure(backend_options(backend, backend_secret), workload_cr(namespace=backend.namespace, port=0))
    assert str(error).startswith(f"PUT {workloads_path(backend)}/{NAME} -> 422 Unprocessable Entity: ")
    assert (
        "spec.endpoints.http.port: Invalid value: 0: spec.endpoints.http.port in body should be greater than or "
        "equal to 1" in str(error)
    )
    assert ANNOTATION_WORKLOAD not in run_annotations(backend)


def test_owner_is_immutable(backend: Backend, backend_secret: Path) -> None:
    backend.add_component(PROJECT, "other")
    backend.put_workload(workload_cr())
    moved = _with_spec(owner={"projectName": PROJECT, "componentName": "other"})
    moved["metadata"]["namespace"] = backend.namespace
    error = expect_failure(backend_options(backend, backend_secret), moved)
    assert str(error).startswith(f"PUT {workloads_path(backend)}/{NAME} -> 422 Unprocessable Entity: ")
    assert "spec.owner is immutable" in str(error)
    stored = backend.workload(NAME)
    assert stored is not None and stored["spec"]["owner"]["componentName"] == COMPONENT


def test_a_client_without_the_role_gets_403(backend: Backend, tmp_path: Path) -> None:
    """A valid token whose `sub` no ClusterAuthzRoleBinding names: authenticated, not authorized."""
    client_id, secret = backend.unbound_client
    secret_file = tmp_path / "unbound-secret"
    secret_file.write_text(secret)
    error = expect_failure(
        backend_options(backend, secret_file, "--oauth-client-id", client_id), workload_cr(namespace=backend.namespace)
    )
    assert error.exit_code == contract.EXIT_FAILURE
    assert str(error).startswith(f"POST {workloads_path(backend)} -> 403 Forbidden: ")
    assert "workload-publisher" in str(error)  # the step's hint names the role to grant
    assert backend.workload(NAME) is None


def test_a_rejected_token_is_refreshed_once(
    backend: Backend, backend_secret: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend.reject_next_tokens(1)
    run_publish(backend_options(backend, backend_secret), workload_cr(namespace=backend.namespace))
    assert backend.workload(NAME) is not None
    assert ANNOTATION_WORKLOAD in run_annotations(backend)  # the run PUT used the new token
    err = capsys.readouterr().err
    assert (
        f"POST {workloads_path(backend)} -> 401 Unauthorized: INVALID_TOKEN; invalid or expired token; "
        "getting a new token" in err
    )


def test_a_token_rejected_twice_fails(backend: Backend, backend_secret: Path) -> None:
    backend.reject_next_tokens(2)
    error = expect_failure(backend_options(backend, backend_secret), workload_cr(namespace=backend.namespace))
    assert error.exit_code == contract.EXIT_FAILURE
    assert str(error).startswith(f"POST {workloads_path(backend)} -> 401 Unauthorized: INVALID_TOKEN; ")
    assert "rejected again after a token refresh" in str(error)
    assert backend.workload(NAME) is None


def test_the_401_explanation_reaches_the_error(backend: Backend, backend_secret: Path) -> None:
    """openchoreo-api's JWT middleware answers 401 as {"error": "INVALID_TOKEN", "message": "invalid or expired
    token"}: the explanation is part of the error line (found by the real server, issue 12 gate 1)."""
    backend.reject_next_tokens(2)
    error = expect_failure(backend_options(backend, backend_secret), workload_cr(namespace=backend.namespace))
    assert "invalid or expired token" in str(error)


def test_bad_client_secret_fails_at_the_token_endpoint(backend: Backend, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("Wr0ng-secret-value-123")
    error = expect_failure(backend_options(backend, wrong), workload_cr(namespace=backend.namespace))
    assert error.exit_code == contract.EXIT_FAILURE
    assert str(error).startswith("POST /oauth2/token -> 401 Unauthorized: invalid_client; client authentication failed")
    assert "--oauth-client-id (env OAUTH_CLIENT_ID, parameter oauth-client-id)" in str(error)
    assert "Wr0ng-secret-value-123" not in str(error)
    assert backend.workload(NAME) is None


def test_missing_run_is_reported(backend: Backend, backend_secret: Path) -> None:
    ghost = "greeter-run-ffffffff"
    error = expect_failure(
        backend_options(backend, backend_secret, "--run-name", ghost), workload_cr(namespace=backend.namespace)
    )
    path = f"/api/v1/namespaces/{backend.namespace}/workflowruns/{ghost}"
    assert str(error).startswith(f"GET {path} -> 404 Not Found: ")
    assert "--run-name (env WORKFLOW_RUN_NAME, parameter run-name)" in str(error)
    assert backend.workload(NAME) is not None  # the Workload was delivered before the run was looked up


def test_server_down_exits_transient(backend: Backend, backend_secret: Path) -> None:
    """The API server is not listening (the token endpoint is): connection refused on every attempt → 75."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    options = backend_options(backend, backend_secret, "--api-server-url", f"http://127.0.0.1:{closed_port}")
    error = expect_failure(options, workload_cr(namespace=backend.namespace))
    assert error.exit_code == contract.EXIT_TRANSIENT
    assert str(error).startswith(f"POST {workloads_path(backend)}: ConnectError: ")
    assert "gave up after 3 attempt(s)" in str(error)


def test_the_step_entry_point_delivers_the_workload(backend: Backend, backend_secret: Path, tmp_path: Path) -> None:
    """`python -m steps.generate_workload --api-mode workloads …` as the template runs it, for a repository without
    a descriptor: the CR file is written, the Workload stored, the run annotated, no secret in the output."""
    source = tmp_path / "source"
    source.mkdir()
    output = tmp_path / "workload-cr.yaml"
    env = {key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy")}
    env["NO_PROXY"] = "127.0.0.1"
    argv = [
        sys.executable, "-m", "steps.generate_workload",
        "--image", IMAGE, "-n", backend.namespace, "-p", PROJECT, "-c", COMPONENT,
        "--source-dir", str(source), "--output-path", str(output),
        "--api-mode", "workloads", "--api-server-url", backend.url, "--oauth-token-url", backend.token_url,
        "--oauth-client-secret-file", str(backend_secret), "--run-name", RUN, "--api-retry-backoff", "0",
    ]  # fmt: skip
    result = processes.run(argv, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert output.is_file()
    stored = backend.workload(NAME)
    assert stored is not None
    assert stored["spec"]["container"]["image"] == IMAGE
    assert stored["spec"]["owner"] == {"projectName": PROJECT, "componentName": COMPONENT}
    annotations = run_annotations(backend)
    assert annotations[ANNOTATION_FROM_SOURCE] == "false"
    assert json.loads(annotations[ANNOTATION_WORKLOAD])["spec"]["container"]["image"] == IMAGE
    assert backend.client_secret not in result.stdout + result.stderr


# ------------------------------------------------------------------------- the same requests on the wire (fake)


def test_create_request_on_the_wire(fake: FakeOpenChoreo, secret_file: Path) -> None:
    cr = workload_cr()
    run_publish(options_for(fake, secret_file), cr)

    token_request, post, get_run, put_run = fake.requests
    assert token_request.route == "POST /oauth2/token"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token_request.form() == {
        "grant_type": "client_credentials",
        "client_id": "openchoreo-workload-publisher-client",
        "client_secret": CLIENT_SECRET,
    }
    assert "authorization" not in token_request.headers  # client_secret_post, never HTTP Basic
    token = fake.issued_tokens[0]
    assert post.route == f"POST {WORKLOADS_PATH}"
    assert post.headers["authorization"] == f"Bearer {token}"
    assert post.headers["content-type"] == "application/json"
    assert post.json() == without_type_meta(cr)
    assert (get_run.route, put_run.route) == (f"GET {RUN_PATH}", f"PUT {RUN_PATH}")
    assert "status" not in put_run.json()
    assert not fake.runs[(NS, RUN)].annotations[ANNOTATION_WORKLOAD].endswith("\n")


@pytest.mark.parametrize("from_source", [True, False])
def test_conflict_routes_on_the_wire(fake: FakeOpenChoreo, secret_file: Path, from_source: bool) -> None:
    fake.put_workload(NS, workload_cr(image="registry.local/old:v1"))
    run_publish(options_for(fake, secret_file), workload_cr(), from_source=from_source)
    routes = [r.route for r in fake.requests]
    if from_source:  # a full replace needs no read
        assert routes[1:3] == [f"POST {WORKLOADS_PATH}", f"PUT {WORKLOAD_PATH}"]
        assert f"GET {WORKLOAD_PATH}" not in routes
        assert fake.requests[2].json() == without_type_meta(workload_cr())
    else:
        assert routes[1:4] == [f"POST {WORKLOADS_PATH}", f"GET {WORKLOAD_PATH}", f"PUT {WORKLOAD_PATH}"]
        sent = fake.requests[3].json()
        assert "apiVersion" not in sent and "kind" not in sent and "status" not in sent


def test_rejections_are_not_retried(fake: FakeOpenChoreo, secret_file: Path) -> None:
    expect_failure(options_for(fake, secret_file), workload_cr(port=70000))
    assert [r.route for r in fake.requests] == ["POST /oauth2/token", f"POST {WORKLOADS_PATH}"]


def test_long_error_bodies_are_truncated(fake: FakeOpenChoreo, secret_file: Path) -> None:
    fake.inject("POST", WORKLOADS_PATH, 400, body="<html>" + "x" * 20000 + "</html>")
    message = str(expect_failure(options_for(fake, secret_file)))
    assert f"POST {WORKLOADS_PATH} -> 400 Bad Request: <html>xxx" in message
    assert "bytes in all)" in message
    assert len(message) < 1300


# ------------------------------------------------------------------------------------------------ tokens, 401


def test_401_refreshes_the_token_once_then_succeeds(
    fake: FakeOpenChoreo, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.issue_expired_tokens = 1
    run_publish(options_for(fake, secret_file))
    routes = [r.route for r in fake.requests]
    assert routes[:4] == [
        "POST /oauth2/token",
        f"POST {WORKLOADS_PATH}",
        "POST /oauth2/token",
        f"POST {WORKLOADS_PATH}",
    ]
    first, second = fake.issued_tokens
    assert fake.requests[1].headers["authorization"] == f"Bearer {first}"
    assert fake.requests[3].headers["authorization"] == f"Bearer {second}"
    assert fake.requests[-1].headers["authorization"] == f"Bearer {second}"  # the run PUT uses the new token
    assert (NS, NAME) in fake.workloads
    assert "401 Unauthorized" in capsys.readouterr().err


def test_401_after_a_refresh_fails(fake: FakeOpenChoreo, secret_file: Path) -> None:
    fake.issue_expired_tokens = 2
    error = expect_failure(options_for(fake, secret_file))
    assert error.exit_code == contract.EXIT_FAILURE
    assert str(error).startswith(
        f"POST {WORKLOADS_PATH} -> 401 Unauthorized: INVALID_TOKEN; invalid or expired token; rejected again after"
    )
    assert "rejected again after a token refresh" in str(error)
    assert [r.route for r in fake.requests].count("POST /oauth2/token") == 2
    assert len(fake.requests_to("POST", WORKLOADS_PATH)) == 2


def test_token_response_without_access_token_fails_without_echoing_it(fake: FakeOpenChoreo, secret_file: Path) -> None:
    fake.inject("POST", "/oauth2/token", 200, body={"token": "Opaque-token-not-to-print-42"})
    message = str(expect_failure(options_for(fake, secret_file)))
    assert message == "POST /oauth2/token -> 200 OK: the response has no access_token"


@pytest.mark.parametrize("scope", ["api://openchoreo/.default", None])
def test_scope_is_sent_only_when_set(fake: FakeOpenChoreo, secret_file: Path, scope: str | None) -> None:
    fake.required_scope = scope
    extra = ["--oauth-scope", scope] if scope else []
    run_publish(options_for(fake, secret_file, *extra))
    form = fake.requests[0].form()
    if scope:
        assert form["scope"] == scope
    else:
        assert "scope" not in form


def test_an_idp_that_requires_a_scope_fails_clearly_without_one(fake: FakeOpenChoreo, secret_file: Path) -> None:
    fake.required_scope = "api://openchoreo/.default"
    message = str(expect_failure(options_for(fake, secret_file)))
    assert message.startswith("POST /oauth2/token -> 400 Bad Request: invalid_scope; scope 'api://openchoreo/.default'")


def test_client_secret_from_env_when_no_file_is_mounted(fake: FakeOpenChoreo) -> None:
    options = options_for(fake, None, environ={"OAUTH_CLIENT_SECRET": CLIENT_SECRET})
    run_publish(options)
    assert fake.requests[0].form()["client_secret"] == CLIENT_SECRET


def test_host_header_overrides(secret_file: Path) -> None:
    with FakeOpenChoreo(
        client_secret=CLIENT_SECRET, api_host="api.openchoreo.localhost", oauth_host="thunder.openchoreo.localhost"
    ) as server:
        server.add_component(NS, PROJECT, COMPONENT)
        server.add_run(NS, RUN)
        # Without the overrides the "ingress" has no route for the Host.
        error = expect_failure(options_for(server, secret_file))
        assert str(error).startswith("POST /oauth2/token -> 404 Not Found: 404 page not found")
        server.requests.clear()
        run_publish(
            options_for(
                server,
                secret_file,
                "--api-host-header",
                "api.openchoreo.localhost",
                "--oauth-host-header",
                "thunder.openchoreo.localhost",
            )
        )
        hosts = {(r.method, r.path): r.headers["host"] for r in server.requests}
        assert hosts[("POST", "/oauth2/token")] == "thunder.openchoreo.localhost"
        assert hosts[("POST", WORKLOADS_PATH)] == "api.openchoreo.localhost"
        assert hosts[("PUT", RUN_PATH)] == "api.openchoreo.localhost"


# --------------------------------------------------------------------------------------- retries, transport


@pytest.mark.parametrize("status", [HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.INTERNAL_SERVER_ERROR, 429])
def test_5xx_and_429_are_retried_then_succeed(
    fake: FakeOpenChoreo, secret_file: Path, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    fake.inject("POST", WORKLOADS_PATH, status, times=2)
    run_publish(options_for(fake, secret_file))
    assert len(fake.requests_to("POST", WORKLOADS_PATH)) == 3
    assert (NS, NAME) in fake.workloads
    err = capsys.readouterr().err
    phrase = HTTPStatus(status).phrase
    assert f"POST {WORKLOADS_PATH} -> {status} {phrase}: injected (INTERNAL_ERROR); retrying in 0s" in err
    assert "(attempt 3 of 3)" in err


def test_5xx_forever_exits_transient_after_the_configured_attempts(fake: FakeOpenChoreo, secret_file: Path) -> None:
    fake.inject("POST", WORKLOADS_PATH, 502, times=None)
    error = expect_failure(options_for(fake, secret_file, "--api-retries", "4"))
    assert error.exit_code == contract.EXIT_TRANSIENT
    assert str(error) == (
        f"POST {WORKLOADS_PATH} -> 502 Bad Gateway: injected (INTERNAL_ERROR); gave up after 4 attempt(s)"
    )
    assert len(fake.requests_to("POST", WORKLOADS_PATH)) == 4


def test_token_endpoint_5xx_is_retried(fake: FakeOpenChoreo, secret_file: Path) -> None:
    fake.inject("POST", "/oauth2/token", 500, times=1)
    run_publish(options_for(fake, secret_file))
    assert len(fake.requests_to("POST", "/oauth2/token")) == 2


def test_dropped_connections_are_retried(fake: FakeOpenChoreo, secret_file: Path) -> None:
    fake.inject("POST", WORKLOADS_PATH, None, times=2)
    fake.inject("GET", RUN_PATH, None, times=1)
    run_publish(options_for(fake, secret_file))
    assert len(fake.requests_to("POST", WORKLOADS_PATH)) == 3
    assert len(fake.requests_to("GET", RUN_PATH)) == 2
    assert ANNOTATION_WORKLOAD in fake.runs[(NS, RUN)].annotations


def test_answer_lost_after_create_is_retried_into_an_update(fake: FakeOpenChoreo, secret_file: Path) -> None:
    """The POST created the Workload but the answer was lost: the retry gets 409 and updates instead."""
    fake.inject("POST", WORKLOADS_PATH, None, after_handling=True)
    run_publish(options_for(fake, secret_file), from_source=False)
    routes = [r.route for r in fake.requests]
    assert routes[1:5] == [
        f"POST {WORKLOADS_PATH}",
        f"POST {WORKLOADS_PATH}",
        f"GET {WORKLOAD_PATH}",
        f"PUT {WORKLOAD_PATH}",
    ]
    assert fake.workloads[(NS, NAME)]["spec"]["container"]["image"] == IMAGE


def test_dropped_connections_forever_exit_transient(fake: FakeOpenChoreo, secret_file: Path) -> None:
    fake.inject("POST", WORKLOADS_PATH, None, times=None)
    error = expect_failure(options_for(fake, secret_file))
    assert error.exit_code == contract.EXIT_TRANSIENT
    assert str(error).startswith(f"POST {WORKLOADS_PATH}: RemoteProtocolError: Server disconnected")
    assert str(error).endswith("gave up after 3 attempt(s)")


# ---------------------------------------------------------------------------------------------------- TLS


def test_tls_with_the_ca_bundle(tls_files: TlsFiles, secret_file: Path) -> None:
    with FakeOpenChoreo(client_secret=CLIENT_SECRET, tls=tls_files) as server:
        server.add_component(NS, PROJECT, COMPONENT)
        server.add_run(NS, RUN)
        assert server.url.startswith("https://127.0.0.1:")
        run_publish(options_for(server, secret_file, "--ca-bundle", str(tls_files.ca_cert)))
        assert (NS, NAME) in server.workloads


def test_tls_without_the_ca_bundle_fails_clearly_and_is_not_retried(
    tls_files: TlsFiles, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenChoreo(client_secret=CLIENT_SECRET, tls=tls_files) as server:
        server.add_component(NS, PROJECT, COMPONENT)
        assert not Path(contract.API_CA_DIR, "ca.crt").exists()  # the default --ca-bundle is not mounted here
        error = expect_failure(options_for(server, secret_file))
        message = str(error)
        assert error.exit_code == contract.EXIT_FAILURE
        assert message.startswith(f"POST /oauth2/token: TLS verification of {server.url} failed (")
        assert "certificate" in message
        assert "--ca-bundle (env API_CA_BUNDLE)" in message
        assert server.requests == []  # the handshake failed: nothing was sent in clear
        assert "retrying" not in capsys.readouterr().err


def test_tls_verification_can_be_turned_off(
    tls_files: TlsFiles, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenChoreo(client_secret=CLIENT_SECRET, tls=tls_files) as server:
        server.add_component(NS, PROJECT, COMPONENT)
        server.add_run(NS, RUN)
        run_publish(options_for(server, secret_file, "--api-tls-verify", "false"))
        assert (NS, NAME) in server.workloads
    assert "TLS verification is off" in capsys.readouterr().err


def test_a_ca_bundle_that_is_not_pem_is_reported(fake: FakeOpenChoreo, secret_file: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "ca.crt"
    bogus.write_text("not a certificate\n")
    error = expect_failure(options_for(fake, secret_file, "--ca-bundle", str(bogus)))
    assert str(error).startswith(f"--ca-bundle (env API_CA_BUNDLE): cannot load {bogus}")


# ------------------------------------------------------------------------------------------ run annotations


RUN_CONFLICT = {"error": "the object has been modified; please apply your changes to the latest version"}


def test_run_annotation_retries_on_conflict(
    fake: FakeOpenChoreo, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """OpenChoreo v1.2.3 retries its own update on conflict and never answers 409 here (gate 1 showed it); the
    step still re-reads and retries on a 409, for servers that pass the conflict through."""
    fake.runs[(NS, RUN)].annotations["keep"] = "me"
    fake.inject("PUT", RUN_PATH, 409, times=2, body=RUN_CONFLICT | {"code": "CONFLICT"})
    run_publish(options_for(fake, secret_file))
    assert len(fake.requests_to("PUT", RUN_PATH)) == 3
    assert len(fake.requests_to("GET", RUN_PATH)) == 3  # re-read after each conflict
    annotations = fake.runs[(NS, RUN)].annotations
    assert annotations["keep"] == "me"
    assert annotations[ANNOTATION_FROM_SOURCE] == "true"
    assert "409 Conflict" in capsys.readouterr().err


def test_run_annotation_gives_up_after_bounded_conflicts(fake: FakeOpenChoreo, secret_file: Path) -> None:
    fake.inject("PUT", RUN_PATH, 409, times=None, body=RUN_CONFLICT | {"code": "CONFLICT"})
    error = expect_failure(options_for(fake, secret_file))
    assert error.exit_code == contract.EXIT_TRANSIENT
    assert f"still conflicting after {RUN_ANNOTATION_ATTEMPTS} attempts" in str(error)
    assert len(fake.requests_to("PUT", RUN_PATH)) == RUN_ANNOTATION_ATTEMPTS


def test_no_run_name_means_no_run_requests(fake: FakeOpenChoreo, secret_file: Path) -> None:
    run_publish(dataclasses.replace(options_for(fake, secret_file), run_name=""))
    assert [r.route for r in fake.requests] == ["POST /oauth2/token", f"POST {WORKLOADS_PATH}"]


# ---------------------------------------------------------------------------------------------------- legacy


def legacy_options(fake: FakeOpenChoreo, token_file: Path, *extra: str) -> GenerateWorkloadOptions:
    return options_for(None, None, "--api-server-url", fake.url, "--token-file", str(token_file), *extra, mode="legacy")


def test_legacy_route_posts_the_bare_spec_with_the_token_file(
    fake: FakeOpenChoreo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(fake.legacy_token + "\n")
    cr = workload_cr()
    run_publish(legacy_options(fake, token_file, "--run-name", RUN, "--profile", "openchoreo-0.17"), cr)
    (request,) = fake.requests  # no token endpoint, no WorkflowRun annotation
    assert request.route == f"POST {LEGACY_PATH}"
    assert request.headers["authorization"] == f"Bearer {fake.legacy_token}"
    assert request.json() == cr["spec"]
    assert fake.legacy_workloads[(NS, COMPONENT)]["spec"] == cr["spec"]
    assert "warning" not in capsys.readouterr().err

    run_publish(legacy_options(fake, token_file), cr)  # the default profile is the 1.x one
    warning = "--api-mode=legacy targets OpenChoreo openchoreo-0.17 but --profile=openchoreo-1.x"
    assert warning in capsys.readouterr().err


def test_legacy_unknown_component_and_bad_token(fake: FakeOpenChoreo, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(fake.legacy_token)
    cr = workload_cr()
    cr["spec"]["owner"]["componentName"] = "ghost"
    error = expect_failure(legacy_options(fake, token_file), cr)
    path = f"/api/v1/namespaces/{NS}/projects/{PROJECT}/components/ghost/workloads"
    assert str(error) == f"POST {path} -> 404 Not Found: component ghost not found (COMPONENT_NOT_FOUND)"

    token_file.write_text("Stale-legacy-token-0000")
    error = expect_failure(legacy_options(fake, token_file))
    assert str(error).startswith(f"POST {LEGACY_PATH} -> 401 Unauthorized")
    assert "--token-file (env API_TOKEN_FILE) was rejected" in str(error)


def test_legacy_answer_without_success_fails(fake: FakeOpenChoreo, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(fake.legacy_token)
    fake.inject("POST", LEGACY_PATH, 201, body={"success": False, "error": "odd", "code": "X"})
    error = expect_failure(legacy_options(fake, token_file))
    assert str(error).startswith(f'POST {LEGACY_PATH} -> 201 Created: odd (X); expected {{"success": true}}')


# ------------------------------------------------------------------------------------------ option checking


@pytest.mark.parametrize(
    ("extra", "environ", "message"),
    [
        (
            [],
            {},
            "--api-server-url (env API_SERVER_URL, parameter api-server-url) is required when --api-mode=workloads",
        ),
        (
            ["--api-server-url", "http://127.0.0.1:1"],
            {},
            "--oauth-token-url (env OAUTH_TOKEN_URL, parameter oauth-token-url) is required when --api-mode=workloads",
        ),
        (
            ["--api-server-url", "127.0.0.1:8080", "--oauth-token-url", "http://127.0.0.1:1/t"],
            {},
            "--api-server-url (env API_SERVER_URL, parameter api-server-url): "
            "expected an http(s) URL, got '127.0.0.1:8080'",
        ),
        (
            ["--api-server-url", "http://127.0.0.1:1", "--oauth-token-url", "http://127.0.0.1:1/t"],
            {},
            "the OAuth2 client secret is required when --api-mode=workloads: mount it at "
            "--oauth-client-secret-file (env OAUTH_CLIENT_SECRET_FILE)",
        ),
        (
            ["--api-server-url", "http://127.0.0.1:1", "--oauth-token-url", "http://127.0.0.1:1/t"],
            {"OAUTH_CLIENT_SECRET_FILE": "/nonexistent/client-secret"},
            "--oauth-client-secret-file (env OAUTH_CLIENT_SECRET_FILE): /nonexistent/client-secret does not exist",
        ),
        (
            ["--api-server-url", "http://127.0.0.1:1", "--ca-bundle", "/nonexistent/ca.crt"],
            {},
            "--ca-bundle (env API_CA_BUNDLE): /nonexistent/ca.crt does not exist or is not a file",
        ),
        (
            ["--api-server-url", "http://127.0.0.1:1", "--api-retries", "0"],
            {},
            "--api-retries (env API_RETRIES): expected 1..20, got '0'",
        ),
        (
            ["--api-server-url", "http://127.0.0.1:1"],
            {"API_RETRY_BACKOFF_SECONDS": "soon"},
            "--api-retry-backoff (env API_RETRY_BACKOFF_SECONDS): expected a number, got 'soon'",
        ),
        (
            ["--api-server-url", "http://127.0.0.1:1", "--api-tls-verify", "maybe"],
            {},
            "--api-tls-verify (env API_TLS_VERIFY, parameter api-tls-verify): expected true or false, got 'maybe'",
        ),
    ],
)
def test_options_are_checked_up_front(extra: list[str], environ: dict[str, str], message: str) -> None:
    argv = ["--image", IMAGE, "-n", NS, "-p", PROJECT, "-c", COMPONENT, "--api-mode", "workloads", *extra]
    options = GenerateWorkloadOptions.parse("generate-workload-cr", "test", argv=argv, environ=environ)
    with pytest.raises(StepError) as caught:
        validate_api_options(options)
    assert str(caught.value).startswith(message)
    assert caught.value.exit_code == contract.EXIT_USAGE


def test_unknown_mode_and_legacy_without_token(tmp_path: Path) -> None:
    with pytest.raises(
        StepError,
        match=r"--api-mode \(env API_MODE, parameter api-mode\): expected one of auto, workloads, legacy, off",
    ):
        validate_api_options(GenerateWorkloadOptions.from_values({"api_mode": "sideways"}))
    options = options_for(None, None, "--api-server-url", "http://127.0.0.1:1", mode="legacy")
    with pytest.raises(StepError, match=r"--token-file \(env API_TOKEN_FILE\): .* does not exist"):
        validate_api_options(options)


def test_off_sends_nothing_and_needs_no_httpx() -> None:
    code = (
        "import sys; sys.modules['httpx'] = None\n"
        "from steps.common.log import StepLogger\n"
        "from steps.generate_workload.api import publish\n"
        "from steps.generate_workload.options import GenerateWorkloadOptions\n"
        "argv = ['--image', 'i', '-n', 'n', '-p', 'p', '-c', 'c', '--api-mode', 'off']\n"
        "o = GenerateWorkloadOptions.parse('g', 'd', argv=argv, environ={})\n"
        "assert o.api_mode == 'off'\n"
        "publish({'metadata': {}}, from_source=True, opts=o, log=StepLogger('g'))\n"
        "print('ok')\n"
    )
    result = processes.python_code(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


# --------------------------------------------------------------------------------------------------- secrets


def test_secrets_never_reach_output_or_errors(
    secret_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that echoes credentials in its error bodies: the step's lines and errors stay clean."""
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []
    with FakeOpenChoreo(client_secret="the-server-expects-another-one", echo_secrets_in_errors=True) as server:
        server.add_component(NS, PROJECT, COMPONENT)
        # 1. The IdP rejects the secret and quotes it back.
        messages.append(str(expect_failure(options_for(server, secret_file))))
        assert CLIENT_SECRET in server.requests[0].body.decode() and "[REDACTED]" in messages[-1]
        # 2. The API rejects the token and quotes the Authorization header back, twice.
        server.client_secret = CLIENT_SECRET
        server.issue_expired_tokens = 2
        messages.append(str(expect_failure(options_for(server, secret_file))))
        assert "[REDACTED]" in messages[-1]
        # 3. The secret given through env instead of a file.
        server.client_secret = "yet-another-expected-secret"
        env_secret = "Env-provided-secret-value-5150"
        options = options_for(server, None, environ={"OAUTH_CLIENT_SECRET": env_secret})
        messages.append(str(expect_failure(options)))
        tokens = list(server.issued_tokens)
        settings = validate_api_options(options_for(server, secret_file))
        messages.append(repr(settings))
    captured = capsys.readouterr()
    seen = "\n".join([captured.out, captured.err, caplog.text, *messages])
    assert tokens, "the scenario must have issued tokens"
    for secret in [CLIENT_SECRET, env_secret, *tokens]:
        assert secret not in seen


def test_the_step_as_a_subprocess_keeps_secrets_out_of_its_output(fake: FakeOpenChoreo, tmp_path: Path) -> None:
    """`python -m steps.generate_workload --api-mode workloads …` end to end, with a descriptor-less app."""
    if not (ROOT / "steps" / "generate_workload" / "__main__.py").is_file():
        pytest.fail("steps/generate_workload/__main__.py is missing: the converter's entry point is not there yet")
    source = tmp_path / "source"
    source.mkdir()
    secret = tmp_path / "client-secret"
    secret.write_text(CLIENT_SECRET)
    fake.echo_secrets_in_errors = True
    fake.issue_expired_tokens = 2  # fails after one refresh; the 401 bodies quote the bearer token
    env = {key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy")}
    env["NO_PROXY"] = "127.0.0.1"
    argv = [
        sys.executable, "-m", "steps.generate_workload",
        "--image", IMAGE, "-n", NS, "-p", PROJECT, "-c", COMPONENT,
        "--source-dir", str(source), "--output-path", str(tmp_path / "workload-cr.yaml"),
        "--api-mode", "workloads", "--api-server-url", fake.url, "--oauth-token-url", fake.token_url,
        "--oauth-client-secret-file", str(secret), "--run-name", RUN,
        "--api-retries", "2", "--api-retry-backoff", "0",
    ]  # fmt: skip
    result = processes.run(argv, env=env, timeout=60)
    assert result.returncode == contract.EXIT_FAILURE, result.stderr
    assert "401 Unauthorized" in result.stderr
    assert fake.issued_tokens
    for value in [CLIENT_SECRET, *fake.issued_tokens]:
        assert value not in result.stdout
        assert value not in result.stderr

    fake.issue_expired_tokens = 0
    fake.requests.clear()
    result = processes.run(argv, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert fake.workloads[(NS, NAME)]["spec"]["container"]["image"] == IMAGE
    assert fake.runs[(NS, RUN)].annotations[ANNOTATION_FROM_SOURCE] == "false"
    for value in [CLIENT_SECRET, *fake.issued_tokens]:
        assert value not in result.stdout + result.stderr
