"""Real parts shared by the benchmarks: a registry on 127.0.0.1, a busybox base image, container storage.

The registry and the base image come from `testkit.registry` (Debian's docker-registry as a host process on
a free 127.0.0.1 port; busybox-static committed with `buildah from scratch`): nothing is pulled from the network.
Every buildah/podman store a benchmark creates is a fresh directory ("a new pod") removed with `remove_store`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.harness import BenchError, Context, Skip, Timed, run_timed
from steps.common.contract import OUTPUTS_DIR_ENV
from steps.common.oci_layout import total_bytes
from testkit import reference

if TYPE_CHECKING:  # testkit.registry imports pytest: loaded only when a benchmark needs the registry
    from testkit.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
# Upstream sample descriptors through the tests' one locator (pinned, checksummed; ../shared or the fetched cache).
SAMPLE_WORKLOADS = reference.SAMPLE_WORKLOADS.path()
PYTHON = sys.executable


def require_tools(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise Skip(f"{', '.join(missing)} not installed")


@dataclass(frozen=True)
class Env:
    """The registry (`host` = 127.0.0.1:PORT, plain HTTP) and the base image reference in it."""

    registry_host: str
    base_ref: str
    registry: Registry


def registry_env(ctx: Context) -> Env:
    """Start (once per run) the registry and push the busybox base image to it."""

    def start() -> Env:
        require_tools("docker-registry", "buildah")
        if not Path("/bin/busybox").is_file():
            raise Skip("/bin/busybox (busybox-static) not installed")
        from testkit.registry import host_registry, make_busybox_base

        registry = ctx.stack.enter_context(host_registry(ctx.scratch("registry")))
        base = make_busybox_base(registry, ctx.scratch("base"))
        ctx.log(f"registry on {registry.host}, base image {base.ref}")
        return Env(registry.host, base.ref, registry)

    env = ctx.shared("registry", start)
    assert isinstance(env, Env)
    return env


def manifest_digest(env: Env, repo: str, tag: str) -> str:
    return env.registry.manifest_digest(repo, tag)


# --- container stores -------------------------------------------------------------------------------------------


def runroot(store: Path) -> Path:
    """The store's run root: a short path (podman refuses run roots longer than 50 characters)."""
    return Path("/run") / f"pack-bench-{hashlib.sha256(str(store).encode()).hexdigest()[:12]}"


def store_flags(store: Path) -> list[str]:
    """Global flags of buildah and podman for a store directory (`root/` inside it, run root in /run)."""
    return ["--storage-driver", "overlay", "--root", str(store / "root"), "--runroot", str(runroot(store))]


PODMAN_FLAGS = ["--cgroup-manager=cgroupfs", "--events-backend=file"]


def podman(store: Path) -> list[str]:
    return ["podman", *store_flags(store), *PODMAN_FLAGS]


def _unmount_under(path: Path) -> None:
    prefix = str(path) + "/"
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)


def remove_store(store: Path) -> None:
    """Remove a buildah/podman overlay store: containers and images first (unmounting layers), then the files.

    `podman system reset` is not used: on rootful podman it also removes networks in /etc/containers."""
    if (store / "root").exists():
        if (store / "root" / "libpod").exists() and shutil.which("podman"):
            subprocess.run([*podman(store), "rm", "--all", "--force"], capture_output=True, check=False)
            subprocess.run([*podman(store), "rmi", "--all", "--force"], capture_output=True, check=False)
        if shutil.which("buildah"):
            buildah = ["buildah", *store_flags(store)]
            subprocess.run([*buildah, "rm", "--all"], capture_output=True, check=False)
            subprocess.run([*buildah, "rmi", "--all", "--force"], capture_output=True, check=False)
    _unmount_under(store)
    _unmount_under(runroot(store))
    shutil.rmtree(runroot(store), ignore_errors=True)
    shutil.rmtree(store, ignore_errors=True)
    if store.exists():
        raise BenchError(f"could not remove the store {store}")


# --- our step programs ------------------------------------------------------------------------------------------


def step_env(extra: Mapping[str, str], outputs: Path) -> dict[str, str]:
    """The host environment minus anything a step reads, plus `extra` (a pod's env)."""
    step_vars = {
        "IMAGE_NAME", "IMAGE_TAG", "GIT_REVISION", "DOCKER_CONTEXT", "DOCKERFILE_PATH", "BUILD_ARGS", "BUILD_ENV",
        "BUILD_CACHE_REPO", "REGISTRY_TLS_VERIFY", "SOURCE_DIR", "IMAGE_ARCHIVE", "BUILDAH_STORAGE_DIR",
        "REGISTRY_AUTH_FILE", "REGISTRY_CA_DIR", "REGISTRY", "PUBLISH_RETRIES", "PUBLISH_RETRY_DELAY",
        "PUBLISH_TIMEOUT", "LAYER_COMPRESSION", "IMAGE_HANDOFF_FORMAT",
    }  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key not in step_vars}
    env["PYTHONPATH"] = str(ROOT)
    env[OUTPUTS_DIR_ENV] = str(outputs)
    # REGISTRY_AUTH_FILE / REGISTRY_CA_DIR stay unset: their defaults under /etc/secrets do not exist on the host,
    # as in a pod without the optional secrets (buildah itself also reads REGISTRY_AUTH_FILE, so never point it
    # at a missing file).
    env.update(extra)
    return env


def steps_available() -> tuple[bool, bool]:
    """(build step, publish step) programs exist in this checkout."""
    return (ROOT / "steps/build/__main__.py").is_file(), (ROOT / "steps/publish_image/__main__.py").is_file()


@dataclass(frozen=True)
class BuildResult:
    timed: Timed
    bud_seconds: float  # the `buildah bud` part, from the step's own log lines
    archive: Path

    @property
    def archive_seconds(self) -> float:
        """Everything after bud: buildah push to the OCI layout (or archive), digest check, rename."""
        built = self.timed.first("] built ")
        return self.timed.seconds - built if built is not None else 0.0

    def phases(self) -> dict[str, float]:
        """Wall-clock split of the step from its own log lines (arrival times): `start-up` (interpreter, input
        checks), `base` (FROM: pulling the base image), `steps` (the Dockerfile's other instructions, with
        `cache-pull` = STEP line to "Cache pulled from remote" summed over the hits, key computation included, and
        `cache-push` = "Pushing cache" to the next buildah line), `commit` (COMMIT to bud's end) and `archive`."""
        timed = self.timed
        building, second, commit, built = (
            timed.first("] building "),
            timed.first("] STEP 2/"),
            timed.first("] COMMIT "),
            timed.first("] built "),
        )
        if building is None or built is None:
            return {}
        cache_pull = cache_push = 0.0
        step_started: float | None = None
        push_started: float | None = None
        for at, line in timed.lines:
            if "--> Pushing cache" in line:
                push_started = at
            elif push_started is not None and "] --> " in line:
                cache_push += at - push_started
                push_started = None
            if "] STEP " in line:
                step_started = at
            elif "--> Cache pulled from remote" in line and step_started is not None:
                cache_pull += at - step_started
        second = second if second is not None else built
        commit = commit if commit is not None else built
        return {
            "start-up": building,
            "base": second - building,
            "steps": commit - second,
            "cache-pull": cache_pull,
            "cache-push": cache_push,
            "commit": built - commit,
            "archive": timed.seconds - built,
        }

    @property
    def cache_hits(self) -> int:
        return self.timed.count("Using cache")

    @property
    def build_steps(self) -> int:
        return sum(1 for _, line in self.timed.lines if "] STEP " in line)


def run_build_step(
    *,
    source: Path,
    store: Path,
    archive: Path,
    image_name: str,
    revision: str,
    outputs: Path,
    cache_repo: str = "",
    extra: Mapping[str, str] | None = None,
) -> BuildResult:
    """`python -m steps.build` as the build-image pod runs it (overlay store on a volume, chroot isolation)."""
    cache_auth: dict[str, str] = {}
    if cache_repo:  # pushing the cache is opted into by a Secret; this local registry takes anonymous pushes
        auth_file = store / "cache-push" / ".dockerconfigjson"
        auth_file.parent.mkdir(parents=True, exist_ok=True)
        auth_file.write_text('{"auths": {}}', encoding="utf-8")
        cache_auth["BUILD_CACHE_AUTH_FILE"] = str(auth_file)
    env = step_env(
        {
            "IMAGE_NAME": image_name,
            "IMAGE_TAG": "v1",
            "GIT_REVISION": revision,
            "SOURCE_DIR": str(source),
            "DOCKER_CONTEXT": ".",
            "DOCKERFILE_PATH": "./Dockerfile",
            "BUILDAH_STORAGE_DIR": str(store / "root"),
            "IMAGE_ARCHIVE": str(archive),
            "REGISTRY_TLS_VERIFY": "false",
            "BUILD_CACHE_REPO": cache_repo,
            "BUILD_ISOLATION": "none",  # a host process, no user namespace: opted out explicitly
            **cache_auth,
            **(extra or {}),
        },
        outputs,
    )
    timed = run_timed([PYTHON, "-m", "steps.build"], env=env, cwd=ROOT)
    start, end = timed.first("] building "), timed.first("] built ")
    if start is None or end is None:
        raise BenchError(f"steps.build printed no 'building'/'built' lines:\n{timed.tail()}")
    return BuildResult(timed, end - start, archive)


def run_publish_step(
    *,
    archive: Path,
    registry: str,
    image_name: str,
    revision: str,
    outputs: Path,
    extra: Mapping[str, str] | None = None,
) -> Timed:
    """`python -m steps.publish_image`: skopeo copy of the archive to the registry."""
    env = step_env(
        {
            "REGISTRY": registry,
            "IMAGE_NAME": image_name,
            "IMAGE_TAG": "v1",
            "GIT_REVISION": revision,
            "IMAGE_ARCHIVE": str(archive),
            "REGISTRY_TLS_VERIFY": "false",
            "PUBLISH_RETRIES": "0",
            **(extra or {}),
        },
        outputs,
    )
    return run_timed([PYTHON, "-m", "steps.publish_image"], env=env, cwd=ROOT)


def read_output(outputs: Path, name: str) -> str:
    path = outputs / name
    if not path.is_file():
        raise BenchError(f"output parameter {name} not written to {outputs}")
    return path.read_text().strip()


def mib(path: Path) -> float:
    """The size of a file, or of every file in a directory (an OCI layout, also through a link)."""
    return total_bytes(path) / (1024 * 1024)
