"""Options of the publish step (skopeo)."""

from __future__ import annotations

from steps.common import contract
from steps.common.cli import Option
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
        "attempts for transient push failures",
        default="3",
        param="push-retries",
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
]
