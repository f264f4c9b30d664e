"""Deliver the Workload CR through the OpenChoreo API server (the v1.x contract, and the ≤0.17 legacy route).

OpenChoreo ≥ 1.0 no longer reads the `workload-cr` output: the `generate-workload-cr` step itself upserts the
Workload through the API server and records it on the WorkflowRun (contract §0, §1.6, §4.2, §5.1). Modes:

- `auto` (the default): `workloads` with `--profile openchoreo-1.x`, `off` with `openchoreo-0.17` (whose
  controller reads the `workload-cr` output; OpenChoreo 1.x reads nothing from it).
- `off`: nothing is sent (the CR still goes to the output file; on openchoreo-1.x the step says that no Workload
  was applied).
- `workloads` (OpenChoreo 1.x): an OAuth2 client-credentials token (form fields, `client_secret_post`), then
  `POST /api/v1/namespaces/{ns}/workloads` with the CR minus apiVersion/kind. On 409 a `PUT …/workloads/{name}`:
  a full replace when the repository had a descriptor, otherwise GET + change only `spec.container.image`, so
  edits made in the UI survive. Then, when a run name is set, the annotations `openchoreo.dev/workload` and
  `openchoreo.dev/workload-from-source` are set on the WorkflowRun (GET/PUT, retried on 409).
- `legacy` (OpenChoreo ≤ 0.17): `POST /api/v1/namespaces/{ns}/projects/{p}/components/{c}/workloads` with the
  bare spec and a bearer token read from a file; the server upserts and answers 201 `{"success": true}`.

Secrets (the client secret, every access token, the legacy token) are registered with the global redactor the
moment they are read, and error messages are redacted when they are built.

File options: `--oauth-client-secret-file`, `--token-file` and `--ca-bundle` default to paths inside optional
Secret mounts. A default path that does not exist is simply not used; a path set to anything else must exist,
or the step fails naming the option.

httpx is imported only when the HTTP client is created (steps/generate_workload/apiclient.py), so the step
runs without it when the API is off.
"""

from __future__ import annotations

import copy
import json
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

from steps.common import contract
from steps.common.cli import parse_bool
from steps.common.log import StepLogger, fail, redactor
from steps.generate_workload import safefs
from steps.generate_workload.apiclient import ApiClient, Response, describe
from steps.generate_workload.options import (
    API_MODE_AUTO,
    API_MODE_OFF,
    API_MODES,
    GenerateWorkloadOptionName,
    GenerateWorkloadOptions,
    effective_api_mode,
)

ANNOTATION_WORKLOAD = "openchoreo.dev/workload"
ANNOTATION_FROM_SOURCE = "openchoreo.dev/workload-from-source"
# The WorkflowRun controller keeps updating the run's status, so a PUT can lose the race a few times.
RUN_ANNOTATION_ATTEMPTS = 5
RUN_CONFLICT_DELAY_SECONDS = 0.2
MAX_RETRIES = 20
MAX_BACKOFF_SECONDS = 30.0
SECRET_FILE_MAX_BYTES = 64 * 1024
CA_BUNDLE_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_PROFILE = "openchoreo-1.x"


def option_name(dest: GenerateWorkloadOptionName) -> str:
    """`--flag (env VAR, parameter name)` for an option, as every error message names it."""
    return GenerateWorkloadOptions.label(dest)


def _default(dest: GenerateWorkloadOptionName) -> str:
    return GenerateWorkloadOptions.option(dest).default or ""


@dataclass(frozen=True)
class ApiSettings:
    """Validated API options. Secret values are excluded from repr so they cannot leak through a debug print."""

    mode: str
    server_url: str
    api_host_header: str | None
    tls_verify: bool
    ca_bundle: Path | None
    retries: int
    backoff_seconds: float
    timeout_seconds: float
    run_name: str | None
    # workloads mode
    oauth_token_url: str = ""
    oauth_host_header: str | None = None
    oauth_client_id: str = ""
    oauth_scope: str | None = None
    client_secret: str = field(default="", repr=False)
    # legacy mode
    token_file: Path | None = None
    legacy_token: str = field(default="", repr=False)


def _or_default(value: str, dest: GenerateWorkloadOptionName) -> str:
    """The option's text, or its table default when it is empty (as `parse_options` reads an empty value)."""
    return value.strip() or _default(dest)


def _url(opts: GenerateWorkloadOptions, value: str, dest: GenerateWorkloadOptionName, mode: str) -> str:
    value = value.strip()
    if not value:
        fail(
            f"{option_name(dest)} is required when --api-mode={mode}{_mode_origin(opts)}; "
            f"set {option_name('api_mode')} to off to write the CR without applying it (api-mode=off)",
            contract.EXIT_USAGE,
        )
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"{option_name(dest)}: expected an http(s) URL, got {value!r}", contract.EXIT_USAGE)
    if parts.query or parts.fragment:
        fail(f"{option_name(dest)}: the URL must not have a query or fragment, got {value!r}", contract.EXIT_USAGE)
    return value.rstrip("/")


def _number(value: str, dest: GenerateWorkloadOptionName, low: float, high: float, *, integer: bool) -> float:
    raw = _or_default(value, dest)
    try:
        number = int(raw) if integer else float(raw)
    except ValueError:
        fail(f"{option_name(dest)}: expected a number, got {raw!r}", contract.EXIT_USAGE)
    if not low <= number <= high:
        fail(f"{option_name(dest)}: expected {low:g}..{high:g}, got {raw!r}", contract.EXIT_USAGE)
    return number


def _read_secret_file(path: Path, dest: GenerateWorkloadOptionName) -> str:
    try:
        value = safefs.read_regular(path, SECRET_FILE_MAX_BYTES).decode("utf-8").strip()
    except OSError as error:
        fail(f"{option_name(dest)}: cannot read {path}: {safefs.reason(error)}", contract.EXIT_USAGE)
    except UnicodeDecodeError:
        fail(f"{option_name(dest)}: {path} is not UTF-8 text", contract.EXIT_USAGE)
    redactor.add(value)
    if not value:
        fail(f"{option_name(dest)}: {path} is empty")
    return value


def resolve_mode(opts: GenerateWorkloadOptions) -> str:
    """The effective API mode: `auto` follows the profile (workloads on openchoreo-1.x, off on openchoreo-0.17)."""
    mode = effective_api_mode(opts.api_mode, _profile(opts))
    if mode is None:
        given = opts.api_mode.strip().lower()
        fail(f"{option_name('api_mode')}: expected one of {', '.join(API_MODES)}, got {given!r}", contract.EXIT_USAGE)
    return mode


def _profile(opts: GenerateWorkloadOptions) -> str:
    return opts.profile or DEFAULT_PROFILE


def _mode_origin(opts: GenerateWorkloadOptions) -> str:
    """` (api-mode=auto on openchoreo-1.x)` when the mode was not given explicitly."""
    given = opts.api_mode.strip().lower() or API_MODE_AUTO
    return f" (api-mode=auto on {_profile(opts)})" if given == API_MODE_AUTO else ""


def _optional_file(value: str, dest: GenerateWorkloadOptionName, missing: str = "does not exist") -> Path | None:
    """A file option that defaults to a path in an optional Secret mount: None when the default is absent; an
    explicit path (anything but "" and the default) must exist. Exit 2 naming the option for a path that is
    unusable (not a regular file, a name too long, a component that is a file)."""
    path = Path(_or_default(value, dest))
    try:
        safefs.regular_file_size(path)
    except FileNotFoundError:
        if value.strip() not in ("", _default(dest)):
            fail(f"{option_name(dest)}: {path} {missing}", contract.EXIT_USAGE)
        return None
    except OSError as error:
        fail(f"{option_name(dest)}: {path}: {safefs.reason(error)}", contract.EXIT_USAGE)
    except ValueError:
        fail(f"{option_name(dest)}: the path contains a NUL character", contract.EXIT_USAGE)
    return path


def _check_ca_bundle(path: Path) -> None:
    """Load the CA bundle once up front, so an unusable one fails before any work (exit 2)."""
    try:
        data = safefs.read_regular(path, CA_BUNDLE_MAX_BYTES)
    except OSError as error:
        fail(f"{option_name('ca_bundle')}: cannot read {path}: {safefs.reason(error)}", contract.EXIT_USAGE)
    try:
        text = data.decode("ascii")
        ssl.create_default_context(cadata=text)
    except (UnicodeDecodeError, ssl.SSLError, ValueError) as error:
        detail = getattr(error, "reason", None) or type(error).__name__
        fail(
            f"{option_name('ca_bundle')}: cannot load {path}: no usable PEM CA certificate in it ({detail})",
            contract.EXIT_USAGE,
        )


def validate_api_options(opts: GenerateWorkloadOptions, log: StepLogger | None = None) -> ApiSettings | None:
    """Check the API options before any work is done. None when nothing is sent (api-mode off, or auto on 0.17).

    Reads the client secret / legacy token (registering them with the redactor) so that a missing Secret
    fails the step before the CR is even built. Errors name the option and its env var; exit code 2.
    """
    mode = resolve_mode(opts)
    if mode == API_MODE_OFF:
        return None

    server_url = _url(opts, opts.api_server_url, "api_server_url", mode)
    tls_verify = parse_bool(_or_default(opts.api_tls_verify, "api_tls_verify"), field=option_name("api_tls_verify"))
    ca_bundle = _optional_file(opts.ca_bundle, "ca_bundle", "does not exist or is not a file")
    if ca_bundle is not None and tls_verify:
        _check_ca_bundle(ca_bundle)
    common: dict[str, Any] = {
        "mode": mode,
        "server_url": server_url,
        "api_host_header": opts.api_host_header.strip() or None,
        "tls_verify": tls_verify,
        "ca_bundle": ca_bundle,
        "retries": int(_number(opts.api_retries, "api_retries", 1, MAX_RETRIES, integer=True)),
        "backoff_seconds": _number(opts.api_retry_backoff, "api_retry_backoff", 0, MAX_BACKOFF_SECONDS, integer=False),
        "timeout_seconds": _number(opts.api_timeout, "api_timeout", 0.1, 3600, integer=False),
        "run_name": opts.run_name.strip() or None,
    }
    if log is not None and not tls_verify:
        log.warning(f"TLS verification is off ({option_name('api_tls_verify')}=false)")

    if mode == "legacy":
        token_path = _optional_file(opts.token_file, "token_file") or Path(_or_default(opts.token_file, "token_file"))
        if not token_path.is_file():
            fail(
                f"{option_name('token_file')}: {token_path} does not exist; "
                "--api-mode=legacy needs a bearer token file (mount the Secret there)",
                contract.EXIT_USAGE,
            )
        return ApiSettings(**common, token_file=token_path, legacy_token=_read_secret_file(token_path, "token_file"))

    token_url = _url(opts, opts.oauth_token_url, "oauth_token_url", mode)
    client_id = opts.oauth_client_id.strip()
    if not client_id:
        fail(f"{option_name('oauth_client_id')} is required when --api-mode={mode}", contract.EXIT_USAGE)
    default_secret_path = Path(_or_default(opts.oauth_client_secret_file, "oauth_client_secret_file"))
    inline_secret = opts.oauth_client_secret
    if inline_secret:
        redactor.add(inline_secret)
        redactor.add_basic_auth(client_id, inline_secret)
    secret_path = _optional_file(opts.oauth_client_secret_file, "oauth_client_secret_file")
    if secret_path is not None:
        client_secret = _read_secret_file(secret_path, "oauth_client_secret_file")
        redactor.add_basic_auth(client_id, client_secret)
    elif inline_secret.strip():
        client_secret = inline_secret.strip()
    else:
        fail(
            f"the OAuth2 client secret is required when --api-mode={mode}: mount it at "
            f"{option_name('oauth_client_secret_file')} ({default_secret_path} does not exist) "
            f"or set {option_name('oauth_client_secret')}",
            contract.EXIT_USAGE,
        )
    return ApiSettings(
        **common,
        oauth_token_url=token_url,
        oauth_host_header=opts.oauth_host_header.strip() or None,
        oauth_client_id=client_id,
        oauth_scope=opts.oauth_scope.strip() or None,
        client_secret=client_secret,
    )


def publish(
    workload: Mapping[str, Any],
    *,
    from_source: bool,
    opts: GenerateWorkloadOptions,
    log: StepLogger,
    settings: ApiSettings | None = None,
) -> str | None:
    """Send the validated Workload CR to the API server as `opts.api_mode` says (`settings` when the caller
    validated the options already). Returns what happened (`Workload … created`, `… replaced`, `… image
    updated`, `… upserted through the legacy route`); None when nothing is sent.

    Raises StepError: exit 2 for bad options, 1 for a rejected request, 75 (EXIT_TRANSIENT) when connection
    errors or 5xx responses outlast the retries.
    """
    if settings is None:
        settings = validate_api_options(opts, log)
    if settings is None:
        return None
    namespace = _required_text(workload, ("metadata", "namespace"))
    _required_text(workload, ("metadata", "name"))
    profile = opts.profile.strip()
    expected_profile = "openchoreo-0.17" if settings.mode == "legacy" else "openchoreo-1.x"
    if profile and profile != expected_profile:
        log.warning(f"--api-mode={settings.mode} targets OpenChoreo {expected_profile} but --profile={profile}")

    with ApiClient(
        tls_verify=settings.tls_verify,
        ca_bundle=settings.ca_bundle,
        retries=settings.retries,
        backoff_seconds=settings.backoff_seconds,
        timeout_seconds=settings.timeout_seconds,
        log=log,
    ) as client:
        if settings.mode == "legacy":
            return _publish_legacy(client, settings, workload=workload, namespace=namespace, opts=opts, log=log)
        return _publish_workloads(
            client, settings, workload=workload, namespace=namespace, from_source=from_source, log=log
        )


def _required_text(document: Mapping[str, Any], path: tuple[str, ...]) -> str:
    node: Any = document
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, str) or not node:
        fail(f"workload CR: {'.'.join(path)} is missing or empty")
    return node


def _segment(value: str) -> str:
    return quote(value, safe="")


def _json(response: Response, what: str) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        fail(f"{describe(response)}: expected a JSON object for {what}")
    if not isinstance(payload, dict):
        fail(f"{describe(response)}: expected a JSON object for {what}")
    return payload


class _Session:
    """Authenticated requests: a bearer token, and on 401 exactly one token refresh for the whole step."""

    def __init__(
        self,
        client: ApiClient,
        settings: ApiSettings,
        get_token: Callable[[], str],
        log: StepLogger,
    ) -> None:
        self._client = client
        self._settings = settings
        self._get_token = get_token
        self._log = log
        self._token: str | None = None
        self._refreshed = False

    def request(self, method: str, url: str, body: Any = None) -> Response:
        if self._token is None:
            self._token = self._get_token()
        response = self._send(method, url, body)
        if response.status_code != 401:
            return response
        if self._refreshed:
            fail(f"{describe(response)}; the token was already refreshed once in this step, giving up")
        self._refreshed = True
        self._log.warning(f"{describe(response)}; getting a new token and retrying once")
        previous, self._token = self._token, self._get_token()
        if self._settings.mode == "legacy" and self._token == previous:
            fail(f"{describe(response)}; the token in {option_name('token_file')} was rejected")
        response = self._send(method, url, body)
        if response.status_code == 401:
            fail(f"{describe(response)}; rejected again after a token refresh")
        return response

    def _send(self, method: str, url: str, body: Any) -> Response:
        assert self._token is not None
        return self._client.send(
            method,
            url,
            json_body=body,
            bearer=self._token,
            host_header=self._settings.api_host_header,
        )


def _failure(response: Response, hint: str = "") -> NoReturn:
    if response.status_code == 403 and not hint:
        hint = "the caller lacks permission (OpenChoreo's workload-publisher role grants workload:create/update)"
    fail(describe(response) + (f"; {hint}" if hint else ""))


# --------------------------------------------------------------------------------------------------- workloads


def _oauth_token(client: ApiClient, settings: ApiSettings, log: StepLogger) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_id": settings.oauth_client_id,
        "client_secret": settings.client_secret,
    }
    if settings.oauth_scope:
        form["scope"] = settings.oauth_scope
    response = client.send("POST", settings.oauth_token_url, form=form, host_header=settings.oauth_host_header)
    if response.status_code != 200:
        _failure(response, f"check {option_name('oauth_client_id')} and the client secret")
    try:
        payload = response.json()
    except ValueError:
        payload = None
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token.strip():
        # Never echo the body: it may hold a token under another name.
        fail(f"{describe(response, include_body=False)}: the response has no access_token")
    token = token.strip()
    redactor.add(token)
    token_type = payload.get("token_type") if isinstance(payload, dict) else None
    if isinstance(token_type, str) and token_type.lower() != "bearer":
        log.warning(f"token endpoint returned token_type {token_type!r}; sending it as a Bearer token")
    log.info(f"got an access token for client {settings.oauth_client_id}")
    return token


def _publish_workloads(
    client: ApiClient,
    settings: ApiSettings,
    *,
    workload: Mapping[str, Any],
    namespace: str,
    from_source: bool,
    log: StepLogger,
) -> str:
    body = {key: copy.deepcopy(value) for key, value in workload.items() if key not in ("apiVersion", "kind")}
    name = _required_text(workload, ("metadata", "name"))
    image = _required_text(workload, ("spec", "container", "image"))
    session = _Session(client, settings, lambda: _oauth_token(client, settings, log), log)
    collection = f"{settings.server_url}/api/v1/namespaces/{_segment(namespace)}/workloads"
    item = f"{collection}/{_segment(name)}"

    response = session.request("POST", collection, body)
    if response.status_code in (200, 201):
        delivery = f"API server: Workload {namespace}/{name} created"
        log.info(f"created Workload {namespace}/{name}")
    elif response.status_code != 409:
        _failure(response)
    elif from_source:
        log.info(f"Workload {namespace}/{name} exists; replacing it with the one built from the descriptor")
        response = session.request("PUT", item, body)
        if response.status_code != 200:
            _failure(response)
        delivery = f"API server: Workload {namespace}/{name} replaced"
        log.info(f"replaced Workload {namespace}/{name}")
    else:
        log.info(f"Workload {namespace}/{name} exists and the repository has no descriptor; updating only the image")
        response = session.request("GET", item)
        if response.status_code != 200:
            _failure(response)
        merged = image_only_merge(_json(response, f"Workload {namespace}/{name}"), image)
        response = session.request("PUT", item, merged)
        if response.status_code != 200:
            _failure(response)
        delivery = f"API server: image of the existing Workload {namespace}/{name} updated (image-merged)"
        log.info(f"updated the image of Workload {namespace}/{name} to {image}")

    if settings.run_name:
        annotate_run(
            session,
            settings,
            namespace=namespace,
            run_name=settings.run_name,
            body=body,
            from_source=from_source,
            log=log,
        )
    else:
        log.info(f"no {option_name('run_name')}: the WorkflowRun is not annotated")
    return delivery


def image_only_merge(existing: Mapping[str, Any], image: str) -> dict[str, Any]:
    """The existing Workload with only `spec.container.image` changed (apiVersion/kind/status dropped)."""
    merged = {
        key: copy.deepcopy(value) for key, value in existing.items() if key not in ("apiVersion", "kind", "status")
    }
    spec = merged.get("spec")
    if not isinstance(spec, dict):
        spec = merged["spec"] = {}
    container = spec.get("container")
    if not isinstance(container, dict):
        container = spec["container"] = {}
    container["image"] = image
    return merged


def workload_annotation(body: Mapping[str, Any]) -> str:
    """The `openchoreo.dev/workload` value: compact JSON of the CR without apiVersion/kind, no trailing newline."""
    stripped = {key: value for key, value in body.items() if key not in ("apiVersion", "kind")}
    return json.dumps(stripped, separators=(",", ":"), ensure_ascii=False)


def annotate_run(
    session: _Session,
    settings: ApiSettings,
    *,
    namespace: str,
    run_name: str,
    body: Mapping[str, Any],
    from_source: bool,
    log: StepLogger,
) -> None:
    value = workload_annotation(body)
    if len(value.encode()) > contract.WORKLOAD_CR_WARN_BYTES:
        log.warning(
            f"the {ANNOTATION_WORKLOAD} annotation is {len(value.encode())} bytes; "
            "Kubernetes limits all annotations of an object to 256 KiB together"
        )
    url = f"{settings.server_url}/api/v1/namespaces/{_segment(namespace)}/workflowruns/{_segment(run_name)}"
    for attempt in range(1, RUN_ANNOTATION_ATTEMPTS + 1):
        response = session.request("GET", url)
        if response.status_code == 404:
            _failure(response, f"WorkflowRun {namespace}/{run_name} not found (from {option_name('run_name')})")
        if response.status_code != 200:
            _failure(response)
        run = {key: item for key, item in _json(response, "WorkflowRun").items() if key != "status"}
        metadata = run.get("metadata")
        if not isinstance(metadata, dict):
            metadata = run["metadata"] = {}
        annotations = metadata.get("annotations")
        if not isinstance(annotations, dict):
            annotations = metadata["annotations"] = {}
        annotations[ANNOTATION_WORKLOAD] = value
        annotations[ANNOTATION_FROM_SOURCE] = "true" if from_source else "false"
        response = session.request("PUT", url, run)
        if response.status_code == 200:
            log.info(f"annotated WorkflowRun {namespace}/{run_name} with the workload")
            return
        if response.status_code != 409:
            _failure(response)
        if attempt < RUN_ANNOTATION_ATTEMPTS:
            log.warning(f"{describe(response)}; the run changed meanwhile, reading it again")
            time.sleep(min(RUN_CONFLICT_DELAY_SECONDS, settings.backoff_seconds) * attempt)
    fail(
        f"{describe(response)}; WorkflowRun {namespace}/{run_name} still conflicting after "
        f"{RUN_ANNOTATION_ATTEMPTS} attempts",
        contract.EXIT_TRANSIENT,
    )


# ------------------------------------------------------------------------------------------------------ legacy


def _publish_legacy(
    client: ApiClient,
    settings: ApiSettings,
    *,
    workload: Mapping[str, Any],
    namespace: str,
    opts: GenerateWorkloadOptions,
    log: StepLogger,
) -> str:
    spec = workload.get("spec")
    if not isinstance(spec, Mapping):
        fail("workload CR: spec is missing")
    owner_value = spec.get("owner")
    owner: Mapping[str, Any] = owner_value if isinstance(owner_value, Mapping) else {}
    project = owner.get("projectName") or opts.project.strip()
    component = owner.get("componentName") or opts.component.strip()
    if not project or not component:
        fail("workload CR: spec.owner.projectName and spec.owner.componentName are required for --api-mode=legacy")
    assert settings.token_file is not None
    token_file = settings.token_file

    def read_token() -> str:
        return _read_secret_file(token_file, "token_file")

    tokens = iter([settings.legacy_token])
    session = _Session(client, settings, lambda: next(tokens, None) or read_token(), log)
    url = (
        f"{settings.server_url}/api/v1/namespaces/{_segment(namespace)}/projects/{_segment(str(project))}"
        f"/components/{_segment(str(component))}/workloads"
    )
    response = session.request("POST", url, copy.deepcopy(dict(spec)))
    if response.status_code not in (200, 201):
        _failure(response)
    payload = _json(response, "the legacy workload response")
    if payload.get("success") is not True:
        _failure(response, 'expected {"success": true}')
    if settings.run_name:
        log.info("--api-mode=legacy: the WorkflowRun is not annotated (OpenChoreo ≤0.17 reads the workload-cr output)")
    log.info(f"upserted the Workload of component {project}/{component} through the legacy route")
    return f"API server (legacy route): Workload of component {project}/{component} upserted"
