"""End to end, real everything: a sample app in a git repository served over smart HTTP on 127.0.0.1 ->
`python -m hera_workflows run dockerfile-builder` from templates/ on the local Docker engine (the pack's step
images, built beforehand by `images build --local-base`) -> the image is in a real registry on 127.0.0.1 and runs
-> `controller-check` reads the saved Workflow as OpenChoreo v0.17 does and reports WorkloadUpdated=True with the
expected Workload CR.

Failure paths (missing Dockerfile, broken descriptor, registry down) each end with a failed node, a clear message,
and no WorkloadUpdated condition (the workflow failed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hera_workflows import controller_check as cc
from testkit.gitserver import HttpGitServer, bare_repo_with_tree
from testkit.paths import CRDS, ROOT, TEMPLATES
from testkit.registry import BaseImage, Registry, free_port

# Registry and base-image fixtures (session-scoped, shared with the step tests).

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SAMPLE_APP = Path(__file__).parent / "fixtures" / "sample-app"
PIPELINE = "dockerfile-builder"
GIT_USER, GIT_PASSWORD = "ci-bot", "e2e-git-password-7731"
PROJECT, COMPONENT, NAMESPACE = "demo", "greeter", "demo-ns"
IMAGE_NAME = f"{NAMESPACE}-{PROJECT}-{COMPONENT}"


@dataclass
class Source:
    url: str
    commit: str
    secret_dir: Path


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    workflow: dict[str, Any]
    path: Path

    def node(self, display_name: str) -> dict[str, Any]:
        return next(n for n in self.workflow["status"]["nodes"].values() if n["displayName"] == display_name)


def make_repo(root: Path, name: str, mutate: Any = None) -> str:
    """A bare repository `name` under `root` holding the sample app (optionally changed); returns the commit."""

    def populate(work: Path) -> None:
        shutil.copytree(SAMPLE_APP, work, dirs_exist_ok=True)
        if mutate is not None:
            mutate(work)

    return bare_repo_with_tree(root / name, populate)


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HttpGitServer, Path]]:
    root = tmp_path_factory.mktemp("repos") / "git"
    root.mkdir()
    secret = tmp_path_factory.mktemp("git-secret")
    (secret / "username").write_text(GIT_USER)
    (secret / "password").write_text(GIT_PASSWORD)
    with HttpGitServer(root, GIT_USER, GIT_PASSWORD) as server:
        yield server, secret


def source(git_server: tuple[HttpGitServer, Path], name: str, mutate: Any = None) -> Source:
    server, secret = git_server
    commit = make_repo(server.root, name, mutate)
    return Source(server.url(name), commit, secret)


def run_pipeline(tmp_path: Path, src: Source, base: BaseImage, registry_host: str, tls_verify: str = "false") -> Run:
    out = tmp_path / "workflow.json"
    params = {
        "component-name": COMPONENT,
        "project-name": PROJECT,
        "namespace-name": NAMESPACE,
        "git-repo": src.url,
        "branch": "main",
        "image-name": IMAGE_NAME,
        "registry": registry_host,
        "tls-verify": tls_verify,
        "build-args": json.dumps([{"name": "BASE_IMAGE", "value": base.ref}]),
        "openchoreo-profile": "openchoreo-0.17",
        "api-mode": "off",  # no OpenChoreo API server here: write the CR only, explicitly
        "build-isolation": "none",  # Docker gives the build no user namespace; opted out explicitly
    }
    argv = [sys.executable, "-m", "hera_workflows", "run", PIPELINE, "--templates", str(TEMPLATES)]
    for key, value in params.items():
        argv += ["--param", f"{key}={value}"]
    argv += ["--secret", f"git-secret={src.secret_dir}", "--workspace", str(tmp_path / "ws"), "-o", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    print(done.stdout)
    print(done.stderr, file=sys.stderr)
    assert out.is_file(), done.stderr
    return Run(done.returncode, done.stdout, done.stderr, json.loads(out.read_text()), out)


def controller(run: Run, version: str = "0.17") -> cc.CheckResult:
    return cc.check(cc.load_workflow(run.path), version, CRDS)


def test_pipeline_builds_publishes_and_controller_applies(
    tmp_path: Path, git_server: tuple[HttpGitServer, Path], busybox_base: BaseImage, plain_registry: Registry
) -> None:
    src = source(git_server, "greeter.git")
    run = run_pipeline(tmp_path, src, busybox_base, plain_registry.host)
    assert run.returncode == 0, run.stderr
    status = run.workflow["status"]
    assert status["phase"] == "Succeeded"
    assert run.workflow["metadata"]["labels"]["workflows.argoproj.io/cluster-workflow-template"] == PIPELINE

    # progress lines and the summary table
    assert "▶ checkout-source (checkout-source/checkout)" in run.stdout
    assert "✔ generate-workload-cr" in run.stdout
    assert "STEP" in run.stdout and "KEY OUTPUTS" in run.stdout
    assert GIT_PASSWORD not in run.stdout + run.stderr + run.path.read_text()

    # Argo's shapes for a workflowTemplateRef run whose steps use templateRef
    root = status["nodes"][run.workflow["metadata"]["name"]]
    assert (root["type"], root["templateName"], root["templateScope"]) == ("Steps", "build-workflow", "local/")
    checkout = run.node("checkout-source")
    assert checkout["templateRef"] == {"name": "checkout-source", "template": "checkout", "clusterScope": True}
    assert "templateName" not in checkout and checkout["templateScope"] == "local/"
    revision = {p["name"]: p.get("value") for p in checkout["outputs"]["parameters"]}["git-revision"]
    assert revision == src.commit[:8]
    publish = run.node("publish-image")
    assert publish["type"] == "Retry" and len(publish["children"]) == 1
    outputs = {p["name"]: p["value"] for p in publish["outputs"]["parameters"]}
    tag = f"v1-{revision}"
    assert outputs["image"].startswith(f"{plain_registry.host}/{IMAGE_NAME}:{tag}@sha256:")
    assert "\n" not in outputs["image"]

    # the image is in the registry, and runs
    assert tag in plain_registry.tags(IMAGE_NAME)
    ref = f"{plain_registry.host}/{IMAGE_NAME}:{tag}"
    try:
        subprocess.run(["docker", "pull", "-q", ref], check=True, capture_output=True, timeout=120)
        ran = subprocess.run(
            ["docker", "run", "--rm", "--network", "host", ref], capture_output=True, text=True, timeout=60, check=True
        )
        assert ran.stdout == "hello from greeter\n"
    finally:
        subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, check=False)

    # OpenChoreo v0.17 (and v0.16) would apply it; v0.15 matches templateName only, which templateRef steps lack
    result = controller(run)
    assert result.ok and result.case == cc.CASE_APPLIED, result.explanation
    assert result.condition == cc.Condition("True", "WorkloadUpdated", "Workload CR created/updated successfully")
    workload = result.workload
    assert workload is not None
    assert workload["metadata"] == {"name": f"{COMPONENT}-workload", "namespace": "default"}
    spec = workload["spec"]
    assert spec["owner"] == {"projectName": PROJECT, "componentName": COMPONENT}
    assert spec["container"]["image"] == outputs["image"]
    assert spec["container"]["env"] == [{"key": "GREETING", "value": "hello"}, {"key": "LOG_LEVEL", "value": "info"}]
    assert spec["container"]["files"] == [
        {"key": "app.yaml", "mountPath": "/etc/greeter", "value": "greeting: hello\n"}
    ]
    endpoint = spec["endpoints"]["http"]
    assert (endpoint["port"], endpoint["type"], endpoint["basePath"], endpoint["visibility"]) == (
        8080,
        "HTTP",
        "/greet",
        ["external"],
    )
    assert endpoint["schema"]["content"] == (SAMPLE_APP / "openapi.yaml").read_text()
    assert not result.validation_errors
    assert controller(run, "0.16").ok
    assert controller(run, "0.15").case == cc.CASE_NO_TASK

    # the CLI on the saved file
    check = subprocess.run(
        [sys.executable, "-m", "hera_workflows", "controller-check", str(run.path), "--crd-dir", str(CRDS)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Condition: WorkloadUpdated=True reason=WorkloadUpdated" in check.stdout


def assert_failed_at(run: Run, step: str, *message_parts: str) -> dict[str, Any]:
    assert run.returncode == 1
    assert run.workflow["status"]["phase"] == "Failed"
    nodes = [n for n in run.workflow["status"]["nodes"].values() if n["type"] == "Pod"]
    failed = [n for n in nodes if n["phase"] in ("Failed", "Error")]
    assert failed and all(n["displayName"].split("(")[0] == step for n in failed), [n["name"] for n in failed]
    node: dict[str, Any] = failed[-1]
    for part in message_parts:
        assert part in node["message"] + run.stdout, node["message"]
    assert "generate-workload-cr" not in {n["displayName"] for n in nodes} or step == "generate-workload-cr"
    result = controller(run)
    assert result.case == cc.CASE_WORKFLOW_FAILED and result.condition is None
    assert not result.ok
    return node


def test_missing_dockerfile_fails_the_build_step(
    tmp_path: Path, git_server: tuple[HttpGitServer, Path], busybox_base: BaseImage, plain_registry: Registry
) -> None:
    src = source(git_server, "no-dockerfile.git", lambda work: (work / "Dockerfile").unlink())
    run = run_pipeline(tmp_path, src, busybox_base, plain_registry.host)
    node = assert_failed_at(run, "build-image", "not found under the source root")
    assert node["outputs"]["exitCode"] != "0"


def test_broken_descriptor_fails_generate_workload(
    tmp_path: Path, git_server: tuple[HttpGitServer, Path], busybox_base: BaseImage, plain_registry: Registry
) -> None:
    def break_descriptor(work: Path) -> None:
        text = (work / "workload.yaml").read_text().replace("port: 8080", 'port: "eighty"')
        (work / "workload.yaml").write_text(text)

    src = source(git_server, "broken-descriptor.git", break_descriptor)
    run = run_pipeline(tmp_path, src, busybox_base, plain_registry.host)
    assert_failed_at(run, "generate-workload-cr", "workload.yaml:", "endpoints[0].port: expected an integer")


def test_registry_down_fails_publish_after_retries(
    tmp_path: Path, git_server: tuple[HttpGitServer, Path], busybox_base: BaseImage, plain_registry: Registry
) -> None:
    src = source(git_server, "registry-down.git")
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    run = run_pipeline(tmp_path, src, busybox_base, dead)
    node = assert_failed_at(run, "publish-image", dead, "connection refused")
    retry = run.node("publish-image")
    assert retry["type"] == "Retry" and retry["phase"] == "Failed"
    assert retry["message"] in ("No more retries left", "Backoff would exceed max duration limit")
    assert len(retry["children"]) >= 2  # exit 75 is transient: the template retries it
    assert node["outputs"]["exitCode"] == "75"
