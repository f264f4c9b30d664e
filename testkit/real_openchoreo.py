"""The real OpenChoreo API server on 127.0.0.1 (issue 12, gate 1): etcd, kube-apiserver, OpenChoreo's CRDs and
`openchoreo-api` v1.2.3, all built from the Go module proxy by scripts/cluster/build.sh (cached by version outside
the repository).

`RealOpenChoreo` starts, in a temporary directory of its own and on free ports of 127.0.0.1:
- etcd (plain HTTP on loopback) and kube-apiserver (TLS with a throwaway CA, a static admin token,
  `--authorization-mode AlwaysAllow`: only the test and openchoreo-api hold the token);
- every CRD of OpenChoreo v1.2.3's `config/crd/bases/`, read from its Go module at test time;
- a `ClusterAuthzRole` granting the workload publisher exactly the five actions the step needs, bound to the
  publisher's client id (the JWT `sub`) by a `ClusterAuthzRoleBinding`;
- testkit/oauth_issuer.py, the stand-in identity provider (client credentials → RS256 JWT, JWKS);
- `openchoreo-api` with security and authorization on, cluster gateway and MCP off.

No node, no controller manager: nothing acts on the objects; tests seed Components and WorkflowRuns through the
kube-apiserver and read back what openchoreo-api stored. Teardown stops every process by PID (openchoreo-api,
kube-apiserver, then etcd) and removes the directory. Any failure to build or start raises `ClusterSetupError`
whose message starts with one line saying what failed, followed by the component logs that explain it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from testkit.fake_openchoreo import make_tls_files
from testkit.oauth_issuer import OAuthIssuer
from testkit.paths import ROOT

OPENCHOREO_MODULE = "github.com/openchoreo/openchoreo"
BUILD_SCRIPT = ROOT / "scripts" / "cluster" / "build.sh"

PUBLISHER_CLIENT_ID = "openchoreo-workload-publisher-client"
UNBOUND_CLIENT_ID = "some-other-ci-client"  # a valid client of the IdP that no binding names
PUBLISHER_ROLE = "workload-publisher"
PUBLISHER_ACTIONS = ("workload:create", "workload:update", "workload:view", "workflowrun:view", "workflowrun:update")
GROUP_VERSION = "openchoreo.dev/v1alpha1"

BUILD_TIMEOUT_SECONDS = 3600  # cold builds of three large Go programs on 2 shared cores
READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 15.0
LOG_TAIL_LINES = 40


class ClusterSetupError(RuntimeError):
    """The real-server tier could not be built or started. The first line says what; the rest are logs."""


@dataclass(frozen=True)
class ClusterBinaries:
    """Paths named <name>-<version> by scripts/cluster/build.sh, the one place the versions are chosen."""

    etcd: Path
    kube_apiserver: Path
    openchoreo_api: Path

    @property
    def openchoreo_version(self) -> str:
        return self.openchoreo_api.name.removeprefix("openchoreo-api-")


def _go_env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "GOWORK": "off"}


def run_build_script(
    arguments: Sequence[str], expected: int, *, gate: str, what: str, error: type[ClusterSetupError] = ClusterSetupError
) -> list[Path]:
    """scripts/cluster/build.sh `arguments`: the paths of the cached (or freshly built) binaries, one a line. A build
    that fails, times out or prints other than `expected` existing paths raises `error`, whose first line names the
    gate and `what` cannot be tested, followed by the build's output."""
    try:
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT), *arguments],
            capture_output=True,
            text=True,
            check=False,
            timeout=BUILD_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as timeout:
        raise error(f"{gate}: building {' '.join(arguments)} took over {BUILD_TIMEOUT_SECONDS} s") from timeout
    paths = [Path(line) for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or len(paths) != expected or not all(path.is_file() for path in paths):
        tail = "\n".join(result.stderr.splitlines()[-LOG_TAIL_LINES:])
        raise error(
            f"{gate}: scripts/cluster/build.sh {' '.join(arguments)} failed (exit {result.returncode}); "
            f"{what} cannot be tested\n{tail}"
        )
    return paths


def build_binaries() -> ClusterBinaries:
    """Build (or reuse from the cache) the three binaries. Raises ClusterSetupError with the build's output."""
    etcd, kube_apiserver, openchoreo_api = run_build_script(
        ["all"], 3, gate="gate 1", what="the real OpenChoreo API server"
    )
    return ClusterBinaries(etcd=etcd, kube_apiserver=kube_apiserver, openchoreo_api=openchoreo_api)


def go_module_dir(module: str, version: str, *, gate: str, error: type[ClusterSetupError] = ClusterSetupError) -> Path:
    """A module's directory in the Go module cache (downloaded through the proxy if needed)."""
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=False,
        env=_go_env(),
        timeout=600,
    )
    try:
        return Path(json.loads(result.stdout)["Dir"])
    except (ValueError, KeyError) as failure:
        raise error(
            f"{gate}: go mod download {module}@{version} failed: {(result.stderr or result.stdout).strip()[:500]}"
        ) from failure


def openchoreo_module_dir(version: str) -> Path:
    """OpenChoreo's module in the Go module cache (downloaded through the proxy if needed)."""
    return go_module_dir(OPENCHOREO_MODULE, version, gate="gate 1")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


@dataclass
class _Process:
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # its own process group: a stray child cannot outlive the stop
            )

    def exited(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        pid = self.popen.pid
        os.killpg(pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)
            self.popen.wait(timeout=STOP_TIMEOUT_SECONDS)


class KubeApi:
    """The few kube-apiserver calls the tests need, over HTTPS with the admin token."""

    def __init__(self, url: str, token: str, ca_cert: Path) -> None:
        self.url = url
        self._client = httpx.Client(
            base_url=url,
            verify=ssl.create_default_context(cafile=str(ca_cert)),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
            trust_env=False,  # never through a proxy: everything stays on 127.0.0.1
        )

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200, 201)) -> Any:
        response = self._client.request(method, path, json=body)
        if response.status_code not in ok:
            raise RuntimeError(f"kube-apiserver {method} {path} -> {response.status_code}: {response.text[:800]}")
        return response.json() if response.content else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def status(self, path: str) -> int:
        return self._client.get(path).status_code

    def create(self, document: dict[str, Any]) -> Any:
        return self.request("POST", collection_path(document), document)

    def replace(self, document: dict[str, Any]) -> Any:
        return self.request("PUT", object_path(document), document)


def collection_path(document: dict[str, Any]) -> str:
    api_version, kind = document["apiVersion"], document["kind"]
    plural = _PLURALS[kind]
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    namespace = document["metadata"].get("namespace")
    return f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"


def object_path(document: dict[str, Any]) -> str:
    return f"{collection_path(document)}/{document['metadata']['name']}"


_PLURALS = {
    "Namespace": "namespaces",
    "CustomResourceDefinition": "customresourcedefinitions",
    "Component": "components",
    "Workload": "workloads",
    "WorkflowRun": "workflowruns",
    "ClusterAuthzRole": "clusterauthzroles",
    "ClusterAuthzRoleBinding": "clusterauthzrolebindings",
    # gates 2-3 (testkit/real_node.py, real_argo.py)
    "Pod": "pods",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "ServiceAccount": "serviceaccounts",
    "PersistentVolume": "persistentvolumes",
    "Role": "roles",
    "RoleBinding": "rolebindings",
}


def crd_established(api: KubeApi, name: str) -> bool:
    """True once the CustomResourceDefinition `name` reports Established (no conditions yet: False)."""
    crd = api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    conditions = crd.get("status", {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def _wait_for(what: str, check: Callable[[], bool], processes: list[_Process], timeout: float) -> float:
    """Poll `check` until true; fail at once when one of `processes` exits. Returns the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    last_error = ""
    while time.monotonic() < deadline:
        for process in processes:
            code = process.exited()
            if code is not None:
                raise ClusterSetupError(f"gate 1: {process.name} exited with {code} while waiting for {what}")
        try:
            if check():
                return time.monotonic() - started
        except (httpx.HTTPError, RuntimeError, OSError) as error:
            last_error = f" (last error: {error})"
        time.sleep(0.2)
    raise ClusterSetupError(f"gate 1: {what} not ready after {timeout:.0f} s{last_error}")


@dataclass
class RealOpenChoreo:
    """The running system. Use as a context manager; see the module docstring."""

    binaries: ClusterBinaries
    client_secret: str
    unbound_client_secret: str = field(default_factory=lambda: "unbound-" + secrets.token_urlsafe(12))
    timings: dict[str, float] = field(default_factory=dict)
    url: str = ""
    kube: KubeApi | None = None
    issuer: OAuthIssuer | None = None
    directory: Path | None = None
    processes: list[_Process] = field(default_factory=list)
    """What this instance started (etcd, kube-apiserver, openchoreo-api), stopped in reverse order."""
    _namespaces: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    @property
    def token_url(self) -> str:
        assert self.issuer is not None
        return self.issuer.token_url

    @property
    def api(self) -> KubeApi:
        assert self.kube is not None
        return self.kube

    def __enter__(self) -> RealOpenChoreo:
        try:
            self.start()
        except BaseException as error:
            logs = self.logs()
            self.stop()
            if isinstance(error, ClusterSetupError):
                raise ClusterSetupError(f"{error}\n{logs}") from None
            raise ClusterSetupError(
                f"gate 1: starting the real OpenChoreo API server failed: {error}\n{logs}"
            ) from error
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="pack-gate1-"))
        started = time.monotonic()
        tls = make_tls_files(self.directory / "pki")
        service_account_key = self.directory / "pki" / "service-account.key"
        new_key = ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"]
        subprocess.run([*new_key, str(service_account_key)], check=True, capture_output=True)
        admin_token = secrets.token_urlsafe(24)
        token_file = self.directory / "tokens.csv"
        token_file.write_text(f'{admin_token},gate1-admin,gate1-admin,"system:masters"\n')
        token_file.chmod(0o600)

        etcd_port, etcd_peer_port = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = _Process(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name", "gate1",
                "--data-dir", str(self.directory / "etcd"),
                "--listen-client-urls", etcd_url,
                "--advertise-client-urls", etcd_url,
                "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer_port}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer_port}",
                "--initial-cluster", f"gate1=http://127.0.0.1:{etcd_peer_port}",
                "--log-level", "warn",
            ],
            self.directory / "etcd.log",
        )  # fmt: skip
        self.processes.append(etcd)
        etcd.start()
        with httpx.Client(trust_env=False, timeout=2.0) as plain:
            self.timings["etcd"] = _wait_for(
                "etcd /health", lambda: plain.get(f"{etcd_url}/health").status_code == 200, [etcd], 30
            )

        api_port = free_port()
        api_url = f"https://127.0.0.1:{api_port}"
        apiserver = _Process(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                "--etcd-servers", etcd_url,
                "--bind-address", "127.0.0.1",
                "--advertise-address", "127.0.0.1",
                "--secure-port", str(api_port),
                "--tls-cert-file", str(tls.server_cert),
                "--tls-private-key-file", str(tls.server_key),
                "--client-ca-file", str(tls.ca_cert),
                "--token-auth-file", str(token_file),
                "--authorization-mode", "AlwaysAllow",
                "--anonymous-auth=false",
                "--service-account-issuer", api_url,
                "--service-account-key-file", str(service_account_key),
                "--service-account-signing-key-file", str(service_account_key),
                "--service-cluster-ip-range", "10.0.0.0/24",
                "--endpoint-reconciler-type", "none",
                "--cert-dir", str(self.directory / "apiserver-certs"),
                "--profiling=false",
            ],
            self.directory / "kube-apiserver.log",
        )  # fmt: skip
        self.processes.append(apiserver)
        apiserver.start()
        self.kube = KubeApi(api_url, admin_token, tls.ca_cert)
        kube = self.kube
        self.timings["kube-apiserver"] = _wait_for(
            "kube-apiserver /readyz", lambda: kube.status("/readyz") == 200, [etcd, apiserver], READY_TIMEOUT_SECONDS
        )

        crd_started = time.monotonic()
        crd_names = self.apply_crds()
        _wait_for(
            f"{len(crd_names)} OpenChoreo CRDs Established",
            lambda: all(self.established(name) for name in crd_names),
            [etcd, apiserver],
            READY_TIMEOUT_SECONDS,
        )
        self.timings["crds"] = time.monotonic() - crd_started
        self.grant_the_publisher()

        self.issuer = OAuthIssuer(
            self.directory / "issuer",
            {PUBLISHER_CLIENT_ID: self.client_secret, UNBOUND_CLIENT_ID: self.unbound_client_secret},
        ).__enter__()
        kubeconfig = self._write_kubeconfig(api_url, admin_token, tls.ca_cert)
        self.url = self.start_openchoreo_api(kubeconfig, [etcd, apiserver])
        self.timings["total"] = time.monotonic() - started

    def apply_crds(self) -> list[str]:
        bases = openchoreo_module_dir(self.binaries.openchoreo_version) / "config" / "crd" / "bases"
        files = sorted(bases.glob("*.yaml"))
        if not files:
            raise ClusterSetupError(f"gate 1: no CRDs in {bases}")
        names = []
        for path in files:
            crd = yaml.safe_load(path.read_text())
            crd.pop("status", None)
            self.api.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
            names.append(crd["metadata"]["name"])
        return names

    def established(self, name: str) -> bool:
        return crd_established(self.api, name)

    def grant_the_publisher(self) -> None:
        self.api.create(
            {
                "apiVersion": GROUP_VERSION,
                "kind": "ClusterAuthzRole",
                "metadata": {"name": PUBLISHER_ROLE},
                "spec": {
                    "description": "What generate-workload-cr needs: upsert Workloads, annotate WorkflowRuns",
                    "actions": list(PUBLISHER_ACTIONS),
                },
            }
        )
        self.api.create(
            {
                "apiVersion": GROUP_VERSION,
                "kind": "ClusterAuthzRoleBinding",
                "metadata": {"name": f"{PUBLISHER_ROLE}-binding"},
                "spec": {
                    "entitlement": {"claim": "sub", "value": PUBLISHER_CLIENT_ID},
                    "roleMappings": [{"roleRef": {"kind": "ClusterAuthzRole", "name": PUBLISHER_ROLE}}],
                    "effect": "allow",
                },
            }
        )

    def _write_kubeconfig(self, api_url: str, token: str, ca_cert: Path) -> Path:
        assert self.directory is not None
        path = self.directory / "kubeconfig"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "gate1", "cluster": {"server": api_url, "certificate-authority": str(ca_cert)}}],
            "users": [{"name": "gate1-admin", "user": {"token": token}}],
            "contexts": [{"name": "gate1", "context": {"cluster": "gate1", "user": "gate1-admin"}}],
            "current-context": "gate1",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def start_openchoreo_api(self, kubeconfig: Path, upstream: list[_Process]) -> str:
        assert self.directory is not None and self.issuer is not None
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        config = {
            "server": {"bind_address": "127.0.0.1", "port": port, "public_url": url},
            "security": {
                "enabled": True,
                "authentication": {"jwt": {"audiences": []}},
                "subjects": {
                    "user": {
                        "display_name": "User",
                        "priority": 1,
                        "mechanisms": {"jwt": {"entitlement": {"claim": "groups", "display_name": "User Group"}}},
                    },
                    "service_account": {
                        "display_name": "Service Account",
                        "priority": 2,
                        "mechanisms": {"jwt": {"entitlement": {"claim": "sub", "display_name": "Client ID"}}},
                    },
                },
                "authorization": {"enabled": True, "cache": {"enabled": False}},
            },
            "identity": {
                "oidc": {
                    "issuer": self.issuer.url,
                    "jwks_url": self.issuer.jwks_url,
                    "authorization_endpoint": f"{self.issuer.url}/oauth2/authorize",
                    "token_endpoint": self.issuer.token_url,
                }
            },
            "cluster_gateway": {"enabled": False},
            "mcp": {"enabled": False},
            "secret_management": {"enabled": False},
            "logging": {"level": "debug", "format": "text"},
        }
        config_path = self.directory / "openchoreo-api.yaml"
        config_path.write_text(yaml.safe_dump(config))
        env = {key: value for key, value in os.environ.items() if not key.startswith("OC_API__")}
        env = {key: value for key, value in env.items() if not key.lower().endswith("_proxy")}
        env.update({"KUBECONFIG": str(kubeconfig), "NO_PROXY": "127.0.0.1", "HOME": str(self.directory)})
        server = _Process(
            "openchoreo-api",
            [str(self.binaries.openchoreo_api), "--config", str(config_path)],
            self.directory / "openchoreo-api.log",
            env=env,
        )
        self.processes.append(server)
        server.start()
        with httpx.Client(trust_env=False, timeout=2.0) as plain:
            self.timings["openchoreo-api"] = _wait_for(
                "openchoreo-api /ready",
                lambda: plain.get(f"{url}/ready").status_code == 200,
                [*upstream, server],
                READY_TIMEOUT_SECONDS,
            )
        return url

    def stop(self) -> None:
        # openchoreo-api first, then kube-apiserver, then etcd (stopping the last two together can hang).
        for process in reversed(self.processes):
            process.stop()
        if self.issuer is not None:
            self.issuer.__exit__(None, None, None)
            self.issuer = None
        if self.kube is not None:
            self.kube.close()
            self.kube = None
        if self.directory is not None and os.environ.get("PACK_KEEP_CLUSTER_DIR") != "1":
            shutil.rmtree(self.directory, ignore_errors=True)

    def logs(self) -> str:
        """The tail of every component's log, for a failure message."""
        return "\n".join(
            f"----- {process.name} (pid {process.popen.pid if process.popen else '-'}, "
            f"exit {process.exited()}) {process.log}\n{_tail(process.log)}"
            for process in self.processes
        )

    # ------------------------------------------------------------------------------------------------ seeding
    def new_namespace(self) -> str:
        name = f"gate1-{next(self._namespaces)}"
        self.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def add_component(self, namespace: str, project: str, component: str) -> None:
        self.api.create(
            {
                "apiVersion": GROUP_VERSION,
                "kind": "Component",
                "metadata": {"name": component, "namespace": namespace},
                "spec": {
                    "owner": {"projectName": project},
                    "componentType": {"kind": "ClusterComponentType", "name": "deployment/service"},
                    "workflow": {"kind": "ClusterWorkflow", "name": "dockerfile-builder"},
                },
            }
        )

    def add_run(self, namespace: str, name: str, project: str, component: str) -> None:
        self.api.create(
            {
                "apiVersion": GROUP_VERSION,
                "kind": "WorkflowRun",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": {"openchoreo.dev/project": project, "openchoreo.dev/component": component},
                },
                "spec": {"workflow": {"kind": "ClusterWorkflow", "name": "dockerfile-builder"}},
            }
        )

    def put_workload(self, namespace: str, document: dict[str, Any]) -> None:
        """Create a Workload directly in the cluster (as an edit in the UI or with kubectl would)."""
        body = json.loads(json.dumps(document))
        body.setdefault("apiVersion", GROUP_VERSION)
        body.setdefault("kind", "Workload")
        body["metadata"]["namespace"] = namespace
        self.api.create(body)

    def workload(self, namespace: str, name: str) -> dict[str, Any] | None:
        path = f"/apis/{GROUP_VERSION}/namespaces/{namespace}/workloads/{name}"
        if self.api.status(path) == 404:
            return None
        document: dict[str, Any] = self.api.get(path)
        return document

    def run(self, namespace: str, name: str) -> dict[str, Any]:
        document: dict[str, Any] = self.api.get(f"/apis/{GROUP_VERSION}/namespaces/{namespace}/workflowruns/{name}")
        return document

    def delete_run(self, namespace: str, name: str) -> None:
        self.api.request("DELETE", f"/apis/{GROUP_VERSION}/namespaces/{namespace}/workflowruns/{name}")
