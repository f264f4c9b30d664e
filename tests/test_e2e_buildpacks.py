"""End to end with the REAL CNB lifecycle: a Python app in a git repository served over smart HTTP on 127.0.0.1 ->
`python -m hera_workflows run paketo-buildpacks-builder` from templates rendered with the local test builder
substituted by settings (tests/test_buildpacks_containers.py: `buildpacks.paketo.*`) -> the image is in a real
registry on 127.0.0.1, runs through the CNB launcher and answers with the greeting given as build-env ->
`controller-check` (OpenChoreo v0.17's reading of the Workflow) finds the Workload CR naming that image.

Stand-in: the builder (Debian Python base + the pack's own buildpack; no Paketo buildpack is served by the Go
module proxy). Everything else is what a cluster would run: the same step templates, the lifecycle v0.20.4.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hera_workflows import controller_check as cc
from testkit.buildpacks import APP, LocalBuilder, answer, make_local_builder
from testkit.gitserver import HttpGitServer, bare_repo_with_tree
from testkit.paths import CRDS, ROOT
from testkit.registry import Registry

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_builder(
    docker_client: Any, plain_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> LocalBuilder:
    return make_local_builder(docker_client, plain_registry, tmp_path_factory.mktemp("templates"))


PIPELINE = "paketo-buildpacks-builder"
GIT_USER, GIT_PASSWORD = "ci-bot", "bp-e2e-git-password-5521"
PROJECT, COMPONENT, NAMESPACE = "demo", "pyapp", "demo-ns"
IMAGE_NAME = f"{NAMESPACE}-{PROJECT}-{COMPONENT}"


def run_pipeline(templates: Path, tmp_path: Path, params: dict[str, str], secret_dir: Path) -> tuple[int, str, Path]:
    out = tmp_path / "workflow.json"
    argv = [sys.executable, "-m", "hera_workflows", "run", PIPELINE, "--templates", str(templates)]
    for key, value in params.items():
        argv += ["--param", f"{key}={value}"]
    argv += ["--secret", f"git-secret={secret_dir}", "--workspace", str(tmp_path / "ws"), "-o", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False)
    print(done.stdout)
    print(done.stderr, file=sys.stderr)
    assert out.is_file(), done.stderr
    return done.returncode, done.stdout, out


def test_paketo_pipeline_builds_with_the_real_lifecycle_publishes_and_runs(
    tmp_path: Path,
    docker_client: Any,
    local_builder: LocalBuilder,
    plain_registry: Registry,
) -> None:
    repos = tmp_path / "repos"
    repos.mkdir()
    commit = bare_repo_with_tree(
        repos / "py.git", lambda work: shutil.copytree(APP, work / "services" / "py", dirs_exist_ok=True)
    )
    secret = tmp_path / "git-secret"
    secret.mkdir()
    (secret / "username").write_text(GIT_USER)
    (secret / "password").write_text(GIT_PASSWORD)
    params = {
        "component-name": COMPONENT,
        "project-name": PROJECT,
        "namespace-name": NAMESPACE,
        "branch": "main",
        "app-path": "/services/py",  # as OpenChoreo's samples write it
        "build-env": json.dumps([{"name": "BP_GREETING", "value": "built with buildpacks"}]),
        "image-name": IMAGE_NAME,
        "registry": plain_registry.host,
        "tls-verify": "false",
        "openchoreo-profile": "openchoreo-0.17",
    }
    with HttpGitServer(repos, GIT_USER, GIT_PASSWORD) as server:
        params["git-repo"] = server.url("py.git")
        returncode, stdout, out = run_pipeline(local_builder.templates, tmp_path, params, secret)
    workflow = json.loads(out.read_text())
    assert returncode == 0 and workflow["status"]["phase"] == "Succeeded", stdout[-6000:]
    assert "===> EXPORTING" in stdout and "STEP" in stdout and "KEY OUTPUTS" in stdout
    assert GIT_PASSWORD not in stdout + out.read_text()

    nodes = {n["displayName"]: n for n in workflow["status"]["nodes"].values()}
    build = nodes["build-image"]
    assert build["templateRef"] == {"name": "paketo-buildpacks-build", "template": "build-image", "clusterScope": True}
    publish_outputs = {p["name"]: p["value"] for p in nodes["publish-image"]["outputs"]["parameters"]}
    image = publish_outputs["image"]
    revision = commit[:8]
    assert image.startswith(f"{plain_registry.host}/{IMAGE_NAME}:v1-{revision}@sha256:")

    docker_client.images.pull(image.split(":v1-")[0] + "@" + image.split("@")[1])
    ref = f"{plain_registry.host}/{IMAGE_NAME}@{image.split('@')[1]}"
    try:
        assert answer(docker_client, ref) == "built with buildpacks from python-app\n"
    finally:
        docker_client.images.remove(ref, force=True)

    result = cc.check(cc.load_workflow(out), "0.17", CRDS)
    assert result.ok and result.case == cc.CASE_APPLIED, result.explanation
    assert result.workload is not None
    assert result.workload["spec"]["container"]["image"] == image
    assert result.workload["spec"]["owner"] == {"projectName": PROJECT, "componentName": COMPONENT}
