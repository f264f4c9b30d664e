"""Options of the publish step (skopeo)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from steps.common import compression, contract
from steps.common.cli import Option, StepOptions
from steps.common.imageref import IMAGE_NAMING_OPTIONS

OPTIONS: list[Option] = [
    Option(
        "registry",
        ("--registry",),
        "REGISTRY",
        "registry host[:port][/path] to push to",
        required=True,
        param="registry",
    ),
    *IMAGE_NAMING_OPTIONS,
    Option(
        "tls_verify",
        ("--tls-verify",),
        "REGISTRY_TLS_VERIFY",
        "verify the registry's TLS certificate",
        default="true",
        param="tls-verify",
    ),
    Option(
        "retries",
        ("--retries",),
        "PUBLISH_RETRIES",
        "retries after the first attempt, for transient push failures only (0 = one attempt)",
        default="3",
        param="push-retries",
    ),
    Option(
        "compression",
        ("--layer-compression",),
        compression.ENV,
        f"compression ({', '.join(compression.LAYER_COMPRESSIONS)}) of the layers the publish step compresses "
        "(docker archives, uncompressed layers); compressed layers are pushed as the build step wrote them",
        default=compression.GZIP,
        param=compression.PARAM,
    ),
    Option(
        "archive",
        ("--archive",),
        "IMAGE_ARCHIVE",
        "image to push: OCI or docker archive, or an OCI layout directory",
        default=contract.IMAGE_ARCHIVE,
    ),
    Option(
        "auth_file",
        ("--auth-file",),
        "REGISTRY_AUTH_FILE",
        "docker config JSON with push credentials",
        default=f"{contract.REGISTRY_SECRET_DIR}/.dockerconfigjson",
    ),
    Option(
        "ca_dir",
        ("--ca-dir",),
        "REGISTRY_CA_DIR",
        "directory of CA certificates (*.crt) for the registry",
        default=contract.REGISTRY_CA_DIR,
    ),
    Option(
        "retry_delay",
        ("--retry-delay",),
        "PUBLISH_RETRY_DELAY",
        "seconds before the first retry; doubles on each retry, capped at 60",
        default="2",
    ),
    Option(
        "timeout",
        ("--timeout",),
        "PUBLISH_TIMEOUT",
        "seconds one push attempt may take (skopeo --command-timeout)",
        default="600",
    ),
    Option(
        "avoidance_file",
        ("--build-avoidance-file",),
        "BUILD_AVOIDANCE_FILE",
        "build-image's build-avoidance record: on a hit, tag the recorded manifest instead of pushing an archive",
        default=contract.BUILD_AVOIDANCE_FILE,
    ),
]


# The option names, checked by mypy where a name is passed as text (`PublishOptions.label("...")`).
PublishOptionName = Literal[
    "registry",
    "image_name",
    "image_tag",
    "git_revision",
    "tls_verify",
    "retries",
    "archive",
    "auth_file",
    "ca_dir",
    "retry_delay",
    "timeout",
    "compression",
    "avoidance_file",
]


@dataclass(frozen=True)
class PublishOptions(StepOptions[PublishOptionName]):
    """The publish-image options, typed (fields = the dests of `OPTIONS`)."""

    OPTIONS: ClassVar[Sequence[Option]] = OPTIONS

    registry: str
    image_name: str
    image_tag: str
    git_revision: str
    tls_verify: str
    retries: str
    archive: str
    auth_file: str
    ca_dir: str
    retry_delay: str
    timeout: str
    compression: str
    avoidance_file: str
