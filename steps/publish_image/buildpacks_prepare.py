"""`prepare-buildpacks`: the init container of the buildpacks `build-image` templates.

The CNB lifecycle (`creator -layout`) reads and writes images in an OCI layout tree whose paths it derives from
image references (`<layout dir>/<registry>/<repository>/<tag>` or `.../sha256/<hex>`), and it takes build-time
environment from files `<platform dir>/env/<NAME>`. This program prepares both, with no shell in the template:

1. checks every input first (app path inside the source root, the build-env JSON, the image references);
2. writes `<platform>/env/<NAME>` (file content = value, no newline added) for each build-env entry;
3. copies the run image into the layout at the path the lifecycle will look it up (skopeo, with retries);
4. points IMAGE_ARCHIVE (/mnt/vol/app-image.tar) at the layout path the lifecycle will export the app image to,
   so publish-image pushes it exactly as it pushes the other pipelines' images (an OCI layout directory).

Run as `python -m steps.publish_image.buildpacks_prepare` in the publish-image image (which has skopeo).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar, Literal

from steps.common import contract
from steps.common.cli import Option, StepOptions, parse_bool, run_step
from steps.common.log import StepError, StepLogger

PROG = "python -m steps.publish_image.buildpacks_prepare"
DESCRIPTION = "Prepare the platform env dir and the OCI layout for the CNB lifecycle (buildpacks build-image)."
STEP = "prepare-buildpacks"

OPTIONS: list[Option] = [
    Option("app_path", ("--app-path",), "APP_PATH", "application directory under the source root", default="."),
    Option("build_env", ("--build-env",), "BUILD_ENV", 'JSON list of {"name","value"} for the build', default="[]"),
    Option("run_image", ("--run-image",), "CNB_RUN_IMAGE", "run image to copy into the layout", required=True),
    Option("output_image", ("--output-image",), "CNB_OUTPUT_IMAGE", "image the lifecycle exports", required=True),
    Option("layout_dir", ("--layout-dir",), "CNB_LAYOUT_DIR", "the lifecycle's OCI layout root", required=True),
    Option("platform_dir", ("--platform-dir",), "CNB_PLATFORM_DIR", "the lifecycle's platform dir", required=True),
    Option("source_dir", ("--source-dir",), "SOURCE_DIR", "checked-out source root", default=contract.SOURCE_DIR),
    Option("archive", ("--archive",), "IMAGE_ARCHIVE", "what publish-image pushes", default=contract.IMAGE_ARCHIVE),
    Option("tls_verify", ("--tls-verify",), "RUN_IMAGE_TLS_VERIFY", "verify the run image's registry", default="true"),
    Option("retries", ("--retries",), "RUN_IMAGE_RETRIES", "attempts for transient pull failures", default="3"),
    Option("auth_file", ("--auth-file",), "REGISTRY_AUTH_FILE", "docker config JSON for the run image", default=""),
]


# The option names, checked by mypy where a name is passed as text (`PrepareOptions.label("...")`).
PrepareOptionName = Literal[
    "app_path",
    "build_env",
    "run_image",
    "output_image",
    "layout_dir",
    "platform_dir",
    "source_dir",
    "archive",
    "tls_verify",
    "retries",
    "auth_file",
]


@dataclass(frozen=True)
class PrepareOptions(StepOptions[PrepareOptionName]):
    """The buildpacks prepare options, typed (fields = the dests of `OPTIONS`)."""

    OPTIONS: ClassVar[Sequence[Option]] = OPTIONS

    app_path: str
    build_env: str
    run_image: str
    output_image: str
    layout_dir: str
    platform_dir: str
    source_dir: str
    archive: str
    tls_verify: str
    retries: str
    auth_file: str


_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# go-containerregistry's reference grammar, as far as the layout path depends on it.
_REPO_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
DOCKER_HUB = "index.docker.io"


def layout_path(reference: str, field: str) -> PurePosixPath:
    """The path under the layout dir where the lifecycle (imgutil `layout.ParseRefToPath`) keeps `reference`:
    `<registry>/<repository>/<tag>` or `<registry>/<repository>/sha256/<hex>` (a digest wins over a tag), with
    Docker Hub's defaults (`index.docker.io`, `library/`, tag `latest`) applied."""
    ref = reference.strip()
    name, _, digest = ref.partition("@")
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    if digest and not _DIGEST_RE.fullmatch(digest):
        raise StepError(f"{field}: {reference!r}: digest must be sha256:<64 hex>", contract.EXIT_USAGE)
    if tag and not _TAG_RE.fullmatch(tag):
        raise StepError(f"{field}: {reference!r}: invalid tag {tag!r}", contract.EXIT_USAGE)
    parts = name.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        registry, repo_parts = first, parts[1:]
    else:
        registry, repo_parts = DOCKER_HUB, parts
    if registry in ("docker.io", "registry-1.docker.io"):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and len(repo_parts) == 1:
        repo_parts = ["library", *repo_parts]
    if not repo_parts or not all(_REPO_COMPONENT_RE.fullmatch(p) for p in repo_parts):
        raise StepError(f"{field}: {reference!r} is not an image reference", contract.EXIT_USAGE)
    if digest:
        algorithm, hex_digest = digest.split(":", 1)
        return PurePosixPath(registry, *repo_parts, algorithm, hex_digest)
    return PurePosixPath(registry, *repo_parts, tag or "latest")


def parse_build_env(raw: str, field: str) -> list[tuple[str, str]]:
    """A JSON list of {"name": ..., "value": ...}; errors name the field and the entry index."""
    try:
        data = json.loads(raw.strip() or "[]")
    except ValueError as error:
        raise StepError(f"{field}: not valid JSON ({error})", contract.EXIT_USAGE) from None
    if not isinstance(data, list):
        raise StepError(f'{field}: expected a JSON list of {{"name", "value"}} objects', contract.EXIT_USAGE)
    pairs: list[tuple[str, str]] = []
    for index, entry in enumerate(data):
        where = f"{field}[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"name", "value"}:
            raise StepError(f'{where}: expected an object with only "name" and "value"', contract.EXIT_USAGE)
        name, value = entry.get("name"), entry.get("value", "")
        if not isinstance(name, str) or not _ENV_NAME_RE.fullmatch(name):
            raise StepError(f"{where}.name: {name!r} is not a valid variable name", contract.EXIT_USAGE)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise StepError(f"{where}.value: expected a string, got {json.dumps(value)}", contract.EXIT_USAGE)
        if name in {n for n, _ in pairs}:
            raise StepError(f"{where}.name: {name!r} is given twice", contract.EXIT_USAGE)
        pairs.append((name, value if isinstance(value, str) else json.dumps(value)))
    return pairs


@dataclass(frozen=True)
class Plan:
    app_dir: Path
    build_env: list[tuple[str, str]]
    run_image: str
    layout_dir: Path
    run_image_dir: Path
    app_image_dir: Path
    platform_env_dir: Path
    archive: Path
    tls_verify: bool
    retries: int
    auth_file: Path | None  # None: pull anonymously (the optional Secret is absent)


def plan(opts: PrepareOptions) -> Plan:
    source = Path(opts.source_dir)
    relative = opts.app_path.strip().lstrip("/") or "."  # OpenChoreo joins "$WORKDIR/$APP_PATH"
    app_dir = (source / relative).resolve()
    if app_dir != source.resolve() and source.resolve() not in app_dir.parents:
        raise StepError(f"{opts.label('app_path')}: {opts.app_path!r} is outside the source root", contract.EXIT_USAGE)
    if not app_dir.is_dir():
        raise StepError(f"{opts.label('app_path')}: {app_dir} is not a directory in the checked-out source")
    layout = Path(opts.layout_dir)
    try:
        retries = int(opts.retries)
    except ValueError:
        raise StepError(f"{opts.label('retries')}: expected an integer", contract.EXIT_USAGE) from None
    return Plan(
        app_dir=app_dir,
        build_env=parse_build_env(opts.build_env, opts.label("build_env")),
        run_image=opts.run_image.strip(),
        layout_dir=layout,
        run_image_dir=layout / layout_path(opts.run_image, opts.label("run_image")),
        app_image_dir=layout / layout_path(opts.output_image, opts.label("output_image")),
        platform_env_dir=Path(opts.platform_dir) / "env",
        archive=Path(opts.archive),
        tls_verify=parse_bool(opts.tls_verify, field=opts.label("tls_verify")),
        retries=max(1, retries),
        auth_file=Path(opts.auth_file) if opts.auth_file and Path(opts.auth_file).is_file() else None,
    )


def write_platform_env(p: Plan, log: StepLogger) -> None:
    p.platform_env_dir.mkdir(parents=True, exist_ok=True)
    for name, value in p.build_env:
        (p.platform_env_dir / name).write_text(value, encoding="utf-8")
    if p.build_env:
        log.info(f"build env for the buildpacks: {', '.join(n for n, _ in p.build_env)} in {p.platform_env_dir}")


def copy_run_image(p: Plan, log: StepLogger) -> None:
    """skopeo copy into a scratch directory next to the target, then rename: skopeo's `oci:PATH[:REF]` cannot
    name a path with a colon, which every `host:port` registry puts into the lifecycle's layout path."""
    if p.run_image_dir.exists():
        shutil.rmtree(p.run_image_dir)
    p.run_image_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".run-image-", dir=p.layout_dir))
    argv = [
        "skopeo", "--tmpdir", tempfile.gettempdir(), "copy", "--retry-times", "0",
        f"--src-tls-verify={'true' if p.tls_verify else 'false'}",
        *([f"--src-authfile={p.auth_file}"] if p.auth_file else []),
        f"docker://{p.run_image}", f"oci:{scratch / 'image'}",
    ]  # fmt: skip
    started = time.monotonic()
    try:
        for attempt in range(1, p.retries + 1):
            result = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
            if result.returncode == 0:
                os.replace(scratch / "image", p.run_image_dir)
                auth = f"credentials from {p.auth_file}" if p.auth_file else "anonymous"
                log.info(f"run image {p.run_image} ({auth}) -> {p.run_image_dir} in {time.monotonic() - started:.1f}s")
                return
            message = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            if attempt == p.retries:
                field = PrepareOptions.label("run_image")
                raise StepError(f"{field}: cannot copy {p.run_image}: {message}", contract.EXIT_TRANSIENT)
            log.warning(f"attempt {attempt}/{p.retries} to copy the run image failed: {message}; retrying")
            time.sleep(min(5 * 2 ** (attempt - 1), 60))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def link_archive(p: Plan, log: StepLogger) -> None:
    """IMAGE_ARCHIVE -> the app image's layout path (relative, so it resolves in every container that mounts
    the workspace at the same place). The lifecycle writes through the link."""
    if p.archive.is_symlink() or p.archive.is_file():
        p.archive.unlink()
    elif p.archive.is_dir():
        shutil.rmtree(p.archive)
    if p.app_image_dir.exists():
        shutil.rmtree(p.app_image_dir)
    p.app_image_dir.mkdir(parents=True)
    p.archive.symlink_to(os.path.relpath(p.app_image_dir, p.archive.parent))
    log.info(f"the lifecycle exports to {p.app_image_dir}; publish-image reads it as {p.archive}")


def main(log: StepLogger, argv: Sequence[str] | None = None) -> int:
    p = plan(PrepareOptions.parse(PROG, DESCRIPTION, argv))  # every check before any side effect
    write_platform_env(p, log)
    copy_run_image(p, log)
    link_archive(p, log)
    log.info(f"app directory {p.app_dir}")
    return contract.EXIT_OK


if __name__ == "__main__":
    sys.exit(run_step(STEP, main))
