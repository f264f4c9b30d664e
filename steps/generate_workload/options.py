"""Options of generate-workload-cr. Flags follow `occ workload create` (--image --descriptor -n -p -c -o)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from steps.common import contract
from steps.common.cli import Option, StepOptions

PROFILES = ("openchoreo-1.x", "openchoreo-0.17")
# How the CR is delivered. `auto` (the default) follows the profile: openchoreo-1.x -> `workloads` (nothing reads
# the workload-cr output since OpenChoreo 1.0), openchoreo-0.17 -> the output contract only (its controller reads
# workload-cr). `off` only writes the CR (GitOps, dry runs).
API_MODE_AUTO = "auto"
API_MODE_OFF = "off"
API_MODES = (API_MODE_AUTO, "workloads", "legacy", API_MODE_OFF)
AUTO_API_MODE = {"openchoreo-1.x": "workloads", "openchoreo-0.17": API_MODE_OFF}


def effective_api_mode(given: str, profile: str) -> str | None:
    """The API mode `given` (option text) means for `profile`; None when `given` is not a mode."""
    mode = given.strip().lower() or API_MODE_AUTO
    if mode not in API_MODES:
        return None
    return AUTO_API_MODE.get(profile, API_MODE_OFF) if mode == API_MODE_AUTO else mode


OPTIONS: list[Option] = [
    Option("image", ("--image",), "IMAGE", "the published image reference", required=True, param="image"),
    Option(
        "namespace",
        ("--namespace", "-n"),
        "NAMESPACE_NAME",
        "OpenChoreo namespace",
        required=True,
        param="namespace-name",
    ),
    Option("project", ("--project", "-p"), "PROJECT_NAME", "OpenChoreo project", required=True, param="project-name"),
    Option(
        "component",
        ("--component", "-c"),
        "COMPONENT_NAME",
        "OpenChoreo component",
        required=True,
        param="component-name",
    ),
    Option(
        "app_path",
        ("--app-path",),
        "APP_PATH",
        "application directory under the source root",
        default=".",
        param="app-path",
    ),
    Option("source_dir", ("--source-dir",), "SOURCE_DIR", "source root (the checkout)", default=contract.SOURCE_DIR),
    Option(
        "descriptor",
        ("--descriptor",),
        "WORKLOAD_DESCRIPTOR",
        f"workload descriptor (default: {contract.WORKLOAD_DESCRIPTOR_NAME} in the app directory when it exists)",
        default="",
        param="descriptor",
    ),
    Option(
        "output",
        ("--output-path", "-o"),
        "WORKLOAD_CR_OUTPUT",
        "file to write the Workload CR to",
        default=contract.WORKLOAD_CR_FILE,
    ),
    Option(
        "profile",
        ("--profile",),
        "OPENCHOREO_PROFILE",
        f"target OpenChoreo CR shape: {' | '.join(PROFILES)}",
        default=PROFILES[0],
        param="openchoreo-profile",
    ),
    Option(
        "max_bytes",
        ("--max-bytes",),
        "WORKLOAD_CR_MAX_BYTES",
        "fail when the CR is larger than this",
        default="1048576",
        param="workload-cr-max-bytes",
    ),
    # API contract. Secrets come from mounted files or env, never from parameters.
    Option(
        "api_mode",
        ("--api-mode",),
        "API_MODE",
        f"delivery: {' | '.join(API_MODES)} (auto: workloads on openchoreo-1.x, the workload-cr output only on "
        "openchoreo-0.17; off: write the CR without applying it)",
        default=API_MODE_AUTO,
        param="api-mode",
    ),
    Option(
        "api_server_url",
        ("--api-server-url",),
        "API_SERVER_URL",
        "OpenChoreo API server base URL",
        default="",
        param="api-server-url",
    ),
    Option(
        "api_host_header",
        ("--api-host-header",),
        "API_HOST_HEADER",
        "Host header for the API server",
        default="",
        param="api-server-host-header",
    ),
    Option(
        "oauth_token_url",
        ("--oauth-token-url",),
        "OAUTH_TOKEN_URL",
        "OAuth2 token endpoint",
        default="",
        param="oauth-token-url",
    ),
    Option(
        "oauth_host_header",
        ("--oauth-host-header",),
        "OAUTH_HOST_HEADER",
        "Host header for the token endpoint",
        default="",
        param="oauth-host-header",
    ),
    Option(
        "oauth_client_id",
        ("--oauth-client-id",),
        "OAUTH_CLIENT_ID",
        "OAuth2 client id",
        default="openchoreo-workload-publisher-client",
        param="oauth-client-id",
    ),
    Option(
        "oauth_scope",
        ("--oauth-scope",),
        "OAUTH_SCOPE",
        "OAuth2 scope (some IdPs require one)",
        default="",
        param="oauth-scope",
    ),
    Option(
        "oauth_client_secret_file",
        ("--oauth-client-secret-file",),
        "OAUTH_CLIENT_SECRET_FILE",
        "file holding the OAuth2 client secret (a mounted Secret)",
        default=f"{contract.API_CLIENT_SECRET_DIR}/client-secret",
    ),
    Option(
        "oauth_client_secret",
        ("--oauth-client-secret",),
        "OAUTH_CLIENT_SECRET",
        "OAuth2 client secret (prefer the file); never logged",
        default="",
        secret=True,
    ),
    Option(
        "token_file",
        ("--token-file",),
        "API_TOKEN_FILE",
        "bearer token file (legacy route)",
        default=f"{contract.API_CLIENT_SECRET_DIR}/token",
    ),
    Option(
        "run_name",
        ("--run-name",),
        "WORKFLOW_RUN_NAME",
        "WorkflowRun to annotate with the workload",
        default="",
        param="run-name",
    ),
    Option(
        "ca_bundle",
        ("--ca-bundle",),
        "API_CA_BUNDLE",
        "CA bundle for the API and token endpoints",
        default=f"{contract.API_CA_DIR}/ca.crt",
    ),
    Option(
        "api_tls_verify",
        ("--api-tls-verify",),
        "API_TLS_VERIFY",
        "verify TLS of the API and token endpoints",
        default="true",
        param="api-tls-verify",
    ),
    Option("api_retries", ("--api-retries",), "API_RETRIES", "attempts on connection errors and 5xx", default="4"),
    Option(
        "api_retry_backoff",
        ("--api-retry-backoff",),
        "API_RETRY_BACKOFF_SECONDS",
        "first delay between attempts in seconds; doubles after each attempt (capped at 30)",
        default="1",
    ),
    Option(
        "api_timeout",
        ("--api-timeout",),
        "API_TIMEOUT_SECONDS",
        "timeout of each API and token request in seconds",
        default="30",
    ),
]


# The option names, checked by mypy where a name is passed as text (`GenerateWorkloadOptions.label("...")`).
GenerateWorkloadOptionName = Literal[
    "image",
    "namespace",
    "project",
    "component",
    "app_path",
    "source_dir",
    "descriptor",
    "output",
    "profile",
    "max_bytes",
    "api_mode",
    "api_server_url",
    "api_host_header",
    "oauth_token_url",
    "oauth_host_header",
    "oauth_client_id",
    "oauth_scope",
    "oauth_client_secret_file",
    "oauth_client_secret",
    "token_file",
    "run_name",
    "ca_bundle",
    "api_tls_verify",
    "api_retries",
    "api_retry_backoff",
    "api_timeout",
]


@dataclass(frozen=True)
class GenerateWorkloadOptions(StepOptions[GenerateWorkloadOptionName]):
    """The generate-workload-cr options, typed (fields = the dests of `OPTIONS`)."""

    OPTIONS: ClassVar[Sequence[Option]] = OPTIONS

    image: str
    namespace: str
    project: str
    component: str
    app_path: str
    source_dir: str
    descriptor: str
    output: str
    profile: str
    max_bytes: str
    api_mode: str
    api_server_url: str
    api_host_header: str
    oauth_token_url: str
    oauth_host_header: str
    oauth_client_id: str
    oauth_scope: str
    oauth_client_secret_file: str
    oauth_client_secret: str
    token_file: str
    run_name: str
    ca_bundle: str
    api_tls_verify: str
    api_retries: str
    api_retry_backoff: str
    api_timeout: str
