"""Layer compression of the hand-off (issue 14, part 3) with the real buildah 1.28, skopeo 1.9, Debian's registry
on 127.0.0.1 and the machine's containerd 1.6 (a runtime that runs zstd layers).

The build step writes the OCI archive's layers in the chosen format; the publish step pushes them as they are
(same manifest digest as the build step's output); it compresses uncompressed layers (docker archives) in the
format it is told.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import pytest

from hera_workflows.pack.settings import LayerCompression
from steps.common.compression import ENV, GZIP, LAYER_COMPRESSIONS, MEDIA_TYPES, PARAM, ZSTD, layer_compression
from steps.common.log import StepError
from testkit.oci import OciImage
from testkit.paths import ROOT
from testkit.registry import BaseImage, Registry, remove_storage
from testkit.rendered import render_with_setting, step_template

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
DOCKERFILE = 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo compressed > /marker\nCMD ["cat", "/marker"]\n'


@dataclass(frozen=True)
class Step:
    returncode: int
    stderr: str
    outputs: Path

    def output(self, name: str) -> str:
        return (self.outputs / name).read_text()


def run_step(module: str, tmp: Path, *args: str, env: dict[str, str] | None = None) -> Step:
    outputs = tmp / f"outputs-{module}-{uuid.uuid4().hex[:6]}"
    full_env = {**os.environ, "PACK_OUTPUTS_DIR": str(outputs), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Step(done.returncode, done.stderr, outputs)


def build(tmp: Path, base: BaseImage, *args: str, env: dict[str, str] | None = None) -> tuple[Step, Path]:
    source = tmp / "source"
    source.mkdir(exist_ok=True)
    (source / "Dockerfile").write_text(DOCKERFILE)
    archive = tmp / "vol" / "app-image.tar"
    storage = tmp / "storage"
    try:
        result = run_step(
            "steps.build",
            tmp,
            "--image-name", "demo-shop-api", "--git-revision", "0123abcd", "--source-dir", str(source),
            "--archive", str(archive), "--storage-dir", str(storage / "root"), "--tls-verify", "false",
            "--build-args", json.dumps([{"name": "BASE_IMAGE", "value": base.ref}]),
            "--auth-file", str(tmp / "none"), "--ca-dir", str(tmp / "none"), "--isolation", "none",
            *args,
            env=env,
        )  # fmt: skip
    finally:
        remove_storage(storage)
    return result, archive


def publish(tmp: Path, archive: Path, registry: Registry, repo: str, *args: str) -> Step:
    return run_step(
        "steps.publish_image",
        tmp,
        "--registry", registry.host, "--image-name", repo, "--image-tag", "v1", "--git-revision", "0123abcd",
        "--archive", str(archive), "--tls-verify", registry.tls_verify, "--auth-file", str(tmp / "none"),
        "--ca-dir", str(tmp / "none"), "--retries", "0",
        *args,
    )  # fmt: skip


def archive_layers(handoff: Path) -> list[tuple[str, bytes]]:
    """(media type, first bytes of the blob) of every layer of the image build-image handed off."""
    return [(media_type, blob[:4]) for media_type, blob in OciImage(handoff).layers()]


def registry_layer_types(registry: Registry, repo: str, tag: str) -> list[str]:
    manifest = json.loads(registry.manifest(repo, tag).body)
    return [layer["mediaType"] for layer in manifest["layers"]]


def pull_and_read_marker(registry: Registry, ref: str, workdir: Path) -> bytes:
    """skopeo pulls the image (decompressing every layer) into an OCI layout; returns /marker from its layers."""
    layout = workdir / f"pulled-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        ["skopeo", "copy", *registry.skopeo_flags("src-"), f"docker://{ref}", f"oci:{layout}:x"],
        check=True,
        capture_output=True,
    )
    unpacked = workdir / f"unpacked-{uuid.uuid4().hex[:6]}"
    unpacked.mkdir()
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    for layer in manifest["layers"]:  # zstd -d / gzip -d of each layer: the blobs really are what they claim
        tool = "zstd" if layer["mediaType"].endswith("+zstd") else "gzip"
        data = subprocess.run(
            [tool, "-d", "-c", str(layout / "blobs/sha256" / layer["digest"][7:])], check=True, capture_output=True
        ).stdout
        (unpacked / "layer.tar").write_bytes(data)
        with tarfile.open(unpacked / "layer.tar") as layer_tar:
            for member in layer_tar:
                if member.name.removeprefix("./") == "marker":
                    handle = layer_tar.extractfile(member)
                    assert handle is not None
                    return handle.read()
    raise AssertionError("no /marker in the pulled image")


# --- input checks (no tools) ------------------------------------------------------------------------------------


def test_layer_compression_names_the_field() -> None:
    assert layer_compression(" ZSTD ", "f") == ZSTD and layer_compression("gzip", "f") == GZIP
    with pytest.raises(StepError, match=r"^--layer-compression \(env X\): 'brotli' is not one of gzip, zstd$"):
        layer_compression("brotli", "--layer-compression (env X)")


def test_bad_compression_is_refused_before_any_side_effect(tmp_path: Path) -> None:
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "Dockerfile").write_text("FROM scratch\n")
    built = run_step(
        "steps.build",
        tmp_path,
        "--image-name", "demo", "--git-revision", "0123abcd", "--source-dir", str(tmp_path / "source"),
        "--archive", str(tmp_path / "vol" / "app-image.tar"), "--storage-dir", str(tmp_path / "storage"),
        "--isolation", "none",
        env={"LAYER_COMPRESSION": "lz4"},
    )  # fmt: skip
    assert built.returncode == 2, built.stderr
    assert "--layer-compression (env LAYER_COMPRESSION, parameter layer-compression): 'lz4' is not one of" in (
        built.stderr
    )
    assert not (tmp_path / "storage").exists() and not (tmp_path / "vol").exists() and not built.outputs.exists()
    archive = tmp_path / "app-image.tar"
    archive.write_bytes(b"not read")
    published = run_step(
        "steps.publish_image",
        tmp_path,
        "--registry", "127.0.0.1:1", "--image-name", "demo", "--git-revision", "0123abcd", "--archive",
        str(archive), "--layer-compression", "xz",
    )  # fmt: skip
    assert published.returncode == 2, published.stderr
    assert "--layer-compression (env LAYER_COMPRESSION, parameter layer-compression): 'xz'" in published.stderr
    assert not published.outputs.exists()


# --- real buildah, skopeo, registry -----------------------------------------------------------------------------


@pytest.mark.docker
def test_zstd_archive_is_pushed_as_it_is_and_pulls(
    tmp_path: Path, busybox_base: BaseImage, plain_registry: Registry
) -> None:
    built, archive = build(tmp_path, busybox_base, "--layer-compression", "zstd")
    assert built.returncode == 0, built.stderr
    assert "zstd layers" in built.stderr
    layers = archive_layers(archive)
    assert layers and all(media == MEDIA_TYPES[ZSTD] and magic == ZSTD_MAGIC for media, magic in layers), layers
    published = publish(tmp_path, archive, plain_registry, "compression/zstd", "--layer-compression", "zstd")
    assert published.returncode == 0, published.stderr
    # Pushed as they are: the registry holds the build step's manifest, nothing was recompressed.
    assert published.output("image-digest") == built.output("image-digest")
    assert plain_registry.manifest_digest("compression/zstd", "v1-0123abcd") == built.output("image-digest")
    assert registry_layer_types(plain_registry, "compression/zstd", "v1-0123abcd") == [MEDIA_TYPES[ZSTD]] * len(layers)
    assert pull_and_read_marker(plain_registry, plain_registry.ref("compression/zstd", "v1-0123abcd"), tmp_path) == (
        b"compressed\n"
    )


@pytest.mark.docker
def test_gzip_default_keeps_the_digest_and_publish_compresses_a_docker_archive_as_asked(
    tmp_path: Path, busybox_base: BaseImage, plain_registry: Registry
) -> None:
    built, archive = build(tmp_path, busybox_base)  # no option: gzip, the default
    assert built.returncode == 0, built.stderr
    layers = archive_layers(archive)
    assert all(media == MEDIA_TYPES[GZIP] and magic.startswith(GZIP_MAGIC) for media, magic in layers), layers
    # A docker archive (podman save, OpenChoreo's hand-off) has uncompressed layers: the publish step compresses
    # them, in the format it is told. Pushed first: the app's layer is new to the registry, so it is compressed
    # (skopeo 1.9 reuses a blob the registry already holds for a layer when its blob-info cache knows one, as this
    # host's does for the base layer; a pod's cache is empty).
    docker_archive = tmp_path / "docker-image.tar"
    subprocess.run(
        ["skopeo", "copy", f"oci:{archive}", f"docker-archive:{docker_archive}:demo-shop-api:v1"],
        check=True,
        capture_output=True,
    )
    converted = publish(tmp_path, docker_archive, plain_registry, "compression/docker", "--layer-compression", "zstd")
    assert converted.returncode == 0, converted.stderr
    types = registry_layer_types(plain_registry, "compression/docker", "v1-0123abcd")
    assert len(types) == len(layers) and types[-1] == MEDIA_TYPES[ZSTD], types
    ref = plain_registry.ref("compression/docker", "v1-0123abcd")
    assert pull_and_read_marker(plain_registry, ref, tmp_path) == b"compressed\n"
    # The OCI archive's gzip layers are pushed as they are: the build step's digest.
    same = publish(tmp_path, archive, plain_registry, "compression/gzip")
    assert same.returncode == 0, same.stderr
    assert same.output("image-digest") == built.output("image-digest")
    # Compressed layers are never recompressed by skopeo 1.9, whatever the publish step is told.
    kept = publish(tmp_path, archive, plain_registry, "compression/kept", "--layer-compression", "zstd")
    assert kept.returncode == 0, kept.stderr
    assert registry_layer_types(plain_registry, "compression/kept", "v1-0123abcd") == [MEDIA_TYPES[GZIP]] * len(layers)


# --- a runtime: containerd >= 1.5 runs zstd layers ---------------------------------------------------------------

CTR = shutil.which("ctr")
# containerd's own socket, or the one the Docker engine runs (this machine: Docker 20.10 with containerd 1.6.20).
CONTAINERD_SOCKETS = (Path("/run/containerd/containerd.sock"), Path("/var/run/docker/containerd/containerd.sock"))
CONTAINERD_SOCKET = next((socket for socket in CONTAINERD_SOCKETS if socket.is_socket()), None)


@pytest.fixture
def ctr_namespace() -> Iterator[str]:
    """A containerd namespace of this test alone, emptied afterwards (images, containers, snapshots)."""
    if CTR is None or CONTAINERD_SOCKET is None:
        pytest.skip("containerd (ctr and its socket) is not on this machine")
    namespace = f"pack-test-zstd-{uuid.uuid4().hex[:8]}"
    ctr = [CTR, "--address", str(CONTAINERD_SOCKET)]
    yield namespace
    for kind in ("containers", "images"):
        listed = subprocess.run([*ctr, "-n", namespace, kind, "ls", "-q"], capture_output=True, text=True, check=False)
        for name in listed.stdout.split():
            subprocess.run([*ctr, "-n", namespace, kind, "rm", name], capture_output=True, check=False)
    subprocess.run([*ctr, "namespaces", "rm", namespace], capture_output=True, check=False)


@pytest.mark.docker
def test_containerd_runs_the_zstd_image(
    tmp_path: Path, busybox_base: BaseImage, plain_registry: Registry, ctr_namespace: str
) -> None:
    assert CTR is not None
    built, archive = build(tmp_path, busybox_base, "--layer-compression", "zstd")
    assert built.returncode == 0, built.stderr
    published = publish(tmp_path, archive, plain_registry, "compression/run", "--layer-compression", "zstd")
    assert published.returncode == 0, published.stderr
    ref = plain_registry.ref("compression/run", "v1-0123abcd")
    ctr = [CTR, "--address", str(CONTAINERD_SOCKET), "-n", ctr_namespace]
    pulled = subprocess.run([*ctr, "images", "pull", "--plain-http", ref], capture_output=True, text=True, check=False)
    assert pulled.returncode == 0, pulled.stderr
    ran = subprocess.run(
        [*ctr, "run", "--rm", "--net-host", ref, f"zstd-{uuid.uuid4().hex[:8]}", "cat", "/marker"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "compressed\n"


def test_the_pack_setting_offers_the_steps_formats_and_reaches_both_templates(tmp_path: Path) -> None:
    assert get_args(LayerCompression) == LAYER_COMPRESSIONS
    out = tmp_path / "rendered"
    done = render_with_setting(out, "publish.layer_compression", "zstd")
    assert done.returncode == 0, done.stderr
    for name in ("containerfile-build", "publish-image"):
        template = step_template(out, name)
        inputs = {p["name"]: p.get("default") for p in template["inputs"]["parameters"]}
        assert inputs[PARAM] == ZSTD, name
        env = {e["name"]: e["value"] for e in template["container"]["env"]}
        assert env[ENV] == "{{inputs.parameters.layer-compression}}", name
    bad = render_with_setting(tmp_path / "x", "publish.layer_compression", "xz")
    assert bad.returncode != 0 and "publish.layer_compression" in bad.stderr


@pytest.mark.docker
def test_cached_rebuild_with_zstd_archives_the_same_image(
    tmp_path: Path, busybox_base: BaseImage, plain_registry: Registry
) -> None:
    """A new pod rebuilding unchanged sources from the registry layer cache writes the same zstd archive (same
    manifest digest) as the build that filled the cache: the cache is pulled, the archive compressed again."""
    cache = f"{plain_registry.host}/compression/cache-{uuid.uuid4().hex[:6]}"
    push_auth = tmp_path / "cache-push" / ".dockerconfigjson"  # the opt-in; this registry takes anonymous pushes
    push_auth.parent.mkdir()
    push_auth.write_text('{"auths": {}}')
    args = ["--layer-compression", "zstd", "--cache-repo", cache, "--cache-auth-file", str(push_auth)]
    first, archive = build(tmp_path, busybox_base, *args)
    assert first.returncode == 0, first.stderr
    assert "--> Pushing cache" in first.stderr
    first_layers = archive_layers(archive)
    second, archive = build(tmp_path, busybox_base, *args)  # `build` empties the store: a new pod
    assert second.returncode == 0, second.stderr
    assert "--> Cache pulled from remote" in second.stderr and "--> Pushing cache" not in second.stderr
    assert second.output("image-digest") == first.output("image-digest")
    assert archive_layers(archive) == first_layers
    assert all(media == MEDIA_TYPES[ZSTD] for media, _ in first_layers)
