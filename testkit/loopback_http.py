"""One threaded HTTP server on 127.0.0.1 and a free port, for the test kit's stand-ins and helpers.

The git smart-HTTP server, the forge API, the OAuth issuer and the fake OpenChoreo API server all start and stop
the same way: `http.server` on loopback only, request threads that never keep the process alive, an optional
TLS wrap, and a stop that waits for the serving thread.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections and failed TLS handshakes are what some tests provoke: no traceback on stderr."""


class LoopbackHttpServer:
    """`start()` serves `handler` on 127.0.0.1:<free port> in a daemon thread; `stop()` shuts it down."""

    def __init__(self, name: str, *, quiet_errors: bool = False) -> None:
        self.name = name
        """The serving thread's name (it shows in thread dumps of a hanging test)."""
        self.quiet_errors = quiet_errors
        """Swallow the errors of a connection (client gone, TLS refused) instead of printing a traceback."""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, f"{self.name} is not started"
        port: int = self._server.server_address[1]
        return port

    def start(self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None) -> None:
        server_class = _QuietServer if self.quiet_errors else ThreadingHTTPServer
        server = server_class(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
