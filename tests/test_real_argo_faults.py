"""Gate 3 of the real-system tier (issue 12): faults on real Argo Workflows v4.0.5, on the real node.

- The publish retry on exit code 75: testkit/faultproxy.py sits in front of the registry on 127.0.0.1 and answers
  503 to every connection until the first `publish-image` attempt has failed. The step retries inside itself
  (`push-retries`, 3 as rendered), then exits 75; the template's `retryStrategy` (as rendered: `expression:
  asInt(lastRetry.exitCode) == 75`, limit 2, backoff 15 s) makes Argo start a second pod, the proxy now forwards,
  and the Workflow Succeeds. `status.nodes` shows it: the Retry node `publish-image` with a failed child (exit
  code 75) and a succeeded one.
- A failed run's clean-up: a Dockerfile that does not build ends the Workflow Failed at `build-image`, with the
  failing node's message and the build's own error in the pod's log; every pod of the run has finished (none
  Pending or Running). The workspace claim is kept on failure: the pack sets no `volumeClaimGC`, and Argo's default
  is `OnWorkflowSuccess` (a succeeded run's claim is deleted, checked too). Deleting the Workflow (what
  `ttlStrategy`/OpenChoreo's clean-up does) removes its pods and its claim through their ownerReferences.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.cluster import record_timing
from testkit.faultproxy import FaultProxy
from testkit.gitserver import HttpGitServer
from testkit.real_argo import (
    NAMESPACE,
    RealArgo,
    dockerfile_builder,
    node_outputs,
    nodes_by_display_name,
    sample_app,
)
from testkit.real_node import wait_until
from testkit.registry import BaseImage, Registry

pytestmark = [pytest.mark.cluster, pytest.mark.node]

GIT_USER = "ci"
UNKNOWN_COMMAND = "no-such-command-in-the-base-image"


@dataclass(frozen=True)
class Apps:
    server: HttpGitServer
    good: str  # commit of good.git
    broken: str  # commit of broken.git


@pytest.fixture(scope="module")
def apps(real_argo: RealArgo, busybox_base: BaseImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    root = tmp_path_factory.mktemp("gate3-fault-repos")
    good = sample_app(root, f'FROM {busybox_base.ref}\nRUN echo "retried" > /built.txt\n', "good.git")
    broken = sample_app(root, f"FROM {busybox_base.ref}\nRUN {UNKNOWN_COMMAND}\n", "broken.git")
    password = secrets.token_urlsafe(12)
    real_argo.git_secret("git-secret", GIT_USER, password)
    with HttpGitServer(root, GIT_USER, password) as server:
        yield Apps(server, good, broken)


def _parameters(apps: Apps, repository: str, registry: str, image_name: str) -> dict[str, str]:
    return {
        "component-name": "greeter",
        "project-name": "demo",
        "namespace-name": "default",
        "git-repo": apps.server.url(repository),
        "branch": "main",
        "image-name": image_name,
        "registry": f"{registry}/apps",
        "tls-verify": "false",
        "build-isolation": "none",
        "api-mode": "off",
    }


def _claim_names(real_argo: RealArgo) -> set[str]:
    return {claim["metadata"]["name"] for claim in real_argo.claims()}


def test_publish_retries_on_exit_code_75_and_the_workflow_succeeds(
    real_argo: RealArgo, tier_templates: Path, apps: Apps, plain_registry: Registry
) -> None:
    rendered = yaml.safe_load((tier_templates / "steps" / "publish-image.yaml").read_text())
    strategy = rendered["spec"]["templates"][0]["retryStrategy"]
    assert strategy["expression"] == "asInt(lastRetry.exitCode) == 75" and strategy["limit"] >= 1, strategy

    real_argo.hostpath_volume(f"workspace-{secrets.token_hex(3)}")
    with FaultProxy(plain_registry.host, mode="status", faults=-1, status=503, lifetime=900) as proxy:
        started = time.monotonic()
        name = real_argo.submit(dockerfile_builder(_parameters(apps, "good.git", proxy.host, "default-demo-retried")))
        first: dict[str, Any] = {}

        def first_attempt_failed() -> bool:
            workflow = real_argo.workflow(name)
            first.update(nodes_by_display_name(workflow).get("publish-image(0)") or {})
            if (workflow.get("status") or {}).get("phase") in ("Failed", "Error"):
                raise AssertionError(f"workflow ended before the retry: {workflow['status'].get('message')}")
            return first.get("phase") in ("Failed", "Error")

        wait_until("publish-image(0) failed", first_attempt_failed, 600)
        faulted = proxy.faulted
        proxy.heal()  # the registry is back: the retry's connections are forwarded
        workflow = real_argo.wait_finished(name, timeout=600)
    record_timing("publish retry Workflow (submit to Succeeded)", time.monotonic() - started)

    nodes = nodes_by_display_name(workflow)
    summary = {n: (v["type"], v["phase"], v.get("message", "")) for n, v in nodes.items()}
    assert workflow["status"]["phase"] == "Succeeded", (workflow["status"].get("message"), summary)
    assert faulted >= 4, faulted  # one 503 per attempt inside the step at least: 1 + push-retries (3)
    retry = nodes["publish-image"]
    assert retry["type"] == "Retry" and retry["phase"] == "Succeeded"
    failed, succeeded = (real_argo.workflow(name)["status"]["nodes"][child] for child in retry["children"])
    assert (failed["displayName"], failed["type"], failed["phase"]) == ("publish-image(0)", "Pod", "Failed")
    assert failed["outputs"]["exitCode"] == "75", failed
    assert "exit code 75" in failed["message"], failed["message"]
    assert (succeeded["displayName"], succeeded["phase"]) == ("publish-image(1)", "Succeeded")
    assert failed.get("nodeFlag") == {"retried": True} and succeeded.get("nodeFlag") == {"retried": True}
    failed_log = real_argo.node.pod_log(NAMESPACE, _pod_name(real_argo, name, failed["id"]), "main")
    assert "503" in failed_log and "after 4 attempt(s) with transient errors" in failed_log, failed_log[-2000:]
    image = node_outputs(retry)["image"]
    assert image == node_outputs(succeeded)["image"]
    assert image.startswith(f"{proxy.host}/apps/default-demo-retried:v1-{apps.good[:8]}@sha256:"), image
    assert plain_registry.manifest("apps/default-demo-retried", image.split("@", 1)[1]).status == 200

    # A succeeded run's workspace claim is deleted (Argo's default volumeClaimGC: OnWorkflowSuccess).
    wait_until(f"claim {name}-workspace deleted", lambda: f"{name}-workspace" not in _claim_names(real_argo), 60)


def _pod_name(real_argo: RealArgo, workflow: str, node_id: str) -> str:
    for pod in real_argo.pods_of(workflow):
        if pod["metadata"].get("annotations", {}).get("workflows.argoproj.io/node-id") == node_id:
            name: str = pod["metadata"]["name"]
            return name
    raise AssertionError(f"no pod of {workflow} for node {node_id}")


def test_a_failed_build_ends_failed_with_its_reason_and_leaves_the_cluster_clean(
    real_argo: RealArgo, tier_templates: Path, apps: Apps, plain_registry: Registry
) -> None:
    real_argo.hostpath_volume(f"workspace-{secrets.token_hex(3)}")
    started = time.monotonic()
    name = real_argo.submit(
        dockerfile_builder(_parameters(apps, "broken.git", plain_registry.host, "default-demo-broken"))
    )
    workflow = real_argo.wait_finished(name, timeout=600)
    record_timing("failed-build Workflow (submit to Failed)", time.monotonic() - started)

    nodes = nodes_by_display_name(workflow)
    summary = {n: (v["type"], v["phase"], v.get("message", "")) for n, v in nodes.items()}
    assert workflow["status"]["phase"] == "Failed", summary
    build = nodes["build-image"]
    assert build["phase"] == "Failed", summary
    assert build["message"].startswith("main: Error (exit code 1)"), build["message"]
    assert nodes["checkout-source"]["phase"] == "Succeeded", summary
    assert "publish-image" not in nodes and "generate-workload-cr" not in nodes, summary  # nothing after the failure
    log = real_argo.node.pod_log(NAMESPACE, _pod_name(real_argo, name, build["id"]), "main")
    assert UNKNOWN_COMMAND in log and "error" in log.lower(), log[-2000:]

    # Clean: every pod of the run has finished, no container still runs.
    pods = real_argo.pods_of(name)
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
    for pod in pods:
        assert pod["status"]["phase"] in ("Succeeded", "Failed"), (pod["metadata"]["name"], pod["status"]["phase"])
        for container in pod["status"].get("containerStatuses") or []:
            assert "terminated" in container["state"], (pod["metadata"]["name"], container["state"])
    # The claim is kept on failure, by Argo's default volumeClaimGC (OnWorkflowSuccess; the pack sets none), so a
    # failed build's workspace can be inspected; it is the only claim of the run and is bound.
    claim = real_argo.node.api.get(f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims/{name}-workspace")
    assert claim["status"]["phase"] == "Bound"
    assert [ref["name"] for ref in claim["metadata"]["ownerReferences"]] == [name]
    assert "volumeClaimGC" not in (workflow["spec"] | workflow["status"].get("storedWorkflowTemplateSpec", {}))

    # Deleting the Workflow removes its pods and its claim (ownerReferences, the garbage collector).
    deleting = time.monotonic()
    real_argo.node.api.request("DELETE", f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows/{name}")
    wait_until(f"pods of {name} deleted", lambda: not real_argo.pods_of(name), 120)
    wait_until(f"claim {name}-workspace deleted", lambda: f"{name}-workspace" not in _claim_names(real_argo), 120)
    record_timing("failed Workflow deleted to pods and claim gone", time.monotonic() - deleting)
