"""A fault-injecting TCP proxy on 127.0.0.1, put in front of a test registry.

The first `faults` connections (all of them with `faults=-1`) fail in one of two ways:
  * `mode="status"`: the proxy reads the request head and answers `HTTP/1.1 <status>` with `Connection: close`,
    so every failed connection is exactly one failed request (an overloaded registry or load balancer);
  * `mode="drop"`: the connection is reset (RST) as soon as it is accepted (a flaky network or proxy).
Later connections are forwarded byte for byte to the upstream. Because the proxy works below HTTP it also fronts
a TLS registry in "drop" mode; "status" needs a plain HTTP upstream.

The proxy is bounded: it stops itself after `lifetime` seconds, and on `stop()`/context exit; every thread is
a daemon and every socket has a timeout.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from http import HTTPStatus
from types import TracebackType
from typing import Literal

Mode = Literal["status", "drop"]
_CHUNK = 64 * 1024


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        mode: Mode = "status",
        faults: int = 1,
        status: int = 503,
        lifetime: float = 180.0,
    ) -> None:
        host, _, port = upstream.rpartition(":")
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the fault proxy only forwards to 127.0.0.1, not {upstream!r}")
        self.upstream = ("127.0.0.1", int(port))
        self.mode: Mode = mode
        self.faults = faults
        self.status = status
        self.lifetime = lifetime
        self.connections = 0  # accepted so far
        self.faulted = 0  # of which failed on purpose
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"faultproxy-{self.port}", daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def heal(self) -> None:
        """The fault is over: forward every connection from now on (a test heals the registry mid-run)."""
        with self._lock:
            self.faults = self.faulted

    def _should_fault(self) -> bool:
        with self._lock:
            self.connections += 1
            if self.faults < 0 or self.faulted < self.faults:
                self.faulted += 1
                return True
            return False

    def _serve(self) -> None:
        deadline = time.monotonic() + self.lifetime
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            handler = self._fail if self._should_fault() else self._forward
            threading.Thread(target=handler, args=(client,), daemon=True).start()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _fail(self, client: socket.socket) -> None:
        with client:
            if self.mode == "drop":
                # SO_LINGER 0: close() sends RST, the client sees "connection reset by peer" / EOF.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            client.settimeout(5)
            head = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    data = client.recv(4096)
                    if not data:
                        break
                    head += data
                    if head.startswith(b"\x16"):
                        # A TLS ClientHello (clients probe https first): no HTTP to answer, reset it.
                        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        return
            reason = HTTPStatus(self.status).phrase
            body = f'{{"errors":[{{"code":"UNAVAILABLE","message":"injected fault {self.status}"}}]}}'.encode()
            response = (
                f"HTTP/1.1 {self.status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode() + body
            with contextlib.suppress(OSError):
                client.sendall(response)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        with client, upstream, selectors.DefaultSelector() as selector:
            peers = {client: upstream, upstream: client}
            for sock in peers:
                sock.settimeout(30)
                selector.register(sock, selectors.EVENT_READ)
            idle_deadline = time.monotonic() + 120
            while not self._stop.is_set() and time.monotonic() < idle_deadline:
                events = selector.select(timeout=0.5)
                for key, _ in events:
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = source.recv(_CHUNK)
                        if not data:
                            return
                        peers[source].sendall(data)
                    except OSError:
                        return
                    idle_deadline = time.monotonic() + 120
