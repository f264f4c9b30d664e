"""Gate 3 of the real-system tier (issue 12): OpenChoreo v1.2.3's *own* sample ClusterWorkflow
`dockerfile-builder` (`samples/getting-started/ci-workflows/dockerfile-builder.yaml` of the Go module
github.com/openchoreo/openchoreo@v1.2.3, read at test time through the reference locator, never copied) on real Argo
Workflows v4.0.5, against the pack's step templates.

The runTemplate is rendered into the Argo Workflow OpenChoreo submits for a WorkflowRun (every `${...}` evaluated
as tests/test_upstream_samples.py does: run metadata, the repository URL, the schema defaults), unchanged after
that, and submitted. The Secret `<run>-git-secret` the ClusterWorkflow's ExternalSecret would make is created
directly (ExternalSecrets are gate 4's).

1. Against the **committed** templates (`kubectl apply -k templates/`, step images under their committed names,
   present on the node): every templateRef resolves, `checkout-source`'s pod runs to Succeeded, and the run stops
   at `build-image`, whose pod the API server refuses: the committed build template patches its pod with
   `hostUsers: false` and every pod on this node is on the host network (the tier's documented limit).
2. Against the pack rendered with this tier's settings (user namespace off, images renamed, plus
   `publish.registry` = the registry on 127.0.0.1, `publish.tls_verify=false`, `api.mode=off`: the upstream
   Workflow passes no registry and no API settings, so the templates' defaults apply; the committed default
   registry is public, ttl.sh, and the API server is gate 4's): the same upstream Workflow runs to Succeeded and
   the image is in the registry.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.cluster import record_timing
from testkit.gitserver import HttpGitServer
from testkit.paths import OPENCHOREO_1X_SAMPLES, TEMPLATES
from testkit.real_argo import NAMESPACE, RealArgo, node_outputs, nodes_by_display_name, render_pack, sample_app
from testkit.real_node import wait_until
from testkit.registry import BaseImage, Registry
from tests import test_upstream_samples as upstream

pytestmark = [pytest.mark.cluster, pytest.mark.node]

UPSTREAM_DOCKERFILE_BUILDER = OPENCHOREO_1X_SAMPLES / "ci-workflows" / "dockerfile-builder.yaml"
STEP_REFS = {
    "checkout-source": {"name": "checkout-source", "template": "checkout", "clusterScope": True},
    "build-image": {"name": "containerfile-build", "template": "build-image", "clusterScope": True},
    "publish-image": {"name": "publish-image", "template": "publish-image", "clusterScope": True},
    "generate-workload-cr": {"name": "generate-workload", "template": "generate-workload-cr", "clusterScope": True},
}


@pytest.fixture(scope="module")
def git_server(real_argo: RealArgo, busybox_base: BaseImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    tuple[HttpGitServer, str]
]:  # fmt: skip
    root = tmp_path_factory.mktemp("gate3-upstream-repos")
    commit = sample_app(root, f'FROM {busybox_base.ref}\nRUN echo "upstream sample" > /built.txt\n', "greeter.git")
    password = secrets.token_urlsafe(12)
    with HttpGitServer(root, "ci", password) as server:
        yield server, commit


def openchoreo_workflow(monkeypatch: pytest.MonkeyPatch, run: str, repository_url: str) -> dict[str, Any]:
    """The Argo Workflow OpenChoreo renders from the upstream ClusterWorkflow for WorkflowRun `run` in `argo`."""
    monkeypatch.setitem(upstream.RUN_METADATA, "metadata.workflowRunName", run)
    monkeypatch.setitem(upstream.RUN_METADATA, "metadata.namespace", NAMESPACE)
    monkeypatch.setitem(upstream.SAMPLE_PARAMETERS, "repository.url", repository_url)
    rendered = upstream.render_run_template(yaml.safe_load(UPSTREAM_DOCKERFILE_BUILDER.read_text()))
    workflow: dict[str, Any] = rendered["spec"]["runTemplate"]
    assert workflow["metadata"] == {"name": run, "namespace": NAMESPACE}
    return workflow


def _submit(real_argo: RealArgo, server: HttpGitServer, workflow: dict[str, Any]) -> str:
    run = workflow["metadata"]["name"]
    username, password = server.username, server.password
    real_argo.git_secret(f"{run}-git-secret", username, password)  # what the ExternalSecret would create
    real_argo.hostpath_volume(f"workspace-{secrets.token_hex(3)}")
    return real_argo.submit(workflow)


def _run_against(
    real_argo: RealArgo,
    templates: Path,
    workflow: dict[str, Any],
    *,
    tier_templates: Path,
    server: HttpGitServer,
    what: str,
) -> dict[str, Any]:
    """Apply `templates`, submit the upstream Workflow, wait for it; the tier render is applied again after."""
    real_argo.apply_pack(templates)
    try:
        started = time.monotonic()
        name = _submit(real_argo, server, workflow)
        finished = real_argo.wait_finished(name, timeout=600)
        record_timing(
            f"upstream sample on {what} (submit to {finished['status']['phase']})", time.monotonic() - started
        )
    finally:
        real_argo.apply_pack(tier_templates)  # the rest of the session runs the tier render
    return finished


def _delete(real_argo: RealArgo, name: str) -> None:
    """Delete a Workflow and wait for its pods to go (later checks look at every pod of the namespace)."""
    real_argo.node.api.request("DELETE", f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows/{name}")
    wait_until(f"pods of {name} deleted", lambda: not real_argo.pods_of(name), 120)


def test_upstream_dockerfile_builder_resolves_against_the_committed_templates_and_stops_at_the_user_namespace(
    real_argo: RealArgo,
    tier_templates: Path,
    git_server: tuple[HttpGitServer, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = git_server
    workflow = openchoreo_workflow(monkeypatch, f"greeter-build-{secrets.token_hex(3)}", server.url("greeter.git"))
    real_argo.name_step_images_as_committed()
    finished = _run_against(
        real_argo, TEMPLATES, workflow, tier_templates=tier_templates, server=server, what="the committed templates"
    )
    name = finished["metadata"]["name"]
    nodes = nodes_by_display_name(finished)
    summary = {n: (v["type"], v["phase"], v.get("message", "")) for n, v in nodes.items()}
    assert finished["status"]["phase"] in ("Failed", "Error"), summary
    checkout, build = nodes["checkout-source"], nodes["build-image"]
    assert (checkout["templateRef"], checkout["phase"]) == (STEP_REFS["checkout-source"], "Succeeded"), summary
    assert len(node_outputs(checkout)["git-revision"]) == 8
    assert build["templateRef"] == STEP_REFS["build-image"], summary
    assert build["phase"] == "Error" and "hostUsers" in build["message"], summary
    assert "not found" not in str(summary), summary  # every templateRef resolved
    pods = real_argo.pods_of(name)
    assert [p["spec"]["containers"][-1]["image"] for p in pods] == ["ghcr.io/openchoreo-ci-pack/checkout:0.1.0"]
    _delete(real_argo, name)


def test_upstream_dockerfile_builder_runs_to_succeeded_against_the_tier_render(
    real_argo: RealArgo,
    tier_templates: Path,
    git_server: tuple[HttpGitServer, str],
    plain_registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, commit = git_server
    run = f"greeter-build-{secrets.token_hex(3)}"
    workflow = openchoreo_workflow(monkeypatch, run, server.url("greeter.git"))
    with tempfile.TemporaryDirectory(prefix="pack-gate3-upstream-") as tmp:
        settings = (f"publish.registry={plain_registry.host}/apps", "publish.tls_verify=false", "api.mode=off")
        rendered = render_pack(Path(tmp), *settings)
        finished = _run_against(
            real_argo, rendered, workflow, tier_templates=tier_templates, server=server, what="the tier render"
        )
    name = finished["metadata"]["name"]
    nodes = nodes_by_display_name(finished)
    summary = {n: (v["type"], v["phase"], v.get("message", "")) for n, v in nodes.items()}
    assert finished["status"]["phase"] == "Succeeded", (finished["status"].get("message"), summary)
    for step, reference in STEP_REFS.items():
        assert nodes[step]["templateRef"] == reference, (step, nodes[step])
    revision = node_outputs(nodes["checkout-source"])["git-revision"]
    assert commit.startswith(revision)
    image = node_outputs(nodes["publish-image"])["image"]
    # image-name and image-tag as the upstream Workflow sets them: <namespace>-<project>-<component>, v1
    assert image.startswith(f"{plain_registry.host}/apps/default-demo-greeter:v1-{revision}@sha256:"), image
    assert plain_registry.manifest("apps/default-demo-greeter", image.split("@", 1)[1]).status == 200
    workload = yaml.safe_load(node_outputs(nodes["generate-workload-cr"])["workload-cr"])
    assert workload["kind"] == "Workload" and image in str(workload)
    _delete(real_argo, name)
