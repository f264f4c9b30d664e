"""HTTP transport of the API contract: TLS, Host overrides, bounded retries, readable and redacted failures.

Every request is bounded in time and memory: `--api-timeout` is the total deadline of one attempt (connect, TLS
handshake, sending, the status line and headers, the whole body), enforced below httpx on each socket operation,
so a server that trickles a byte a second cannot hold the step; and the body is read as a stream and refused past
TOKEN_BODY_MAX_BYTES (token endpoint) or API_BODY_MAX_BYTES (API server), before it is held in memory.

httpx is imported when an `ApiClient` is created, never at module import, so the step (and this module) load
without httpx when the API is off.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

from steps.common import contract
from steps.common.log import StepLogger, fail, redactor

if TYPE_CHECKING:
    import httpx

    Response = httpx.Response
else:
    Response = Any

BODY_EXCERPT_CHARS = 1000
MAX_BACKOFF_SECONDS = 30.0
# Response body caps. A token response is a few KiB; a Workload or WorkflowRun is at most what etcd stores (1.5 MiB).
TOKEN_BODY_MAX_BYTES = 256 * 1024
API_BODY_MAX_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024
# 429 and these are worth another attempt; every other status goes back to the caller.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def body_excerpt(response: Response) -> str:
    """The server's error in one line: `error (CODE); explanation; field: message` for OpenChoreo/OAuth JSON, else the
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
        for explanation in ("error_description", "message"):  # OAuth2; openchoreo-api's JWT middleware (401)
            if isinstance(payload.get(explanation), str):
                parts.append(payload[explanation])
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


class DeadlineExceeded(socket.timeout):
    """The attempt's total deadline passed (a subclass of socket.timeout, so httpcore maps it to a timeout)."""


class _Deadline:
    """The current attempt's deadline (time.monotonic()), shared by every stream the client opens."""

    def __init__(self) -> None:
        self.at: float | None = None
        self.seconds = 0.0

    def remaining(self, timeout: float | None) -> float | None:
        if self.at is None:
            return timeout
        left = self.at - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"no complete response within the total deadline of {self.seconds:g}s")
        return left if timeout is None else min(timeout, left)


def _deadline_backend(deadline: _Deadline) -> Any:
    """An httpcore network backend whose every socket operation waits at most until the deadline."""
    import httpcore

    def left(timeout: float | None, timeout_error: type[Exception]) -> float | None:
        # A deadline that has already passed is raised here, outside httpcore's own exception mapping: raise the
        # httpcore timeout it would have raised, so httpx reports it as a timeout like any other.
        try:
            return deadline.remaining(timeout)
        except DeadlineExceeded as error:
            raise timeout_error(str(error)) from error

    class Stream(httpcore.NetworkStream):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            data: bytes = self._inner.read(max_bytes, left(timeout, httpcore.ReadTimeout))
            return data

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, left(timeout, httpcore.WriteTimeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(
            self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
        ) -> Any:
            sock = self._inner.get_extra_info("socket")
            if sock is None or isinstance(sock, ssl.SSLSocket):
                return Stream(
                    self._inner.start_tls(ssl_context, server_hostname, left(timeout, httpcore.ConnectTimeout))
                )
            return Stream(_handshake(sock, ssl_context, server_hostname, deadline, timeout))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class Backend(httpcore.NetworkBackend):
        def __init__(self) -> None:
            self._inner = httpcore.SyncBackend()

        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> Any:
            return Stream(
                self._inner.connect_tcp(
                    host, port, left(timeout, httpcore.ConnectTimeout), local_address, socket_options
                )
            )

        def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
            return Stream(self._inner.connect_unix_socket(path, left(timeout, httpcore.ConnectTimeout), socket_options))

        def sleep(self, seconds: float) -> None:
            time.sleep(seconds)

    return Backend()


def _handshake(
    sock: socket.socket,
    context: ssl.SSLContext,
    server_hostname: str | None,
    deadline: _Deadline,
    timeout: float | None,
) -> Any:
    """The TLS handshake step by step, so a server that trickles it is cut off at the deadline too."""
    import httpcore

    try:
        tls = context.wrap_socket(sock, server_hostname=server_hostname, do_handshake_on_connect=False)
        tls.settimeout(0)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                want_read = True
            except ssl.SSLWantWriteError:
                want_read = False
            # Outside the except blocks: a deadline error must not carry the want-read "error" as its context.
            if not _wait(tls, deadline.remaining(timeout), read=want_read):
                raise TimeoutError("TLS handshake timed out")
    except TimeoutError as error:
        sock.close()
        raise httpcore.ConnectTimeout(str(error)) from error
    except OSError as error:
        sock.close()
        if isinstance(error, ssl.SSLError):
            raise httpcore.ConnectError(error) from error
        raise httpcore.ConnectError(str(error)) from error
    tls.settimeout(None)
    return _tls_stream(tls)


def _tls_stream(tls: ssl.SSLSocket) -> Any:
    """An httpcore stream over a socket whose TLS handshake is done (httpcore's own one is private)."""
    import httpcore

    def mapped(timeout_error: type[Exception], other_error: type[Exception]) -> Callable[[OSError], Exception]:
        return lambda error: (timeout_error if isinstance(error, socket.timeout) else other_error)(str(error))

    as_read_error = mapped(httpcore.ReadTimeout, httpcore.ReadError)
    as_write_error = mapped(httpcore.WriteTimeout, httpcore.WriteError)

    class TlsStream(httpcore.NetworkStream):
        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            try:
                tls.settimeout(timeout)
                return tls.recv(max_bytes)
            except OSError as error:
                raise as_read_error(error) from error

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            try:
                tls.settimeout(timeout)
                tls.sendall(buffer)
            except OSError as error:
                raise as_write_error(error) from error

        def close(self) -> None:
            tls.close()

        def start_tls(
            self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
        ) -> Any:
            raise httpcore.ConnectError("TLS inside TLS (an HTTPS proxy) is not supported")

        def get_extra_info(self, info: str) -> Any:
            if info == "is_readable":  # an idle pooled connection the server closed or wrote to: not reusable
                return _wait(tls, 0, read=True)
            return {
                "ssl_object": tls,
                "socket": tls,
                "client_addr": tls.getsockname(),
                "server_addr": tls.getpeername(),
            }.get(info)

    return TlsStream()


def _deadline_transport(verify: ssl.SSLContext | bool, deadline: _Deadline) -> Any:
    """An httpx transport (the public `httpx.BaseTransport` interface) over an httpcore connection pool whose
    network backend enforces the deadline (httpx.HTTPTransport has no public way to choose the backend)."""
    import httpcore
    import httpx

    core_errors = (
        httpcore.NetworkError,
        httpcore.TimeoutException,
        httpcore.ProtocolError,
        httpcore.ProxyError,
        httpcore.UnsupportedProtocol,
    )

    def as_httpx_error(error: Exception) -> Exception:
        # httpx names each of httpcore's transport errors the same: ReadTimeout -> httpx.ReadTimeout, ...
        kind = getattr(httpx, type(error).__name__, httpx.TransportError)
        return kind(str(error)) if isinstance(kind, type) and issubclass(kind, httpx.TransportError) else error

    pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(verify=verify),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=_deadline_backend(deadline),
    )

    class Body(httpx.SyncByteStream):
        def __init__(self, response: httpcore.Response) -> None:
            self._response = response

        def __iter__(self) -> Iterator[bytes]:
            try:
                yield from self._response.iter_stream()
            except core_errors as error:
                raise as_httpx_error(error) from error

        def close(self) -> None:
            self._response.close()

    class Transport(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            url = request.url
            core_request = httpcore.Request(
                method=request.method,
                url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
            try:
                response = pool.handle_request(core_request)
            except core_errors as error:
                raise as_httpx_error(error) from error
            return httpx.Response(
                response.status, headers=response.headers, stream=Body(response), extensions=response.extensions
            )

        def close(self) -> None:
            pool.close()

    return Transport()


def _wait(sock: socket.socket, seconds: float | None, *, read: bool) -> bool:
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ if read else selectors.EVENT_WRITE)
        return bool(selector.select(seconds))


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
                    fail(f"--ca-bundle (env API_CA_BUNDLE): cannot load {ca_bundle}: {error}")
        self._timeout = timeout_seconds
        self._deadline = _Deadline()
        # httpx has per-operation timeouts only; the deadline is enforced on each socket operation below it.
        transport = _deadline_transport(verify, self._deadline)
        self._client = httpx.Client(transport=transport, timeout=timeout_seconds, follow_redirects=False)

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
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": f"{contract.PACK_NAME}/{contract.PACK_VERSION}",
        }
        if host_header:
            headers["Host"] = host_header
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        content: bytes | None = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
        path = self._httpx.URL(url).path
        limit = TOKEN_BODY_MAX_BYTES if form is not None else API_BODY_MAX_BYTES
        for attempt in range(1, self._retries + 1):
            try:
                response = self._attempt(method, url, headers=headers, content=content, form=form, limit=limit)
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
                fail(f"{problem}; gave up after {self._retries} attempt(s)", contract.EXIT_TRANSIENT)
            delay = min(self._backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
            self._log.warning(f"{problem}; retrying in {delay:g}s (attempt {attempt + 1} of {self._retries})")
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None,
        form: Mapping[str, str] | None,
        limit: int,
    ) -> Response:
        """One request within the total deadline, its body read up to `limit` bytes."""
        request = self._client.build_request(method, url, headers=headers, content=content, data=form)
        self._deadline.seconds = self._timeout
        self._deadline.at = time.monotonic() + self._timeout
        try:
            streamed = self._client.send(request, stream=True)
            try:
                body = self._read_body(streamed, limit)
            finally:
                streamed.close()
        except self._httpx.TimeoutException as error:
            if self._deadline.at is not None and time.monotonic() >= self._deadline.at - 0.05:
                raise self._httpx.ReadTimeout(
                    f"no complete response within the total deadline of {self._timeout:g}s (--api-timeout)",
                    request=request,
                ) from error
            raise
        finally:
            self._deadline.at = None
        kept = [
            (k, v) for k, v in streamed.headers.multi_items() if k.lower() not in ("content-encoding", "content-length")
        ]
        return self._httpx.Response(
            streamed.status_code, headers=kept, content=body, request=request, extensions=streamed.extensions
        )

    def _read_body(self, response: Response, limit: int) -> bytes:
        where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            fail(f"{where}: the response body is {int(declared)} bytes, above the limit of {limit} bytes; not read")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        decoder: Any = None
        if encoding in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            decoder = zlib.decompressobj()
        elif encoding not in ("", "identity"):
            fail(f"{where}: unsupported Content-Encoding {encoding!r} (the step asks for identity)")
        chunks: list[bytes] = []
        size = 0
        for raw in response.iter_raw(_CHUNK):
            chunk = raw
            if decoder is not None:
                try:
                    chunk = decoder.decompress(raw, limit + 1 - size)
                except zlib.error:
                    fail(f"{where}: the {encoding} response body is corrupt")
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                fail(f"{where}: the response body is larger than the limit of {limit} bytes; stopped reading")
        return b"".join(chunks)

    def _tls_failure(self, method: str, url: str, error: ssl.SSLError) -> NoReturn:
        parsed = self._httpx.URL(url)
        reason = getattr(error, "verify_message", None) or getattr(error, "reason", None) or str(error)
        if isinstance(error, ssl.SSLCertVerificationError):
            where = f"the CA bundle {self._ca_bundle}" if self._ca_bundle else "the system CAs"
            fail(
                f"{method} {parsed.path}: TLS verification of {parsed.scheme}://{parsed.netloc.decode()} failed "
                f"({reason}) against {where}. Mount the CA that signed the server's certificate at "
                "--ca-bundle (env API_CA_BUNDLE), or set --api-tls-verify=false (not recommended)"
            )
        fail(f"{method} {parsed.path}: TLS handshake with {parsed.netloc.decode()} failed: {reason}")
