"""steps.build with the real buildah 1.28 (overlay storage, chroot isolation) on the host, as root.

The base image is a static busybox (Debian's busybox-static) committed with `buildah from scratch` and pushed to a
real registry on 127.0.0.1 (tests/support/registry.py): no network beyond loopback, nothing pulled from a public
registry (every reference is fully qualified to 127.0.0.1 or an oci-archive: path).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from steps.build.main import is_transient, parse_pairs, resolve_under
from steps.common.log import StepError
from tests.support.paths import ROOT
from tests.support.registry import (
    BaseImage,
    Registry,
    free_port,
    remove_storage,
)

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


# --- reading an OCI archive -------------------------------------------------------------------------------------


def _blob(tar: tarfile.TarFile, digest: str) -> bytes:
    handle = tar.extractfile(f"blobs/sha256/{digest.removeprefix('sha256:')}")
    assert handle is not None
    return handle.read()


def oci_image(archive: Path) -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
    """(index, manifest, config) of the single image in an OCI archive."""
    with tarfile.open(archive) as tar:
        index = json.loads(_blob_or_file(tar, "index.json"))
        manifest = json.loads(_blob(tar, index["manifests"][0]["digest"]))
        config = json.loads(_blob(tar, manifest["config"]["digest"]))
    return index, manifest, config


def _blob_or_file(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    assert handle is not None
    return handle.read()


def read_image_file(archive: Path, path: str) -> bytes:
    """A file's content in the image: the topmost layer that has it wins."""
    _, manifest, _ = oci_image(archive)
    with tarfile.open(archive) as tar:
        layers = manifest["layers"]
        assert isinstance(layers, list)
        for layer in reversed(layers):
            data = _blob(tar, layer["digest"])
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            with tarfile.open(fileobj=io.BytesIO(data)) as layer_tar:
                for member in layer_tar:
                    if member.name.removeprefix("./") == path and member.isfile():
                        handle = layer_tar.extractfile(member)
                        assert handle is not None
                        return handle.read()
    raise FileNotFoundError(path)


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
    assert workspace.archive.is_file()
    assert sorted(p.name for p in workspace.archive.parent.iterdir()) == ["app-image.tar", "source"], "temp files left"
    digest = workspace.output("image-digest").read_text()
    assert digest.startswith("sha256:") and len(digest) == 71
    assert sorted(p.name for p in workspace.outputs.iterdir()) == ["image-digest"]
    index, manifest, config = oci_image(workspace.archive)
    entry = index["manifests"][0]  # type: ignore[index]
    assert entry["digest"] == digest
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "demo-shop-api:v1-0123abcd"
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert "APP_MODE=production" in config["config"]["Env"]  # type: ignore[index]
    assert read_image_file(workspace.archive, "app/app.txt") == b"hello from the app\n"
    assert read_image_file(workspace.archive, "out/greeting") == b"hello\n"
    assert "[build-image] STEP 1/" in result.stderr
    assert f"demo-shop-api:v1-0123abcd@{digest}" in result.stderr


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
    assert f"TRICKY_ENV={tricky_env}" in config["config"]["Env"]  # type: ignore[index]


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
    assert workspace.output("image-digest").read_text() == oci_image(workspace.archive)[0]["manifests"][0]["digest"]  # type: ignore[index]


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
    args = [*app_args(busybox_base, plain_registry), "--cache-repo", cache]
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
