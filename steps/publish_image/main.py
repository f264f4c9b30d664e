"""publish-image: push the image archive built by `build-image` to a registry with skopeo.

The archive may be an OCI archive (what steps.build writes), a docker archive (`docker save` / `podman save`,
OpenChoreo's hand-off) or an OCI layout directory. Transient failures (connection errors, 5xx, timeouts) are
retried with backoff inside the step; when they never stop the step exits 75 (EX_TEMPFAIL), permanent ones exit 1.
Outputs are written only after a successful push.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from steps.common.cli import parse_bool
from steps.common.compression import MEDIA_TYPES, ZSTD, layer_compression
from steps.common.contract import (
    EXIT_FAILURE,
    EXIT_TRANSIENT,
    EXIT_USAGE,
    OUT_IMAGE,
    OUT_IMAGE_DIGEST,
    OUT_IMAGE_URL,
)
from steps.common.imageref import (
    DIGEST_RE,
    NAME_TOTAL_LENGTH_MAX,
    image_tag,
    validate_image_name,
    validate_registry,
)
from steps.common.log import StepError, StepLogger, redactor
from steps.common.oci_layout import read_member
from steps.common.outputs import Outputs
from steps.publish_image import retag
from steps.publish_image.options import PublishOptions

PROG = "python -m steps.publish_image"
DESCRIPTION = "Push the built image archive to <registry>/<image-name>:<image-tag>-<git-revision> with skopeo."
SKOPEO = "skopeo"

# --- archive detection ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    transport: str  # oci-archive | docker-archive | oci
    path: Path
    manifest_digest: str | None  # OCI: the manifest digest in index.json (what the registry should report)

    @property
    def reference(self) -> str:
        return f"{self.transport}:{self.path}"


def _oci_index_digest(index: object, where: str) -> str | None:
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or not manifests:
        raise StepError(f"{where}: index.json lists no image", EXIT_FAILURE)
    if len(manifests) > 1:
        names = [
            str((m.get("annotations") or {}).get("org.opencontainers.image.ref.name", m.get("digest")))
            for m in manifests
            if isinstance(m, dict)
        ]
        raise StepError(f"{where}: holds {len(manifests)} images ({', '.join(names)}); expected exactly one")
    digest = manifests[0].get("digest") if isinstance(manifests[0], dict) else None
    return digest if isinstance(digest, str) and DIGEST_RE.fullmatch(digest) else None


def detect_source(path: Path, field: str) -> Source:
    """Tell an OCI archive, a docker archive and an OCI layout directory apart by their content."""
    if path.is_dir():
        if not (path / "oci-layout").is_file() or not (path / "index.json").is_file():
            raise StepError(f"{field}: directory {path} is not an OCI layout (no oci-layout and index.json)")
        try:
            index = json.loads((path / "index.json").read_text())
        except (OSError, ValueError) as error:
            raise StepError(f"{field}: {path}/index.json is not valid JSON: {error}") from error
        return Source("oci", path, _oci_index_digest(index, f"{field}: {path}"))
    if not path.exists():
        raise StepError(f"{field}: image archive {path} not found; did the build step write it?")
    if not path.is_file():
        raise StepError(f"{field}: {path} is neither a file nor a directory")
    if path.stat().st_size == 0:
        raise StepError(f"{field}: image archive {path} is empty")
    if ":" in str(path):
        raise StepError(f"{field}: {path} contains ':', which skopeo's archive transports cannot take")
    with path.open("rb") as stream:
        magic = stream.read(6)
    compressed = magic.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd"))
    try:
        with tarfile.open(path, mode="r:*") as tar:
            members = {member.name.removeprefix("./"): member for member in tar}
            if "oci-layout" in members and "index.json" in members:
                if compressed:
                    raise StepError(f"{field}: {path} is a compressed OCI archive; skopeo needs a plain tar")
                handle = tar.extractfile(members["index.json"])
                index = json.loads(handle.read()) if handle is not None else None
                return Source("oci-archive", path, _oci_index_digest(index, f"{field}: {path}"))
            if "manifest.json" in members:
                handle = tar.extractfile(members["manifest.json"])
                manifest = json.loads(handle.read()) if handle is not None else None
                if not isinstance(manifest, list) or not manifest:
                    raise StepError(f"{field}: {path}: docker archive manifest.json lists no image")
                if len(manifest) > 1:
                    raise StepError(f"{field}: {path}: docker archive holds {len(manifest)} images; expected one")
                return Source("docker-archive", path, None)
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        raise StepError(f"{field}: {path} is not a readable image archive (tar): {error}") from error
    raise StepError(
        f"{field}: {path} is a tar file but neither an OCI archive (oci-layout + index.json) "
        "nor a docker archive (manifest.json)"
    )


def oci_layer_media_types(source: Source) -> list[str]:
    """The layer media types of an OCI archive/layout's one image ([] when they cannot be read: not OCI)."""
    if source.transport not in ("oci", "oci-archive") or source.manifest_digest is None:
        return []
    try:
        raw = read_member(source.path, f"blobs/sha256/{source.manifest_digest.removeprefix('sha256:')}")
        manifest = json.loads(raw) if raw is not None else None
    except (OSError, ValueError, tarfile.TarError):
        return []
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    if not isinstance(layers, list):
        return []
    return [str(layer.get("mediaType", "")) for layer in layers if isinstance(layer, dict)]


# --- credentials ------------------------------------------------------------------------------------------------


def load_auth_file(path: Path, registry: str, field: str, log: StepLogger) -> None:
    """Validate the mounted .dockerconfigjson and register every credential in it with the redactor."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise StepError(f"{field}: {path} is not a readable docker config JSON: {type(error).__name__}") from None
    auths = data.get("auths") if isinstance(data, dict) else None
    if not isinstance(auths, dict):
        raise StepError(f'{field}: {path} has no "auths" object (expected kubernetes.io/dockerconfigjson)')
    for entry in auths.values():
        if not isinstance(entry, dict):
            continue
        for key in ("auth", "password", "identitytoken", "registrytoken"):
            value = entry.get(key)
            if isinstance(value, str):
                redactor.add(value)
        token = entry.get("auth")
        if isinstance(token, str):
            try:
                decoded = base64.b64decode(token, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise StepError(f'{field}: {path}: an "auth" value is not base64 of user:password') from None
            redactor.add(decoded, decoded.partition(":")[2])
    host = registry.split("/", 1)[0]
    keys = {re.sub(r"^https?://", "", key).rstrip("/") for key in auths}
    if not any(registry == key or registry.startswith(key + "/") or key == host for key in keys):
        log.warning(f"{path} has no credentials for {host}; pushing anonymously")


# --- skopeo failures --------------------------------------------------------------------------------------------

_STATUS_RE = re.compile(
    r"(?:status code from registry|unexpected http status:?|statuscode:?|status code:?|http status:?)\s*(\d{3})"
    r"|\b([45]\d\d) (?:internal server error|bad gateway|service unavailable|gateway timeout|too many requests"
    r"|bad request|unauthorized|forbidden|not found|method not allowed|request entity too large)",
    re.IGNORECASE,
)
_PERMANENT_MARKERS = (
    "unauthorized",
    "authentication required",
    "denied",
    "forbidden",
    "x509:",
    "certificate",
    "tls: ",
    "server gave http response to https client",
    "no such host",
    "manifest invalid",
    "name invalid",
    "name unknown",
    "blob unknown",
    "initializing source",
    "invalid tar",
)
_TRANSIENT_MARKERS = (
    "connection refused",
    "connection reset",
    "broken pipe",
    "eof",
    "i/o timeout",
    "timeout",
    "deadline exceeded",
    "temporary failure in name resolution",
    "server misbehaving",
    "network is unreachable",
    "too many requests",
    "toomanyrequests",
)


def classify(stderr: str) -> bool:
    """True when a failed skopeo copy looks transient (worth retrying), False for permanent errors."""
    text = stderr.lower()
    if any(marker in text for marker in ("unauthorized", "authentication required", "denied", "x509:")):
        return False
    codes = [int(a or b) for a, b in _STATUS_RE.findall(text)]
    if codes:
        code = codes[-1]
        return code >= 500 or code in (408, 429)
    if any(marker in text for marker in _PERMANENT_MARKERS):
        return False
    return any(marker in text for marker in _TRANSIENT_MARKERS)


def skopeo_message(stderr: str) -> str:
    """The useful part of skopeo's logrus line: `time=... level=fatal msg="..."` -> the message."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return "(no error output)"
    last = lines[-1]
    match = re.search(r'level=(?:fatal|error) msg="(.*)"\s*$', last)
    if match:
        return match.group(1).replace('\\"', '"')
    return last


def hint_for(message: str) -> str:
    text = message.lower()
    if "x509:" in text or "certificate" in text:
        return " (TLS: mount the registry's CA as *.crt in the CA directory, or set tls-verify=false)"
    if "server gave http response to https client" in text:
        return " (the registry speaks plain HTTP: set tls-verify=false)"
    if "unauthorized" in text or "authentication required" in text or "denied" in text:
        return " (check the registry push secret's .dockerconfigjson: user, password and registry host)"
    return ""


# --- the push ---------------------------------------------------------------------------------------------------


@dataclass
class PushResult:
    digest: str
    attempts: int


Runner = Callable[[list[str], float], subprocess.CompletedProcess[str]]


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def push(
    copy_args: list[str],
    digest_dir: Path,
    *,
    retries: int,
    delay: float,
    timeout: float,
    log: StepLogger,
    destination: str,
    run: Runner = _run,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """Run `skopeo copy` with retries on transient failures (exponential backoff, capped at 60 s)."""
    attempts = retries + 1
    last = ""
    for attempt in range(1, attempts + 1):
        digest_file = digest_dir / f"digest-{attempt}"
        # skopeo 1.9 unpacks archives into /var/tmp unless told otherwise (it ignores TMPDIR); a read-only root
        # filesystem only leaves the temp dir (/tmp, an emptyDir in the template) writable.
        argv = [
            SKOPEO,
            "--tmpdir",
            tempfile.gettempdir(),
            "--command-timeout",
            f"{timeout:g}s",
            "copy",
            "--digestfile",
            str(digest_file),
            *copy_args,
        ]
        try:
            result = run(argv, timeout + 30)
            stderr, ok = result.stderr, result.returncode == 0
        except subprocess.TimeoutExpired:
            stderr, ok = f"timeout: skopeo did not finish within {timeout:g}s", False
        except FileNotFoundError:
            raise StepError(f"{SKOPEO} not found on PATH; this step needs skopeo") from None
        if ok:
            digest = digest_file.read_text().strip() if digest_file.is_file() else ""
            if not DIGEST_RE.fullmatch(digest):
                raise StepError(f"skopeo reported success but wrote no manifest digest ({digest!r})")
            return PushResult(digest, attempt)
        message = skopeo_message(stderr)
        if not classify(stderr):
            raise StepError(f"push to {destination} failed: {message}{hint_for(message)}", EXIT_FAILURE)
        last = message
        if attempt < attempts:
            wait = min(delay * 2 ** (attempt - 1), 60.0)
            log.warning(f"attempt {attempt}/{attempts} failed (transient): {message}; retrying in {wait:g}s")
            sleep(wait)
    raise StepError(
        f"push to {destination} failed after {attempts} attempt(s) with transient errors; last: {last}",
        EXIT_TRANSIENT,
    )


def _int_option(value: str | bool | None, field: str, minimum: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise StepError(f"{field}: expected an integer, got {value!r}", EXIT_USAGE) from None
    if number < minimum:
        raise StepError(f"{field}: must be >= {minimum}, got {number}", EXIT_USAGE)
    return number


def _float_option(value: str | bool | None, field: str) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise StepError(f"{field}: expected a number of seconds, got {value!r}", EXIT_USAGE) from None
    if number < 0:
        raise StepError(f"{field}: must not be negative", EXIT_USAGE)
    return number


def main(log: StepLogger, argv: Sequence[str] | None = None) -> int:
    opts = PublishOptions.parse(PROG, DESCRIPTION, argv)
    registry = validate_registry(opts.registry, opts.label("registry"))
    name = validate_image_name(opts.image_name, opts.label("image_name"))
    tag = image_tag(opts.image_tag, opts.git_revision, opts.label("image_tag"), opts.label("git_revision"))
    if len(f"{registry}/{name}") > NAME_TOTAL_LENGTH_MAX:
        raise StepError(
            f"{opts.label('registry')} + {opts.label('image_name')}: repository name longer than "
            f"{NAME_TOTAL_LENGTH_MAX} characters",
            EXIT_USAGE,
        )
    tls_verify = parse_bool(opts.tls_verify, field=opts.label("tls_verify"))
    retries = _int_option(opts.retries, opts.label("retries"), 0)
    delay = _float_option(opts.retry_delay, opts.label("retry_delay"))
    timeout = _float_option(opts.timeout, opts.label("timeout"))
    if timeout <= 0:
        raise StepError(f"{opts.label('timeout')}: must be > 0", EXIT_USAGE)
    compression = layer_compression(opts.compression, opts.label("compression"))

    image_url = f"{registry}/{name}:{tag}"
    record = retag.read_record(Path(opts.avoidance_file), f"{registry}/{name}", opts.label("avoidance_file"))
    source: Source | None = None  # a build-avoidance hit publishes the recorded manifest, not an archive
    if record is None or record.status != retag.STATUS_HIT:
        source = detect_source(Path(opts.archive), opts.label("archive"))
    destination = f"docker://{image_url}"

    copy_args: list[str] = ["--retry-times", "0", f"--dest-tls-verify={'true' if tls_verify else 'false'}"]
    # Layers already in this format (the build step wrote them so) are pushed as they are; uncompressed ones
    # (docker archives) are compressed once, others converted.
    copy_args += ["--dest-compress-format", compression]
    media_types = oci_layer_media_types(source) if source is not None else []
    if media_types and all(media == MEDIA_TYPES[compression] for media in media_types):
        # Every layer is in the wanted format already: push the archive as it is. Otherwise skopeo 1.9 swaps in any
        # blob its blob-info cache knows the registry holds for the same layer, whatever its compression (a zstd
        # blob into a gzip image), and the digest changes.
        copy_args.append("--preserve-digests")
    elif compression == ZSTD:
        copy_args += ["--format", "oci"]  # a docker v2s2 manifest has no zstd layer type
    auth_file = Path(opts.auth_file) if opts.auth_file else None
    if auth_file is not None and auth_file.is_file():
        load_auth_file(auth_file, registry, opts.label("auth_file"), log)
        copy_args += ["--dest-authfile", str(auth_file)]
        auth_note = f"credentials from {auth_file}"
    else:
        copy_args.append("--dest-no-creds")
        auth_note = "anonymous: no registry secret mounted"
    ca_dir = Path(opts.ca_dir) if opts.ca_dir else None
    if ca_dir is not None and ca_dir.is_dir():
        copy_args += ["--dest-cert-dir", str(ca_dir)]
        ca_note = f", CA certificates from {ca_dir}"
    else:
        ca_note = ""

    def copy(args: list[str], target: str) -> PushResult:
        with tempfile.TemporaryDirectory(prefix="publish-image-") as tmp:
            return push(args, Path(tmp), retries=retries, delay=delay, timeout=timeout, log=log, destination=target)

    pushing_with = auth_file if "--dest-authfile" in copy_args else None
    access = retag.Access(tls_verify, pushing_with, ca_dir if ca_note else None)
    if record is not None and record.status == retag.STATUS_HIT:
        started = time.monotonic()
        digest = retag.tag_recorded(record, image_url, access, copy, log)
        retag.write_outputs(image_url, digest)
        log.info(f"published {image_url}@{digest} in {time.monotonic() - started:.1f}s without a build")
        return 0
    assert source is not None  # read above whenever the record is not a hit
    copy_args += [source.reference, destination]

    log.info(
        f"pushing {source.transport} {source.path} to {image_url} "
        f"({auth_note}{ca_note}, tls-verify={'true' if tls_verify else 'false'}, {compression} layers)"
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="publish-image-") as tmp:
        result = push(
            copy_args,
            Path(tmp),
            retries=retries,
            delay=delay,
            timeout=timeout,
            log=log,
            destination=image_url,
        )
    if source.manifest_digest and source.manifest_digest != result.digest:
        log.warning(
            f"the registry stored manifest {result.digest}, not the archive's {source.manifest_digest} "
            "(skopeo had to convert the manifest)"
        )
    retag.record_key(record, f"{registry}/{name}", result.digest, access=access, copy=copy, log=log)
    outputs = Outputs()
    outputs.set(OUT_IMAGE, f"{image_url}@{result.digest}")
    outputs.set(OUT_IMAGE_URL, image_url)
    outputs.set(OUT_IMAGE_DIGEST, result.digest)
    outputs.commit()
    log.info(
        f"pushed {image_url}@{result.digest} in {time.monotonic() - started:.1f}s "
        f"({result.attempts} attempt{'s' if result.attempts > 1 else ''})"
    )
    return 0
