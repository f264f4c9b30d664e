"""A local TEST builder for the buildpacks pipelines: a CNB builder image and its run image, made on this machine.

    python -m hera_workflows.images.builder [--lifecycle-version v0.20.4]   # prints the builder and run image refs

Follows the CNB platform and buildpack specs the way the real Paketo/Google/Ballerina builders do, so the same
template runs either:

* build and run images: the pack's Python base made from Debian packages (images.py, no registry), plus a `cnb`
  user (CNB_USER_ID/CNB_GROUP_ID = the pack's step uid/gid 10001, the builder's image USER);
* `/cnb/lifecycle/`: the lifecycle built from the Go module proxy by scripts/build-lifecycle.sh (the `lifecycle`
  binary, the phases as symlinks, `launcher`, `lifecycle.toml`);
* `/cnb/buildpacks/<escaped id>/<version>/`: the pack's own buildpack (tests/fixtures/buildpacks/python-app: a stdlib
  Python web app on the run image's python3). No Paketo buildpack: the module proxy refuses
  github.com/paketo-buildpacks/procfile/v5 ("not available"), so none can be built here;
* `/cnb/order.toml`, `/cnb/run.toml` and `/cnb/stack.toml` naming the run image.

Test-only: never pushed anywhere but a test registry on 127.0.0.1, never referenced by the rendered templates.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hera_workflows import images
from steps.common import contract

ROOT = Path(__file__).resolve().parents[2]  # hera_workflows/images/<module> -> the checkout
BUILD_LIFECYCLE = ROOT / "scripts" / "build-lifecycle.sh"
BUILDPACKS_DIR = ROOT / "tests" / "fixtures" / "buildpacks"
DEFAULT_LIFECYCLE_VERSION = "v0.20.4"
BUILDER_REPOSITORY = "local/openchoreo-ci-pack-cnb-test-builder"
RUN_REPOSITORY = "local/openchoreo-ci-pack-cnb-test-run"
BUILDPACK_ID = "openchoreo-ci-pack/python-app"
BUILDPACK_VERSION = "0.1.0"
BUILDPACK_DIR_NAME = BUILDPACK_ID.replace("/", "_")  # the platform spec's escaping of ids in /cnb/buildpacks
CNB_UID = contract.STEP_UID
CNB_GID = contract.STEP_GID

_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    f"cnb:x:{CNB_UID}:{CNB_GID}:cnb:/home/cnb:/usr/sbin/nologin\n"
)
_GROUP = f"root:x:0:\nnogroup:x:65534:\ncnb:x:{CNB_GID}:\n"

_RUN_DOCKERFILE = f"""\
ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
COPY etc/ /etc/
ENV CNB_USER_ID={CNB_UID} CNB_GROUP_ID={CNB_GID}
LABEL io.buildpacks.base.distro.name="debian" io.buildpacks.base.distro.version="12"
USER {CNB_UID}:{CNB_GID}
"""

_BUILDER_DOCKERFILE = f"""\
ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
COPY etc/ /etc/
COPY cnb/ /cnb/
ENV CNB_USER_ID={CNB_UID} CNB_GROUP_ID={CNB_GID} CNB_PLATFORM_API=0.12
LABEL io.buildpacks.base.distro.name="debian" io.buildpacks.base.distro.version="12"
USER {CNB_UID}:{CNB_GID}
"""


class BuilderError(RuntimeError):
    pass


@dataclass(frozen=True)
class TestBuilder:
    builder: str
    run_image: str
    lifecycle_version: str
    seconds: float


def build_lifecycle(version: str = DEFAULT_LIFECYCLE_VERSION) -> Path:
    """scripts/build-lifecycle.sh: the /cnb/lifecycle tree (built once per version, then reused)."""
    result = subprocess.run(
        ["bash", str(BUILD_LIFECYCLE), version], capture_output=True, text=True, timeout=3600, check=False
    )
    if result.returncode != 0:
        raise BuilderError(f"scripts/build-lifecycle.sh {version} failed:\n{result.stderr[-3000:]}")
    tree = Path(result.stdout.strip().splitlines()[-1])
    if not (tree / "lifecycle").is_file() or not (tree / "launcher").is_file():
        raise BuilderError(f"{tree}: no lifecycle/launcher binaries")
    return tree


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _add_path(tar: tarfile.TarFile, source: Path, arcname: str) -> None:
    """Files and symlinks under `source` with normalised metadata (so Docker's layer cache keys on content)."""
    for path in [source, *sorted(source.rglob("*"))] if source.is_dir() else [source]:
        name = arcname if path == source else f"{arcname}/{path.relative_to(source).as_posix()}"
        info = tar.gettarinfo(str(path), arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        if info.isdir():
            info.mode = 0o755
            tar.addfile(info)
        elif info.issym():
            tar.addfile(info)
        else:
            info.mode = 0o755 if info.mode & 0o100 else 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)


def _identity(tar: tarfile.TarFile) -> None:
    _add_bytes(tar, "etc/passwd", _PASSWD.encode())
    _add_bytes(tar, "etc/group", _GROUP.encode())


def run_context() -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add_bytes(tar, "Dockerfile", _RUN_DOCKERFILE.encode())
        _identity(tar)
    buffer.seek(0)
    return buffer


def builder_context(lifecycle: Path, run_image: str) -> io.BytesIO:
    order = f'[[order]]\n\n  [[order.group]]\n    id = "{BUILDPACK_ID}"\n    version = "{BUILDPACK_VERSION}"\n'
    run_toml = f'[[images]]\n  image = "{run_image}"\n'
    stack_toml = f'[run-image]\n  image = "{run_image}"\n'
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add_bytes(tar, "Dockerfile", _BUILDER_DOCKERFILE.encode())
        _identity(tar)
        _add_path(tar, lifecycle, "cnb/lifecycle")
        _add_path(tar, BUILDPACKS_DIR / "python-app", f"cnb/buildpacks/{BUILDPACK_DIR_NAME}/{BUILDPACK_VERSION}")
        _add_bytes(tar, "cnb/order.toml", order.encode())
        _add_bytes(tar, "cnb/run.toml", run_toml.encode())
        _add_bytes(tar, "cnb/stack.toml", stack_toml.encode())
    buffer.seek(0)
    return buffer


def build_test_builder(
    lifecycle_version: str = DEFAULT_LIFECYCLE_VERSION,
    *,
    client: Any | None = None,
    cache: Path = images.DEFAULT_CACHE,
) -> TestBuilder:
    """Build (or reuse, through Docker's layer cache) the test builder and run images; returns their refs."""
    started = time.monotonic()
    client = client or images.docker_client()
    lifecycle = build_lifecycle(lifecycle_version)
    cache.mkdir(parents=True, exist_ok=True)
    images._ensure_apt_lists()
    base = images.build_base(client, images.BASES["python"], cache).ref
    tag = f"{contract.PACK_VERSION}-lifecycle-{lifecycle_version}"
    run_ref = f"{RUN_REPOSITORY}:{contract.PACK_VERSION}"
    builder_ref = f"{BUILDER_REPOSITORY}:{tag}"
    images.docker_build(client, run_context(), run_ref, {"BASE_IMAGE": base}, "none")
    images.docker_build(client, builder_context(lifecycle, run_ref), builder_ref, {"BASE_IMAGE": base}, "none")
    return TestBuilder(builder_ref, run_ref, lifecycle_version, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hera_workflows.images.builder", description=__doc__)
    parser.add_argument("--lifecycle-version", default=DEFAULT_LIFECYCLE_VERSION)
    args = parser.parse_args(argv)
    try:
        built = build_test_builder(args.lifecycle_version)
    except (BuilderError, images.ImageBuildError) as error:
        print(f"builder_image: {error}", file=sys.stderr)
        return 1
    print(f"builder {built.builder}\nrun     {built.run_image}")
    print(f"(lifecycle {built.lifecycle_version}, {built.seconds:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
