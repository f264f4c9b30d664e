"""The buildpacks `build-image` step run exactly as its rendered template runs it (hera_workflows.engine.podrun), with
the REAL CNB lifecycle (built from the Go module proxy by scripts/build-lifecycle.sh) in a local test builder
(hera_workflows/images/builder.py) substituted by settings (`buildpacks.paketo.*`), then publish-image pushes the
lifecycle's OCI layout to a real registry on 127.0.0.1 and the image runs and answers over HTTP.

What is a stand-in: the builder (Debian Python base + the pack's own buildpack instead of Paketo's, whose modules
the Go module proxy does not serve). What is real: the lifecycle (creator: analyze, detect, restore, build,
export in OCI-layout mode, the launcher in the image), the init container prepare-buildpacks, skopeo, the
registry, the pod's uid/capabilities as rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hera_workflows.images import builder as builder_image
from steps.common import contract
from testkit.buildpacks import LocalBuilder, answer, make_local_builder, run_step, workspace_with_app
from testkit.registry import Registry, host_registry

pytestmark = pytest.mark.docker

BUILD = ("paketo-buildpacks-build.yaml", contract.TEMPLATE_BUILD)


@pytest.fixture(scope="module")
def local_builder(
    docker_client: Any, plain_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> LocalBuilder:
    return make_local_builder(docker_client, plain_registry, tmp_path_factory.mktemp("templates"))


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


def test_rebuild_on_fresh_storage_restores_the_lifecycle_cache(
    docker_client: Any, local_builder: LocalBuilder, plain_registry: Registry, tmp_path: Path
) -> None:
    """Two pods, two fresh workspaces, one cache image in the registry: the second build restores the buildpack's
    cached layer instead of rebuilding it (the benchmark `buildpacks` times this against a cold build)."""
    inputs = {"git-revision": "0123abcd", "app-path": "services/py", "build-env": "[]"}
    inputs["cache-image"] = f"{plain_registry.host}/cache/py-app:cnb"
    first = run_step(docker_client, local_builder.templates, BUILD, inputs, workspace_with_app(tmp_path / "a"))
    assert first.phase == "Succeeded", first.logs[-4000:]
    assert "bytecode: compiled" in first.logs and "Restoring data for" not in first.logs
    assert "cnb" in plain_registry.tags("cache/py-app")  # the lifecycle pushed its cache image
    second = run_step(docker_client, local_builder.templates, BUILD, inputs, workspace_with_app(tmp_path / "b"))
    assert second.phase == "Succeeded", second.logs[-4000:]
    assert 'Restoring data for "openchoreo-ci-pack/python-app:bytecode" from cache' in second.logs, second.logs
    assert "bytecode: reusing the cached layer" in second.logs


def test_run_and_cache_images_in_a_registry_that_needs_credentials(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The optional registry Secret reaches skopeo (run image) and the lifecycle ($DOCKER_CONFIG: cache image)."""
    with host_registry(tmp_path / "registry", auth=True) as registry:
        builder = make_local_builder(docker_client, registry, tmp_path_factory.mktemp("templates-auth"))
        registry.write_auth_file(tmp_path / "secret")
        secrets = {"registry-push-secret": tmp_path / "secret"}
        inputs = {"git-revision": "0123abcd", "app-path": "services/py", "build-env": "[]"}
        inputs["cache-image"] = f"{registry.host}/cache/py-app:cnb"
        for run in ("first", "second"):
            workspace = workspace_with_app(tmp_path / run)
            build = run_step(docker_client, builder.templates, BUILD, inputs, workspace, secrets=secrets)
            assert build.phase == "Succeeded", build.logs[-4000:]
            assert "credentials from /etc/secrets/cnb-docker-config/config.json" in build.logs
        assert "bytecode: reusing the cached layer" in build.logs  # the cache image was pushed with credentials
        assert registry.password is not None and registry.password not in build.logs


@dataclass(frozen=True)
class PrivilegeCase:
    user: str  # docker --user
    caps: tuple[str, ...]  # added to an empty set
    cnb_ids: str | None  # CNB_USER_ID:CNB_GROUP_ID (None: the builder's, 10001:10001)
    works: bool  # the lifecycle's privilege drop succeeds


_STEP = f"{builder_image.CNB_UID}:{builder_image.CNB_GID}"
PRIVILEGE_CASES = {
    "uid-is-cnb-user": PrivilegeCase(_STEP, (), None, True),  # the pack's choice
    "uid-mismatch": PrivilegeCase(_STEP, (), "65534:65534", False),  # setresgid: EPERM
    "uid-mismatch-with-setuid": PrivilegeCase(_STEP, ("SETUID", "SETGID"), "65534:65534", False),  # non-root: no use
    "root-no-caps": PrivilegeCase("0:0", (), None, False),
    "root-setuid-setgid": PrivilegeCase("0:0", ("SETUID", "SETGID"), None, True),  # least set when starting as root
}


@pytest.mark.parametrize("case", PRIVILEGE_CASES.values(), ids=PRIVILEGE_CASES.keys())
def test_privilege_drop_evidence(
    docker_client: Any, local_builder: LocalBuilder, tmp_path: Path, case: PrivilegeCase
) -> None:
    """The lifecycle's analyzer (like restorer, exporter, creator) calls setresgid/setresuid to CNB_USER_ID/
    CNB_GROUP_ID unless it already runs as them (priv.RunAs): evidence for running the pod as the builder's uid."""
    for name in ("layers", "layout", "workspace"):
        (tmp_path / name).mkdir(mode=0o777)
        (tmp_path / name).chmod(0o777)
    environment = {"CNB_EXPERIMENTAL_MODE": "warn", "CNB_PLATFORM_API": "0.12"}
    if case.cnb_ids:
        environment["CNB_USER_ID"], environment["CNB_GROUP_ID"] = case.cnb_ids.split(":")
    container = docker_client.containers.run(
        local_builder.builder,
        ["-layout", "-layout-dir", "/layout", "-run-image", "x.local/run:1", "x.local/app:1"],
        entrypoint=["/cnb/lifecycle/analyzer"],
        user=case.user,
        cap_drop=["ALL"],
        cap_add=list(case.caps) or None,
        security_opt=["no-new-privileges"],
        environment=environment,
        volumes={str(tmp_path / n): {"bind": f"/{n}", "mode": "rw"} for n in ("layers", "layout", "workspace")},
        network_mode="none",
        detach=True,
    )
    try:
        code = container.wait(timeout=60)["StatusCode"]
        logs = container.logs().decode()
    finally:
        container.remove(force=True)
    if case.works:
        assert code == 0 and "exec as user" not in logs, logs
        assert (tmp_path / "layers" / "analyzed.toml").is_file()
    else:
        assert code != 0 and "failed to exec as user" in logs and "operation not permitted" in logs, logs


def test_build_image_fails_clearly_when_no_buildpack_detects(
    docker_client: Any, local_builder: LocalBuilder, tmp_path: Path
) -> None:
    workspace = workspace_with_app(tmp_path)
    (workspace / "source" / "services" / "py" / "app.py").rename(workspace / "source" / "services" / "py" / "main.py")
    inputs = {"git-revision": "0123abcd", "app-path": "services/py", "build-env": "[]"}
    build = run_step(docker_client, local_builder.templates, BUILD, inputs, workspace)
    assert build.phase != "Succeeded" and build.exit_code not in (0, None)
    assert "No buildpack groups passed detection" in build.logs, build.logs[-3000:]
    assert not (workspace / "cnb-layout" / "openchoreo-ci-pack.local" / "app-image" / "latest" / "index.json").exists()
