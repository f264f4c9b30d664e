"""steps.build with the real buildah 1.28 (overlay storage, chroot isolation) on the host, as root.

The base image is a static busybox (Debian's busybox-static) committed with `buildah from scratch` and pushed to a
real registry on 127.0.0.1 (testkit/registry.py): no network beyond loopback, nothing pulled from a public
registry (every reference is fully qualified to 127.0.0.1 or an oci-archive: path).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import pytest

from hera_workflows.pack.settings import HandoffFormat
from steps.build.main import (
    REACT_DOCKERFILE,
    BuildPlan,
    bud_argv,
    in_user_namespace,
    is_transient,
    merged_auth_file,
    parse_pairs,
    plan,
    resolve_under,
)
from steps.build.options import HANDOFF_ENV, HANDOFF_FORMATS, OPTIONS, BuildOptions
from steps.common.cli import parse_options
from steps.common.log import StepError
from testkit.oci import OciImage
from testkit.paths import ROOT
from testkit.registry import (
    BaseImage,
    Registry,
    free_port,
    remove_storage,
)
from testkit.rendered import render_with_setting, step_template

DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG TRICKY=unset
ARG GREETING=hello
ENV APP_MODE=production
RUN mkdir -p /out && printf '%s' "$TRICKY" > /out/arg && printf '%s' "$TRICKY_ENV" > /out/env \\
    && echo "$GREETING" > /out/greeting
COPY app.txt /app/app.txt
CMD ["cat", "/app/app.txt"]
"""

# Registry and base-image fixtures (session-scoped, shared by every module that uses them).


@dataclass
class Workspace:
    root: Path
    source: Path
    storage: Path
    outputs: Path

    @property
    def archive(self) -> Path:
        return self.root / "vol" / "app-image.tar"

    def output(self, name: str) -> Path:
        return self.outputs / name


@dataclass
class Result:
    returncode: int
    stderr: str
    stdout: str


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    source = tmp_path / "vol" / "source"
    app = source / "services" / "api"
    app.mkdir(parents=True)
    (app / "Dockerfile").write_text(DOCKERFILE)
    (app / "app.txt").write_text("hello from the app\n")
    ws = Workspace(root=tmp_path, source=source, storage=tmp_path / "storage", outputs=tmp_path / "outputs")
    yield ws
    remove_storage(ws.storage)


def run_build(ws: Workspace, *args: str, storage: Path | None = None, env: dict[str, str] | None = None) -> Result:
    """`python -m steps.build` as the container runs it (its own process, options from argv and env)."""
    argv = [
        sys.executable, "-m", "steps.build",
        "--image-name", "demo-shop-api", "--image-tag", "v1", "--git-revision", "0123abcd",
        "--source-dir", str(ws.source), "--archive", str(ws.archive),
        "--storage-dir", str(storage or ws.storage / "root"),
        "--auth-file", str(ws.root / "no-secret" / ".dockerconfigjson"), "--ca-dir", str(ws.root / "no-ca"),
        *args,
    ]  # fmt: skip
    # The host is no user namespace: these tests opt out of the check explicitly (tested on its own below).
    full_env = {**os.environ, "PACK_OUTPUTS_DIR": str(ws.outputs), "BUILD_ISOLATION": "none", **(env or {})}
    done = subprocess.run(argv, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300, check=False)
    return Result(done.returncode, done.stderr, done.stdout)


def app_args(base: BaseImage, registry: Registry, *extra: dict[str, str]) -> list[str]:
    build_args = [{"name": "BASE_IMAGE", "value": base.ref}, *extra]
    return [
        "--context", "services/api", "--dockerfile", "services/api/Dockerfile",
        "--tls-verify", registry.tls_verify, "--build-args", json.dumps(build_args),
    ]  # fmt: skip


# --- reading the hand-off ----------------------------------------------------------------------------------------


def oci_image(handoff: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(index, manifest, config) of the single image in the OCI layout (or archive) the step handed off."""
    image = OciImage(handoff)
    return image.index, image.manifest, image.config


def read_image_file(handoff: Path, path: str) -> bytes:
    return OciImage(handoff).read_file(path)


def cache_hits(stderr: str) -> int:
    return sum(1 for line in stderr.splitlines() if "--> Using cache" in line)


# --- unit checks of the input parsing (no buildah) --------------------------------------------------------------


def test_parse_pairs_keeps_values_verbatim_and_names_the_entry() -> None:
    pairs = parse_pairs('[{"name": "A", "value": "x\\ny \\"$(id)\\""}, {"name": "N", "value": 3}]', "--build-args")
    assert pairs == [("A", 'x\ny "$(id)"'), ("N", "3")]
    assert parse_pairs("", "--build-env") == []
    for raw, expected in [
        ("{", "--build-args: not valid JSON"),
        ('{"name": "A"}', "expected a JSON list"),
        ('[{"name": "A", "value": "1"}, "B=2"]', "--build-args[1]: expected an object"),
        ('[{"name": "1A", "value": "1"}]', "--build-args[0].name: '1A' is not a valid variable name"),
        ('[{"name": "A", "value": null}]', "--build-args[0].value: expected a string"),
        ('[{"name": "A", "valu": "1"}]', "--build-args[0]: unknown key(s) valu"),
        ('[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]', "--build-args[1].name: 'A' is given twice"),
    ]:
        with pytest.raises(StepError, match=expected.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
            parse_pairs(raw, "--build-args")


def test_resolve_under_rejects_escapes(tmp_path: Path) -> None:
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "src" / "link").symlink_to(tmp_path)
    root = (tmp_path / "src").resolve()
    assert resolve_under(root, "a", "--context") == root / "a"
    assert resolve_under(root, "/a", "--context") == root / "a"  # OpenChoreo joins $WORKDIR/$PATH
    for escape in ("..", "a/../../", "link", "link/.", "/../.."):
        with pytest.raises(StepError, match=r"--context: .* resolves outside the source root"):
            resolve_under(root, escape, "--context")


def test_transient_classification_reads_only_buildahs_own_error_line() -> None:
    pull = (
        "Error: creating build container: initializing source docker://127.0.0.1:1/b:1: pinging container registry"
        ' 127.0.0.1:1: Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused'
    )
    assert is_transient([pull])
    unavailable = "reading manifest 1 in r/b: received unexpected HTTP status: 503 Service Unavailable"
    assert is_transient([f"Error: creating build container: {unavailable}"])
    unknown = "initializing source docker://r/b:1: reading manifest 1 in r/b: manifest unknown"
    assert not is_transient([f"Error: creating build container: {unknown}"])
    run_failed = [
        "curl: (7) Failed to connect: connection refused",
        'error building at STEP "RUN curl http://127.0.0.1:1/": while running runtime: exit status 7',
    ]
    assert not is_transient(run_failed)


# --- real builds ------------------------------------------------------------------------------------------------


@pytest.mark.docker
def test_build_writes_oci_archive_and_digest(
    workspace: Workspace, busybox_base: BaseImage, plain_registry: Registry
) -> None:
    result = run_build(workspace, *app_args(busybox_base, plain_registry))
    assert result.returncode == 0, result.stderr
    # The default hand-off: an OCI layout beside the archive path, which links to it (relative, like buildpacks').
    layout = workspace.archive.with_suffix(".oci")
    assert workspace.archive.is_symlink() and os.readlink(workspace.archive) == "app-image.oci"
    assert (layout / "oci-layout").is_file() and not layout.is_symlink()
    # publish-image runs as uid 10001: every directory must be 0755 and every file 0644 (no fsGroup on hostPath).
    modes = {oct(path.stat().st_mode & 0o777) for path in [layout, *layout.rglob("*")] if path.is_dir()}
    assert modes == {"0o755"}, modes
    assert {oct(path.stat().st_mode & 0o777) for path in layout.rglob("*") if path.is_file()} == {"0o644"}
    names = sorted(p.name for p in workspace.archive.parent.iterdir())
    assert names == ["app-image.oci", "app-image.tar", "source"], "temp files left"
    digest = workspace.output("image-digest").read_text()
    assert digest.startswith("sha256:") and len(digest) == 71
    assert sorted(p.name for p in workspace.outputs.iterdir()) == ["image-digest"]
    index, manifest, config = oci_image(workspace.archive)
    entry = index["manifests"][0]
    assert entry["digest"] == digest
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "demo-shop-api:v1-0123abcd"
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert "APP_MODE=production" in config["config"]["Env"]
    assert read_image_file(workspace.archive, "app/app.txt") == b"hello from the app\n"
    assert read_image_file(workspace.archive, "out/greeting") == b"hello\n"
    assert "[build-image] STEP 1/" in result.stderr
    assert f"demo-shop-api:v1-0123abcd@{digest}" in result.stderr


@pytest.mark.docker
def test_oci_archive_handoff_is_one_file_podman_loads_by_name(
    workspace: Workspace, busybox_base: BaseImage, plain_registry: Registry
) -> None:
    # A platform whose own publish step loads a file (OpenChoreo's: `podman load -i`, then `podman tag <name>`).
    result = run_build(workspace, *app_args(busybox_base, plain_registry), "--handoff-format", "oci-archive")
    assert result.returncode == 0, result.stderr
    assert workspace.archive.is_file() and not workspace.archive.is_symlink()
    assert sorted(p.name for p in workspace.archive.parent.iterdir()) == ["app-image.tar", "source"]
    assert workspace.output("image-digest").read_text() == OciImage(workspace.archive).digest
    runroot = Path(tempfile.mkdtemp(prefix="pack-test-", dir="/run"))  # podman wants a run root under 50 characters
    podman = ["podman", "--root", str(workspace.root / "podman"), "--runroot", str(runroot), "--storage-driver", "vfs"]
    podman += ["--cgroup-manager=cgroupfs", "--events-backend=file"]
    try:
        loaded = subprocess.run(
            [*podman, "load", "-i", str(workspace.archive)], capture_output=True, text=True, check=False
        )
        assert loaded.returncode == 0, loaded.stderr
        assert "demo-shop-api:v1-0123abcd" in loaded.stdout
    finally:
        subprocess.run([*podman, "rmi", "--all", "--force"], capture_output=True, check=False)
        shutil.rmtree(runroot, ignore_errors=True)


@pytest.mark.docker
@pytest.mark.parametrize("earlier", ["archive", "layout"])
def test_the_previous_runs_handoff_is_replaced_in_either_format(
    workspace: Workspace, busybox_base: BaseImage, plain_registry: Registry, earlier: str
) -> None:
    first = "oci-archive" if earlier == "archive" else "oci-layout"
    second = "oci-layout" if earlier == "archive" else "oci-archive"
    args = app_args(busybox_base, plain_registry)
    assert run_build(workspace, *args, "--handoff-format", first).returncode == 0
    result = run_build(workspace, *args, "--handoff-format", second)
    assert result.returncode == 0, result.stderr
    assert "removing the previous hand-off" in result.stderr
    expected = ["app-image.tar", "source"] if second == "oci-archive" else ["app-image.oci", "app-image.tar", "source"]
    assert sorted(p.name for p in workspace.archive.parent.iterdir()) == expected
    assert workspace.output("image-digest").read_text() == OciImage(workspace.archive).digest


def test_a_directory_that_is_no_layout_at_the_archive_path_is_refused_and_kept(workspace: Workspace) -> None:
    workspace.archive.mkdir(parents=True)
    (workspace.archive / "keep.txt").write_text("not ours")
    result = run_build(workspace, "--context", "services/api", "--dockerfile", "services/api/Dockerfile")
    assert result.returncode == 1, result.stderr
    assert f"--archive (env IMAGE_ARCHIVE): {workspace.archive} is a directory" in result.stderr
    assert (workspace.archive / "keep.txt").read_text() == "not ours"


def test_a_foreign_file_where_the_layout_goes_is_refused_and_kept(workspace: Workspace) -> None:
    foreign = workspace.archive.with_suffix(".oci")
    foreign.mkdir(parents=True)
    (foreign / "keep.txt").write_text("not ours")
    result = run_build(workspace, "--context", "services/api", "--dockerfile", "services/api/Dockerfile")
    assert result.returncode == 1, result.stderr
    assert f"--archive (env IMAGE_ARCHIVE): {foreign}, where the OCI layout goes, exists and is no OCI layout" in (
        result.stderr
    )
    assert (foreign / "keep.txt").read_text() == "not ours"


def test_unknown_handoff_format_names_the_field(workspace: Workspace) -> None:
    defaults = ["--context", "services/api", "--dockerfile", "services/api/Dockerfile"]
    result = run_build(workspace, *defaults, "--handoff-format", "tarball")
    assert result.returncode == 2, result.stderr
    assert "--handoff-format (env IMAGE_HANDOFF_FORMAT): 'tarball' is not one of oci-layout, oci-archive" in (
        result.stderr
    )
    assert not workspace.outputs.exists() or not any(workspace.outputs.iterdir())


@pytest.mark.docker
def test_registry_auth_file_env_naming_a_missing_file_does_not_break_the_build(
    workspace: Workspace, busybox_base: BaseImage, plain_registry: Registry
) -> None:
    # buildah reads REGISTRY_AUTH_FILE by itself; the step must not let a missing optional secret fail the build.
    missing = str(workspace.root / "no-secret" / ".dockerconfigjson")
    result = run_build(workspace, *app_args(busybox_base, plain_registry), env={"REGISTRY_AUTH_FILE": missing})
    assert result.returncode == 0, result.stderr
    assert workspace.output("image-digest").read_text().startswith("sha256:")


@pytest.mark.docker
def test_build_args_and_env_arrive_byte_exact(
    workspace: Workspace, busybox_base: BaseImage, plain_registry: Registry
) -> None:
    tricky = 'it\'s "quoted" $(touch /pwned) `id` ${HOME} \\n\nsecond line\twith tab\n ünïcødé ✓ =x= \n'
    tricky_env = "--not-a-flag 'single' \"double\" $(echo injected)\nline2\n\n"
    args = app_args(busybox_base, plain_registry, {"name": "TRICKY", "value": tricky})
    env = json.dumps([{"name": "TRICKY_ENV", "value": tricky_env}])
    result = run_build(workspace, *args, "--build-env", env)
    assert result.returncode == 0, result.stderr
    assert read_image_file(workspace.archive, "out/arg") == tricky.encode()
    assert read_image_file(workspace.archive, "out/env") == tricky_env.encode()
    with pytest.raises(FileNotFoundError):
        read_image_file(workspace.archive, "pwned")
    # buildah's --env (like OpenChoreo's `podman build --env`) also lands in the image configuration.
    _, _, config = oci_image(workspace.archive)
    assert f"TRICKY_ENV={tricky_env}" in config["config"]["Env"]


@pytest.mark.docker
def test_second_build_hits_the_layer_cache(
    workspace: Workspace, busybox_base: BaseImage, plain_registry: Registry
) -> None:
    first = run_build(workspace, *app_args(busybox_base, plain_registry))
    assert first.returncode == 0, first.stderr
    assert cache_hits(first.stderr) == 0
    second = run_build(workspace, *app_args(busybox_base, plain_registry))
    assert second.returncode == 0, second.stderr
    # ARG, ARG, ENV, RUN, COPY, CMD: every instruction after FROM is served from the local layer cache.
    assert cache_hits(second.stderr) == 6, second.stderr
    assert workspace.output("image-digest").read_text() == OciImage(workspace.archive).digest


CACHE_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ENV APP_MODE=production
RUN mkdir -p /out && echo built > /out/marker
COPY app.txt /app/app.txt
CMD ["cat", "/app/app.txt"]
"""


@pytest.mark.docker
def test_registry_cache_serves_a_fresh_storage(
    workspace: Workspace, busybox_base: BaseImage, plain_registry: Registry
) -> None:
    # buildah 1.28 never looks up ARG instructions (after FROM) in the registry cache, and the steps after one
    # miss too (see steps/build/README.md): this Dockerfile keeps its ARG before FROM.
    (workspace.source / "services" / "api" / "Dockerfile").write_text(CACHE_DOCKERFILE)
    cache = f"{plain_registry.host}/cache/demo-shop-api"
    push = workspace.root / "cache-push" / ".dockerconfigjson"  # the opt-in; this registry takes anonymous pushes
    push.parent.mkdir()
    push.write_text('{"auths": {}}')
    args = [*app_args(busybox_base, plain_registry), "--cache-repo", cache, "--cache-auth-file", str(push)]
    first = run_build(workspace, *args, storage=workspace.storage / "pod1")
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("--> Pushing cache") == 4, first.stderr
    assert len(plain_registry.tags("cache/demo-shop-api")) == 4
    first_digest = workspace.output("image-digest").read_text()
    # A new pod: empty storage, only the registry cache to start from.
    second = run_build(workspace, *args, storage=workspace.storage / "pod2")
    assert second.returncode == 0, second.stderr
    assert second.stderr.count("--> Cache pulled from remote") == 4, second.stderr
    assert cache_hits(second.stderr) == 4
    assert "--> Pushing cache" not in second.stderr
    assert workspace.output("image-digest").read_text() == first_digest
    assert read_image_file(workspace.archive, "out/marker") == b"built\n"


@pytest.mark.docker
def test_base_image_from_an_oci_archive(workspace: Workspace, busybox_base: BaseImage) -> None:
    build_args = json.dumps([{"name": "BASE_IMAGE", "value": f"oci-archive:{busybox_base.archive}"}])
    result = run_build(
        workspace, "--context", "services/api", "--dockerfile", "/services/api/Dockerfile", "--build-args", build_args
    )
    assert result.returncode == 0, result.stderr
    assert read_image_file(workspace.archive, "app/app.txt") == b"hello from the app\n"


def _assert_nothing_written(ws: Workspace) -> None:
    assert not ws.archive.exists()
    assert not ws.outputs.exists() or not any(ws.outputs.iterdir())
    leftovers = [p.name for p in ws.archive.parent.iterdir() if p.name != "source"]
    assert leftovers == []


@pytest.mark.docker
def test_missing_dockerfile_names_the_field_and_lists_candidates(workspace: Workspace) -> None:
    (workspace.source / "deploy").mkdir()
    (workspace.source / "deploy" / "Containerfile.prod").write_text("FROM scratch\n")
    result = run_build(workspace, "--context", "services/api", "--dockerfile", "Dockerfile")
    assert result.returncode == 2, result.stderr
    assert (
        "--dockerfile (env DOCKERFILE_PATH, parameter dockerfile-path): 'Dockerfile' not found under the source root"
        in result.stderr
    )
    assert "deploy/Containerfile.prod" in result.stderr and "services/api/Dockerfile" in result.stderr
    _assert_nothing_written(workspace)


@pytest.mark.docker
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--context", "../.."],
            "--context (env DOCKER_CONTEXT, parameter docker-context): '../..' resolves outside the source root",
        ),
        (
            ["--context", "services/api/app.txt"],
            "--context (env DOCKER_CONTEXT, parameter docker-context): build context 'services/api/app.txt'",
        ),
        (["--context", "nope"], "build context 'nope'"),
        (
            ["--dockerfile", "../../etc/passwd"],
            "--dockerfile (env DOCKERFILE_PATH, parameter dockerfile-path): '../../etc/passwd' resolves outside",
        ),
        (
            ["--dockerfile", "services"],
            "--dockerfile (env DOCKERFILE_PATH, parameter dockerfile-path): 'services' is a directory",
        ),
        (["--build-args", "[{]"], "--build-args (env BUILD_ARGS, parameter build-args): not valid JSON"),
        (
            ["--build-env", '[{"name": "OK", "value": "1"}, {"value": "2"}]'],
            "--build-env (env BUILD_ENV, parameter build-env)[1].name",
        ),
        (
            ["--image-name", "Demo/App"],
            "--image-name (env IMAGE_NAME, parameter image-name): 'Demo/App' is not a valid image name",
        ),
        (
            ["--git-revision", "bad rev"],
            "--image-tag (env IMAGE_TAG, parameter image-tag) + "
            "--git-revision (env GIT_REVISION, parameter git-revision): tag",
        ),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(workspace: Workspace, args: list[str], message: str) -> None:
    workspace.archive.write_bytes(b"stale archive from an earlier run")
    defaults = ["--context", "services/api", "--dockerfile", "services/api/Dockerfile"]
    result = run_build(workspace, *defaults, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr, result.stderr
    _assert_nothing_written(workspace)


@pytest.mark.docker
def test_context_symlink_escape_is_refused(workspace: Workspace) -> None:
    (workspace.source / "escape").symlink_to("/etc")
    result = run_build(workspace, "--context", "escape", "--dockerfile", "services/api/Dockerfile")
    assert result.returncode == 2
    assert (
        "--context (env DOCKER_CONTEXT, parameter docker-context): 'escape' resolves outside the source root"
        in result.stderr
    )


@pytest.mark.docker
def test_dockerfile_error_exits_1_and_leaves_no_archive(
    workspace: Workspace, busybox_base: BaseImage, plain_registry: Registry
) -> None:
    dockerfile = workspace.source / "services" / "api" / "Dockerfile"
    # The RUN prints a network-looking error: it is still the Dockerfile's failure, not a transient one.
    dockerfile.write_text(DOCKERFILE + "RUN echo 'dial tcp: connection refused' && exit 3\n")
    workspace.archive.write_bytes(b"stale archive from an earlier run")
    result = run_build(workspace, *app_args(busybox_base, plain_registry))
    assert result.returncode == 1, result.stderr
    assert "[build-image] error: build of demo-shop-api:v1-0123abcd failed: building at STEP" in result.stderr
    _assert_nothing_written(workspace)

    dockerfile.write_text("FROM\n")
    result = run_build(workspace, *app_args(busybox_base, plain_registry))
    assert result.returncode == 1, result.stderr
    assert "error: build of demo-shop-api:v1-0123abcd failed:" in result.stderr
    _assert_nothing_written(workspace)


@pytest.mark.docker
def test_unreachable_base_registry_is_transient(workspace: Workspace) -> None:
    base = f"127.0.0.1:{free_port()}/base/busybox:1"  # nothing listens there
    build_args = json.dumps([{"name": "BASE_IMAGE", "value": base}])
    defaults = ["--context", "services/api", "--dockerfile", "services/api/Dockerfile", "--tls-verify", "false"]
    result = run_build(workspace, *defaults, "--build-args", build_args)
    assert result.returncode == 75, result.stderr
    assert "failed on a registry error (transient)" in result.stderr and "connection refused" in result.stderr
    _assert_nothing_written(workspace)


@pytest.mark.docker
def test_missing_base_image_is_permanent(
    workspace: Workspace, busybox_base: BaseImage, plain_registry: Registry
) -> None:
    build_args = json.dumps([{"name": "BASE_IMAGE", "value": plain_registry.ref("base/none", "1")}])
    defaults = ["--context", "services/api", "--dockerfile", "services/api/Dockerfile", "--tls-verify", "false"]
    result = run_build(workspace, *defaults, "--build-args", build_args)
    assert result.returncode == 1, result.stderr
    assert "error: build of demo-shop-api:v1-0123abcd failed:" in result.stderr
    _assert_nothing_written(workspace)


# --- isolation: refuse to run as the node's real root ---------------------------------------------------------

INITIAL_NAMESPACE = "         0          0 4294967295\n"
USER_NAMESPACE = "         0     100000      65536\n"


def test_uid_map_tells_a_user_namespace_from_the_initial_one() -> None:
    assert in_user_namespace(USER_NAMESPACE)
    assert in_user_namespace("0 1000 1\n1 100000 65535\n")  # rootless-style: several ranges
    assert not in_user_namespace(INITIAL_NAMESPACE)
    assert not in_user_namespace("")
    assert in_user_namespace(Path("/proc/self/uid_map").read_text()) is False  # this host runs the tests as root


def _isolation_env(mode: str) -> dict[str, str]:
    return {"BUILD_ISOLATION": mode}


def test_build_outside_a_user_namespace_fails_before_any_side_effect(workspace: Workspace) -> None:
    uid_map = workspace.root / "uid_map"
    uid_map.write_text(INITIAL_NAMESPACE)
    workspace.archive.parent.mkdir(parents=True, exist_ok=True)
    workspace.archive.write_bytes(b"stale archive from an earlier run")
    result = run_build(workspace, "--uid-map", str(uid_map), env=_isolation_env("user-namespace"))
    assert result.returncode == 2, result.stderr
    assert "--isolation (env BUILD_ISOLATION, parameter isolation): not running in a user namespace" in result.stderr
    assert "hostUsers: false was ignored" in result.stderr and "build.isolation" in result.stderr
    assert workspace.archive.read_bytes() == b"stale archive from an earlier run"  # untouched: no side effect
    assert not workspace.outputs.exists() and not workspace.storage.exists()


def test_unreadable_uid_map_and_unknown_isolation_are_bad_input(workspace: Workspace) -> None:
    missing = run_build(workspace, "--uid-map", str(workspace.root / "nope"), env=_isolation_env("user-namespace"))
    assert (
        missing.returncode == 2
        and "cannot read" in missing.stderr
        and "to check for a user namespace" in missing.stderr
    )
    unknown = run_build(workspace, env=_isolation_env("sandbox"))
    assert unknown.returncode == 2
    assert "'sandbox' is not one of user-namespace, privileged, none" in unknown.stderr


@pytest.mark.docker
@pytest.mark.parametrize(("mode", "uid_map"), [("user-namespace", USER_NAMESPACE), ("privileged", INITIAL_NAMESPACE)])
def test_build_runs_in_a_user_namespace_or_with_an_explicit_other_isolation(
    workspace: Workspace, busybox_base: BaseImage, plain_registry: Registry, mode: str, uid_map: str
) -> None:
    fake = workspace.root / "uid_map"
    fake.write_text(uid_map)
    args = [*app_args(busybox_base, plain_registry), "--uid-map", str(fake)]
    result = run_build(workspace, *args, env=_isolation_env(mode))
    assert result.returncode == 0, result.stderr
    expected = "running in a user namespace" if mode == "user-namespace" else "isolation privileged: the user-namespace"
    assert expected in result.stderr
    assert workspace.output("image-digest").read_text().startswith("sha256:")


# --- credentials: read-only pull Secret, opt-in cache push Secret ----------------------------------------------


def _plan_for(ws: Workspace, *argv: str) -> BuildPlan:
    values = parse_options(
        "test",
        "test",
        OPTIONS,
        [
            "--image-name", "demo", "--git-revision", "0123abcd", "--source-dir", str(ws.source),
            "--archive", str(ws.archive), "--storage-dir", str(ws.storage), "--context", "services/api",
            "--dockerfile", "services/api/Dockerfile", *argv,
        ],
    )  # fmt: skip
    return plan(BuildOptions.from_values(values))


def test_cache_push_credentials_join_the_pull_credentials_only_for_a_cache(workspace: Workspace) -> None:
    pull = workspace.root / "pull" / ".dockerconfigjson"
    pull.parent.mkdir()
    pull.write_text(
        json.dumps({"auths": {"base.example.com": {"auth": "cHVsbDp4"}, "cache.example.com": {"auth": "cjpv"}}})
    )
    push = workspace.root / "push" / ".dockerconfigjson"
    push.parent.mkdir()
    push.write_text(json.dumps({"auths": {"cache.example.com": {"auth": "cHVzaDp5"}}}))
    runroot = workspace.root / "runroot"
    runroot.mkdir()
    no_cache = _plan_for(workspace, "--auth-file", str(pull), "--cache-auth-file", str(push))
    assert no_cache.cache_auth_file is None  # no cache repository: the push Secret is never read
    assert merged_auth_file(no_cache, runroot) == pull
    cached = _plan_for(
        workspace, "--auth-file", str(pull), "--cache-auth-file", str(push), "--cache-repo", "cache.example.com/c"
    )
    merged = merged_auth_file(cached, runroot)
    assert merged is not None and merged.parent == runroot and merged.stat().st_mode & 0o777 == 0o600
    assert json.loads(merged.read_text()) == {
        "auths": {"base.example.com": {"auth": "cHVsbDp4"}, "cache.example.com": {"auth": "cHVzaDp5"}}
    }
    assert bud_argv(cached, runroot, merged)[-3:-1] == ["--authfile", str(merged)]


@pytest.mark.docker
def test_cache_is_pushed_with_the_cache_push_secret_only(
    workspace: Workspace, busybox_base: BaseImage, plain_registry: Registry, auth_registry: Registry, tmp_path: Path
) -> None:
    (workspace.source / "services" / "api" / "Dockerfile").write_text(CACHE_DOCKERFILE)
    cache = f"{auth_registry.host}/cache/demo-shop-api"
    args = [*app_args(busybox_base, plain_registry), "--cache-repo", cache]  # tls-verify false: self-signed cache
    pull = auth_registry.write_auth_file(tmp_path / "pull")  # a pull Secret alone never pushes the cache
    without = run_build(workspace, *args, "--auth-file", str(pull), storage=workspace.storage / "a")
    assert without.returncode == 0, without.stderr  # the cache is read only then, not a failure
    assert "(read only: no cache-push Secret)" in without.stderr and "--> Pushing cache" not in without.stderr
    assert auth_registry.tags("cache/demo-shop-api") == []
    push = auth_registry.write_auth_file(tmp_path / "cache-push")
    with_secret = run_build(
        workspace, *args, "--auth-file", str(pull), "--cache-auth-file", str(push), storage=workspace.storage / "b"
    )
    assert with_secret.returncode == 0, with_secret.stderr
    assert len(auth_registry.tags("cache/demo-shop-api")) == 4
    assert auth_registry.password is not None and auth_registry.password not in with_secret.stderr


# --- react preset ------------------------------------------------------------------------------------------------


def test_react_preset_builds_the_app_directory_with_its_own_dockerfile(workspace: Workspace) -> None:
    app = workspace.source / "web"
    app.mkdir()
    (app / "package.json").write_text('{"name": "web"}')
    react = _plan_for(workspace, "--preset", "react", "--context", "web", "--node-version", "20")
    assert react.dockerfile is None and react.context == app.resolve()
    assert react.build_args[0] == ("NODE_VERSION", "20")
    runroot = workspace.root / "runroot"
    runroot.mkdir()
    from steps.build.main import write_preset_dockerfile

    dockerfile = write_preset_dockerfile("react", runroot)
    assert dockerfile.read_text() == REACT_DOCKERFILE and app not in dockerfile.parents  # the source stays as it was
    argv = bud_argv(react, runroot, None, dockerfile)
    assert argv[argv.index("-f") + 1] == str(dockerfile) and argv[-1] == str(app.resolve())
    assert argv[argv.index("--build-arg") : argv.index("--build-arg") + 2] == ["--build-arg", "NODE_VERSION=20"]
    assert "try_files $uri /index.html" in REACT_DOCKERFILE and "/usr/share/nginx/html" in REACT_DOCKERFILE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--context", "web", "--node-version", "20; rm -rf /"],
            "--node-version (env NODE_VERSION, parameter node-version)",
        ),
        (["--context", "services/api"], "no package.json in 'services/api'"),
    ],
)
def test_react_preset_bad_input(workspace: Workspace, args: list[str], message: str) -> None:
    (workspace.source / "web").mkdir()
    (workspace.source / "web" / "package.json").write_text("{}")
    result = run_build(workspace, "--preset", "react", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    _assert_nothing_written(workspace)


def test_the_handoff_setting_offers_the_steps_formats_and_reaches_the_template(tmp_path: Path) -> None:
    assert get_args(HandoffFormat) == HANDOFF_FORMATS
    for value in HANDOFF_FORMATS:
        done = render_with_setting(tmp_path / value, "build.handoff_format", value)
        assert done.returncode == 0, done.stderr
        env = {
            e["name"]: e["value"] for e in step_template(tmp_path / value, "containerfile-build")["container"]["env"]
        }
        assert env[HANDOFF_ENV] == value
    bad = render_with_setting(tmp_path / "bad", "build.handoff_format", "tar")
    assert bad.returncode != 0 and "build.handoff_format" in bad.stderr
