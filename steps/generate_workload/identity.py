"""The identities a Workload CR carries, checked as the API server and OpenChoreo check them, before any work.

- `--namespace`: a Kubernetes Namespace name, a DNS-1123 label (at most 63 characters).
- `--project`, `--component`: names of OpenChoreo Project/Component objects that OpenChoreo v1.2.3 also writes as
  the label values `openchoreo.dev/project` / `openchoreo.dev/component` on the Workload (workload service,
  CreateWorkload): both rules together make a DNS-1123 label (at most 63 characters).
- `metadata.name` (`<component>-workload`): a Kubernetes object name, a DNS-1123 subdomain (at most 253).
- `--image`: a reference in the grammar of github.com/distribution/reference, built from the same pieces as
  `steps/common/imageref.py` (lowercase repository path, tag of at most 128 characters, optional digest, the name
  at most 255 characters), which is what kubelet and the container runtimes parse.

A bad value passes `occ` and the Workload CRD (whose owner fields only have `minLength: 1`) and fails much later
(the API server, the v0.17 controller's silent retries, or the image pull), far from the cause.
"""

from __future__ import annotations

import re

from steps.common import imageref
from steps.common.contract import EXIT_USAGE
from steps.common.log import StepError

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_RE = re.compile(_LABEL)
DNS1123_SUBDOMAIN_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")

# distribution/reference: name [":" tag] ["@" digest], name = [domain[:port] "/"] path-component ("/" ...)*.
_DOMAIN_WITH_PORT = rf"{imageref._DOMAIN}(?::[0-9]+)?"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE_RE = re.compile(
    rf"(?P<name>(?:{_DOMAIN_WITH_PORT}/)?{imageref.NAME_RE.pattern})"
    rf"(?::(?P<tag>{imageref.TAG_RE.pattern}))?(?:@(?P<digest>{_DIGEST}))?"
)


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 80 else f"{value[:80]!r}… ({len(value)} characters)"


def check_label(value: str, label: str, what: str) -> str:
    """A DNS-1123 label, or a StepError (exit 2) naming the option `label`."""
    if not value.strip():
        raise StepError(f"{label}: must not be empty or blank", EXIT_USAGE)
    if len(value) > DNS1123_LABEL_MAX or not DNS1123_LABEL_RE.fullmatch(value):
        raise StepError(
            f"{label}: {_shown(value)} is not a valid {what}: lowercase letters, digits and '-', starting and ending "
            f"with a letter or digit, at most {DNS1123_LABEL_MAX} characters (a DNS-1123 label"
            + (f", {len(value)} given" if len(value) > DNS1123_LABEL_MAX else "")
            + ")",
            EXIT_USAGE,
        )
    return value


def check_object_name(value: str, label: str) -> str:
    """A Kubernetes object name (DNS-1123 subdomain)."""
    if len(value) > DNS1123_SUBDOMAIN_MAX or not DNS1123_SUBDOMAIN_RE.fullmatch(value):
        raise StepError(
            f"{label}: {_shown(value)} is not a valid Kubernetes object name (DNS-1123 subdomain: lowercase "
            f"letters, digits, '-' and '.', at most {DNS1123_SUBDOMAIN_MAX} characters)",
            EXIT_USAGE,
        )
    return value


def check_image(value: str, label: str) -> str:
    """An image reference (distribution/reference grammar), or a StepError (exit 2) naming the option."""
    if not value.strip():
        raise StepError(f"{label}: must not be empty or blank", EXIT_USAGE)
    match = REFERENCE_RE.fullmatch(value)
    if match is None:
        hint = ""
        if value != value.strip():
            hint = " (it has leading or trailing whitespace)"
        elif REFERENCE_RE.fullmatch(value.lower()):
            hint = " (the repository path must be lowercase)"
        raise StepError(
            f"{label}: {_shown(value)} is not a valid image reference{hint}: expected "
            "[registry[:port]/]repository[:tag][@digest] with a lowercase repository path "
            "(github.com/distribution/reference grammar)",
            EXIT_USAGE,
        )
    name = match.group("name")
    if len(name) > imageref.NAME_TOTAL_LENGTH_MAX:
        raise StepError(
            f"{label}: the image name is {len(name)} characters, above {imageref.NAME_TOTAL_LENGTH_MAX}", EXIT_USAGE
        )
    return value
