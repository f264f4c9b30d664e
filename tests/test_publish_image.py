"""steps.publish_image with the real skopeo 1.9 against real registries on 127.0.0.1.

The image comes from the real build step (steps.build, buildah); the registries are Debian's distribution 2.8
(plain HTTP, and htpasswd + self-signed TLS); transient failures come from a real fault-injecting TCP proxy.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from steps.common.imageref import validate_image_name, validate_registry, validate_tag
from steps.common.log import StepError
from steps.publish_image.main import classify, detect_source
from testkit.faultproxy import FaultProxy
from testkit.paths import ROOT
from testkit.registry import (
    BaseImage,
    Registry,
    remove_storage,
)

OUTPUT_NAMES = ["image", "image-digest", "image-url"]

# Registry and base-image fixtures (session-scoped, shared by every module that uses them).


@dataclass(frozen=True)
class Built:
    archive: Path
    digest: str


@dataclass
class Result:
    returncode: int
    stderr: str
    stdout: str
    outputs: Path

    def output(self, name: str) -> str:
        return (self.outputs / name).read_text()

    def written(self) -> list[str]:
        return sorted(p.name for p in self.outputs.iterdir()) if self.outputs.exists() else []


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, busybox_base: BaseImage, plain_registry: Registry
) -> Iterator[Built]:
    """One image built by the real build step (python -m steps.build) from the busybox base in the registry."""
    root = tmp_path_factory.mktemp("built")
    source = root / "source"
    source.mkdir()
    (source / "Dockerfile").write_text(
        'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo published > /marker\nCMD ["cat", "/marker"]\n'
    )
    storage = root / "storage"
    archive = root / "app-image.tar"
    argv = [
        sys.executable, "-m", "steps.build", "--image-name", "demo-shop-api", "--git-revision", "0123abcd",
        "--source-dir", str(source), "--archive", str(archive), "--storage-dir", str(storage / "root"),
        "--tls-verify", "false", "--build-args", json.dumps([{"name": "BASE_IMAGE", "value": busybox_base.ref}]),
        "--auth-file", str(root / "none"), "--ca-dir", str(root / "none"), "--isolation", "none",
    ]  # fmt: skip
    env = {**os.environ, "PACK_OUTPUTS_DIR": str(root / "outputs")}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    yield Built(archive, (root / "outputs" / "image-digest").read_text())
    remove_storage(storage)


def run_publish(
    tmp_path: Path,
    archive: Path,
    registry: str,
    *args: str,
    auth_file: Path | None = None,
    ca_dir: Path | None = None,
    name: str = "demo-shop-api",
) -> Result:
    outputs = tmp_path / "outputs"
    argv = [
        sys.executable, "-m", "steps.publish_image", "--registry", registry, "--image-name", name,
        "--image-tag", "v1", "--git-revision", "0123abcd", "--archive", str(archive),
        "--auth-file", str(auth_file or tmp_path / "no-secret" / ".dockerconfigjson"),
        "--ca-dir", str(ca_dir or tmp_path / "no-ca"), "--retry-delay", "0.1",
        *args,
    ]  # fmt: skip
    env = {**os.environ, "PACK_OUTPUTS_DIR": str(outputs)}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    return Result(done.returncode, done.stderr, done.stdout, outputs)


def skopeo_inspect_digest(registry: Registry, ref: str) -> str:
    done = subprocess.run(
        ["skopeo", "inspect", *registry.skopeo_flags(), f"docker://{ref}"],
        capture_output=True,
        text=True,
        check=True,
    )
    digest: str = json.loads(done.stdout)["Digest"]
    return digest


def sh(*argv: str) -> str:
    """Run a helper command (argv, no shell); fail the test with its stderr; return its stdout."""
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout


def assert_failed_cleanly(result: Result, code: int, *secrets: str) -> None:
    assert result.returncode == code, result.stderr
    assert result.written() == [], "outputs written by a failed publish"
    for secret in secrets:
        assert secret not in result.stderr and secret not in result.stdout


# --- validation (no registry) ----------------------------------------------------------------------------------


def test_registry_name_and_tag_validation_names_the_field() -> None:
    assert validate_registry("registry.example.com:5000/team/", "--registry") == "registry.example.com:5000/team"
    assert validate_registry("localhost", "--registry") == "localhost"
    assert validate_registry("127.0.0.1:5000", "--registry") == "127.0.0.1:5000"
    for bad, message in [
        ("https://registry.example.com", "has a scheme"),
        ("user:pw@registry.example.com", "must not contain credentials"),
        ("registry.example.com/Team", "is not host[:port][/path]"),
        ("registry.example.com:99999", "port 99999 out of range"),
        ("registry", "not a fully qualified registry host"),
        ("", "empty registry"),
    ]:
        with pytest.raises(StepError, match=rf"^--registry: .*{message.replace('[', '.').replace(']', '.')}"):
            validate_registry(bad, "--registry")
    assert validate_image_name("ns-project-component", "--image-name") == "ns-project-component"
    for bad in ("Upper", "a//b", "-lead", "a..b", "a b", "a:b"):
        with pytest.raises(StepError, match=r"^--image-name: .* is not a valid image name"):
            validate_image_name(bad, "--image-name")
    assert validate_tag("v1-0123abcd", "--image-tag")
    for bad in ("-x", ".x", "a" * 129, "a/b", "a b"):
        with pytest.raises(StepError, match=r"^--image-tag: tag"):
            validate_tag(bad, "--image-tag")


def test_skopeo_errors_are_classified() -> None:
    transient = [
        'msg="trying to reuse blob sha256:1 at destination: pinging container registry 127.0.0.1:1: invalid status code from registry 503 (Service Unavailable)"',  # noqa: E501
        'pinging container registry 127.0.0.1:1: Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',  # noqa: E501
        "writing blob: uploading layer chunked: Patch http://r/v2/x/blobs/uploads/1: EOF",
        "reading blob: read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer",
        "received unexpected HTTP status: 502 Bad Gateway",
        "net/http: TLS handshake timeout",
        "toomanyrequests: slow down",
    ]
    permanent = [
        "trying to reuse blob: checking whether a blob exists: unauthorized: authentication required",
        "pinging container registry r: Get https://r/v2/: x509: certificate signed by unknown authority",
        "writing manifest: uploading manifest v1 to r/x: manifest invalid",
        "invalid status code from registry 400 (Bad Request)",
        "initializing source oci-archive:/a.tar:: loading index: open /tmp/x/index.json: no such file or directory",
        "requested access to the resource is denied",
        "something nobody has seen before",
    ]
    assert [classify(text) for text in transient] == [True] * len(transient)
    assert [classify(text) for text in permanent] == [False] * len(permanent)


def test_archive_detection_rejects_what_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(StepError, match=r"--archive: image archive .*missing.tar not found"):
        detect_source(tmp_path / "missing.tar", "--archive")
    (tmp_path / "empty.tar").write_bytes(b"")
    with pytest.raises(StepError, match="is empty"):
        detect_source(tmp_path / "empty.tar", "--archive")
    (tmp_path / "junk.tar").write_bytes(b"this is not a tar file" * 100)
    with pytest.raises(StepError, match="is not a readable image archive"):
        detect_source(tmp_path / "junk.tar", "--archive")
    (tmp_path / "README").write_text("hi")
    with tarfile.open(tmp_path / "other.tar", "w") as tar:
        tar.add(tmp_path / "README", arcname="README")
    with pytest.raises(StepError, match=r"neither an OCI archive .* nor a docker archive"):
        detect_source(tmp_path / "other.tar", "--archive")
    (tmp_path / "dir").mkdir()
    with pytest.raises(StepError, match="is not an OCI layout"):
        detect_source(tmp_path / "dir", "--archive")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--registry", "https://r.example.com"],
            "--registry (env REGISTRY, parameter registry): 'https://r.example.com' has a scheme",
        ),
        (
            ["--image-name", "Bad_Name"],
            "--image-name (env IMAGE_NAME, parameter image-name): 'Bad_Name' is not a valid image name",
        ),
        (
            ["--git-revision", "$(id)"],
            "--image-tag (env IMAGE_TAG, parameter image-tag) + "
            "--git-revision (env GIT_REVISION, parameter git-revision): tag",
        ),
        (["--retries", "x"], "--retries (env PUBLISH_RETRIES, parameter push-retries): expected an integer"),
        (
            ["--tls-verify", "maybe"],
            "--tls-verify (env REGISTRY_TLS_VERIFY, parameter tls-verify): expected true or false",
        ),
    ],
)
def test_bad_parameters_exit_2_without_outputs(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "app.tar").write_bytes(b"x")
    result = run_publish(tmp_path, tmp_path / "app.tar", "registry.example.com:5000", *args)
    assert_failed_cleanly(result, 2)
    assert message in result.stderr, result.stderr


def test_missing_archive_exits_1(tmp_path: Path) -> None:
    result = run_publish(tmp_path, tmp_path / "app-image.tar", "127.0.0.1:5000")
    assert_failed_cleanly(result, 1)
    assert "--archive (env IMAGE_ARCHIVE): image archive" in result.stderr and "not found" in result.stderr


# --- real pushes ------------------------------------------------------------------------------------------------


@pytest.mark.docker
def test_publish_to_plain_registry_keeps_the_build_digest(
    tmp_path: Path, built: Built, plain_registry: Registry
) -> None:
    result = run_publish(tmp_path, built.archive, plain_registry.host, "--tls-verify", "false")
    assert result.returncode == 0, result.stderr
    assert result.written() == OUTPUT_NAMES
    url = f"{plain_registry.host}/demo-shop-api:v1-0123abcd"
    assert result.output("image-url") == url
    assert result.output("image-digest") == built.digest
    assert result.output("image") == f"{url}@{built.digest}"
    # What the registry says, by tag and by digest, and what a pull sees.
    assert plain_registry.manifest_digest("demo-shop-api", "v1-0123abcd") == built.digest
    assert plain_registry.manifest_digest("demo-shop-api", built.digest) == built.digest
    assert skopeo_inspect_digest(plain_registry, url) == built.digest
    layout = tmp_path / "pulled"
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{url}", f"oci:{layout}:pulled"],
        check=True,
        capture_output=True,
    )
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == built.digest
    assert "anonymous: no registry secret mounted" in result.stderr


@pytest.mark.docker
def test_publish_with_tls_auth_ca_and_dockerconfigjson(tmp_path: Path, built: Built, auth_registry: Registry) -> None:
    assert auth_registry.password and auth_registry.ca_dir
    auth_file = auth_registry.write_auth_file(tmp_path / "registry-push-secret")
    result = run_publish(
        tmp_path, built.archive, f"{auth_registry.host}/team", auth_file=auth_file, ca_dir=auth_registry.ca_dir
    )
    assert result.returncode == 0, result.stderr
    assert result.output("image-digest") == built.digest
    assert result.output("image") == f"{auth_registry.host}/team/demo-shop-api:v1-0123abcd@{built.digest}"
    assert auth_registry.manifest_digest("team/demo-shop-api", "v1-0123abcd") == built.digest
    token = base64.b64encode(f"{auth_registry.username}:{auth_registry.password}".encode()).decode()
    for secret in (auth_registry.password, token):
        assert secret not in result.stderr and secret not in result.stdout
    assert f"credentials from {auth_file}" in result.stderr


@pytest.mark.docker
def test_publish_without_the_ca_fails_with_a_tls_message(tmp_path: Path, built: Built, auth_registry: Registry) -> None:
    assert auth_registry.password
    auth_file = auth_registry.write_auth_file(tmp_path / "secret")
    result = run_publish(tmp_path, built.archive, auth_registry.host, auth_file=auth_file)
    assert_failed_cleanly(result, 1, auth_registry.password)
    assert "x509: certificate signed by unknown authority" in result.stderr
    assert "TLS: mount the registry's CA" in result.stderr
    assert "retrying" not in result.stderr  # a TLS error is permanent


@pytest.mark.docker
def test_publish_with_a_wrong_password_fails_without_leaking_it(
    tmp_path: Path, built: Built, auth_registry: Registry
) -> None:
    assert auth_registry.ca_dir and auth_registry.password
    wrong = "Wr0ng-" + auth_registry.password[::-1]
    auth_file = auth_registry.write_auth_file(tmp_path / "secret", password=wrong)
    result = run_publish(tmp_path, built.archive, auth_registry.host, auth_file=auth_file, ca_dir=auth_registry.ca_dir)
    token = base64.b64encode(f"{auth_registry.username}:{wrong}".encode()).decode()
    assert_failed_cleanly(result, 1, wrong, token, auth_registry.password)
    assert "unauthorized" in result.stderr or "authentication required" in result.stderr, result.stderr
    assert "check the registry push secret" in result.stderr
    assert "retrying" not in result.stderr
    assert auth_registry.tags("demo-shop-api") == [] or "v1-0123abcd" not in auth_registry.tags("demo-shop-api")


@pytest.mark.docker
def test_publish_anonymously_to_an_auth_registry_fails(tmp_path: Path, built: Built, auth_registry: Registry) -> None:
    assert auth_registry.ca_dir
    result = run_publish(tmp_path, built.archive, auth_registry.host, ca_dir=auth_registry.ca_dir, name="anon")
    assert_failed_cleanly(result, 1)
    assert "authentication required" in result.stderr or "unauthorized" in result.stderr


@pytest.mark.docker
@pytest.mark.parametrize("tool", ["podman", "docker"])
def test_docker_archive_from_save_publishes(
    tmp_path: Path, built: Built, plain_registry: Registry, tool: str, docker_client: object
) -> None:
    """OpenChoreo's hand-off: `podman save` (or `docker save`) output, a docker archive."""
    saved = tmp_path / f"{tool}-save.tar"
    tag = f"localhost/pack-test/{tool}-save:v1-{tmp_path.name[-8:].lower().replace('_', '-')}"
    if tool == "podman":
        storage = tmp_path / "podman"
        runroot = Path(tempfile.mkdtemp(prefix="pack-podman-"))  # podman: runroot must be <= 50 characters
        podman = [
            "podman", "--root", str(storage / "root"), "--runroot", str(runroot),
            "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
        ]  # fmt: skip
        try:
            image_id = sh(*podman, "pull", "-q", f"oci:{built.archive}").strip()  # the build step's OCI layout
            sh(*podman, "tag", image_id, tag)
            sh(*podman, "save", "-o", str(saved), tag)
        finally:
            subprocess.run([*podman, "rmi", "--all", "--force"], capture_output=True, check=False)
            remove_storage(storage)
            shutil.rmtree(runroot, ignore_errors=True)
    else:
        # Load through the engine (docker-archive made by skopeo), then a real `docker save`.
        loadable = tmp_path / "loadable.tar"
        sh("skopeo", "copy", f"oci:{built.archive}", f"docker-archive:{loadable}:{tag}")
        docker = shutil.which("docker", path="/usr/bin") or "docker"
        try:
            sh(docker, "load", "-i", str(loadable))
            sh(docker, "save", "-o", str(saved), tag)
        finally:
            subprocess.run([docker, "rmi", "-f", tag], capture_output=True, check=False)
    with tarfile.open(saved) as tar:
        assert "manifest.json" in tar.getnames()
    name = f"{tool}-saved"
    result = run_publish(tmp_path, saved, plain_registry.host, "--tls-verify", "false", name=name)
    assert result.returncode == 0, result.stderr
    assert f"pushing docker-archive {saved}" in result.stderr
    digest = result.output("image-digest")
    assert plain_registry.manifest_digest(name, "v1-0123abcd") == digest
    assert result.output("image") == f"{plain_registry.host}/{name}:v1-0123abcd@{digest}"


@pytest.mark.docker
def test_oci_archive_publishes_with_the_build_digest(tmp_path: Path, built: Built, plain_registry: Registry) -> None:
    """The build step's other hand-off format (`handoff-format oci-archive`): one tar file, the same image."""
    assert built.archive.is_symlink() and (built.archive / "oci-layout").is_file()  # the default: a layout
    archive = tmp_path / "app-image.tar"
    sh("skopeo", "copy", "--preserve-digests", f"oci:{built.archive}", f"oci-archive:{archive}")
    result = run_publish(tmp_path, archive, plain_registry.host, "--tls-verify", "false", name="from-archive")
    assert result.returncode == 0, result.stderr
    assert f"pushing oci-archive {archive}" in result.stderr
    assert result.output("image-digest") == built.digest
    assert plain_registry.manifest_digest("from-archive", "v1-0123abcd") == built.digest


# --- transient failures behind the fault proxy ------------------------------------------------------------------


@pytest.mark.docker
@pytest.mark.parametrize(("mode", "faults"), [("status", 6), ("drop", 6)])
def test_transient_failures_are_retried(
    tmp_path: Path, built: Built, plain_registry: Registry, mode: str, faults: int
) -> None:
    name = f"retried-{mode}"
    with FaultProxy(plain_registry.host, mode=mode, faults=faults) as proxy:  # type: ignore[arg-type]
        result = run_publish(tmp_path, built.archive, proxy.host, "--tls-verify", "false", "--retries", "5", name=name)
        assert proxy.faulted == faults
    assert result.returncode == 0, result.stderr
    assert "failed (transient)" in result.stderr and "retrying in" in result.stderr
    assert result.output("image-digest") == built.digest
    assert result.output("image-url") == f"{proxy.host}/{name}:v1-0123abcd"
    assert plain_registry.manifest_digest(name, "v1-0123abcd") == built.digest


@pytest.mark.docker
@pytest.mark.parametrize(("mode", "retries"), [("drop", 2), ("status", 0)])
def test_endless_transient_failures_exit_75(
    tmp_path: Path, built: Built, plain_registry: Registry, mode: str, retries: int
) -> None:
    with FaultProxy(plain_registry.host, mode=mode, faults=-1) as proxy:  # type: ignore[arg-type]
        result = run_publish(
            tmp_path, built.archive, proxy.host, "--tls-verify", "false", "--retries", str(retries), name="never"
        )
        assert proxy.faulted == proxy.connections > 0
    assert_failed_cleanly(result, 75)
    attempts = retries + 1
    assert f"failed after {attempts} attempt(s) with transient errors; last:" in result.stderr
    assert result.stderr.count("failed (transient)") == retries
    assert plain_registry.tags("never") == []
