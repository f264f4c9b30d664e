"""An OpenChoreo API server and OAuth2 token endpoint on 127.0.0.1, for the generate-workload-cr API tests.

A stand-in for the fault-injection and wire-level tests; the contract tests also run against the real
`openchoreo-api` v1.2.3 (testkit/real_openchoreo.py), and where the two answered differently this fake was
corrected to the real answers (issue 12, gate 1): the token endpoint (client_secret_post form fields), POST/GET/PUT
workloads (400 unknown component, 409 exists, 422 with the kube-apiserver's field errors for the real v1.2.3
Workload CRD, 404 missing, 400 plain text for an undecodable body, 500 for an empty name, unknown fields dropped),
GET/PUT workflowruns (the server merges labels, annotations and spec into the current object: no resourceVersion,
no 409), 401 in the JWT middleware's `{"error": CODE, "message": ...}` shape, 403 for a client no role binding
names, and the ≤0.17 legacy upsert route. Faults can be injected per route: HTTP statuses (e.g. 503) and dropped
connections. Every request is recorded with its method, path, headers and body so tests assert exactly what was
sent.

TLS: `make_tls_files()` creates a throwaway CA and a server certificate for 127.0.0.1 with the `openssl` CLI.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import json
import re
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema
import yaml

from testkit.loopback_http import LoopbackHttpServer
from testkit.paths import OPENCHOREO_1X_CRDS

TOKEN_PATH = "/oauth2/token"
_NAME = r"([^/]+)"
_WORKLOADS = re.compile(rf"^/api/v1/namespaces/{_NAME}/workloads$")
_WORKLOAD = re.compile(rf"^/api/v1/namespaces/{_NAME}/workloads/{_NAME}$")
_RUN = re.compile(rf"^/api/v1/namespaces/{_NAME}/workflowruns/{_NAME}$")
_LEGACY = re.compile(rf"^/api/v1/namespaces/{_NAME}/projects/{_NAME}/components/{_NAME}/workloads$")
LABEL_PROJECT = "openchoreo.dev/project"
LABEL_COMPONENT = "openchoreo.dev/component"


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A CA and a server certificate (SAN IP:127.0.0.1, DNS:localhost) signed by it, made with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "authorityKeyIdentifier=keyid,issuer\n"
        "subjectKeyIdentifier=hash\n"
    )

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=fake-openchoreo-test-ca",
        "-keyout", str(ca_key), "-out", str(ca_cert),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
    openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "2", "-out", str(cert), "-extfile", str(ext),
    )  # fmt: skip
    return TlsFiles(ca_cert=ca_cert, server_cert=cert, server_key=key)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {key: values[-1] for key, values in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Fault:
    """Answer `times` requests matching method + path regex with `status` (or drop the connection).
    With `after_handling`, the request is handled first (the server's state changes) and only the answer is lost."""

    method: str
    path: re.Pattern[str]
    status: int | None  # None: close the connection without an answer
    body: dict[str, Any] | str | None
    times: int | None  # None: forever
    after_handling: bool = False
    hits: int = 0


def _api_metadata(
    name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str], uid: str
) -> dict[str, Any]:
    """Object metadata as openchoreo-api v1.2.3 answers it: no resourceVersion (its models drop it), empty label
    and annotation maps left out, a uid and a creationTimestamp."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "uid": uid, "creationTimestamp": _CREATED}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return metadata


_CREATED = "2026-01-01T00:00:00Z"


@dataclass
class WorkflowRun:
    name: str
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def document(self) -> dict[str, Any]:
        return {
            "apiVersion": "openchoreo.dev/v1alpha1",
            "kind": "WorkflowRun",
            "metadata": _api_metadata(self.name, self.namespace, self.labels, self.annotations, self.uid),
            "spec": copy.deepcopy(self.spec),
            "status": {"conditions": [{"type": "WorkflowRunning", "status": "True"}]},
        }


@functools.cache
def _workload_spec_validator() -> jsonschema.protocols.Validator:
    crd = yaml.safe_load((OPENCHOREO_1X_CRDS / "openchoreo.dev_workloads.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


def _go_value(value: Any) -> str:
    """A bad value as the kube-apiserver prints it in a field error (Go's %v for numbers, %q for strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return '"object"' if isinstance(value, dict) else '"array"' if isinstance(value, list) else "null"


def _kubernetes_field_error(error: jsonschema.ValidationError) -> str:
    """`spec.x.y: <detail>` in the kube-apiserver's words for the schema keywords the Workload CRD uses."""
    path = "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    keyword, limit, value = error.validator, error.validator_value, error.instance
    if keyword == "required":
        missing = error.message.split("'")[1]
        return f"{path}.{missing}: Required value"
    if keyword == "maxLength":
        return f"{path}: Too long: may not be more than {limit} bytes"
    if keyword in ("maxItems", "maxProperties"):
        return f"{path}: Too many: {len(value)}: must have at most {limit} items"
    if keyword == "enum":
        return f"{path}: Unsupported value: {_go_value(value)}: supported values: " + ", ".join(
            json.dumps(item) for item in limit
        )
    details = {
        "maximum": f"{path} in body should be less than or equal to {limit}",
        "minimum": f"{path} in body should be greater than or equal to {limit}",
        "minLength": f"{path} in body should be at least {limit} chars long",
        "pattern": f"{path} in body should match '{limit}'",
        "type": f"{path} in body must be of type {limit}: {_go_value(value)}",
        "minItems": f"{path} in body should have at least {limit} items",
    }
    return f"{path}: Invalid value: {_go_value(value)}: {details.get(str(keyword), error.message)}"


# Schema failures after which the API server does not evaluate the CRD's CEL rules (apiextensions' hasBlockingErr).
_BLOCKING_KEYWORDS = {"enum", "required", "type", "maxLength", "maxItems", "maxProperties"}
_CEL_SKIPPED = (
    "some validation rules were not checked because the object was invalid; correct the existing errors to "
    "complete validation"
)


def _workload_document(
    namespace: str, name: str, labels: dict[str, str], annotations: dict[str, str], spec: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "Workload",
        "metadata": _api_metadata(name, namespace, labels, annotations, str(uuid.uuid4())),
        "spec": spec,
        "status": {},
    }


def _prune(value: Any, schema: dict[str, Any]) -> Any:
    """Drop the fields the schema does not declare, as decoding into OpenChoreo's Go types does."""
    if isinstance(value, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return value
        properties = schema.get("properties")
        if isinstance(properties, dict):
            return {key: _prune(item, properties[key]) for key, item in value.items() if key in properties}
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            return {key: _prune(item, additional) for key, item in value.items()}
        return value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune(item, schema["items"]) for item in value]
    return value


def _go_decode_error(error: jsonschema.ValidationError) -> str:
    kinds = {str: "string", bool: "bool", int: "number", float: "number", dict: "object", list: "array"}
    path = ".".join(str(p) for p in error.absolute_path if not isinstance(p, int))
    kind = kinds.get(type(error.instance), "value")
    return f"json: cannot unmarshal {kind} into Go struct field spec.{path} of type {error.validator_value}"


class FakeOpenChoreo:
    """The server. Use as a context manager; `url` is the base URL (http or https on 127.0.0.1)."""

    def __init__(
        self,
        *,
        client_id: str = "openchoreo-workload-publisher-client",
        client_secret: str = "fake-client-secret-value",
        required_scope: str | None = None,
        legacy_token: str = "fake-legacy-bearer-token",
        tls: TlsFiles | None = None,
        api_host: str | None = None,
        oauth_host: str | None = None,
        echo_secrets_in_errors: bool = False,
        unbound_clients: dict[str, str] | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        # Clients the IdP authenticates but no ClusterAuthzRoleBinding grants anything: the API answers 403.
        self.unbound_clients = dict(unbound_clients or {})
        self.token_clients: dict[str, str] = {}  # token -> the client id it was issued to (its `sub`)
        self.required_scope = required_scope
        self.legacy_token = legacy_token
        self.api_host = api_host
        self.oauth_host = oauth_host
        self.echo_secrets_in_errors = echo_secrets_in_errors
        self.tls = tls
        self.requests: list[RecordedRequest] = []
        self.components: dict[str, dict[str, str]] = {}  # namespace -> component -> project
        self.workloads: dict[tuple[str, str], dict[str, Any]] = {}
        self.legacy_workloads: dict[tuple[str, str], dict[str, Any]] = {}
        self.runs: dict[tuple[str, str], WorkflowRun] = {}
        self.valid_tokens: set[str] = set()
        self.issued_tokens: list[str] = []
        self.issue_expired_tokens = 0  # the next N tokens are issued already expired (the API answers 401)
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._validator = _workload_spec_validator()
        self._spec_schema: dict[str, Any] = self._validator.schema
        self._http = LoopbackHttpServer("fake-openchoreo", quiet_errors=True)

    # ---------------------------------------------------------------- set-up
    def add_component(self, namespace: str, project: str, component: str) -> None:
        self.components.setdefault(namespace, {})[component] = project

    def add_run(self, namespace: str, name: str, **annotations: str) -> WorkflowRun:
        run = WorkflowRun(name=name, namespace=namespace, annotations=dict(annotations))
        run.labels = {LABEL_PROJECT: "default", LABEL_COMPONENT: name.split("-run-", maxsplit=1)[0]}
        run.spec = {"workflow": {"kind": "ClusterWorkflow", "name": "dockerfile-builder"}}
        self.runs[(namespace, name)] = run
        return run

    def put_workload(self, namespace: str, document: dict[str, Any]) -> None:
        """A Workload created directly in the cluster (UI, kubectl): stored as given, no labels added."""
        metadata = document.get("metadata") or {}
        self.workloads[(namespace, metadata["name"])] = _workload_document(
            namespace, metadata["name"], metadata.get("labels") or {}, metadata.get("annotations") or {},
            copy.deepcopy(document.get("spec") or {}),
        )  # fmt: skip

    def inject(
        self,
        method: str,
        path_pattern: str,
        status: int | None,
        *,
        times: int | None = 1,
        body: dict[str, Any] | str | None = None,
        after_handling: bool = False,
    ) -> None:
        """Fail matching requests: `status`, or a dropped connection when None. Before normal handling, or
        after it with `after_handling` (the change is made, the answer is lost)."""
        self.faults.append(Fault(method, re.compile(path_pattern), status, body, times, after_handling))

    def requests_to(self, method: str, pattern: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # ---------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._http.port}"

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    def __enter__(self) -> FakeOpenChoreo:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        context: ssl.SSLContext | None = None
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls.server_cert), str(self.tls.server_key))
        self._http.start(type("Handler", (_Handler,), {"fake": self}), tls=context)

    def stop(self) -> None:
        self._http.stop()

    # ---------------------------------------------------------------- handling
    def handle(self, request: RecordedRequest) -> tuple[int, Any] | None:
        """Status and JSON body for a request; None drops the connection."""
        with self._lock:
            self.requests.append(request)
            for fault in self.faults:
                if fault.method == request.method and fault.path.search(request.path):
                    if fault.times is not None and fault.hits >= fault.times:
                        continue
                    fault.hits += 1
                    if fault.after_handling:
                        self._route(request)
                    if fault.status is None:
                        return None
                    body = fault.body if fault.body is not None else {"error": "injected", "code": "INTERNAL_ERROR"}
                    return fault.status, body
            return self._route(request)

    def _route(self, request: RecordedRequest) -> tuple[int, Any]:
        if request.path == TOKEN_PATH:
            return self._token(request)
        return self._api(request)

    def _host_ok(self, request: RecordedRequest, expected: str | None) -> bool:
        return expected is None or request.headers.get("host") == expected

    def _token(self, request: RecordedRequest) -> tuple[int, Any]:
        if not self._host_ok(request, self.oauth_host):
            return 404, "404 page not found (no route for this Host)"
        if request.method != "POST":
            return 405, {"error": "invalid_request", "error_description": "POST only"}
        if "authorization" in request.headers:
            return 401, {"error": "invalid_client", "error_description": "client_secret_basic is not allowed"}
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return 400, {"error": "invalid_request", "error_description": "form body expected"}
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        known = {self.client_id: self.client_secret, **self.unbound_clients}
        if form.get("client_id") not in known or form.get("client_secret") != known[form.get("client_id", "")]:
            description = "client authentication failed"
            if self.echo_secrets_in_errors:
                description += f" for secret {form.get('client_secret')!r}"
            return 401, {"error": "invalid_client", "error_description": description}
        if self.required_scope is not None and form.get("scope") != self.required_scope:
            return 400, {"error": "invalid_scope", "error_description": f"scope {self.required_scope!r} required"}
        token = f"fake-access-token-{next(self._counter)}-{'x' * 24}"
        self.issued_tokens.append(token)
        self.token_clients[token] = form["client_id"]
        if self.issue_expired_tokens > 0:
            self.issue_expired_tokens -= 1
        else:
            self.valid_tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}

    def _unauthorized(self, request: RecordedRequest) -> tuple[int, Any]:
        """openchoreo-api's JWT middleware: `error` is a code, `message` the text (not the handlers' shape)."""
        if "authorization" not in request.headers:
            return 401, {"error": "MISSING_TOKEN", "message": "missing or invalid authentication token"}
        code = "INVALID_TOKEN"
        if self.echo_secrets_in_errors:  # a hostile server quoting the credentials back where they are shown
            code += f" ({request.headers.get('authorization')})"
        return 401, {"error": code, "message": "invalid or expired token"}

    def _forbidden(self, request: RecordedRequest) -> tuple[int, Any]:
        return 403, {"error": "You do not have permission to perform this operation", "code": "FORBIDDEN"}

    def _api(self, request: RecordedRequest) -> tuple[int, Any]:
        if not self._host_ok(request, self.api_host):
            return 404, "404 page not found (no route for this Host)"
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if (match := _LEGACY.match(request.path)) is not None:
            if token != self.legacy_token:
                return self._unauthorized(request)
            return self._legacy(request, *map(unquote, match.groups()))
        if token not in self.valid_tokens:
            return self._unauthorized(request)
        if self.token_clients.get(token) in self.unbound_clients:
            return self._forbidden(request)
        if (match := _WORKLOADS.match(request.path)) is not None and request.method == "POST":
            return self._create_workload(request, unquote(match.group(1)))
        if (match := _WORKLOAD.match(request.path)) is not None:
            namespace, name = map(unquote, match.groups())
            if request.method == "GET":
                stored = self.workloads.get((namespace, name))
                if stored is None:
                    return 404, {"error": "Workload not found", "code": "NOT_FOUND"}
                return 200, copy.deepcopy(stored)
            if request.method == "PUT":
                return self._replace_workload(request, namespace, name)
        if (match := _RUN.match(request.path)) is not None:
            namespace, name = map(unquote, match.groups())
            run = self.runs.get((namespace, name))
            if run is None:
                return 404, {"error": "WorkflowRun not found", "code": "NOT_FOUND"}
            if request.method == "GET":
                return 200, run.document()
            if request.method == "PUT":
                return self._update_run(request, run)
        return 404, {"error": f"no route {request.method} {request.path}", "code": "NOT_FOUND"}

    def _body(self, request: RecordedRequest) -> dict[str, Any] | None:
        try:
            body = request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _decode(self, request: RecordedRequest) -> tuple[dict[str, Any] | None, tuple[int, Any] | None]:
        """openchoreo-api decodes the body into its Go types first: malformed JSON or a value of the wrong JSON
        type is a 400 with a plain-text body (Go's wording; its struct and type names approximated here), and
        fields the types do not have are silently dropped (here: pruned against the CRD schema)."""
        try:
            body = request.json()
        except ValueError as error:
            return None, (400, f"can't decode JSON body: {error}\n")
        if not isinstance(body, dict):
            return None, (400, "can't decode JSON body: json: cannot unmarshal array into Go value of type Workload\n")
        spec = body.get("spec")
        if isinstance(spec, dict):
            for problem in self._validator.iter_errors(spec):
                if problem.validator == "type" and problem.instance is not None:
                    return None, (400, f"can't decode JSON body: {_go_decode_error(problem)}\n")
            body["spec"] = _prune(spec, self._spec_schema)
        return body, None

    def _invalid(self, spec: Any, extra: list[str] | None = None) -> tuple[int, Any] | None:
        """The real server's 422: the kube-apiserver's field errors for the CRD schema, each `field: detail`, joined
        by "; " (openchoreo-api's ExtractValidationMessage), no object-name prefix and no details list. `extra`
        are CEL rule failures, which the API server checks only when no error blocks them."""
        errors = sorted(self._validator.iter_errors(spec), key=lambda e: [str(p) for p in e.absolute_path])
        causes = [_kubernetes_field_error(error) for error in errors]
        if any(error.validator in _BLOCKING_KEYWORDS for error in errors):
            causes.append(f"<nil>: Invalid value: null: {_CEL_SKIPPED}")
        elif extra:
            causes.extend(extra)
        if not causes:
            return None
        return 422, {"error": "; ".join(causes), "code": "UNPROCESSABLE_CONTENT"}

    def _create_workload(self, request: RecordedRequest, namespace: str) -> tuple[int, Any]:
        body, failure = self._decode(request)
        if body is None:
            return failure or (400, "can't decode JSON body\n")
        metadata = body.get("metadata") or {}
        name = metadata.get("name")
        spec = body.get("spec") or {}
        owner = spec.get("owner") or {}
        if not owner.get("componentName") or not name:
            # The real server looks the empty name up in the cluster; the client library refuses: a 500.
            return 500, {"error": "Internal server error", "code": "INTERNAL_ERROR"}
        if owner.get("componentName") not in self.components.get(namespace, {}):
            return 400, {"error": "Referenced component not found", "code": "BAD_REQUEST"}
        if (namespace, name) in self.workloads:
            return 409, {"error": "Workload already exists", "code": "CONFLICT"}
        if (invalid := self._invalid(spec)) is not None:
            return invalid
        labels = dict(metadata.get("labels") or {})
        labels[LABEL_PROJECT] = owner.get("projectName", "")
        labels[LABEL_COMPONENT] = owner.get("componentName", "")
        stored = _workload_document(namespace, name, labels, metadata.get("annotations") or {}, spec)
        self.workloads[(namespace, name)] = stored
        return 201, copy.deepcopy(stored)

    def _replace_workload(self, request: RecordedRequest, namespace: str, name: str) -> tuple[int, Any]:
        body, failure = self._decode(request)
        if body is None:
            return failure or (400, "can't decode JSON body\n")
        existing = self.workloads.get((namespace, name))
        if existing is None:
            return 404, {"error": "Workload not found", "code": "NOT_FOUND"}
        spec = body.get("spec") or {}
        owner_changed = spec.get("owner") != existing["spec"].get("owner")
        immutable = ["spec.owner: Invalid value: spec.owner is immutable"] if owner_changed else []
        if (invalid := self._invalid(spec, immutable)) is not None:
            return invalid
        # Only spec, labels and annotations are taken from the body (resourceVersion is ignored: no 409 here).
        metadata = body.get("metadata") or {}
        labels = dict(metadata.get("labels") or {})
        labels[LABEL_PROJECT] = existing["spec"]["owner"].get("projectName", "")
        labels[LABEL_COMPONENT] = existing["spec"]["owner"].get("componentName", "")
        replaced = _workload_document(namespace, name, labels, metadata.get("annotations") or {}, spec)
        replaced["metadata"]["uid"] = existing["metadata"]["uid"]
        self.workloads[(namespace, name)] = replaced
        return 200, copy.deepcopy(replaced)

    def _update_run(self, request: RecordedRequest, run: WorkflowRun) -> tuple[int, Any]:
        """v1.2.3 re-reads the run and retries its own update on conflict (the controller keeps writing the
        status), taking only labels, annotations and spec from the body: the client's resourceVersion is ignored
        and it never sees a 409 (inject one to test a client's retry)."""
        body = self._body(request)
        if body is None:
            return 400, "can't decode JSON body\n"
        metadata = body.get("metadata") or {}
        run.labels = dict(metadata.get("labels") or {})
        run.annotations = dict(metadata.get("annotations") or {})
        run.spec = copy.deepcopy(body.get("spec") or {})
        return 200, run.document()

    def _legacy(self, request: RecordedRequest, namespace: str, project: str, component: str) -> tuple[int, Any]:
        if request.method != "POST":
            return 405, {"success": False, "error": "method not allowed", "code": "METHOD_NOT_ALLOWED"}
        components = self.components.get(namespace, {})
        if project not in components.values():
            return 404, {"success": False, "error": f"project {project} not found", "code": "PROJECT_NOT_FOUND"}
        if components.get(component) != project:
            return 404, {"success": False, "error": f"component {component} not found", "code": "COMPONENT_NOT_FOUND"}
        spec = self._body(request)
        if spec is None:
            return 400, {"success": False, "error": "invalid request body", "code": "INVALID_REQUEST_BODY"}
        self.legacy_workloads[(namespace, component)] = {
            "metadata": {"name": f"{component}-workload", "namespace": namespace},
            "spec": spec,
        }
        return 201, {"success": True, "data": spec}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenChoreo
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
        )
        answer = self.fake.handle(request)
        if answer is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, payload = answer
        if isinstance(payload, str):
            data, content_type = payload.encode(), "text/plain; charset=utf-8"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"
        self.send_response(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


def iter_recorded_text(fake: FakeOpenChoreo) -> Iterator[str]:
    """Every recorded request as text (for leak checks on what was sent)."""
    for request in fake.requests:
        yield request.route
        yield json.dumps(request.headers)
        yield request.body.decode(errors="replace")
