"""Gate 3 of the real-system tier (issue 12): a differential test of the local runner (`python -m hera_workflows run`,
hera_workflows/engine/) against real Argo Workflows v4.0.5 on the real node.

The same `dockerfile-builder` run (one sample app from a git server on 127.0.0.1, the same parameters, the same
Workflow name, the image pushed to the same registry on 127.0.0.1) goes through real Argo and through the local
runner. Both Workflows' `status.nodes` must agree on every node: name, id, display name, type, template name,
template reference, scope, boundary, children, outbound nodes, phase, input parameters and output parameters.

What may differ, and why (DIFFERS_BY_DESIGN):
- the image digest. The two builds are two buildah runs of the same commit (build avoidance off, so both build);
  the image config records when it was built (`created`, history), so the manifest digest of the second push
  differs. Everything up to the digest must
  be equal (registry, repository, tag `v1-<git-revision>`), and the digest is checked to be a sha256 digest the
  registry serves. `workload-cr` embeds the image, so it is compared with the digest masked;
- the templates' images and pull policy: Argo runs the tier render (step images renamed to
  127.0.0.1:5000/openchoreo-ci-pack, pull policy Never, build user namespace off, see test_real_node_argo.py);
  the local runner runs the committed templates/ on the local Docker engine with `build-isolation=none`. Neither
  shows in `status.nodes`;
- timestamps, `progress` on running nodes, `hostNodeName`, `resourcesDuration`, `estimatedDuration`: the local
  runner has no node, no kubelet and no duration estimates (Argo's own bookkeeping, not the pack's contract).
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testkit.cluster import record_timing
from testkit.gitserver import HttpGitServer
from testkit.paths import ROOT, TEMPLATES
from testkit.real_argo import NAMESPACE, RealArgo, dockerfile_builder, node_outputs, sample_app
from testkit.registry import BaseImage, Registry

pytestmark = [pytest.mark.cluster, pytest.mark.node, pytest.mark.docker]

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Node fields both must record identically (Argo's NodeStatus; the local runner mirrors these).
COMPARED_FIELDS = (
    "id", "name", "displayName", "type", "templateName", "templateRef", "templateScope", "boundaryID",
    "children", "outboundNodes", "phase", "message", "nodeFlag",
)  # fmt: skip
# Argo's own bookkeeping the local runner does not keep: no kubelet, no resource accounting, no estimates.
ARGO_ONLY_FIELDS = {"hostNodeName", "resourcesDuration", "estimatedDuration", "podIP", "startedAt", "finishedAt",
                    "progress"}  # fmt: skip


def _parameters(node: dict[str, Any], kind: str) -> dict[str, str]:
    if kind == "outputs":
        return node_outputs(node)
    return {p["name"]: p.get("value", "") for p in (node.get("inputs") or {}).get("parameters") or []}


def _mask_digests(value: str) -> str:
    return DIGEST.sub("sha256:<digest>", value)


def node_differences(argo: dict[str, Any], local: dict[str, Any]) -> list[str]:
    """Every difference between two Workflows' `status.nodes`, except what DIFFERS_BY_DESIGN (module docstring)."""
    argo_nodes = {n["name"]: n for n in argo["status"]["nodes"].values()}
    local_nodes = {n["name"]: n for n in local["status"]["nodes"].values()}
    found = [f"node only on Argo: {name}" for name in sorted(argo_nodes.keys() - local_nodes.keys())]
    found += [f"node only in the local runner: {name}" for name in sorted(local_nodes.keys() - argo_nodes.keys())]
    for name in sorted(argo_nodes.keys() & local_nodes.keys()):
        a, b = argo_nodes[name], local_nodes[name]
        for key in COMPARED_FIELDS:
            if a.get(key) != b.get(key):
                found.append(f"{name}: {key}: Argo {a.get(key)!r} != local {b.get(key)!r}")
        for kind in ("inputs", "outputs"):
            left = {k: _mask_digests(v) for k, v in _parameters(a, kind).items()}
            right = {k: _mask_digests(v) for k, v in _parameters(b, kind).items()}
            if left != right:
                keys = sorted(k for k in left.keys() | right.keys() if left.get(k) != right.get(k))
                found += [f"{name}: {kind}.{k}: Argo {left.get(k)!r} != local {right.get(k)!r}" for k in keys]
            exit_a, exit_b = (a.get(kind) or {}).get("exitCode"), (b.get(kind) or {}).get("exitCode")
            if exit_a != exit_b:
                found.append(f"{name}: {kind}.exitCode: Argo {exit_a!r} != local {exit_b!r}")
        extra = set(b) - set(a) - ARGO_ONLY_FIELDS
        if extra:
            found.append(f"{name}: fields only the local runner records: {sorted(extra)}")
    return found


@dataclass(frozen=True)
class Both:
    argo: dict[str, Any]
    local: dict[str, Any]
    local_output: str  # the runner's stdout + stderr, for failure messages
    commit: str


def run_both(real_argo: RealArgo, registry: Registry, root: Path, dockerfile: str, image_name: str) -> Both:
    """One sample app, one Workflow name, the same parameters: through real Argo, then through the local runner."""
    commit = sample_app(root / "repos", dockerfile)
    password = secrets.token_urlsafe(12)
    real_argo.git_secret("git-secret", "ci", password)
    secret_dir = root / "git-secret"
    secret_dir.mkdir()
    (secret_dir / "username").write_text("ci")
    (secret_dir / "password").write_text(password)
    real_argo.hostpath_volume(f"workspace-{secrets.token_hex(3)}")
    name = f"differential-{secrets.token_hex(3)}"  # the same name for both: node ids hash the node names
    with HttpGitServer(root / "repos", "ci", password) as server:
        parameters = {
            "component-name": "greeter",
            "project-name": "demo",
            "namespace-name": "default",
            "git-repo": server.url("app.git"),
            "branch": "main",
            "image-name": image_name,
            "registry": f"{registry.host}/apps",
            "tls-verify": "false",
            "build-isolation": "none",
            "api-mode": "off",
            # Both runs build the same commit into the same repository: with build avoidance on, the second would
            # reuse the first's image and not build at all. Compared here is one build against another; the hit
            # path is tested through the local runner (test_build_avoidance_pipeline.py).
            "build-avoidance": "false",
        }
        started = time.monotonic()
        real_argo.submit(dockerfile_builder(parameters, name=name))
        argo = real_argo.wait_finished(name, timeout=600)
        record_timing(f"differential {image_name}: real Argo (submit to {argo['status']['phase']})",
                      time.monotonic() - started)  # fmt: skip

        output = root / "local.json"
        argv = [sys.executable, "-m", "hera_workflows", "run", "dockerfile-builder", "--templates", str(TEMPLATES),
                "--name", name, "--namespace", NAMESPACE, "--secret", f"git-secret={secret_dir}",
                "--workspace", str(root / "workspace"), "-o", str(output), "--quiet"]  # fmt: skip
        for key, value in parameters.items():
            argv += ["--param", f"{key}={value}"]
        started = time.monotonic()
        ran = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
        record_timing(f"differential {image_name}: local runner", time.monotonic() - started)
    assert output.is_file(), ran.stdout[-3000:] + ran.stderr[-3000:]
    return Both(argo, json.loads(output.read_text()), ran.stdout[-3000:] + ran.stderr[-3000:], commit)


def test_local_runner_records_what_real_argo_records(
    real_argo: RealArgo, tier_templates: Path, plain_registry: Registry, busybox_base: BaseImage, tmp_path: Path
) -> None:
    dockerfile = f'FROM {busybox_base.ref}\nRUN echo "differential" > /built.txt\n'
    both = run_both(real_argo, plain_registry, tmp_path, dockerfile, "default-demo-differential")
    argo, local = both.argo, both.local
    assert argo["status"]["phase"] == "Succeeded", (argo["status"].get("message"), real_argo.logs()[-3000:])
    assert local["status"]["phase"] == "Succeeded", both.local_output
    commit = both.commit

    differences = node_differences(argo, local)
    assert differences == [], "\n".join(differences)

    # What differs by design, pinned: the same image up to its digest; both digests are real and served.
    argo_by_name = {n["displayName"]: n for n in argo["status"]["nodes"].values()}
    local_by_name = {n["displayName"]: n for n in local["status"]["nodes"].values()}
    argo_image = node_outputs(argo_by_name["publish-image(0)"])["image"]
    local_image = node_outputs(local_by_name["publish-image(0)"])["image"]
    revision = node_outputs(argo_by_name["checkout-source"])["git-revision"]
    assert commit.startswith(revision)
    expected = f"{plain_registry.host}/apps/default-demo-differential:v1-{revision}@sha256:"
    assert argo_image.startswith(expected) and local_image.startswith(expected), (argo_image, local_image)
    for image in (argo_image, local_image):
        repository = image.split(":v1-", 1)[0].split("/", 1)[1]
        digest = image.split("@", 1)[1]
        assert plain_registry.manifest(repository, digest).status == 200, image


def test_a_failed_build_is_recorded_alike(
    real_argo: RealArgo, tier_templates: Path, plain_registry: Registry, busybox_base: BaseImage, tmp_path: Path
) -> None:
    """The failure path: a Dockerfile whose RUN fails stops both at build-image with the same nodes, phases and
    messages (Argo v4 prefixes the failed container's name: `main: Error (exit code 1)`), and the same Workflow
    message."""
    dockerfile = f"FROM {busybox_base.ref}\nRUN no-such-command-in-the-base-image\n"
    both = run_both(real_argo, plain_registry, tmp_path, dockerfile, "default-demo-differential-broken")
    assert both.argo["status"]["phase"] == "Failed", both.argo["status"]
    assert both.local["status"]["phase"] == "Failed", both.local_output
    differences = node_differences(both.argo, both.local)
    argo_message, local_message = both.argo["status"].get("message"), both.local["status"].get("message")
    if argo_message != local_message:
        differences.append(f"Workflow message: Argo {argo_message!r} != local {local_message!r}")
    assert differences == [], "\n".join(differences)
