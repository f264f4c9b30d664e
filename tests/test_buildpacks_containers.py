"""The buildpacks `build-image` step run exactly as its rendered template runs it (hera_workflows.podrun), with the
REAL CNB lifecycle (built from the Go module proxy by scripts/build-lifecycle.sh) in a local test builder
(hera_workflows/builder_image.py) substituted by settings (`buildpacks.paketo.*`), then publish-image pushes the
lifecycle's OCI layout to a real registry on 127.0.0.1 and the image runs and answers over HTTP.

What is a stand-in: the builder (Debian Python base + the pack's own buildpack instead of Paketo's, whose modules
the Go module proxy does not serve). What is real: the lifecycle (creator: analyze, detect, restore, build,
export in OCI-layout mode, the launcher in the image), the init container prepare-buildpacks, skopeo, the
registry, the pod's uid/capabilities as rendered.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hera_workflows import builder_image
from hera_workflows.podrun import PodResult, run_pod
from steps.common import contract
from tests.support.containers import push_local_image, require_image
from tests.support.paths import ROOT
from tests.support.registry import Registry, free_port

pytestmark = pytest.mark.docker

APP = Path(__file__).parent / "fixtures" / "python-app"
FLAVOR = "paketo"
BUILD = ("paketo-buildpacks-build.yaml", contract.TEMPLATE_BUILD)


@dataclass(frozen=True)
class LocalBuilder:
    builder: str
    run_image: str  # in the test registry, by digest
    templates: Path  # rendered with the local builder substituted


def local_builder_settings(builder: str, run_image: str) -> list[str]:
    """`--set` overrides that put the local test builder into the Paketo flavor's templates."""
    return [
        f"buildpacks.{FLAVOR}.builder={builder}",
        f"buildpacks.{FLAVOR}.run_image={run_image}",
        f"buildpacks.{FLAVOR}.uid={builder_image.CNB_UID}",
        f"buildpacks.{FLAVOR}.gid={builder_image.CNB_GID}",
        f"buildpacks.{FLAVOR}.run_image_tls_verify=false",
    ]


def render(out: Path, overrides: list[str]) -> Path:
    argv = [sys.executable, "-m", "hera_workflows", "render", "-o", str(out)]
    for item in overrides:
        argv += ["--set", item]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def local_builder(
    docker_client: Any, plain_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalBuilder]:
    built = builder_image.build_test_builder(client=docker_client)  # fails (never skips) when it cannot build
    for image in ("publish-image",):
        require_image(docker_client, f"{contract.IMAGE_REGISTRY}/{image}:{contract.IMAGE_TAG}")
    digest = push_local_image(docker_client, built.run_image, plain_registry, "cnb/run", "1")
    run_ref = f"{plain_registry.host}/cnb/run@{digest}"
    templates = render(tmp_path_factory.mktemp("templates"), local_builder_settings(built.builder, run_ref))
    yield LocalBuilder(built.builder, run_ref, templates)


def template(templates: Path, file: str, name: str) -> dict[str, Any]:
    for document in yaml.safe_load_all((templates / "steps" / file).read_text()):
        for tpl in (document or {}).get("spec", {}).get("templates") or []:
            if tpl.get("name") == name:
                return dict(tpl)
    raise LookupError(f"{name} not in {file}")


def run_step(client: Any, templates: Path, step: tuple[str, str], inputs: dict[str, str], workspace: Path) -> PodResult:
    """Run template step[1] of templates/steps/<step[0]> (as rendered into `templates`) as a pod."""
    variables = {f"inputs.parameters.{k}": v for k, v in inputs.items()}
    tpl = template(templates, *step)
    return run_pod(tpl, variables, {"workspace": workspace}, name=step[1], client=client)


def workspace_with_app(root: Path, app_path: str = "services/py") -> Path:
    workspace = root / "workspace"
    shutil.copytree(APP, workspace / "source" / app_path.strip("/"))
    return workspace


def answer(client: Any, ref: str, timeout: float = 30.0) -> str:
    """Run the image (its default process through the CNB launcher) and GET / from it."""
    port = free_port()
    container = client.containers.run(ref, environment={"PORT": str(port)}, network_mode="host", detach=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    return str(response.read().decode())
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(container.logs().decode()[-2000:]) from None
                time.sleep(0.3)
    finally:
        container.remove(force=True)


def test_build_image_runs_the_real_lifecycle_and_publish_pushes_its_layout(
    docker_client: Any, local_builder: LocalBuilder, plain_registry: Registry, tmp_path: Path
) -> None:
    workspace = workspace_with_app(tmp_path)
    build = run_step(
        docker_client,
        local_builder.templates,
        BUILD,
        {
            "git-revision": "0123abcd",
            "app-path": "/services/py",  # OpenChoreo's samples use a leading slash
            "build-env": '[{"name": "BP_GREETING", "value": "hi"}]',
        },
        workspace,
    )
    assert build.phase == "Succeeded", f"{build.message}\n{build.logs[-6000:]}"
    logs = build.logs
    # the real lifecycle's phases, our buildpack, the OCI layout export
    for line in ("===> ANALYZING", "===> DETECTING", "===> BUILDING", "===> EXPORTING"):
        assert line in logs, logs[-4000:]
    assert f"{builder_image.BUILDPACK_ID} {builder_image.BUILDPACK_VERSION}" in logs
    assert "bytecode: compiled" in logs and "config: GREETING from build-time BP_GREETING" in logs
    archive = workspace / Path(contract.IMAGE_ARCHIVE).name
    assert archive.is_symlink() and (archive / "index.json").is_file() and (archive / "oci-layout").is_file()

    publish = run_step(
        docker_client,
        local_builder.templates,
        ("publish-image.yaml", contract.TEMPLATE_PUBLISH),
        {
            "registry": plain_registry.host,
            "image-name": "py-app",
            "image-tag": "v1",
            "git-revision": "0123abcd",
            "tls-verify": "false",
        },
        workspace,
    )
    assert publish.phase == "Succeeded", f"{publish.message}\n{publish.logs[-4000:]}"
    digest = publish.outputs[contract.OUT_IMAGE_DIGEST]
    assert plain_registry.manifest_digest("py-app", "v1-0123abcd") == digest

    ref = f"{plain_registry.host}/py-app@{digest}"
    docker_client.images.pull(ref)
    try:
        assert answer(docker_client, ref) == "hi from python-app\n"
        config = docker_client.images.get(ref).attrs["Config"]
        assert config["User"] == f"{builder_image.CNB_UID}:{builder_image.CNB_GID}"  # the run image's user
        assert config["Entrypoint"] == ["/cnb/process/web"]  # the lifecycle's launcher, default process
    finally:
        docker_client.images.remove(ref, force=True)


def test_build_image_fails_clearly_on_a_bad_app_path(
    docker_client: Any, local_builder: LocalBuilder, tmp_path: Path
) -> None:
    workspace = workspace_with_app(tmp_path)
    build = run_step(
        docker_client,
        local_builder.templates,
        BUILD,
        {"git-revision": "0123abcd", "app-path": "services/missing", "build-env": "[]"},
        workspace,
    )
    assert build.phase != "Succeeded"
    assert "--app-path (env APP_PATH)" in build.logs and "is not a directory" in build.logs
    assert not (workspace / "cnb-layout").exists()  # checks before side effects
