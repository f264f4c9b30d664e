"""Image reference grammar (github.com/distribution/reference) and checks shared by the build and publish steps."""

from __future__ import annotations

import re

from steps.common.cli import Option
from steps.common.contract import EXIT_USAGE
from steps.common.log import StepError

# Reference grammar of github.com/distribution/reference.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])"
NAME_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
REGISTRY_RE = re.compile(rf"(?P<domain>{_DOMAIN})(?::(?P<port>[0-9]{{1,5}}))?(?P<path>(?:/{_PATH_COMPONENT})*)")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
NAME_TOTAL_LENGTH_MAX = 255


def validate_registry(value: str, field: str) -> str:
    """host[:port][/path], no scheme, no credentials, no tag or digest. Returns it without a trailing slash."""
    registry = value.strip().rstrip("/")
    if not registry:
        raise StepError(f"{field}: empty registry", EXIT_USAGE)
    if "://" in registry:
        raise StepError(f"{field}: {registry!r} has a scheme; give host[:port][/path] only", EXIT_USAGE)
    if "@" in registry:
        raise StepError(
            f"{field}: must not contain credentials or a digest ('@'); credentials come from the registry secret",
            EXIT_USAGE,
        )
    match = REGISTRY_RE.fullmatch(registry)
    if match is None:
        raise StepError(
            f"{field}: {registry!r} is not host[:port][/path] (lowercase path components [a-z0-9._-])", EXIT_USAGE
        )
    domain, port = match.group("domain"), match.group("port")
    if port is not None and not 0 < int(port) < 65536:
        raise StepError(f"{field}: port {port} out of range", EXIT_USAGE)
    if port is None and "." not in domain and domain != "localhost" and not domain.startswith("["):
        # containers/image would read "registry/name" as docker.io/registry/name.
        raise StepError(
            f"{field}: {domain!r} is not a fully qualified registry host and would be read as a Docker Hub "
            "namespace; add a domain or a port (e.g. registry.example.com or registry:5000)",
            EXIT_USAGE,
        )
    return registry


def validate_image_name(value: str, field: str) -> str:
    name = value.strip()
    if not NAME_RE.fullmatch(name):
        raise StepError(
            f"{field}: {name!r} is not a valid image name: lowercase path components [a-z0-9] joined by "
            "'.', '_', '__' or '-', separated by '/'",
            EXIT_USAGE,
        )
    return name


def validate_tag(value: str, field: str) -> str:
    if not TAG_RE.fullmatch(value):
        raise StepError(
            f"{field}: tag {value!r} is not valid: up to 128 characters [A-Za-z0-9_.-], not starting with '.' or '-'",
            EXIT_USAGE,
        )
    return value


def image_tag(tag_prefix: str, git_revision: str, tag_field: str, revision_field: str) -> str:
    """`<image-tag>-<git-revision>`, validated as a whole (naming the fields involved)."""
    prefix, revision = tag_prefix.strip(), git_revision.strip()
    if not prefix:
        raise StepError(f"{tag_field}: empty image tag", EXIT_USAGE)
    if not revision:
        raise StepError(f"{revision_field}: empty git revision", EXIT_USAGE)
    return validate_tag(f"{prefix}-{revision}", f"{tag_field} + {revision_field}")


# The image a pipeline builds and publishes is <image-name>:<image-tag>-<git-revision> (OpenChoreo's naming);
# the build and publish steps take these three options alike.
IMAGE_NAMING_OPTIONS: tuple[Option, ...] = (
    Option(
        "image_name",
        ("--image-name",),
        "IMAGE_NAME",
        "image name (OpenChoreo: <ns>-<project>-<component>)",
        required=True,
        param="image-name",
    ),
    Option(
        "image_tag",
        ("--image-tag",),
        "IMAGE_TAG",
        "image tag prefix; the tag is <image-tag>-<git-revision>",
        default="v1",
        param="image-tag",
    ),
    Option(
        "git_revision",
        ("--git-revision",),
        "GIT_REVISION",
        "short commit (from checkout-source)",
        required=True,
        param="git-revision",
    ),
)
