"""Every step image run as a container exactly as its rendered template runs it (command, env, mounts, user,
capabilities, read-only root: all read from templates/steps/*.yaml by hera_workflows.engine.podrun, nothing restated).

checkout (git over smart HTTP with basic auth, testkit/gitserver.py) -> build (buildah in the container
with SYS_ADMIN, overlay storage on an emptyDir, base image pulled from the registry) -> publish (skopeo) to a real
registry container (the local registry image via testcontainers, host network, 127.0.0.1: plain HTTP, and
htpasswd + self-signed TLS) -> the registry holds the reported digest, a pull by that digest runs -> generate-workload
writes /mnt/vol/workload-cr.yaml. The seeded git and registry passwords never appear in any log or output.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from hera_workflows import images
from hera_workflows.engine.podrun import PodResult, run_pod
from steps.common import contract
from testkit.containers import (
    container_registry,
    pipeline_variables,
    push_local_image,
    require_image,
    step_template,
    tiny_image,
)
from testkit.gitserver import HttpGitServer, git
from testkit.registry import Registry

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DOCKERFILE = """\
ARG BASE
FROM ${BASE}
COPY hello.sh /hello.sh
RUN echo "built by buildah" > /built.txt
ENTRYPOINT ["/bin/sh", "/hello.sh"]
"""
HELLO = 'echo "hello from the pushed image: $(cat /built.txt)"\n'


@dataclass
class Pipeline:
    """One workspace + secrets, the steps run in order, everything they logged."""

    client: Any
    root: Path
    secrets: dict[str, Path] = field(default_factory=dict)
    results: dict[str, PodResult] = field(default_factory=dict)

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    def secret(self, name: str, files: dict[str, str]) -> None:
        directory = self.root / "secrets" / name
        directory.mkdir(parents=True)
        for key, value in files.items():
            (directory / key).write_text(value)
        self.secrets[name] = directory

    def run(self, file: str, template: str, inputs: dict[str, str]) -> PodResult:
        tpl = step_template(file, template)
        # as inside the dockerfile-builder pipeline: its workflow parameters (the step inputs' fallbacks) with
        # their defaults, then the inputs given here
        variables = pipeline_variables("dockerfile-builder")
        variables |= {f"inputs.parameters.{k}": v for k, v in inputs.items()}
        result = run_pod(
            tpl,
            variables,
            {"workspace": self.workspace, "secrets": self.secrets},
            name=f"steps-{template}",
            client=self.client,
        )
        self.results[template] = result
        assert result.phase == "Succeeded", f"{template}: {result.message}\n{result.logs[-4000:]}"
        return result

    def everything_logged(self) -> str:
        parts = []
        for result in self.results.values():
            parts += [result.logs, result.message, *result.outputs.values()]
        return "\n".join(parts)


@pytest.fixture(scope="module")
def step_images(docker_client: Any) -> None:
    for image in images.STEP_IMAGES.values():
        require_image(docker_client, image.ref)


@pytest.fixture(scope="module")
def source_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A bare repo `app.git` whose main branch holds a Containerfile build under services/hello."""
    root = tmp_path_factory.mktemp("git")
    bare, work = root / "app.git", root / "work"
    git("init", "--quiet", "--bare", str(bare))
    git("clone", "--quiet", str(bare), str(work))
    app = work / "services" / "hello"
    app.mkdir(parents=True)
    (app / "Dockerfile").write_text(DOCKERFILE)
    (app / "hello.sh").write_text(HELLO)
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "hello", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    return root, git("rev-parse", "HEAD", cwd=work)


@pytest.fixture(scope="module", params=["plain", "tls-auth"])
def registry(request: pytest.FixtureRequest) -> Iterator[Registry]:
    secure = request.param == "tls-auth"
    with (
        tempfile.TemporaryDirectory(prefix="pack-registry-container-") as tmp,
        container_registry(Path(tmp), tls=secure, auth=secure) as running,
    ):
        yield running


def test_pipeline_steps_in_their_containers(
    docker_client: Any, step_images: None, source_repo: tuple[Path, str], registry: Registry, tmp_path: Path
) -> None:
    repo_root, commit = source_repo
    base = push_local_image(docker_client, tiny_image(docker_client), registry, "base/busybox", "1")
    assert base.startswith("sha256:")
    git_password = "git-pw-" + secrets.token_urlsafe(12)
    pipeline = Pipeline(docker_client, tmp_path)
    pipeline.workspace.mkdir()
    pipeline.secret("git-secret", {"username": "ciuser", "password": git_password})
    if registry.username:
        registry.write_auth_file(tmp_path / "secrets" / "registry-push-secret")
        pipeline.secrets["registry-push-secret"] = tmp_path / "secrets" / "registry-push-secret"
        # the build gets its own read-only pull Secret for the base image (never the push Secret)
        registry.write_auth_file(tmp_path / "secrets" / "registry-pull-secret")
        pipeline.secrets["registry-pull-secret"] = tmp_path / "secrets" / "registry-pull-secret"
    if registry.ca_dir:
        pipeline.secrets["registry-ca"] = registry.ca_dir

    with HttpGitServer(repo_root, "ciuser", git_password) as server:
        checkout = pipeline.run(
            "checkout-source.yaml",
            contract.TEMPLATE_CHECKOUT,
            {"git-repo": server.url("app.git"), "branch": "main", "app-path": "services/hello"},
        )
    assert checkout.outputs[contract.OUT_COMMIT_SHA] == commit
    revision = checkout.outputs[contract.OUT_GIT_REVISION]
    assert revision == commit[: contract.GIT_REVISION_LENGTH]
    assert (pipeline.workspace / "source" / "services" / "hello" / "Dockerfile").is_file()

    build = pipeline.run(
        "containerfile-build.yaml",
        contract.TEMPLATE_BUILD,
        {
            "image-name": "demo-hello",
            "image-tag": "v1",
            "git-revision": revision,
            "docker-context": "services/hello",
            "dockerfile-path": "services/hello/Dockerfile",
            "build-args": f'[{{"name": "BASE", "value": "{registry.host}/base/busybox:1"}}]',
            "tls-verify": registry.tls_verify if not registry.ca_dir else "true",
            "isolation": "none",  # Docker gives the build no user namespace; opted out explicitly
        },
    )
    assert Path(contract.IMAGE_ARCHIVE).name in {p.name for p in pipeline.workspace.iterdir()}
    assert build.outputs[contract.OUT_IMAGE_DIGEST].startswith("sha256:")

    publish = pipeline.run(
        "publish-image.yaml",
        contract.TEMPLATE_PUBLISH,
        {
            "registry": registry.host,
            "image-name": "demo-hello",
            "image-tag": "v1",
            "git-revision": revision,
            "tls-verify": "true" if registry.tls else "false",
        },
    )
    digest = publish.outputs[contract.OUT_IMAGE_DIGEST]
    tag = f"v1-{revision}"
    assert registry.manifest_digest("demo-hello", tag) == digest
    assert publish.outputs[contract.OUT_IMAGE] == f"{registry.host}/demo-hello:{tag}@{digest}"
    assert publish.outputs[contract.OUT_IMAGE_URL] == f"{registry.host}/demo-hello:{tag}"

    # the pushed image is real: pull it by digest and run it offline
    ref = f"{registry.host}/demo-hello@{digest}"
    auth = {"username": registry.username, "password": registry.password} if registry.username else None
    docker_client.images.pull(ref, auth_config=auth)
    try:
        pulled = docker_client.images.get(ref)
        assert f"{registry.host}/demo-hello@{digest}" in pulled.attrs["RepoDigests"]
        out = docker_client.containers.run(ref, network_mode="none", remove=True).decode()
    finally:
        docker_client.images.remove(ref, force=True)
    assert out.strip() == "hello from the pushed image: built by buildah"

    generate = pipeline.run(
        "generate-workload.yaml",
        contract.TEMPLATE_GENERATE_WORKLOAD,
        {
            "image": publish.outputs[contract.OUT_IMAGE],
            "namespace-name": "default",
            "project-name": "demo",
            "component-name": "hello",
            "app-path": "services/hello",
            "api-mode": "off",  # no OpenChoreo API server here: write the CR only, explicitly
        },
    )
    cr_file = pipeline.workspace / Path(contract.WORKLOAD_CR_FILE).name
    assert cr_file.is_file()
    cr = yaml.safe_load(cr_file.read_text())
    assert cr["kind"] == "Workload"
    assert publish.outputs[contract.OUT_IMAGE] in cr_file.read_text()
    assert generate.outputs[contract.OUT_WORKLOAD_CR] == cr_file.read_text().removesuffix("\n")

    logged = pipeline.everything_logged()
    assert git_password not in logged
    if registry.password:
        assert registry.password not in logged
