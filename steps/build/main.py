"""build-image: build the Dockerfile/Containerfile with buildah and hand the image over as an OCI archive.

`buildah bud` (overlay storage, chroot isolation, --layers) builds `<image-name>:<image-tag>-<git-revision>`;
`buildah push ... oci-archive:` writes it to a temp file next to the archive path, renamed into place only when
complete. The `image-digest` output is the archived manifest's digest, which the registry reports unchanged after
publish-image pushes the archive with skopeo.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from steps.build.options import OPTIONS
from steps.common.cli import option_label, parse_bool, parse_options
from steps.common.contract import EXIT_FAILURE, EXIT_TRANSIENT, EXIT_USAGE, OUT_IMAGE_DIGEST
from steps.common.imageref import DIGEST_RE, image_tag, validate_image_name
from steps.common.log import StepError, StepLogger
from steps.common.outputs import Outputs

PROG = "python -m steps.build"
DESCRIPTION = "Build <image-name>:<image-tag>-<git-revision> with buildah and write it as an OCI archive."
BUILDAH = "buildah"
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOCKERFILE_LIKE = re.compile(r"(?i)^(?:docker|container)file(?:[._-].*)?$|.*\.(?:docker|container)file$")
_SKIP_DIRS = {".git", "node_modules", ".venv", "vendor", "__pycache__", "target", "dist", "build"}
_TAIL_LINES = 40


def _field(dest: str) -> str:
    return option_label(OPTIONS, dest)


# --- inputs -----------------------------------------------------------------------------------------------------


def _relative(value: str) -> str:
    """OpenChoreo joins "$WORKDIR/$PATH", so a leading '/' still means "under the source root"."""
    return value.strip().lstrip("/") or "."


def resolve_under(root: Path, value: str, field: str) -> Path:
    """`root/value` with symlinks resolved; it must stay inside `root`."""
    candidate = (root / _relative(value)).resolve()
    if candidate != root and root not in candidate.parents:
        raise StepError(f"{field}: {value!r} resolves outside the source root {root}", EXIT_USAGE)
    return candidate


def dockerfile_candidates(root: Path, limit: int = 10, max_depth: int = 4) -> list[str]:
    """Dockerfile-like files under the source root, for the hint when the given path does not exist."""
    found: list[str] = []
    for directory, dirnames, filenames in os.walk(root):
        depth = len(Path(directory).relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and depth < max_depth)
        for filename in sorted(filenames):
            if _DOCKERFILE_LIKE.match(filename):
                found.append(str((Path(directory) / filename).relative_to(root)))
                if len(found) >= limit:
                    return found
    return found


def _hint(root: Path) -> str:
    candidates = dockerfile_candidates(root)
    if not candidates:
        return f"; no Dockerfile or Containerfile found under {root}"
    return "; Dockerfile-like files found: " + ", ".join(candidates)


def parse_pairs(raw: str, field: str) -> list[tuple[str, str]]:
    """A JSON list of {"name": ..., "value": ...}; errors name the field and the entry index."""
    text = raw.strip() or "[]"
    try:
        data = json.loads(text)
    except ValueError as error:
        raise StepError(f"{field}: not valid JSON ({error})", EXIT_USAGE) from None
    if not isinstance(data, list):
        raise StepError(f'{field}: expected a JSON list of {{"name", "value"}} objects, got {type(data).__name__}')
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, entry in enumerate(data):
        where = f"{field}[{index}]"
        if not isinstance(entry, dict):
            raise StepError(f'{where}: expected an object {{"name", "value"}}, got {type(entry).__name__}', EXIT_USAGE)
        unknown = sorted(set(entry) - {"name", "value"})
        if unknown:
            raise StepError(f"{where}: unknown key(s) {', '.join(unknown)}; only name and value", EXIT_USAGE)
        name, value = entry.get("name"), entry.get("value", "")
        if not isinstance(name, str) or not _ENV_NAME_RE.fullmatch(name):
            raise StepError(f"{where}.name: {name!r} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)", EXIT_USAGE)
        if isinstance(value, bool) or value is None:
            raise StepError(f"{where}.value: expected a string, got {json.dumps(value)}", EXIT_USAGE)
        if isinstance(value, int | float):
            value = json.dumps(value)
        if not isinstance(value, str):
            raise StepError(f"{where}.value: expected a string, got {type(value).__name__}", EXIT_USAGE)
        if "\x00" in value:
            raise StepError(f"{where}.value: contains a NUL character, which no process argument can hold", EXIT_USAGE)
        if name in seen:
            raise StepError(f"{where}.name: {name!r} is given twice", EXIT_USAGE)
        seen.add(name)
        pairs.append((name, value))
    return pairs


@dataclass(frozen=True)
class BuildPlan:
    image: str  # <name>:<tag>
    name: str
    tag: str
    source: Path
    context: Path
    dockerfile: Path
    archive: Path
    storage: Path
    build_args: list[tuple[str, str]]
    build_env: list[tuple[str, str]]
    cache_repo: str
    tls_verify: bool
    auth_file: Path | None
    ca_dir: Path | None


def plan(values: dict[str, str | bool | None]) -> BuildPlan:
    def text(dest: str) -> str:
        value = values[dest]
        return value if isinstance(value, str) else ""

    name = validate_image_name(text("image_name"), _field("image_name"))
    tag = image_tag(text("image_tag"), text("git_revision"), _field("image_tag"), _field("git_revision"))
    source_field = _field("source_dir")
    source = Path(text("source_dir")).resolve()
    if not source.is_dir():
        raise StepError(f"{source_field}: source directory {source} does not exist; did checkout-source run?")
    context = resolve_under(source, text("context"), _field("context"))
    if not context.is_dir():
        what = "is a file, not a directory" if context.exists() else "does not exist"
        raise StepError(f"{_field('context')}: build context {text('context')!r} ({context}) {what}", EXIT_USAGE)
    dockerfile = resolve_under(source, text("dockerfile"), _field("dockerfile"))
    if not dockerfile.is_file():
        what = "is a directory" if dockerfile.is_dir() else "not found"
        raise StepError(
            f"{_field('dockerfile')}: {text('dockerfile')!r} {what} under the source root{_hint(source)}", EXIT_USAGE
        )
    archive = Path(text("archive")).absolute()
    if ":" in str(archive):
        raise StepError(f"{_field('archive')}: {archive} contains ':', which the oci-archive transport cannot take")
    if archive.is_dir():
        raise StepError(f"{_field('archive')}: {archive} is a directory")
    cache_repo = text("cache_repo").strip()
    if cache_repo and (("://" in cache_repo) or "@" in cache_repo or cache_repo.count(":") > 1):
        raise StepError(
            f"{_field('cache_repo')}: {cache_repo!r} must be host[:port]/repository (no scheme, tag or credentials)",
            EXIT_USAGE,
        )
    auth = Path(text("auth_file")) if text("auth_file") else None
    ca_dir = Path(text("ca_dir")) if text("ca_dir") else None
    return BuildPlan(
        image=f"{name}:{tag}",
        name=name,
        tag=tag,
        source=source,
        context=context,
        dockerfile=dockerfile,
        archive=archive,
        storage=Path(text("storage_dir")).absolute(),
        build_args=parse_pairs(text("build_args"), _field("build_args")),
        build_env=parse_pairs(text("build_env"), _field("build_env")),
        cache_repo=cache_repo,
        tls_verify=parse_bool(text("tls_verify"), field=_field("tls_verify")),
        auth_file=auth if auth is not None and auth.is_file() else None,
        ca_dir=ca_dir if ca_dir is not None and ca_dir.is_dir() else None,
    )


# --- buildah ----------------------------------------------------------------------------------------------------


def local_ref(image: str) -> str:
    """The name buildah stores a locally built image under."""
    return f"localhost/{image}"


def global_args(storage: Path, runroot: Path) -> list[str]:
    return [BUILDAH, "--storage-driver", "overlay", "--root", str(storage), "--runroot", str(runroot)]


def bud_argv(p: BuildPlan, runroot: Path) -> list[str]:
    """One argv entry per value: build-arg/env values may hold any character, newlines and quotes included."""
    argv = [*global_args(p.storage, runroot), "bud", "--isolation", "chroot", "--layers"]
    # Fully qualified: without a registries.conf short-name setup, buildah cannot find "name:tag" again.
    argv += ["-f", str(p.dockerfile), "-t", local_ref(p.image)]
    for name, value in p.build_args:
        argv += ["--build-arg", f"{name}={value}"]
    for name, value in p.build_env:
        argv += ["--env", f"{name}={value}"]
    if p.cache_repo:
        argv += ["--cache-from", p.cache_repo, "--cache-to", p.cache_repo]
    argv.append(f"--tls-verify={'true' if p.tls_verify else 'false'}")
    if p.ca_dir is not None:
        argv += ["--cert-dir", str(p.ca_dir)]
    if p.auth_file is not None:
        argv += ["--authfile", str(p.auth_file)]
    argv.append(str(p.context))
    return argv


def stream(argv: Sequence[str], log: StepLogger, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Run argv, copying its output line by line to the log; return the exit code and the last lines."""
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    try:
        process = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
            errors="replace",
        )
    except FileNotFoundError:
        raise StepError(f"{argv[0]} not found on PATH; this step needs buildah") from None
    assert process.stdout is not None
    with process:
        for raw in process.stdout:
            line = raw.rstrip("\n")
            tail.append(line)
            log.info(line)
    return process.returncode, list(tail)


_ERROR_LINE = re.compile(r"^(?:Error: |error |time=\S+ level=(?:error|fatal) )", re.IGNORECASE)
_TRANSIENT_RE = re.compile(
    r"connection refused|connection reset|broken pipe|i/o timeout|tls handshake timeout|deadline exceeded"
    r"|temporary failure in name resolution|server misbehaving|network is unreachable|unexpected eof|\beof\b"
    r"|(?:status code from registry|unexpected http status:?|statuscode:?|status code:?)\s*(?:5\d\d|429|408)"
    r"|\b(?:500|502|503|504) (?:internal server error|bad gateway|service unavailable|gateway timeout)"
    r"|too many requests",
    re.IGNORECASE,
)
_REGISTRY_CONTEXT_RE = re.compile(
    r"initializing source|pulling image|pinging container registry|reading manifest|reading blob|"
    r"trying to reuse blob|copying (?:system image|config|blob)|cache|docker://|creating build container|"
    r"writing blob|uploading|/v2/",
    re.IGNORECASE,
)


def error_lines(tail: Sequence[str]) -> list[str]:
    return [line for line in tail if _ERROR_LINE.match(line.strip())]


def failure_reason(tail: Sequence[str], code: int) -> str:
    """buildah's last error line without its "Error: " prefix (else the last output line)."""
    errors = error_lines(tail)
    if errors:
        return re.sub(r"^(?:Error: |error )", "", errors[-1].strip(), flags=re.IGNORECASE)
    return tail[-1].strip() if tail else f"exit status {code}"


def is_transient(tail: Sequence[str]) -> bool:
    """A failed build is transient only if buildah's own error line is about a registry (base image or cache)
    and names a network error, 5xx or 429. A RUN step that fails (whatever it printed) is the user's error."""
    errors = error_lines(tail)
    if not errors:
        return False
    final = errors[-1]
    if "building at step" in final.lower() and "while running runtime" in final.lower():
        return False
    return bool(_TRANSIENT_RE.search(final) and _REGISTRY_CONTEXT_RE.search(final))


def archive_digest(archive: Path) -> str:
    """The manifest digest recorded in an OCI archive's index.json (exactly one image)."""
    with tarfile.open(archive, mode="r:") as tar:
        member = tar.getmember("index.json")
        handle = tar.extractfile(member)
        if handle is None:
            raise StepError(f"{archive}: index.json is not a file")
        index = json.loads(handle.read())
    manifests = index.get("manifests") or []
    if len(manifests) != 1 or not DIGEST_RE.fullmatch(str(manifests[0].get("digest", ""))):
        raise StepError(f"{archive}: expected one image in index.json, found {len(manifests)}")
    return str(manifests[0]["digest"])


def build(p: BuildPlan, log: StepLogger) -> str:
    """Run bud and push; return the archived manifest digest. The archive appears only when complete."""
    p.storage.mkdir(parents=True, exist_ok=True)
    p.archive.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("BUILDAH_ISOLATION", "chroot")
    # buildah reads REGISTRY_AUTH_FILE itself and fails when it names a missing file; the step passes the file
    # explicitly (--authfile) only when the optional secret is mounted.
    env.pop("REGISTRY_AUTH_FILE", None)
    with tempfile.TemporaryDirectory(prefix="buildah-runroot-") as runroot_dir:
        runroot = Path(runroot_dir)
        log.info(
            f"building {p.image} from {p.dockerfile.relative_to(p.source)} "
            f"(context {p.context.relative_to(p.source) if p.context != p.source else '.'}"
            f"{', cache ' + p.cache_repo if p.cache_repo else ''})"
        )
        started = time.monotonic()
        code, tail = stream(bud_argv(p, runroot), log, env)
        if code != 0:
            reason = failure_reason(tail, code)
            if is_transient(tail):
                raise StepError(f"build of {p.image} failed on a registry error (transient): {reason}", EXIT_TRANSIENT)
            raise StepError(f"build of {p.image} failed: {reason}", EXIT_FAILURE)
        log.info(f"built {p.image} in {time.monotonic() - started:.1f}s")

        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.archive.name}.", suffix=".tmp", dir=p.archive.parent)
        os.close(fd)
        tmp_archive = Path(tmp_name)
        digest_file = runroot / "digest"
        try:
            tmp_archive.unlink()  # buildah creates the archive itself
            push_argv = [
                *global_args(p.storage, runroot),
                "push",
                "--quiet",
                "--digestfile",
                str(digest_file),
                local_ref(p.image),
                f"oci-archive:{tmp_archive}:{p.image}",
            ]
            code, tail = stream(push_argv, log, env)
            if code != 0:
                raise StepError(f"writing the OCI archive failed: {failure_reason(tail, code)}", EXIT_FAILURE)
            digest = digest_file.read_text().strip() if digest_file.is_file() else ""
            archived = archive_digest(tmp_archive)
            if digest and digest != archived:
                raise StepError(f"buildah reported digest {digest} but the archive holds {archived}")
            os.replace(tmp_archive, p.archive)
        finally:
            tmp_archive.unlink(missing_ok=True)
    return archived


def remove_stale_archive(value: str | bool | None, log: StepLogger) -> None:
    """An archive left by an earlier run goes first: a failed build must leave no archive behind."""
    if isinstance(value, str) and value and Path(value).is_file():
        log.info(f"removing the previous archive {value}")
        Path(value).unlink()


def main(log: StepLogger, argv: Sequence[str] | None = None) -> int:
    values = parse_options(PROG, DESCRIPTION, OPTIONS, argv)
    remove_stale_archive(values["archive"], log)
    build_plan = plan(values)
    digest = build(build_plan, log)
    outputs = Outputs()
    outputs.set(OUT_IMAGE_DIGEST, digest)
    outputs.commit()
    size_mib = build_plan.archive.stat().st_size / (1024 * 1024)
    log.info(f"wrote {build_plan.archive} ({size_mib:.1f} MiB), {build_plan.image}@{digest}")
    return 0
