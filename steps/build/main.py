"""build-image: build the Dockerfile/Containerfile with buildah and hand the image over on the workspace.

`buildah bud` (overlay storage, chroot isolation, --layers) builds `<image-name>:<image-tag>-<git-revision>`.
The hand-off (`handoff-format`):
  * `oci-layout` (default): `buildah push ... oci:` writes an OCI layout directory next to the archive path
    (`app-image.tar` -> `app-image.oci/`), and the archive path becomes a link to it, as the buildpacks pipelines'
    hand-off is. Each layer is written once, compressed, and publish-image streams it from there: no tar wraps
    the layout and skopeo unpacks none (two full copies of every layer fewer than an archive);
  * `oci-archive`: `buildah push ... oci-archive:` writes one tar file at the archive path, for a platform's own
    publish step that loads a file (`podman load` names the image from it).
Either is written under a temp name and moved into place only when complete. The `image-digest` output is the
handed-off manifest's digest, which the registry reports unchanged after publish-image pushes it with skopeo.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from steps.build import avoidance
from steps.build.options import (
    HANDOFF_ARCHIVE,
    HANDOFF_FORMATS,
    HANDOFF_LAYOUT,
    ISOLATION_USER_NAMESPACE,
    ISOLATIONS,
    PRESET_REACT,
    PRESETS,
    BuildOptions,
)
from steps.common.cli import parse_bool
from steps.common.compression import GZIP, layer_compression
from steps.common.contract import EXIT_FAILURE, EXIT_TRANSIENT, EXIT_USAGE, OUT_IMAGE_DIGEST
from steps.common.imageref import DIGEST_RE, image_tag, validate_image_name
from steps.common.log import StepError, StepLogger
from steps.common.oci_layout import read_member, total_bytes
from steps.common.outputs import Outputs

PROG = "python -m steps.build"
DESCRIPTION = "Build <image-name>:<image-tag>-<git-revision> with buildah and hand it over as an OCI layout or archive."
BUILDAH = "buildah"
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOCKERFILE_LIKE = re.compile(r"(?i)^(?:docker|container)file(?:[._-].*)?$|.*\.(?:docker|container)file$")
_SKIP_DIRS = {".git", "node_modules", ".venv", "vendor", "__pycache__", "target", "dist", "build"}
_TAIL_LINES = 40


# --- isolation ------------------------------------------------------------------------------------------------

_FULL_RANGE = 4294967295


def in_user_namespace(uid_map: str) -> bool:
    """False for the initial user namespace, whose uid_map is the one line `0 0 4294967295`."""
    rows = [line.split() for line in uid_map.splitlines() if line.strip()]
    return bool(rows) and not any(row[:3] == ["0", "0", str(_FULL_RANGE)] for row in rows)


def check_isolation(isolation: str, uid_map_file: str, log: StepLogger) -> None:
    """The build runs a repository's RUN steps as root with SYS_ADMIN: refuse to do so as the node's real root.

    `hostUsers: false` is silently ignored by clusters older than 1.33 or without user-namespace support, so the
    step checks where it actually runs instead of trusting the pod spec."""
    field = BuildOptions.label("isolation")
    if isolation not in ISOLATIONS:
        raise StepError(f"{field}: {isolation!r} is not one of {', '.join(ISOLATIONS)}", EXIT_USAGE)
    if isolation != ISOLATION_USER_NAMESPACE:
        log.info(f"isolation {isolation}: the user-namespace check is off (the platform chose this isolation)")
        return
    try:
        text = Path(uid_map_file).read_text(encoding="ascii", errors="replace")
    except OSError as error:
        raise StepError(
            f"{field}: cannot read {uid_map_file} to check for a user namespace ({error.strerror}); "
            "set isolation to privileged or none if this platform isolates builds another way",
            EXIT_USAGE,
        ) from None
    if not in_user_namespace(text):
        raise StepError(
            f"{field}: not running in a user namespace ({uid_map_file} maps uid 0 to the node's uid 0), so the "
            "build would run the repository's RUN steps as the node's real root with SYS_ADMIN. The pod's "
            "hostUsers: false was ignored: the cluster needs Kubernetes >= 1.33 with user namespaces on the "
            "nodes. Otherwise choose another isolation explicitly (pack setting build.isolation / parameter "
            "isolation: privileged as OpenChoreo's own templates, or none for sandboxed runtimes)",
            EXIT_USAGE,
        )
    log.info("isolation user-namespace: running in a user namespace")


# --- presets --------------------------------------------------------------------------------------------------

# A static web app: install with the lock file's package manager, `run build`, serve build/ with nginx (SPA
# fallback to index.html). Base images are build arguments so a platform can point them at a mirror.
REACT_DOCKERFILE = """\
ARG NODE_VERSION=18
ARG NODE_IMAGE=docker.io/library/node
ARG NGINX_IMAGE=docker.io/library/nginx:alpine
FROM ${NODE_IMAGE}:${NODE_VERSION}-alpine AS app
WORKDIR /app
COPY . .
RUN if [ -f package-lock.json ]; then npm ci; \\
    elif [ -f yarn.lock ]; then yarn install --frozen-lockfile; \\
    elif [ -f pnpm-lock.yaml ]; then npm install -g pnpm && pnpm install --frozen-lockfile; \\
    else echo "no lock file (package-lock.json, yarn.lock or pnpm-lock.yaml) in the app directory" >&2; exit 1; fi
RUN if [ -f pnpm-lock.yaml ]; then pnpm run build; elif [ -f yarn.lock ]; then yarn run build; else npm run build; fi
FROM ${NGINX_IMAGE}
COPY --from=app /app/build /usr/share/nginx/html/
RUN printf '%s\\n' 'server {' '  listen 80;' '  location / {' '    root /usr/share/nginx/html;' \\
    '    index index.html;' '    try_files $uri /index.html;' '  }' '}' > /etc/nginx/conf.d/default.conf
EXPOSE 80
"""
_NODE_VERSION_RE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,4}){0,2}")


def write_preset_dockerfile(preset: str, directory: Path) -> Path:
    """The preset's Dockerfile in a private directory: the checked-out source is never modified."""
    path = directory / f"{preset}.Dockerfile"
    path.write_text(REACT_DOCKERFILE, encoding="utf-8")
    return path


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
    dockerfile: Path | None  # None: the preset writes it
    preset: str
    archive: Path
    storage: Path
    build_args: list[tuple[str, str]]
    build_env: list[tuple[str, str]]
    cache_repo: str
    tls_verify: bool
    auth_file: Path | None
    cache_auth_file: Path | None
    ca_dir: Path | None
    compression: str = GZIP  # layer compression in the hand-off
    handoff: str = HANDOFF_LAYOUT  # HANDOFF_FORMATS

    @property
    def layout(self) -> Path:
        """Where the oci-layout hand-off writes the layout: the archive path with `.oci` for `.tar`."""
        return layout_path(self.archive)


def plan(opts: BuildOptions) -> BuildPlan:
    name = validate_image_name(opts.image_name, opts.label("image_name"))
    tag = image_tag(opts.image_tag, opts.git_revision, opts.label("image_tag"), opts.label("git_revision"))
    source_field = opts.label("source_dir")
    source = Path(opts.source_dir).resolve()
    if not source.is_dir():
        raise StepError(f"{source_field}: source directory {source} does not exist; did checkout-source run?")
    context = resolve_under(source, opts.context, opts.label("context"))
    if not context.is_dir():
        what = "is a file, not a directory" if context.exists() else "does not exist"
        raise StepError(f"{opts.label('context')}: build context {opts.context!r} ({context}) {what}", EXIT_USAGE)
    preset = opts.preset.strip()
    if preset not in PRESETS:
        raise StepError(
            f"{opts.label('preset')}: {preset!r} is not one of {', '.join(repr(p) for p in PRESETS)}",
            EXIT_USAGE,
        )
    build_args = parse_pairs(opts.build_args, opts.label("build_args"))
    dockerfile: Path | None = None
    if preset == PRESET_REACT:
        node_version = opts.node_version.strip()
        if not _NODE_VERSION_RE.fullmatch(node_version):
            raise StepError(
                f"{opts.label('node_version')}: {node_version!r} is not a version such as 20 or 20.11",
                EXIT_USAGE,
            )
        if not (context / "package.json").is_file():
            raise StepError(
                f"{opts.label('context')}: no package.json in {opts.context!r}; the react preset builds a Node.js app",
                EXIT_USAGE,
            )
        build_args = [("NODE_VERSION", node_version), *[(n, v) for n, v in build_args if n != "NODE_VERSION"]]
    else:
        dockerfile = resolve_under(source, opts.dockerfile, opts.label("dockerfile"))
    if dockerfile is not None and not dockerfile.is_file():
        what = "is a directory" if dockerfile.is_dir() else "not found"
        raise StepError(
            f"{opts.label('dockerfile')}: {opts.dockerfile!r} {what} under the source root{_hint(source)}",
            EXIT_USAGE,
        )
    archive = Path(opts.archive).absolute()
    if ":" in str(archive):
        raise StepError(f"{opts.label('archive')}: {archive} contains ':', which the oci transports cannot take")
    if archive.is_dir() and not archive.is_symlink():
        raise StepError(f"{opts.label('archive')}: {archive} is a directory")
    handoff = opts.handoff_format.strip()
    if handoff not in HANDOFF_FORMATS:
        raise StepError(
            f"{opts.label('handoff_format')}: {handoff!r} is not one of {', '.join(HANDOFF_FORMATS)}", EXIT_USAGE
        )
    layout = layout_path(archive)
    if handoff == HANDOFF_LAYOUT and (layout.exists() or layout.is_symlink()):  # not a layout: left by someone else
        raise StepError(f"{opts.label('archive')}: {layout}, where the OCI layout goes, exists and is no OCI layout")
    cache_repo = opts.cache_repo.strip()
    if cache_repo and (("://" in cache_repo) or "@" in cache_repo or cache_repo.count(":") > 1):
        raise StepError(
            f"{opts.label('cache_repo')}: {cache_repo!r} must be host[:port]/repository "
            "(no scheme, tag or credentials)",
            EXIT_USAGE,
        )
    auth = Path(opts.auth_file) if opts.auth_file else None
    cache_auth = Path(opts.cache_auth_file) if opts.cache_auth_file and cache_repo else None
    ca_dir = Path(opts.ca_dir) if opts.ca_dir else None
    return BuildPlan(
        image=f"{name}:{tag}",
        name=name,
        tag=tag,
        source=source,
        context=context,
        dockerfile=dockerfile,
        preset=preset,
        archive=archive,
        storage=Path(opts.storage_dir).absolute(),
        build_args=build_args,
        build_env=parse_pairs(opts.build_env, opts.label("build_env")),
        cache_repo=cache_repo,
        tls_verify=parse_bool(opts.tls_verify, field=opts.label("tls_verify")),
        auth_file=auth if auth is not None and auth.is_file() else None,
        cache_auth_file=cache_auth if cache_auth is not None and cache_auth.is_file() else None,
        ca_dir=ca_dir if ca_dir is not None and ca_dir.is_dir() else None,
        compression=layer_compression(opts.compression, opts.label("compression")),
        handoff=handoff,
    )


# --- buildah ----------------------------------------------------------------------------------------------------


def local_ref(image: str) -> str:
    """The name buildah stores a locally built image under."""
    return f"localhost/{image}"


def global_args(storage: Path, runroot: Path) -> list[str]:
    return [BUILDAH, "--storage-driver", "overlay", "--root", str(storage), "--runroot", str(runroot)]


def _auths(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StepError(f"{path}: not a readable docker config JSON ({type(error).__name__})") from None
    auths = data.get("auths") if isinstance(data, dict) else None
    if not isinstance(auths, dict):
        raise StepError(f"{path}: no `auths` mapping")
    return dict(auths)


def merged_auth_file(p: BuildPlan, runroot: Path) -> Path | None:
    """One auth file for buildah: the pull Secret's entries, then the cache-push Secret's (they win for the cache
    registry). Written into the runroot (a private temp dir) and gone with it."""
    if p.cache_auth_file is None:
        return p.auth_file
    auths = _auths(p.auth_file) if p.auth_file is not None else {}
    auths.update(_auths(p.cache_auth_file))
    merged = runroot / "auth.json"
    fd = os.open(merged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"auths": auths}, handle)
    return merged


def bud_argv(p: BuildPlan, runroot: Path, auth_file: Path | None = None, dockerfile: Path | None = None) -> list[str]:
    """One argv entry per value: build-arg/env values may hold any character, newlines and quotes included."""
    argv = [*global_args(p.storage, runroot), "bud", "--isolation", "chroot", "--layers"]
    # Fully qualified: without a registries.conf short-name setup, buildah cannot find "name:tag" again.
    argv += ["-f", str(dockerfile or p.dockerfile), "-t", local_ref(p.image)]
    for name, value in p.build_args:
        argv += ["--build-arg", f"{name}={value}"]
    for name, value in p.build_env:
        argv += ["--env", f"{name}={value}"]
    if p.cache_repo:
        argv += ["--cache-from", p.cache_repo]
        if p.cache_auth_file is not None:  # pushing the cache is opted into by its own Secret
            argv += ["--cache-to", p.cache_repo]
    argv.append(f"--tls-verify={'true' if p.tls_verify else 'false'}")
    if p.ca_dir is not None:
        argv += ["--cert-dir", str(p.ca_dir)]
    if auth_file is not None:
        argv += ["--authfile", str(auth_file)]
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


def layout_path(archive: Path) -> Path:
    """`app-image.tar` -> `app-image.oci`; any other name gets `.oci` appended."""
    return archive.with_suffix(".oci") if archive.suffix == ".tar" else archive.with_name(archive.name + ".oci")


def handoff_digest(path: Path) -> str:
    """The manifest digest recorded in the index.json of an OCI layout directory or archive (exactly one image)."""
    raw = read_member(path, "index.json")
    if raw is None:
        raise StepError(f"{path}: no index.json")
    index = json.loads(raw)
    manifests = index.get("manifests") or []
    if len(manifests) != 1 or not DIGEST_RE.fullmatch(str(manifests[0].get("digest", ""))):
        raise StepError(f"{path}: expected one image in index.json, found {len(manifests)}")
    return str(manifests[0]["digest"])


def _is_oci_layout(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and (path / "oci-layout").is_file()


def remove_stale_image(archive: Path, log: StepLogger) -> None:
    """What an earlier run handed off goes first (a failed build must leave nothing behind): a file or link at the
    archive path, and the layout this step writes. A directory that is not an OCI layout is left alone."""
    for path in (archive, layout_path(archive)):
        if path.is_symlink() or path.is_file():
            log.info(f"removing the previous hand-off {path}")
            path.unlink()
        elif _is_oci_layout(path):
            log.info(f"removing the previous hand-off {path}")
            shutil.rmtree(path)


def _push_argv(p: BuildPlan, runroot: Path, digest_file: Path, destination: str) -> list[str]:
    return [
        *global_args(p.storage, runroot),
        "push",
        "--quiet",
        "--digestfile",
        str(digest_file),
        # The one compression of the hand-off: publish-image pushes these blobs as they are.
        "--compression-format",
        p.compression,
        local_ref(p.image),
        destination,
    ]


def _checked_digest(p: BuildPlan, runroot: Path, written: Path, env: dict[str, str], log: StepLogger) -> str:
    """Write the hand-off to `written` (an empty temp dir or an absent temp file) and return its digest."""
    digest_file = runroot / "digest"
    transport = "oci" if p.handoff == HANDOFF_LAYOUT else "oci-archive"
    code, tail = stream(_push_argv(p, runroot, digest_file, f"{transport}:{written}:{p.image}"), log, env)
    if code != 0:
        raise StepError(f"writing the {p.handoff} hand-off failed: {failure_reason(tail, code)}", EXIT_FAILURE)
    reported = digest_file.read_text().strip() if digest_file.is_file() else ""
    handed_off = handoff_digest(written)
    if reported and reported != handed_off:
        raise StepError(f"buildah reported digest {reported} but the {p.handoff} holds {handed_off}")
    return handed_off


def hand_off(p: BuildPlan, runroot: Path, env: dict[str, str], log: StepLogger) -> str:
    """Write the image for publish-image under a temp name next to the archive path, then move it into place."""
    if p.handoff == HANDOFF_ARCHIVE:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.archive.name}.", suffix=".tmp", dir=p.archive.parent)
        os.close(fd)
        tmp_archive = Path(tmp_name)
        try:
            tmp_archive.unlink()  # buildah creates the archive itself
            digest = _checked_digest(p, runroot, tmp_archive, env, log)
            os.replace(tmp_archive, p.archive)
        finally:
            tmp_archive.unlink(missing_ok=True)
        return digest
    tmp_layout = Path(tempfile.mkdtemp(prefix=f".{p.layout.name}.", suffix=".tmp", dir=p.archive.parent))
    # mkdtemp makes it 0700; publish-image runs as another uid (10001) and must read it, as it reads the 0644 files
    # and 0755 directories buildah writes inside (a hostPath or NFS workspace gets no fsGroup fix-up).
    tmp_layout.chmod(0o755)
    tmp_link = p.archive.with_name(f".{p.archive.name}.{tmp_layout.name}.link")
    try:
        digest = _checked_digest(p, runroot, tmp_layout, env, log)
        os.rename(tmp_layout, p.layout)  # free: remove_stale_image cleared it, plan() refused anything else
        tmp_link.symlink_to(p.layout.name)  # relative: it resolves wherever the workspace is mounted
        os.replace(tmp_link, p.archive)
    finally:
        shutil.rmtree(tmp_layout, ignore_errors=True)
        tmp_link.unlink(missing_ok=True)
    return digest


def build(p: BuildPlan, log: StepLogger) -> str:
    """Run bud, then hand the image off; return its manifest digest. The hand-off appears only when complete."""
    p.storage.mkdir(parents=True, exist_ok=True)
    p.archive.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("BUILDAH_ISOLATION", "chroot")
    # buildah reads REGISTRY_AUTH_FILE itself and fails when it names a missing file; the step passes the file
    # explicitly (--authfile) only when the optional secret is mounted.
    env.pop("REGISTRY_AUTH_FILE", None)
    with tempfile.TemporaryDirectory(prefix="buildah-runroot-") as runroot_dir:
        runroot = Path(runroot_dir)
        dockerfile = p.dockerfile or write_preset_dockerfile(p.preset, runroot)
        origin = f"the {p.preset} preset" if p.dockerfile is None else str(dockerfile.relative_to(p.source))
        log.info(
            f"building {p.image} from {origin} "
            f"(context {p.context.relative_to(p.source) if p.context != p.source else '.'}"
            f"{', cache ' + p.cache_repo if p.cache_repo else ''}"
            f"{' (read only: no cache-push Secret)' if p.cache_repo and p.cache_auth_file is None else ''})"
        )
        started = time.monotonic()
        code, tail = stream(bud_argv(p, runroot, merged_auth_file(p, runroot), dockerfile), log, env)
        if code != 0:
            reason = failure_reason(tail, code)
            if is_transient(tail):
                raise StepError(f"build of {p.image} failed on a registry error (transient): {reason}", EXIT_TRANSIENT)
            raise StepError(f"build of {p.image} failed: {reason}", EXIT_FAILURE)
        log.info(f"built {p.image} in {time.monotonic() - started:.1f}s")
        return hand_off(p, runroot, env, log)


def main(log: StepLogger, argv: Sequence[str] | None = None) -> int:
    opts = BuildOptions.parse(PROG, DESCRIPTION, argv)
    check_isolation(opts.isolation, opts.uid_map, log)
    if opts.archive.strip():
        remove_stale_image(Path(opts.archive).absolute(), log)
    avoidance.remove_stale_handoff(opts.avoidance_file, log)
    build_plan = plan(opts)
    decision = avoidance.decide(
        build_plan,
        enabled=opts.avoidance,
        registry=opts.registry,
        enabled_field=opts.label("avoidance"),
        registry_field=opts.label("registry"),
        preset_text=REACT_DOCKERFILE if build_plan.dockerfile is None else None,
        log=log,
    )
    if decision.status == avoidance.STATUS_HIT and decision.digest:
        avoidance.write_handoff(Path(opts.avoidance_file), decision)
        outputs = Outputs()
        outputs.set(OUT_IMAGE_DIGEST, decision.digest)
        outputs.commit()
        log.info(f"build avoided: publish-image tags {decision.repository}@{decision.digest} as {build_plan.tag}")
        return 0
    digest = build(build_plan, log)
    if decision.status == avoidance.STATUS_MISS:  # publish-image records the key after its push
        avoidance.write_handoff(Path(opts.avoidance_file), decision)
    outputs = Outputs()
    outputs.set(OUT_IMAGE_DIGEST, digest)
    outputs.commit()
    written = build_plan.archive if build_plan.handoff == HANDOFF_ARCHIVE else build_plan.layout
    size_mib = total_bytes(written) / (1024 * 1024)
    log.info(
        f"wrote the {build_plan.handoff} {written} ({size_mib:.1f} MiB, {build_plan.compression} layers), "
        f"{build_plan.image}@{digest}"
    )
    return 0
