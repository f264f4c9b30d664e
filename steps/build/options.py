"""Options of the Containerfile build step (buildah)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from steps.common import compression, contract
from steps.common.cli import Option, StepOptions
from steps.common.imageref import IMAGE_NAMING_OPTIONS

# The build runs the repository's RUN steps: it mounts no push credentials. At most a read-only pull Secret (private
# base images, reading the layer cache) and, opted into separately, a Secret that may push the layer cache.
PULL_SECRET_DIR = "/etc/secrets/registry-pull-secret"
CACHE_PUSH_SECRET_DIR = "/etc/secrets/build-cache-push-secret"
DOCKERCONFIG = ".dockerconfigjson"

# How the build's root is isolated from the node (parameter `isolation`).
ISOLATION_USER_NAMESPACE = "user-namespace"  # verified at start from /proc/self/uid_map
ISOLATION_PRIVILEGED = "privileged"  # OpenChoreo's own fallback; not verified
ISOLATION_NONE = "none"  # trusted nodes or a sandboxed runtime (gVisor, Kata); not verified
ISOLATIONS = (ISOLATION_USER_NAMESPACE, ISOLATION_PRIVILEGED, ISOLATION_NONE)
UID_MAP = "/proc/self/uid_map"

# How the image reaches publish-image (setting build.handoff_format, env IMAGE_HANDOFF_FORMAT).
HANDOFF_LAYOUT = "oci-layout"  # an OCI layout directory beside the archive path, which links to it: no tar to wrap
HANDOFF_ARCHIVE = "oci-archive"  # one tar file at the archive path (`podman load` names the image from it)
HANDOFF_FORMATS = (HANDOFF_LAYOUT, HANDOFF_ARCHIVE)
HANDOFF_ENV = "IMAGE_HANDOFF_FORMAT"

# Presets: the step writes the Dockerfile itself (outside the source tree) and builds the context with it.
PRESET_NONE = ""
PRESET_REACT = "react"
PRESETS = (PRESET_NONE, PRESET_REACT)

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
    Option(
        "preset",
        ("--preset",),
        "BUILD_PRESET",
        "empty: build the repository's Dockerfile; react: build the static web app in the context with Node.js "
        "and serve it with nginx (the step writes that Dockerfile; dockerfile-path is ignored)",
        default=PRESET_NONE,
        param="preset",
    ),
    Option(
        "node_version",
        ("--node-version",),
        "NODE_VERSION",
        "Node.js version of the react preset (build argument NODE_VERSION)",
        default="18",
        param="node-version",
    ),
    Option(
        "isolation",
        ("--isolation",),
        "BUILD_ISOLATION",
        f"what isolates the build's root from the node: {', '.join(ISOLATIONS)} "
        f"({ISOLATION_USER_NAMESPACE} is checked at start and the step refuses to run outside a user namespace)",
        default=ISOLATION_USER_NAMESPACE,
        param="isolation",
    ),
    Option(
        "compression",
        ("--layer-compression",),
        compression.ENV,
        f"compression of the layers handed to publish-image: {', '.join(compression.LAYER_COMPRESSIONS)} "
        "(zstd: containerd >= 1.5 or CRI-O to run the image)",
        default=compression.GZIP,
        param=compression.PARAM,
    ),
    Option("uid_map", ("--uid-map",), "BUILD_UID_MAP_FILE", "uid_map file the isolation check reads", default=UID_MAP),
    Option("source_dir", ("--source-dir",), "SOURCE_DIR", "source root", default=contract.SOURCE_DIR),
    Option(
        "archive",
        ("--archive",),
        "IMAGE_ARCHIVE",
        "where publish-image finds the image: a link to the OCI layout <archive without .tar>.oci (oci-layout), or "
        "the OCI archive itself (oci-archive)",
        default=contract.IMAGE_ARCHIVE,
    ),
    Option(
        "handoff_format",
        ("--handoff-format",),
        HANDOFF_ENV,
        f"how the image is handed to publish-image: {', '.join(HANDOFF_FORMATS)} ({HANDOFF_LAYOUT} writes the "
        f"layers once and publish-image reads them in place; {HANDOFF_ARCHIVE} is one tar that `podman load` names)",
        default=HANDOFF_LAYOUT,
    ),
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
        "docker config JSON for base-image pulls and reading the cache (used when the file exists)",
        default=f"{PULL_SECRET_DIR}/{DOCKERCONFIG}",
    ),
    Option(
        "cache_auth_file",
        ("--cache-auth-file",),
        "BUILD_CACHE_AUTH_FILE",
        "docker config JSON that may push the layer cache (used when the file exists and cache-repo is set)",
        default=f"{CACHE_PUSH_SECRET_DIR}/{DOCKERCONFIG}",
    ),
    Option(
        "ca_dir",
        ("--ca-dir",),
        "REGISTRY_CA_DIR",
        "directory of CA certificates (*.crt) for registries",
        default=contract.REGISTRY_CA_DIR,
    ),
    # Build avoidance (steps/build/avoidance.py): the key is looked up in <registry>/<image-name> with the pull
    # Secret; publish-image reads the decision from the record file.
    Option(
        "avoidance",
        ("--build-avoidance",),
        "BUILD_AVOIDANCE",
        "skip the build when <registry>/<image-name>:build-<key> already holds the image built from the same "
        "inputs (on only when every input of the key can be pinned; false: always build)",
        default="true",
        param="build-avoidance",
    ),
    Option(
        "registry",
        ("--registry",),
        "REGISTRY",
        "registry host[:port][/path] publish-image pushes to, where build avoidance looks the key up (empty: off)",
        default="",
        param="registry",
    ),
    Option(
        "avoidance_file",
        ("--build-avoidance-file",),
        "BUILD_AVOIDANCE_FILE",
        "where the build-avoidance decision is written for publish-image",
        default=contract.BUILD_AVOIDANCE_FILE,
    ),
]


# The option names, checked by mypy where a name is passed as text (`BuildOptions.label("...")`).
BuildOptionName = Literal[
    "image_name",
    "image_tag",
    "git_revision",
    "context",
    "dockerfile",
    "build_args",
    "build_env",
    "cache_repo",
    "tls_verify",
    "preset",
    "node_version",
    "isolation",
    "uid_map",
    "source_dir",
    "archive",
    "handoff_format",
    "storage_dir",
    "auth_file",
    "cache_auth_file",
    "ca_dir",
    "compression",
    "avoidance",
    "registry",
    "avoidance_file",
]


@dataclass(frozen=True)
class BuildOptions(StepOptions[BuildOptionName]):
    """The build-image options, typed (fields = the dests of `OPTIONS`)."""

    OPTIONS: ClassVar[Sequence[Option]] = OPTIONS

    image_name: str
    image_tag: str
    git_revision: str
    context: str
    dockerfile: str
    build_args: str
    build_env: str
    cache_repo: str
    tls_verify: str
    preset: str
    node_version: str
    isolation: str
    uid_map: str
    source_dir: str
    archive: str
    handoff_format: str
    storage_dir: str
    auth_file: str
    cache_auth_file: str
    ca_dir: str
    compression: str
    avoidance: str
    registry: str
    avoidance_file: str
