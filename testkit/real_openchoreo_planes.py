"""OpenChoreo's own control plane driving the real workflow plane (issue 12, gate 4): OpenChoreo v1.2.3's
controller manager, cluster gateway and cluster agent (built from the `github.com/openchoreo/openchoreo` module
by scripts/cluster/build.sh), `openchoreo-api` v1.2.3 (gate 1's binary) and, when it is cached, the External
Secrets Operator v0.16.2 with its fake provider, all against the kube-apiserver of the real node (gate 2) that real Argo
(gate 3) runs on: one cluster that is both control plane and workflow plane, as a single-cluster install is.

`RealPlanes` starts, in a temporary directory of its own and on free ports of 127.0.0.1:
- the 37 CRDs of OpenChoreo's `config/crd/bases/`, the publisher's `ClusterAuthzRole` + binding, the local OAuth2
  issuer (testkit/oauth_issuer.py, the stand-in identity provider) and `openchoreo-api` with security and
  authorization on (gate 1's code, pointed at the node's apiserver);
- the ExternalSecret machinery: with the operator, every CRD of its `config/crds/bases/` (read from its module),
  the controller as a host process (metrics off, no webhook: the controller alone does not start one; only the
  ExternalSecret and (Cluster)SecretStore reconcilers, the push and cluster-wide ones off) and a
  `ClusterSecretStore` whose **fake** provider serves the values the test gives it; without the operator, only the
  ExternalSecret CRD (OpenChoreo refuses to create a run's resources when the kind is unknown);
- a throwaway PKI made with openssl: a CA for the gateway's serving certificate and its internal callers (the
  manager's client certificate), and a second CA, named in the `ClusterWorkflowPlane`'s `clusterAgent.clientCA`,
  for the agent's client certificate;
- the `ClusterWorkflowPlane` `default` (planeID, the agent CA, `secretStoreRef` = the ClusterSecretStore);
- `cluster-gateway` (agent listener and internal `/api` listener with mTLS), `cluster-agent` (dials the gateway's
  `wss://127.0.0.1:<port>/ws`, acts on the node's apiserver) and the manager (`ENABLE_WEBHOOKS=false`, probes on
  127.0.0.1, metrics off, no leader election), each a host process with the node's admin kubeconfig.

Limits, on purpose: the gateway hard-codes its listeners to all interfaces (`fmt.Sprintf(":%d", port)` for the
agent and internal listeners and `":8080"` for health, internal/cluster-gateway/server.go): they are reachable
from outside the machine while the tier runs; nothing is ever *dialled* off 127.0.0.0/8, which the tests check
socket by socket. Port 8080 must be free. Every component authenticates to the apiserver as the node's admin (no
per-component RBAC).

Teardown (`stop`) stops every process by PID (manager, agent, gateway, ESO, openchoreo-api; then the issuer) and
removes the directory; the node and Argo are torn down by their own fixtures.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from testkit.oauth_issuer import OAuthIssuer
from testkit.real_argo import RealArgo
from testkit.real_node import _clean_env
from testkit.real_openchoreo import (
    BUILD_SCRIPT,
    GROUP_VERSION,
    PUBLISHER_CLIENT_ID,
    UNBOUND_CLIENT_ID,
    ClusterBinaries,
    ClusterSetupError,
    RealOpenChoreo,
    _Process,
    _tail,
    _wait_for,
    free_port,
    go_module_dir,
    run_build_script,
)

PLANE_COMPONENTS = ("openchoreo-manager", "openchoreo-cluster-gateway", "openchoreo-cluster-agent")
ESO_COMPONENT = "external-secrets"
ESO_MODULE = "github.com/external-secrets/external-secrets"
PLANE_NAME = "default"
PLANE_ID = "gate4-workflow-plane"
SECRET_STORE = "default"
GIT_USERNAME = "ci"
GIT_PASSWORD = secrets.token_urlsafe(12)  # of the test's git server; per process, served by the fake store
# The secret-store keys the pack's ClusterWorkflows read (settings `api.client_secret_remote_key`,
# `api.ca_remote_key`; the registry push secret's key is fixed), and the one the test's SecretReference names.
CLIENT_SECRET_KEY = "workload-publisher-oauth-client-secret"
API_CA_KEY = "openchoreo-api-ca"
REGISTRY_PUSH_KEY = "registry-push-secret"
GIT_KEY = "gate4-git-credentials"
GATEWAY_HEALTH_PORT = 8080  # hard-coded in the gateway (internal/cluster-gateway/server.go)
READY_TIMEOUT_SECONDS = 120.0


class PlanesSetupError(ClusterSetupError):
    """OpenChoreo's planes could not be built or started. First line says what; the rest are logs."""


@dataclass(frozen=True)
class PlaneBinaries:
    manager: Path
    cluster_gateway: Path
    cluster_agent: Path
    external_secrets: Path | None
    """None when the operator is not cached (PACK_GATE4_ESO=0 or its build failed): the CRD alone is used."""

    @property
    def external_secrets_version(self) -> str:
        return "" if self.external_secrets is None else self.external_secrets.name.removeprefix(f"{ESO_COMPONENT}-")


def build_plane_binaries() -> PlaneBinaries:
    """The manager, gateway and agent (required; a failure is an error) and the External Secrets Operator (used
    when `scripts/cluster/build.sh eso` succeeds, which the tier's scripts run first; else the CRD alone)."""
    paths = run_build_script(
        list(PLANE_COMPONENTS), len(PLANE_COMPONENTS), gate="gate 4", what="OpenChoreo's planes", error=PlanesSetupError
    )
    operator: Path | None = None
    if os.environ.get("PACK_GATE4_ESO", "1") != "0":
        cached = subprocess.run(
            ["bash", str(BUILD_SCRIPT), ESO_COMPONENT],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PACK_CLUSTER_CACHED_ONLY": "1"},
        )
        if cached.returncode == 0 and Path(cached.stdout.strip()).is_file():
            operator = Path(cached.stdout.strip())
    return PlaneBinaries(manager=paths[0], cluster_gateway=paths[1], cluster_agent=paths[2], external_secrets=operator)


def plane_secret_values(client_secret: str, api_ca_pem: str, git_password: str) -> dict[str, dict[str, str]]:
    """What the fake provider serves: the publisher's OAuth client secret, a CA bundle for the API (a real PEM: the
    step loads it), an anonymous docker config for the registry on 127.0.0.1, and the git server's credentials."""
    return {
        CLIENT_SECRET_KEY: {"value": client_secret},
        API_CA_KEY: {"value": api_ca_pem},
        REGISTRY_PUSH_KEY: {"value": json.dumps({"auths": {}})},
        GIT_KEY: {"username": GIT_USERNAME, "password": git_password},
    }


def module_dir(module: str, version: str) -> Path:
    return go_module_dir(module, version, gate="gate 4", error=PlanesSetupError)


# ------------------------------------------------------------------------------------------------ PKI
def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PlanesSetupError(f"gate 4: openssl {args[0]} failed: {result.stderr.strip()[:400]}")


@dataclass(frozen=True)
class PlanesPki:
    """Two CAs and three leaves: gateway serving (127.0.0.1), manager client (internal API), agent client."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    @classmethod
    def make(cls, directory: Path) -> PlanesPki:
        directory.mkdir(parents=True)
        pki = cls(directory)
        for ca in ("gateway-ca", "agent-ca"):
            _openssl(
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=pack-gate4-{ca}",
                "-keyout", str(pki.path(f"{ca}.key")), "-out", str(pki.path(f"{ca}.crt")),
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            )  # fmt: skip
        leaves = {
            "gateway": ("gateway-ca", "/CN=cluster-gateway", "serverAuth", "IP:127.0.0.1,DNS:localhost"),
            "manager": ("gateway-ca", "/CN=openchoreo-manager", "clientAuth", ""),
            "agent": ("agent-ca", f"/CN={PLANE_ID}", "clientAuth", ""),
        }
        for name, (ca, subject, usage, sans) in leaves.items():
            ext = pki.path(f"{name}.ext")
            ext.write_text(
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                f"extendedKeyUsage={usage}\n" + (f"subjectAltName={sans}\n" if sans else "")
            )
            _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                     "-keyout", str(pki.path(f"{name}.key")), "-out", str(pki.path(f"{name}.csr")))  # fmt: skip
            _openssl("x509", "-req", "-in", str(pki.path(f"{name}.csr")), "-CA", str(pki.path(f"{ca}.crt")),
                     "-CAkey", str(pki.path(f"{ca}.key")), "-CAcreateserial", "-days", "2",
                     "-out", str(pki.path(f"{name}.crt")), "-extfile", str(ext))  # fmt: skip
        for key in directory.glob("*.key"):
            key.chmod(0o600)
        return pki


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError:
            return False
        return True


# ------------------------------------------------------------------------------------------------ the planes
@dataclass
class RealPlanes:
    """The running control plane on the node. Use as a context manager; see the module docstring."""

    argo: RealArgo
    api_binaries: ClusterBinaries
    binaries: PlaneBinaries
    client_secret: str
    secret_values: dict[str, dict[str, str]]
    """What the fake provider serves: remote key → its properties (served as a JSON object, read with `property`).
    Without the operator nothing serves them and the test creates the target Secrets itself."""
    timings: dict[str, float] = field(default_factory=dict)
    directory: Path | None = None
    api: RealOpenChoreo | None = None
    pki: PlanesPki | None = None
    gateway_port: int = 0
    internal_port: int = 0
    _processes: list[_Process] = field(default_factory=list)

    @property
    def with_operator(self) -> bool:
        return self.binaries.external_secrets is not None

    @property
    def openchoreo_api(self) -> RealOpenChoreo:
        assert self.api is not None
        return self.api

    @property
    def processes(self) -> list[_Process]:
        """Every host process this kit started (openchoreo-api included)."""
        own = list(self.api.processes) if self.api is not None else []
        return [*own, *self._processes]

    def __enter__(self) -> RealPlanes:
        try:
            self.start()
        except BaseException as error:
            logs = self.logs()
            self.stop()
            first = str(error).splitlines()[0] if str(error) else repr(error)
            raise PlanesSetupError(f"gate 4: starting OpenChoreo's planes failed: {first}\n{logs}") from error
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------------- start
    def start(self) -> None:
        node = self.argo.node
        assert node.admin_kubeconfig is not None
        if not port_is_free(GATEWAY_HEALTH_PORT):
            raise PlanesSetupError(
                f"gate 4: port {GATEWAY_HEALTH_PORT} is in use; OpenChoreo's cluster gateway hard-codes its health "
                "listener to it"
            )
        started = time.monotonic()
        self.directory = Path(tempfile.mkdtemp(prefix="pack-gate4-"))

        step = time.monotonic()
        self.start_openchoreo_api()
        self.timings["OpenChoreo CRDs + openchoreo-api"] = time.monotonic() - step

        step = time.monotonic()
        if self.binaries.external_secrets is not None:
            self._start_external_secrets(self.binaries.external_secrets)
        else:
            self._apply_external_secret_crd_only()
        self.timings["external secrets"] = time.monotonic() - step

        step = time.monotonic()
        self.pki = PlanesPki.make(self.directory / "pki")
        self._create_workflow_plane()
        self._start_gateway_agent_manager()
        self.timings["gateway + agent + manager"] = time.monotonic() - step
        self.timings["total"] = time.monotonic() - started

    def _process(self, name: str, argv: list[str], env: dict[str, str]) -> _Process:
        assert self.directory is not None
        process = _Process(name, argv, self.directory / f"{name}.log", env=env)
        self._processes.append(process)
        process.start()
        return process

    def _env(self, **extra: str) -> dict[str, str]:
        node = self.argo.node
        assert node.admin_kubeconfig is not None and self.directory is not None
        return _clean_env(KUBECONFIG=str(node.admin_kubeconfig), HOME=str(self.directory), NO_PROXY="127.0.0.1",
                          **extra)  # fmt: skip

    def start_openchoreo_api(self) -> None:
        """Gate 1's openchoreo-api set-up (CRDs, authorization, issuer, server), on the node's apiserver."""
        assert self.directory is not None
        node = self.argo.node
        assert node.admin_kubeconfig is not None
        api = RealOpenChoreo(self.api_binaries, client_secret=self.client_secret)
        self.api = api
        api.directory = self.directory / "openchoreo-api"
        api.directory.mkdir()
        api.kube = node.api
        names = api.apply_crds()
        _wait_for(f"{len(names)} OpenChoreo CRDs Established", lambda: all(api.established(n) for n in names), [],
                  READY_TIMEOUT_SECONDS)  # fmt: skip
        api.grant_the_publisher()
        api.issuer = OAuthIssuer(
            api.directory / "issuer",
            {PUBLISHER_CLIENT_ID: self.client_secret, UNBOUND_CLIENT_ID: api.unbound_client_secret},
        ).__enter__()
        api.url = api.start_openchoreo_api(node.admin_kubeconfig, [])

    def _eso_crds(self) -> list[Path]:
        version = self.binaries.external_secrets_version or "v0.16.2"
        bases = module_dir(ESO_MODULE, version) / "config" / "crds" / "bases"
        files = sorted(path for path in bases.glob("*.yaml") if path.name != "kustomization.yaml")
        if not files:
            raise PlanesSetupError(f"gate 4: no CRDs in {bases}")
        return files

    def _apply(self, files: list[Path]) -> None:
        result = self.argo.node.kubectl("apply", "--server-side", *[a for p in files for a in ("-f", str(p))])
        if result.returncode != 0:
            raise PlanesSetupError(f"gate 4: kubectl apply failed: {result.stderr.strip()[:800]}")
        names = [str(yaml.safe_load(path.read_text())["metadata"]["name"]) for path in files]
        waited = self.argo.node.kubectl("wait", "--for", "condition=Established", "--timeout", "120s",
                                        *[f"crd/{name}" for name in names])  # fmt: skip
        if waited.returncode != 0:
            raise PlanesSetupError(f"gate 4: CRDs not Established: {waited.stderr.strip()[:800]}")

    def _apply_external_secret_crd_only(self) -> None:
        """Without the operator: the one CRD OpenChoreo needs to create a run's ExternalSecrets (nothing acts on
        them; the test creates their target Secrets)."""
        self._apply([path for path in self._eso_crds() if path.name == "external-secrets.io_externalsecrets.yaml"])

    def _start_external_secrets(self, binary: Path) -> None:
        self._apply(self._eso_crds())
        controller = self._process(
            "external-secrets",
            [
                str(binary),
                "--metrics-addr", "0",  # off: its default is :8080 on all interfaces
                "--enable-leader-election=false",
                "--loglevel", "info",
                "--zap-time-encoding", "iso8601",
                "--enable-cluster-external-secret-reconciler=false",
                "--enable-cluster-push-secret-reconciler=false",
                "--enable-push-secret-reconciler=false",
            ],
            self._env(),
        )  # fmt: skip
        self.argo.node.api.request(
            "POST",
            "/apis/external-secrets.io/v1/clustersecretstores",
            {
                "apiVersion": "external-secrets.io/v1",
                "kind": "ClusterSecretStore",
                "metadata": {"name": SECRET_STORE},
                "spec": {
                    "provider": {
                        "fake": {
                            "data": [
                                {"key": key, "value": json.dumps(properties)}
                                for key, properties in sorted(self.secret_values.items())
                            ]
                        }
                    }
                },
            },
        )
        path = f"/apis/external-secrets.io/v1/clustersecretstores/{SECRET_STORE}"

        def store_ready() -> bool:
            conditions = self.argo.node.api.get(path).get("status", {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        self.timings["ClusterSecretStore Ready"] = _wait_for("the fake ClusterSecretStore Ready", store_ready,
                                                             [controller], READY_TIMEOUT_SECONDS)  # fmt: skip

    def _create_workflow_plane(self) -> None:
        assert self.pki is not None
        spec: dict[str, Any] = {
            "planeID": PLANE_ID,
            "clusterAgent": {"clientCA": {"value": self.pki.path("agent-ca.crt").read_text()}},
        }
        # `secretStoreRef` fills ${workflowplane.secretStore} in the ClusterWorkflow's ExternalSecrets.
        spec["secretStoreRef"] = {"name": SECRET_STORE}
        self.argo.node.api.request(
            "POST",
            f"/apis/{GROUP_VERSION}/clusterworkflowplanes",
            {"apiVersion": GROUP_VERSION, "kind": "ClusterWorkflowPlane", "metadata": {"name": PLANE_NAME},
             "spec": spec},
        )  # fmt: skip

    def _start_gateway_agent_manager(self) -> None:
        assert self.pki is not None
        pki = self.pki
        self.gateway_port, self.internal_port = free_port(), free_port()
        gateway = self._process(
            "cluster-gateway",
            [
                str(self.binaries.cluster_gateway),
                "--port", str(self.gateway_port),
                "--internal-port", str(self.internal_port),
                "--server-cert", str(pki.path("gateway.crt")),
                "--server-key", str(pki.path("gateway.key")),
                "--internal-mtls=true",
                "--internal-client-ca-cert", str(pki.path("gateway-ca.crt")),
                "--log-level", "debug",
            ],
            self._env(),
        )  # fmt: skip
        with httpx.Client(trust_env=False, timeout=2.0) as plain:
            self.timings["cluster-gateway"] = _wait_for(
                "cluster-gateway /ready",
                lambda: plain.get(f"http://127.0.0.1:{GATEWAY_HEALTH_PORT}/ready").status_code == 200,
                [gateway],
                READY_TIMEOUT_SECONDS,
            )
        agent = self._process(
            "cluster-agent",
            [
                str(self.binaries.cluster_agent),
                "--server-url", f"wss://127.0.0.1:{self.gateway_port}/ws",
                "--plane-type", "workflowplane",
                "--plane-id", PLANE_ID,
                "--client-cert", str(pki.path("agent.crt")),
                "--client-key", str(pki.path("agent.key")),
                "--server-ca", str(pki.path("gateway-ca.crt")),
                "--log-level", "debug",
            ],
            self._env(),
        )  # fmt: skip
        probe_port = free_port()
        manager = self._process(
            "openchoreo-manager",
            [
                str(self.binaries.manager),
                "--health-probe-bind-address", f"127.0.0.1:{probe_port}",
                "--metrics-bind-address", "0",
                "--leader-elect=false",
                "--cluster-gateway-url", f"https://127.0.0.1:{self.internal_port}",
                "--cluster-gateway-ca-cert", str(pki.path("gateway-ca.crt")),
                "--cluster-gateway-client-cert", str(pki.path("manager.crt")),
                "--cluster-gateway-client-key", str(pki.path("manager.key")),
            ],
            self._env(ENABLE_WEBHOOKS="false"),
        )  # fmt: skip
        with httpx.Client(trust_env=False, timeout=2.0) as plain:
            self.timings["manager readyz"] = _wait_for(
                "openchoreo-manager /readyz",
                lambda: plain.get(f"http://127.0.0.1:{probe_port}/readyz").status_code == 200,
                [gateway, agent, manager],
                READY_TIMEOUT_SECONDS,
            )
        # The gateway's own view, through its internal API with the manager's client certificate (mTLS); the
        # ClusterWorkflowPlane's status.agentConnection lags behind it by up to a minute (the manager's status
        # interval).
        context = ssl.create_default_context(cafile=str(pki.path("gateway-ca.crt")))
        context.load_cert_chain(str(pki.path("manager.crt")), str(pki.path("manager.key")))
        status_url = f"https://127.0.0.1:{self.internal_port}/api/v1/planes/workflowplane/{PLANE_ID}/status"
        with httpx.Client(trust_env=False, timeout=5.0, verify=context) as internal:

            def agent_connected() -> bool:
                response = internal.get(status_url)
                return response.status_code == 200 and bool(response.json().get("connected"))

            self.timings["agent connected"] = _wait_for("the cluster agent connected to the gateway", agent_connected,
                                                        [gateway, agent, manager], READY_TIMEOUT_SECONDS)  # fmt: skip

    # -------------------------------------------------------------------------------------------- teardown
    def stop(self) -> None:
        for process in reversed(self._processes):
            process.stop()
        if self.api is not None:
            self.api.kube = None  # the node's client: the node's fixture closes it
            keep_directory = self.api.directory
            self.api.directory = None  # removed with ours below
            self.api.stop()
            self.api.directory = keep_directory
        if self.directory is not None and os.environ.get("PACK_KEEP_CLUSTER_DIR") != "1":
            shutil.rmtree(self.directory, ignore_errors=True)

    def logs(self) -> str:
        """The tail of every component's log, for a failure message."""
        return "\n".join(
            f"----- {process.name} (pid {process.popen.pid if process.popen else '-'}, "
            f"exit {process.exited()}) {process.log}\n{_tail(process.log)}"
            for process in self.processes
        )

    # -------------------------------------------------------------------------------------------- use
    def kubectl_apply(self, documents: list[dict[str, Any]]) -> str:
        """Apply documents with kubectl (as a platform engineer would), from a file in the kit's directory."""
        assert self.directory is not None
        path = self.directory / f"apply-{secrets.token_hex(4)}.yaml"
        path.write_text(yaml.safe_dump_all(documents))
        result = self.argo.node.kubectl("apply", "-f", str(path))
        if result.returncode != 0:
            raise AssertionError(f"kubectl apply failed: {result.stderr.strip()[:800]}")
        return result.stdout
