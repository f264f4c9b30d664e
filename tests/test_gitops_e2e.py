"""End to end: the sample app in a git repository over smart HTTP on 127.0.0.1 -> `python -m hera_workflows run
dockerfile-builder-gitops` from templates/ on the local Docker engine (the pack's step images) -> the built image in a
real registry on 127.0.0.1 -> a pull request on the forge stand-in (testkit/forge.py: GitHub's pull-request routes;
GitHub itself cannot run here) whose branch holds exactly the files the real `occ` v1.2.3 writes in file-system mode
for the same image and descriptor.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.forge import ForgeServer
from testkit.gitserver import HttpGitServer, bare_repo_with_tree, git
from testkit.paths import ROOT, TEMPLATES
from testkit.registry import BaseImage, Registry

pytestmark = [pytest.mark.docker, pytest.mark.oracle, pytest.mark.slow]

SAMPLE_APP = ROOT / "tests" / "fixtures" / "sample-app"
FIXTURE_REPO = ROOT / "tests" / "fixtures" / "gitops" / "repo"
OCC = Path(os.environ.get("PACK_ORACLES_DIR", "/root/.cache/pack-oracles")) / "occ-v1.2.3"
USER, PASSWORD, TOKEN = "ci-bot", "e2e-gitops-password-4410", "e2e-forge-token-9921"
NAMESPACE, PROJECT, COMPONENT = "demo-ns", "shop", "greeter"
PIPELINE = "dockerfile-builder-gitops"


def tree_at(bare: Path, ref: str, work: Path) -> dict[str, bytes]:
    git("clone", "--quiet", "--branch", ref, str(bare), str(work))
    return {
        str(path.relative_to(work)): path.read_bytes()
        for path in sorted(work.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(work).parts
    }


def occ_tree(tmp_path: Path, image: str, release: str) -> dict[str, bytes]:
    """What occ v1.2.3 writes for the same inputs, on a copy of the GitOps repository."""
    root, home = tmp_path / "occ-root", tmp_path / "occ-home"
    shutil.copytree(FIXTURE_REPO, root)
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    fs = ["--mode", "file-system", "--root-dir", str(root)]
    names = ["--project", PROJECT, "--component", COMPONENT]
    for args in (
        ["config", "context", "add", "e2e", "--namespace", NAMESPACE, "--controlplane", "x", "--credentials", "x"],
        ["config", "context", "use", "e2e"],
        [
            "workload",
            "create",
            *fs,
            "--namespace",
            NAMESPACE,
            *names,
            "--image",
            image,
            "--descriptor",
            "workload.yaml",
        ],
        ["componentrelease", "generate", *fs, "--namespace", NAMESPACE, "--name", release, *names],
        ["releasebinding", "generate", *fs, *names, "--component-release", release],
    ):
        subprocess.run([str(OCC), *args], cwd=SAMPLE_APP, env=env, capture_output=True, text=True, check=True)
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".occ" not in path.relative_to(root).parts
    }


def test_sample_app_to_a_pull_request_whose_files_equal_occs(
    tmp_path: Path, busybox_base: BaseImage, plain_registry: Registry
) -> None:
    repos = tmp_path / "repos"
    repos.mkdir()
    commit = bare_repo_with_tree(
        repos / "greeter.git", lambda work: shutil.copytree(SAMPLE_APP, work, dirs_exist_ok=True)
    )
    bare_repo_with_tree(repos / "gitops.git", lambda work: shutil.copytree(FIXTURE_REPO, work, dirs_exist_ok=True))
    git_secret, gitops_secret = tmp_path / "git-secret", tmp_path / "gitops-secret"
    for directory in (git_secret, gitops_secret):
        directory.mkdir()
        (directory / "username").write_text(USER)
        (directory / "password").write_text(PASSWORD)
    (gitops_secret / "token").write_text(TOKEN)
    out = tmp_path / "workflow.json"
    with HttpGitServer(repos, USER, PASSWORD) as server, ForgeServer(repos, TOKEN) as forge:
        params = {
            "component-name": COMPONENT,
            "project-name": PROJECT,
            "namespace-name": NAMESPACE,
            "git-repo": server.url("greeter.git"),
            "branch": "main",
            "image-name": f"{NAMESPACE}-{PROJECT}-{COMPONENT}",
            "registry": plain_registry.host,
            "tls-verify": "false",
            "build-args": json.dumps([{"name": "BASE_IMAGE", "value": busybox_base.ref}]),
            "build-isolation": "none",  # Docker gives the build no user namespace; opted out explicitly
            "gitops-repo": server.url("gitops.git"),
            "gitops-forge-api-url": forge.github_api,
            "gitops-forge-project": "platform/gitops",
        }
        argv = [sys.executable, "-m", "hera_workflows", "run", PIPELINE, "--templates", str(TEMPLATES)]
        for key, value in params.items():
            argv += ["--param", f"{key}={value}"]
        argv += ["--secret", f"git-secret={git_secret}", "--secret", f"gitops-secret={gitops_secret}"]
        argv += ["--workspace", str(tmp_path / "ws"), "-o", str(out)]
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
        print(done.stdout)
        print(done.stderr, file=sys.stderr)
        pulls = list(forge.pulls)
    assert done.returncode == 0, done.stderr
    workflow = json.loads(out.read_text())
    assert workflow["status"]["phase"] == "Succeeded"
    nodes = {n["displayName"]: n for n in workflow["status"]["nodes"].values()}
    assert list(nodes["generate-workload-cr"]["templateRef"].values())[:2] == [
        "generate-workload",
        "generate-workload-cr",
    ]
    image = {p["name"]: p["value"] for p in nodes["publish-image(0)"]["outputs"]["parameters"]}["image"]
    outputs = {p["name"]: p["value"] for p in nodes["gitops-publish(0)"]["outputs"]["parameters"]}
    branch = f"release/{COMPONENT}-{commit[:8]}"
    assert outputs["gitops-branch"] == branch
    assert outputs["pull-request-url"] == "https://github.example/platform/gitops/pull/1"
    [pull] = pulls
    assert (pull.head, pull.base, pull.head_sha) == (branch, "main", outputs["gitops-commit"])
    ours = tree_at(repos / "gitops.git", branch, tmp_path / "branch")
    theirs = occ_tree(tmp_path, image, f"{COMPONENT}-{commit[:8]}")
    assert sorted(ours) == sorted(theirs)
    for path, content in theirs.items():
        assert ours[path] == content, path
    for secret in (PASSWORD, TOKEN):
        assert secret not in done.stdout + done.stderr + out.read_text()
    assert "gitops-publish" in done.stdout and "KEY OUTPUTS" in done.stdout
