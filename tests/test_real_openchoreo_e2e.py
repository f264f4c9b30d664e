"""Gate 4 of the real-system tier (issue 12): OpenChoreo end to end. OpenChoreo v1.2.3's own controller manager,
cluster gateway and agent (mTLS on 127.0.0.1), `openchoreo-api` v1.2.3 and the External Secrets Operator v0.16.2
with its fake provider (when cached; else the ExternalSecret CRD alone, and the test says so), on the real node and
real Argo of gates 2-3 (testkit/real_openchoreo_planes.py).

A platform engineer's path, with kubectl: the pack rendered for this tier (gate 3's settings, plus `publish.registry`
on 127.0.0.1 and the API and token URLs of the servers on 127.0.0.1) and applied; a ClusterComponentType allowing
`ClusterWorkflow:dockerfile-builder`, a Project, a SecretReference for the git credentials, a Component whose
workflow is that ClusterWorkflow, and a WorkflowRun. OpenChoreo renders the ClusterWorkflow into an Argo Workflow
and its `resources` (ExternalSecrets, the executor token) in the run's namespace, real Argo runs the pipeline, and
`generate-workload-cr` (API delivery on, the v1.x default) upserts the Workload through the real `openchoreo-api`
with a client-credentials token from the local issuer; the manager reports Succeeded on the WorkflowRun."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.cluster import record_timing
from testkit.gitserver import HttpGitServer, git
from testkit.procnet import TCP_LISTEN, tcp_sockets
from testkit.real_argo import TIER_SETTINGS
from testkit.real_node import NAMESERVER, wait_until
from testkit.real_openchoreo import GROUP_VERSION, PUBLISHER_CLIENT_ID
from testkit.real_openchoreo_planes import (
    API_CA_KEY,
    CLIENT_SECRET_KEY,
    GATEWAY_HEALTH_PORT,
    GIT_KEY,
    GIT_PASSWORD,
    GIT_USERNAME,
    PLANE_ID,
    PLANE_NAME,
    REGISTRY_PUSH_KEY,
    RealPlanes,
)
from testkit.registry import BaseImage, Registry

pytestmark = [pytest.mark.cluster, pytest.mark.node, pytest.mark.planes]

NAMESPACE = "default"  # the OpenChoreo namespace of the Project, Component and WorkflowRun
PROJECT = "shop"
COMPONENT = "greeter"
COMPONENT_TYPE = "service"
RUN = "greeter-build-1"
WORKFLOW = "dockerfile-builder"
RUN_TIMEOUT_SECONDS = 600
# The app's workload descriptor (read by generate-workload-cr from the checkout): one endpoint, one env var.
WORKLOAD_DESCRIPTOR = """\
apiVersion: openchoreo.dev/v1alpha1
metadata:
  name: greeter
endpoints:
  - name: http
    port: 8080
    type: HTTP
configurations:
  env:
    - name: GREETING
      value: hello from gate 4
"""


@pytest.fixture(scope="module")
def gate4_templates(real_planes: RealPlanes, plain_registry: Registry) -> Iterator[Path]:
    """The pack rendered for this tier and applied with kubectl: pipelines and steps (`apply -k`), then the
    OpenChoreo ClusterWorkflows (`apply -k openchoreo`)."""
    api = real_planes.openchoreo_api
    settings = [
        *TIER_SETTINGS,
        f"publish.registry={plain_registry.host}/apps",
        "publish.tls_verify=false",
        f"api.server_url={api.url}",
        f"api.oauth_token_url={api.token_url}",
    ]
    with tempfile.TemporaryDirectory(prefix="pack-gate4-templates-") as tmp:
        subprocess.run([sys.executable, "-m", "hera_workflows", "render", "-o", tmp,
                        *[arg for setting in settings for arg in ("--set", setting)]],
                       check=True, capture_output=True)  # fmt: skip
        for target in (tmp, f"{tmp}/openchoreo"):
            result = real_planes.argo.node.kubectl("apply", "-k", target)
            assert result.returncode == 0, result.stderr
        yield Path(tmp)


def _sample_app(root: Path, base: str) -> str:
    """A bare repository `app.git` with a Dockerfile FROM the busybox base in the registry on 127.0.0.1."""
    work = root / "work"
    git("init", "--quiet", "--bare", str(root / "app.git"))
    git("clone", "--quiet", str(root / "app.git"), str(work))
    (work / "Dockerfile").write_text(f'FROM {base}\nRUN echo "built by OpenChoreo on a real node" > /built.txt\n')
    (work / "workload.yaml").write_text(WORKLOAD_DESCRIPTOR)
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "sample app", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def _openchoreo_documents(repository_url: str) -> list[dict[str, Any]]:
    """What a platform engineer and a developer apply: component type, project, git credentials reference,
    component, and a run of its workflow."""
    workflow_parameters = {
        "repository": {"url": repository_url, "secretRef": "greeter-git", "revision": {"branch": "main"}},
    }
    labels = {"openchoreo.dev/project": PROJECT, "openchoreo.dev/component": COMPONENT}
    return [
        {
            "apiVersion": GROUP_VERSION,
            "kind": "ClusterComponentType",
            "metadata": {"name": COMPONENT_TYPE},
            "spec": {
                "workloadType": "deployment",
                "allowedWorkflows": [{"kind": "ClusterWorkflow", "name": WORKFLOW}],
                "resources": [{"id": "deployment", "template": {}}],
            },
        },
        {
            "apiVersion": GROUP_VERSION,
            "kind": "Project",
            "metadata": {"name": PROJECT, "namespace": NAMESPACE},
            "spec": {
                "deploymentPipelineRef": {"name": "default"},
                "type": {"kind": "ClusterProjectType", "name": "default"},
            },
        },
        {
            "apiVersion": GROUP_VERSION,
            "kind": "SecretReference",
            "metadata": {"name": "greeter-git", "namespace": NAMESPACE},
            "spec": {
                "template": {"type": "kubernetes.io/basic-auth"},
                "data": [
                    {"secretKey": key, "remoteRef": {"key": GIT_KEY, "property": key}}
                    for key in ("username", "password")
                ],
            },
        },
        {
            "apiVersion": GROUP_VERSION,
            "kind": "Component",
            "metadata": {"name": COMPONENT, "namespace": NAMESPACE},
            "spec": {
                "owner": {"projectName": PROJECT},
                "componentType": {"kind": "ClusterComponentType", "name": f"deployment/{COMPONENT_TYPE}"},
                "workflow": {"kind": "ClusterWorkflow", "name": WORKFLOW, "parameters": workflow_parameters},
            },
        },
        {
            "apiVersion": GROUP_VERSION,
            "kind": "WorkflowRun",
            "metadata": {"name": RUN, "namespace": NAMESPACE, "labels": labels},
            "spec": {"workflow": {"kind": "ClusterWorkflow", "name": WORKFLOW, "parameters": workflow_parameters}},
        },
    ]


def _conditions(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in document.get("status", {}).get("conditions") or []}


def _outputs(node: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p.get("value", "") for p in (node.get("outputs") or {}).get("parameters") or []}


def _argo_summary(planes: RealPlanes, name: str) -> Any:
    """The Argo Workflow's phase, message and nodes, or why there is none (for a failure message)."""
    path = f"/apis/argoproj.io/v1alpha1/namespaces/workflows-{NAMESPACE}/workflows/{name}"
    if planes.argo.node.api.status(path) != 200:
        return f"no Argo Workflow {name}"
    status = planes.argo.node.api.get(path).get("status") or {}
    nodes = {n["displayName"]: (n["phase"], n.get("message", "")) for n in (status.get("nodes") or {}).values()}
    return status.get("phase"), status.get("message"), nodes


def _create_target_secrets_without_the_operator(planes: RealPlanes, namespace: str) -> None:
    """No operator: create what its ExternalSecrets would have made (same names, same keys)."""
    values = planes.secret_values
    secrets = {
        f"{RUN}-git-secret": ("kubernetes.io/basic-auth", {k: values[GIT_KEY][k] for k in ("username", "password")}),
        f"{RUN}-registry-push-secret": ("kubernetes.io/dockerconfigjson",
                                        {".dockerconfigjson": values[REGISTRY_PUSH_KEY]["value"]}),
        f"{RUN}-workload-publisher": ("Opaque", {"client-secret": values[CLIENT_SECRET_KEY]["value"]}),
        f"{RUN}-api-ca": ("Opaque", {"ca.crt": values[API_CA_KEY]["value"]}),
    }  # fmt: skip
    for name, (kind, data) in secrets.items():
        metadata = {"name": name, "namespace": namespace}
        planes.argo.node.api.create(
            {"apiVersion": "v1", "kind": "Secret", "type": kind, "metadata": metadata, "stringData": data}
        )


def test_a_workflow_run_becomes_a_workload_through_openchoreo(
    real_planes: RealPlanes,
    gate4_templates: Path,
    plain_registry: Registry,
    busybox_base: BaseImage,
    tmp_path: Path,
) -> None:
    node = real_planes.argo.node
    api = real_planes.openchoreo_api
    commit = _sample_app(tmp_path / "repos", busybox_base.ref)
    real_planes.argo.hostpath_volume("gate4-workspace")
    workflow_namespace = f"workflows-{NAMESPACE}"
    if not real_planes.with_operator:
        node.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": workflow_namespace}})
        _create_target_secrets_without_the_operator(real_planes, workflow_namespace)
    tokens_before = len(api.issuer.issued) if api.issuer is not None else 0

    with HttpGitServer(tmp_path / "repos", GIT_USERNAME, GIT_PASSWORD) as server:
        applied = time.monotonic()
        real_planes.kubectl_apply(_openchoreo_documents(server.url("app.git")))
        run_path = f"/apis/{GROUP_VERSION}/namespaces/{NAMESPACE}/workflowruns/{RUN}"
        runs: list[dict[str, Any]] = []

        def completed() -> bool:
            runs.append(node.api.get(run_path))
            return _conditions(runs[-1]).get("WorkflowCompleted", {}).get("status") == "True"

        try:
            wait_until("the WorkflowRun's WorkflowCompleted condition", completed, RUN_TIMEOUT_SECONDS)
        except AssertionError as error:
            raise AssertionError(f"{error}: {runs[-1].get('status')}\n{real_planes.logs()[-6000:]}") from None
    record_timing("gate 4 WorkflowRun applied to Succeeded", time.monotonic() - applied)
    run = runs[-1]
    conditions = _conditions(run)
    explain = (run.get("status"), _argo_summary(real_planes, RUN), real_planes.logs()[-6000:])
    assert conditions.get("WorkflowSucceeded", {}).get("status") == "True", explain
    assert conditions["WorkflowCompleted"]["reason"] == "WorkflowSucceeded", conditions

    # OpenChoreo rendered the ClusterWorkflow into this Argo Workflow, in the plane's namespace for the run.
    reference = run["status"]["runReference"]
    assert (reference["namespace"], reference["name"]) == (workflow_namespace, RUN), reference
    workflow = node.api.get(f"/apis/argoproj.io/v1alpha1/namespaces/{workflow_namespace}/workflows/{RUN}")
    assert workflow["status"]["phase"] == "Succeeded"
    started, finished = (
        datetime.fromisoformat(workflow["status"][key].replace("Z", "+00:00")) for key in ("startedAt", "finishedAt")
    )
    record_timing("gate 4 Argo Workflow started to finished", (finished - started).total_seconds())
    assert workflow["spec"]["workflowTemplateRef"] == {"name": WORKFLOW, "clusterScope": True}
    arguments = {p["name"]: p.get("value") for p in workflow["spec"]["arguments"]["parameters"]}
    assert arguments["api-server-url"] == api.url and arguments["oauth-token-url"] == api.token_url
    assert arguments["api-mode"] == "auto" and arguments["openchoreo-profile"] == "openchoreo-1.x"
    assert arguments["git-secret"] == f"{RUN}-git-secret" and arguments["component-name"] == COMPONENT
    by_name = {n["displayName"]: n for n in workflow["status"]["nodes"].values() if n["type"] == "Pod"}
    checkout = _outputs(by_name["checkout-source"])
    assert checkout["commit-sha"] == commit
    image = _outputs(by_name["publish-image(0)"])["image"]
    image_name = f"{NAMESPACE}-{PROJECT}-{COMPONENT}"
    assert image.startswith(f"{plain_registry.host}/apps/{image_name}:v1-{checkout['git-revision']}@sha256:"), image
    task_names = {task.get("name") for task in run["status"].get("tasks") or []}
    assert {"checkout-source", "build-image", "generate-workload-cr"} <= task_names, run["status"].get("tasks")

    # The ExternalSecrets the ClusterWorkflow declares exist in the run's namespace; with the operator, the fake
    # provider's values became their target Secrets (the step read the client secret from one of them).
    external = node.api.get(f"/apis/external-secrets.io/v1/namespaces/{workflow_namespace}/externalsecrets")
    names = {item["metadata"]["name"] for item in external["items"]}
    suffixes = ("git-secret", "registry-push-secret", "workload-publisher", "api-ca")
    assert names == {f"{RUN}-{suffix}" for suffix in suffixes}, names
    if real_planes.with_operator:
        for item in external["items"]:
            assert _conditions(item)["Ready"]["status"] == "True", (item["metadata"]["name"], item.get("status"))
        made = node.api.get(f"/api/v1/namespaces/{workflow_namespace}/secrets/{RUN}-workload-publisher")
        assert "client-secret" in made["data"]
        git_secret = node.api.get(f"/api/v1/namespaces/{workflow_namespace}/secrets/{RUN}-git-secret")
        assert git_secret["type"] == "kubernetes.io/basic-auth"
        assert set(git_secret["data"]) == {"username", "password"}

    # generate-workload-cr delivered the Workload through the real openchoreo-api with a client-credentials token.
    workload = api.workload(NAMESPACE, f"{COMPONENT}-workload")
    assert workload is not None, "no Workload in the cluster"
    shown = {key: workload[key] for key in ("apiVersion", "kind", "metadata", "spec")}
    shown["metadata"] = {key: workload["metadata"][key] for key in ("name", "namespace", "labels")}
    print("gate 4 Workload:\n" + yaml.safe_dump(shown, sort_keys=False))
    assert workload["spec"]["owner"] == {"projectName": PROJECT, "componentName": COMPONENT}, workload["spec"]
    assert workload["spec"]["container"]["image"] == image
    assert workload["spec"]["container"]["env"] == [{"key": "GREETING", "value": "hello from gate 4"}]
    assert workload["spec"]["endpoints"]["http"]["port"] == 8080
    assert workload["spec"]["endpoints"]["http"]["type"] == "HTTP"
    assert workload["metadata"]["labels"]["openchoreo.dev/component"] == COMPONENT
    assert api.issuer is not None
    issued = api.issuer.issued[tokens_before:]
    assert issued and all(claims["sub"] == PUBLISHER_CLIENT_ID for claims in issued), issued
    annotations = run["metadata"].get("annotations") or {}
    assert annotations.get("openchoreo.dev/workload-from-source") == "true", annotations  # from workload.yaml
    annotated = json.loads(annotations["openchoreo.dev/workload"])
    assert annotated["spec"]["container"]["image"] == image, annotated


def test_every_plane_process_stays_on_loopback(real_planes: RealPlanes) -> None:
    """Every TCP connection of the manager, gateway, agent, openchoreo-api (and ESO) is between 127.0.0.0/8
    addresses; every listener is on 127.0.0.1 except the gateway's three, which upstream hard-codes to all
    interfaces (`:<port>`, `:<internal-port>`, `:8080`). Runs after the end-to-end test (file order)."""
    seen = {}
    for process in real_planes.processes:
        assert process.popen is not None and process.exited() is None, f"{process.name} is not running"
        seen[process.name] = tcp_sockets(process.popen.pid)
    expected = {"openchoreo-api", "cluster-gateway", "cluster-agent", "openchoreo-manager"}
    assert expected | ({"external-secrets"} if real_planes.with_operator else set()) == set(seen)
    for name, sockets in seen.items():
        for state, local, remote in sockets:
            if state == TCP_LISTEN:
                if name == "cluster-gateway":
                    ports = {real_planes.gateway_port, real_planes.internal_port, GATEWAY_HEALTH_PORT}
                    assert int(local.rsplit(":", 1)[1]) in ports, local
                else:
                    assert local.startswith("127.0.0.1:"), (name, local)
            else:
                assert local.startswith("127.") and remote.startswith("127."), (name, local, remote)
    assert any(remote == f"127.0.0.1:{real_planes.gateway_port}" for _, _, remote in seen["cluster-agent"]), (
        "the agent holds no connection to the gateway"
    )
    plane = real_planes.argo.node.api.get(f"/apis/{GROUP_VERSION}/clusterworkflowplanes/{PLANE_NAME}")
    assert plane["spec"]["planeID"] == PLANE_ID and plane["status"]["agentConnection"]["connected"] is True
    for pod in real_planes.argo.node.api.get(f"/api/v1/namespaces/workflows-{NAMESPACE}/pods")["items"]:
        assert pod["spec"]["dnsConfig"]["nameservers"] == [NAMESERVER], pod["metadata"]["name"]
