"""Options of the Containerfile build step (buildah)."""

from __future__ import annotations

from steps.common import contract
from steps.common.cli import Option
from steps.common.imageref import IMAGE_NAMING_OPTIONS

OPTIONS: list[Option] = [
    *IMAGE_NAMING_OPTIONS,
    Option(
        "context",
        ("--context",),
        "DOCKER_CONTEXT",
        "build context, relative to the source root",
        default=".",
        param="docker-context",
    ),
    Option(
        "dockerfile",
        ("--dockerfile",),
        "DOCKERFILE_PATH",
        "Dockerfile/Containerfile, relative to the source root",
        default="./Dockerfile",
        param="dockerfile-path",
    ),
    Option(
        "build_args",
        ("--build-args",),
        "BUILD_ARGS",
        'JSON list of {"name","value"} build arguments',
        default="[]",
        param="build-args",
    ),
    Option(
        "build_env",
        ("--build-env",),
        "BUILD_ENV",
        'JSON list of {"name","value"} environment for RUN steps',
        default="[]",
        param="build-env",
    ),
    Option(
        "cache_repo",
        ("--cache-repo",),
        "BUILD_CACHE_REPO",
        "registry repository for the layer cache (empty: off)",
        default="",
        param="cache-repo",
    ),
    Option(
        "tls_verify",
        ("--tls-verify",),
        "REGISTRY_TLS_VERIFY",
        "verify registry TLS for base pulls and cache",
        default="true",
        param="tls-verify",
    ),
    Option("source_dir", ("--source-dir",), "SOURCE_DIR", "source root", default=contract.SOURCE_DIR),
    Option("archive", ("--archive",), "IMAGE_ARCHIVE", "OCI archive to write", default=contract.IMAGE_ARCHIVE),
    Option(
        "storage_dir",
        ("--storage-dir",),
        "BUILDAH_STORAGE_DIR",
        "buildah overlay storage root (a volume)",
        default="/var/lib/containers/storage",
    ),
    Option(
        "auth_file",
        ("--auth-file",),
        "REGISTRY_AUTH_FILE",
        "docker config JSON for pulls/cache",
        default=f"{contract.REGISTRY_SECRET_DIR}/.dockerconfigjson",
    ),
    Option(
        "ca_dir",
        ("--ca-dir",),
        "REGISTRY_CA_DIR",
        "directory of CA certificates (*.crt) for registries",
        default=contract.REGISTRY_CA_DIR,
    ),
]
