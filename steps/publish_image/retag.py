"""publish-image's half of build avoidance (the build step's half: steps/build/avoidance.py).

build-image leaves its decision in a record on the workspace (contract.BUILD_AVOIDANCE_FILE):
  * `hit`: the registry already holds the image built from the same inputs, recorded under `build-<key>`. There is
    no archive; publish-image tags that manifest under the run's tag with `skopeo copy docker://repo@digest
    docker://repo:tag` inside the same repository, so every blob already exists there and no layer moves;
  * `miss`: the build ran; after pushing the archive, publish-image also tags the pushed manifest `build-<key>` so the
    next run with the same inputs hits (a failure here is a warning: the image itself is published);
  * `incomplete` / `off`, or no record at all (buildpacks pipelines, older build steps): publish as always.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from steps.common.contract import EXIT_FAILURE, OUT_IMAGE, OUT_IMAGE_DIGEST, OUT_IMAGE_URL
from steps.common.imageref import DIGEST_RE, TAG_RE
from steps.common.log import StepError, StepLogger
from steps.common.outputs import Outputs

RECORD_VERSION = 1
STATUS_HIT, STATUS_MISS = "hit", "miss"
STATUSES = ("hit", "miss", "incomplete", "off")


class Copied(Protocol):
    digest: str


Copy = Callable[[list[str], str], Copied]  # (skopeo copy arguments, destination for messages) -> result


@dataclass(frozen=True)
class Record:
    status: str
    repository: str | None
    key_tag: str | None
    digest: str | None


@dataclass(frozen=True)
class Access:
    """One registry, read and written with the push Secret (source and destination are the same repository)."""

    tls_verify: bool
    auth_file: Path | None
    ca_dir: Path | None

    def flags(self) -> list[str]:
        verify = "true" if self.tls_verify else "false"
        flags = ["--retry-times", "0", f"--src-tls-verify={verify}", f"--dest-tls-verify={verify}"]
        if self.ca_dir is not None:
            flags += ["--src-cert-dir", str(self.ca_dir), "--dest-cert-dir", str(self.ca_dir)]
        if self.auth_file is not None:
            flags += ["--src-authfile", str(self.auth_file), "--dest-authfile", str(self.auth_file)]
        else:
            flags += ["--src-no-creds", "--dest-no-creds"]
        return flags


def read_record(path: Path, repository: str, field: str) -> Record | None:
    """The build step's record, checked; None when there is none. A record for another repository is an error
    on a hit (there is no archive to push instead)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StepError(f"{field}: {path} is not readable JSON ({type(error).__name__})", EXIT_FAILURE) from None
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION or data.get("status") not in STATUSES:
        raise StepError(f"{field}: {path} is not a build-avoidance record of version {RECORD_VERSION}", EXIT_FAILURE)
    status = str(data["status"])
    recorded = data.get("repository")
    key_tag, digest = data.get("key_tag"), data.get("digest")
    if key_tag is not None and not (isinstance(key_tag, str) and TAG_RE.fullmatch(key_tag)):
        raise StepError(f"{field}: {path}: key_tag {key_tag!r} is not a tag", EXIT_FAILURE)
    if status == STATUS_HIT and not (isinstance(digest, str) and DIGEST_RE.fullmatch(digest)):
        raise StepError(f"{field}: {path}: a hit without a sha256 digest", EXIT_FAILURE)
    if status == STATUS_HIT and not (isinstance(recorded, str) and recorded):
        raise StepError(f"{field}: {path}: a hit without a repository", EXIT_FAILURE)
    return Record(
        status,
        recorded if isinstance(recorded, str) else None,
        key_tag,
        digest if isinstance(digest, str) else None,
    )


def tag_recorded(record: Record, image_url: str, access: Access, copy: Copy, log: StepLogger) -> str:
    """Tag the recorded manifest as `image_url` registry-side; return the digest the registry reports."""
    assert record.repository is not None and record.digest is not None
    source = f"docker://{record.repository}@{record.digest}"
    if image_url.rsplit(":", 1)[0] == record.repository:
        log.info(
            f"build avoided ({record.key_tag}): tagging {record.repository}@{record.digest} as {image_url} "
            "registry-side (same repository: no layer is uploaded)"
        )
    else:  # the build step was given another registry than this step: still correct, only slower
        log.warning(
            f"build avoided ({record.key_tag}), but build-image found the image in {record.repository} and this "
            f"step pushes to {image_url}: copying it across (layers move); give both steps the same registry"
        )
    try:
        result = copy([*access.flags(), source, f"docker://{image_url}"], image_url)
    except StepError as error:
        raise StepError(
            f"{error} (the recorded manifest may have been deleted since build-image looked it up; "
            "run again with build-avoidance=false to rebuild)",
            error.exit_code,
        ) from None
    if result.digest != record.digest:
        log.warning(f"the registry reports {result.digest} for {image_url}, not the recorded {record.digest}")
    return result.digest


def record_key(
    record: Record | None, repository: str, digest: str, *, access: Access, copy: Copy, log: StepLogger
) -> None:
    """After a miss: tag the pushed manifest `build-<key>` so the next run with the same inputs skips its build."""
    if record is None or record.status != STATUS_MISS or not record.key_tag:
        return
    if record.repository != repository:
        log.warning(f"build avoidance: the key was computed for {record.repository}, not {repository}; not recorded")
        return
    key_ref = f"{repository}:{record.key_tag}"
    try:
        copy([*access.flags(), f"docker://{repository}@{digest}", f"docker://{key_ref}"], key_ref)
    except StepError as error:
        log.warning(f"build avoidance: could not record the key tag {key_ref} ({error}); the next run rebuilds")
        return
    log.info(f"build avoidance: recorded {key_ref} -> {digest}")


def write_outputs(image_url: str, digest: str) -> None:
    outputs = Outputs()
    outputs.set(OUT_IMAGE, f"{image_url}@{digest}")
    outputs.set(OUT_IMAGE_URL, image_url)
    outputs.set(OUT_IMAGE_DIGEST, digest)
    outputs.commit()
