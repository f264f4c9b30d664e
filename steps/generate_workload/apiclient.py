"""HTTP transport of the API contract: TLS, Host overrides, bounded retries, readable and redacted failures.

httpx is imported when an `ApiClient` is created, never at module import, so the step (and this module) load
without httpx when the API is off.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

from steps.common import contract
from steps.common.log import StepError, StepLogger, redactor

if TYPE_CHECKING:
    import httpx

    Response = httpx.Response
else:
    Response = Any

BODY_EXCERPT_CHARS = 1000
MAX_BACKOFF_SECONDS = 30.0
# 429 and these are worth another attempt; every other status goes back to the caller.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _fail(message: str, exit_code: int = contract.EXIT_FAILURE) -> NoReturn:
    raise StepError(redactor(message), exit_code)


def body_excerpt(response: Response) -> str:
    """The server's error in one line: `error (CODE): field: message` for OpenChoreo/OAuth JSON, else the
    text with whitespace collapsed, cut at BODY_EXCERPT_CHARS."""
    raw = response.content or b""
    if not raw.strip():
        return "(empty body)"
    text = raw.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        parts = [payload["error"]]
        if isinstance(payload.get("code"), str):
            parts[0] += f" ({payload['code']})"
        if isinstance(payload.get("error_description"), str):
            parts.append(payload["error_description"])
        details = payload.get("details")
        if isinstance(details, list):
            for detail in details:
                if isinstance(detail, dict):
                    item = f"{detail.get('field', '?')}: {detail.get('message', '')}"
                    if item not in parts[0]:
                        parts.append(item)
        text = "; ".join(parts)
    text = " ".join(text.split())
    if len(text) > BODY_EXCERPT_CHARS:
        text = f"{text[:BODY_EXCERPT_CHARS]}… ({len(raw)} bytes in all)"
    return redactor(text)


def describe(response: Response, *, include_body: bool = True) -> str:
    """`METHOD /path -> 409 Conflict: <server error>`: what every failure line starts with."""
    request = response.request
    line = f"{request.method} {request.url.path} -> {response.status_code} {response.reason_phrase}".rstrip()
    if include_body:
        line += f": {body_excerpt(response)}"
    return redactor(line)


def _tls_error(error: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__ or current.__context__
    return None


class ApiClient:
    """One httpx.Client for the step. `send` retries connection errors and 429/5xx with exponential backoff
    and returns every other response to the caller; after the last attempt it raises EXIT_TRANSIENT."""

    def __init__(
        self,
        *,
        tls_verify: bool,
        ca_bundle: Path | None,
        retries: int,
        backoff_seconds: float,
        timeout_seconds: float,
        log: StepLogger,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self._httpx = httpx
        self._retries = max(1, retries)
        self._backoff = max(0.0, backoff_seconds)
        self._log = log
        self._sleep = sleep
        self._ca_bundle = ca_bundle
        verify: ssl.SSLContext | bool
        if not tls_verify:
            verify = False
        else:
            # The system/certifi roots plus the mounted CA: the API may use a private CA while the IdP does not.
            verify = httpx.create_ssl_context(verify=True)
            if ca_bundle is not None:
                try:
                    verify.load_verify_locations(cafile=str(ca_bundle))
                except (OSError, ssl.SSLError) as error:
                    _fail(f"--ca-bundle (env API_CA_BUNDLE): cannot load {ca_bundle}: {error}")
        self._client = httpx.Client(verify=verify, timeout=timeout_seconds, follow_redirects=False)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def send(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        bearer: str | None = None,
        host_header: str | None = None,
    ) -> Response:
        headers = {"Accept": "application/json", "User-Agent": f"{contract.PACK_NAME}/{contract.PACK_VERSION}"}
        if host_header:
            headers["Host"] = host_header
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        content: bytes | None = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
        path = self._httpx.URL(url).path
        for attempt in range(1, self._retries + 1):
            try:
                response = self._client.request(method, url, headers=headers, content=content, data=form)
            except self._httpx.TransportError as error:
                tls = _tls_error(error)
                if tls is not None:
                    self._tls_failure(method, url, tls)
                detail = str(error).rstrip(".") or "no details"
                problem = f"{method} {path}: {type(error).__name__}: {detail}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                problem = describe(response)
            if attempt == self._retries:
                _fail(f"{problem}; gave up after {self._retries} attempt(s)", contract.EXIT_TRANSIENT)
            delay = min(self._backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
            self._log.warning(f"{problem}; retrying in {delay:g}s (attempt {attempt + 1} of {self._retries})")
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _tls_failure(self, method: str, url: str, error: ssl.SSLError) -> NoReturn:
        parsed = self._httpx.URL(url)
        reason = getattr(error, "verify_message", None) or getattr(error, "reason", None) or str(error)
        if isinstance(error, ssl.SSLCertVerificationError):
            where = f"the CA bundle {self._ca_bundle}" if self._ca_bundle else "the system CAs"
            _fail(
                f"{method} {parsed.path}: TLS verification of {parsed.scheme}://{parsed.netloc.decode()} failed "
                f"({reason}) against {where}. Mount the CA that signed the server's certificate at "
                "--ca-bundle (env API_CA_BUNDLE), or set --api-tls-verify=false (not recommended)"
            )
        _fail(f"{method} {parsed.path}: TLS handshake with {parsed.netloc.decode()} failed: {reason}")
