"""generate-workload-cr under hostile input (issue 10) and its delivery modes (issue 9 §1, the step side).

One test (or a few) per class of the issue, each failing on the step before the fix: bounded work for aliases and
`<<` merges, the nesting limit, referenced files that are not regular, API responses bounded in size and time,
strict identities, the output path checked before any work, no stale CR on any failure path (argument errors,
SIGTERM), bad paths as usage errors, secrets in every encoding, the libyaml emitter's bytes, and the smaller
deviations decided against occ. Inputs that could hang or crash the interpreter run the step as a subprocess with a
timeout, so a regression fails instead of hanging the suite; the timeouts are hang guards, not speed goals (those
are in benchmarks/generate_workload.py).

The HTTP servers here are stand-ins on 127.0.0.1 written for misbehaving on purpose (trickling bytes, huge bodies,
never answering, echoing the form): the real OpenChoreo API server does none of that, which is the point.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import socketserver
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steps.common import contract
from steps.common.log import REDACTED, Redactor
from steps.generate_workload import descriptor as descriptor_module
from steps.generate_workload.descriptor import MAX_ALIAS_EXPANSION, MAX_DEPTH, MAX_UNKNOWN_KEY_WARNINGS
from steps.generate_workload.main import FastDumper, PythonDumper, needs_python_emitter, render_yaml
from testkit import processes
from testkit.crd_schema import workload_validator
from testkit.fake_openchoreo import make_tls_files
from testkit.generate_workload import IMAGE, P017, P1X, check_result, fails, generate, invoke, ok
from testkit.paths import ROOT, SAMPLE_WORKLOADS

GUARD = 90  # seconds: a hang guard for subprocess runs (each takes well under a second)
SECRET = 'p@ss/w0rd+"quoted" ünï'


# ---------------------------------------------------------------------------------------------------------------------
# Helpers


@dataclass
class Proc:
    code: int
    out: str
    err: str
    output: Path

    @property
    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if "] error: " in line]


def step_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "HOME": "/tmp", "LANG": "C.UTF-8"}
    env.update(extra or {})
    return env


def run_step(
    source: Path,
    *extra: str,
    output: Path,
    env: Mapping[str, str] | None = None,
    component: str = "cart",
    api_mode: str | None = "off",
    timeout: float = GUARD,
) -> Proc:
    """`python -m steps.generate_workload` as a subprocess (hang guard: `timeout`)."""
    argv = [
        "--image",
        IMAGE,
        "-n",
        "team-ns",
        "-p",
        "shop",
        "-c",
        component,
        "--source-dir",
        str(source),
        "-o",
        str(output),
    ]
    if api_mode is not None:
        argv += ["--api-mode", api_mode]
    done = processes.python_module("steps.generate_workload", [*argv, *extra], env=step_env(env), timeout=timeout)
    return Proc(done.returncode, done.stdout, done.stderr, output)


def source_with(tmp: Path, descriptor: str | bytes | None, files: Mapping[str, str | bytes] | None = None) -> Path:
    source = tmp / "src"
    source.mkdir(parents=True, exist_ok=True)
    if descriptor is not None:
        target = source / "workload.yaml"
        if isinstance(descriptor, bytes):
            target.write_bytes(descriptor)
        else:
            target.write_text(descriptor, encoding="utf-8")
    for name, content in (files or {}).items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return source


def assert_clean_failure(proc: Proc, code: int, *fragments: str) -> str:
    assert proc.code == code, proc.err
    assert "Traceback" not in proc.err and "internal error" not in proc.err, proc.err
    assert len(proc.errors) == 1, proc.err
    assert not proc.output.exists() or not proc.output.is_file() or "kind: Workload" not in proc.output.read_text()
    for fragment in fragments:
        assert fragment in proc.errors[0], proc.err
    return proc.errors[0]


def stale_cr(output: Path) -> None:
    """An earlier run's CR at `output` (written by the step itself)."""
    source = output.parent / "stale-src"
    source.mkdir(parents=True, exist_ok=True)
    code, _out, err = invoke(
        ["--image", IMAGE, "-n", "team-ns", "-p", "shop", "-c", "old", "--source-dir", str(source), "-o", str(output)]
    )
    assert code == 0, err
    assert output.read_text().startswith("apiVersion: openchoreo.dev/v1alpha1\nkind: Workload\n")


# A tiny HTTP/1.1 server on 127.0.0.1 whose behaviour each test chooses.
Handler = Callable[[socket.socket, bytes, "Server"], None]


@dataclass
class Server:
    handler: Handler
    requests: list[bytes] = field(default_factory=list)
    bytes_sent: int = 0
    _server: socketserver.ThreadingTCPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Server:
        outer = self

        class _Handle(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                conn.settimeout(GUARD)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":")[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        0,
                    )
                    while len(body) < length:
                        body += conn.recv(65536)
                    outer.requests.append(head + b"\r\n\r\n" + body)
                    outer.handler(conn, head + b"\r\n\r\n" + body, outer)
                except OSError:
                    return

        socketserver.ThreadingTCPServer.daemon_threads = True
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handle)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.bytes_sent += len(data)


def respond(
    conn: socket.socket, server: Server, status: str, body: bytes, content_type: str = "application/json"
) -> None:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    server.send(conn, head.encode() + body)


def token_then(api: Handler) -> Handler:
    """A token endpoint (`/token`) that hands out a token, and `api` for everything else."""

    def handle(conn: socket.socket, request: bytes, server: Server) -> None:
        if request.startswith(b"POST /token "):
            respond(conn, server, "200 OK", b'{"access_token": "tok-0123456789abcdef", "token_type": "Bearer"}')
        else:
            api(conn, request, server)

    return handle


def api_args(server: Server, secret_file: Path, *extra: str) -> list[str]:
    return [
        "--api-server-url", server.url, "--oauth-token-url", f"{server.url}/token",
        "--oauth-client-secret-file", str(secret_file), "--api-retries", "1", "--api-retry-backoff", "0", *extra,
    ]  # fmt: skip


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "client-secret"
    path.write_text(SECRET)
    return path


# ---------------------------------------------------------------------------------------------------------------------
# Bounded work: `<<` merge fan-out and alias fan-out


def merge_bomb(levels: int) -> str:
    """Each anchor merges the previous one twice: 2**levels merged keys for a naive expansion (~1 KB at 25)."""
    lines = ["a0: &a0 {k0: v}"]
    lines += [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], k{i}: v}}" for i in range(1, levels + 1)]
    lines.append(f"endpoints:\n  - <<: *a{levels}\n    name: api\n    port: 8080\n    type: HTTP")
    return "\n".join(lines) + "\n"


def test_a_merge_key_bomb_converts_quickly(tmp_path: Path) -> None:
    text = merge_bomb(25)
    assert len(text) < 1100
    proc = run_step(source_with(tmp_path, text), output=tmp_path / "cr.yaml")  # before the fix: minutes
    assert proc.code == 0, proc.err
    cr = yaml.safe_load(proc.output.read_text())
    assert cr["spec"]["endpoints"] == {"api": {"port": 8080, "type": "HTTP"}}
    assert sum("unknown key" in line for line in proc.err.splitlines()) <= MAX_UNKNOWN_KEY_WARNINGS + 1


def test_merges_that_expand_past_the_cap_fail_with_file_and_line(tmp_path: Path) -> None:
    keys = ", ".join(f"k{i}: v" for i in range(20_000))
    text = f"base: &base {{{keys}}}\n" + "".join(f"m{i}: {{<<: *base}}\n" for i in range(3))
    result = fails(tmp_path, text)
    assert f"`<<` merges expand to more than {MAX_ALIAS_EXPANSION} keys" in result.error
    assert "workload.yaml:1:" in result.error


def test_alias_fan_out_is_bounded(tmp_path: Path) -> None:
    """The same big mapping aliased as many endpoints: each alias would be decoded (and warned about) again."""
    keys = "\n".join(f"  k{i}: v" for i in range(20_000))
    text = f"x: &x\n{keys}\n  name: api\n  port: 80\n  type: TCP\nendpoints: [{', '.join(['*x'] * 2000)}]\n"
    proc = run_step(source_with(tmp_path, text), output=tmp_path / "cr.yaml")
    assert_clean_failure(proc, 1, "aliases and `<<` merges expand the descriptor by more than", "endpoints")


@pytest.mark.parametrize(
    "shape",
    ["deep-flow", "deep-block", "merge-chain", "many-keys", "aliases"],
)
def test_the_largest_descriptors_the_size_limit_allows_finish(tmp_path: Path, shape: str) -> None:
    """Worst shapes filling the default --max-bytes (1 MiB): each converts or fails cleanly (hang guard only)."""
    limit = 1_048_576
    if shape == "deep-flow":
        text = "x: " + "[" * (limit // 2 - 8) + "]" * (limit // 2 - 8) + "\n"
    elif shape == "deep-block":
        text, depth = "x:\n", 0
        while len(text) < limit - 2000:
            depth += 1
            text += " " * depth + f"k{depth}:\n"
    elif shape == "merge-chain":
        lines = ["a0: &a0 {k0: v}"]
        size, index = 16, 0
        while size < limit - 200:
            index += 1
            lines.append(f"a{index}: &a{index} {{<<: [*a{index - 1}, *a{index - 1}], k{index}: v}}")
            size += len(lines[-1]) + 1
        text = "\n".join(lines) + "\n"
    elif shape == "many-keys":
        text = "".join(f"k{i}: {i}\n" for i in range(limit // 14))
    else:
        text = "x: &x [" + ", ".join(["v"] * 1000) + "]\nendpoints: [" + ", ".join(["*x"] * (limit // 5)) + "]\n"
    assert len(text.encode()) <= limit
    proc = run_step(source_with(tmp_path, text), output=tmp_path / "cr.yaml")
    assert "Traceback" not in proc.err and "internal error" not in proc.err, proc.err[-2000:]
    assert proc.code in (0, 1), proc.err[-2000:]
    if proc.code == 1:
        assert len(proc.errors) == 1 and "workload.yaml:" in proc.errors[0]


# ---------------------------------------------------------------------------------------------------------------------
# Nesting depth


@pytest.mark.parametrize("style", ["flow", "block"])
def test_nesting_deeper_than_the_limit_is_a_clear_error_also_under_ignored_keys(tmp_path: Path, style: str) -> None:
    depth = 50_000
    if style == "flow":
        text = "endpoints: []\nx-ignored: " + "[" * depth + "]" * depth + "\n"
    else:
        text = "endpoints: []\nx-ignored:\n" + "".join(" " * level + "-\n" for level in range(1, 400))
    proc = run_step(source_with(tmp_path, text), output=tmp_path / "cr.yaml")  # before: RecursionError
    line = 2 if style == "flow" else 2 + MAX_DEPTH  # where the 101st collection opens
    assert_clean_failure(proc, 1, f"workload.yaml:{line}: nested more than {MAX_DEPTH} levels deep")


def test_the_depth_limit_is_exact(tmp_path: Path) -> None:
    inner = MAX_DEPTH - 1  # the top-level mapping is the first level
    ok(tmp_path / "a", "x: " + "[" * inner + "]" * inner + "\n")
    result = fails(tmp_path / "b", "x:\n  y: " + "[" * inner + "]" * inner + "\n")
    assert f"workload.yaml:2: nested more than {MAX_DEPTH} levels deep" in result.error


# ---------------------------------------------------------------------------------------------------------------------
# Referenced files that are not regular files


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short directory path (AF_UNIX socket paths are limited to 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="gw-", dir="/tmp"))
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=False)


def _socket_file(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


@pytest.mark.parametrize(
    ("descriptor", "make", "message"),
    [
        (
            "endpoints: [{name: api, port: 80, type: HTTP, schemaFile: api.yaml}]\n",
            "fifo",
            "endpoints[0].schemaFile: failed to read schema file api.yaml: is a FIFO (named pipe), not a regular file",
        ),
        (
            "configurations:\n  files: [{name: f, mountPath: /m, valueFrom: {path: conf/app.txt}}]\n",
            "symlink-to-socket",
            "failed to read file conf/app.txt: is a socket, not a regular file",
        ),
        (
            "configurations:\n  files: [{name: f, mountPath: /m, valueFrom: {path: conf/app.txt}}]\n",
            "symlink-to-fifo",
            "failed to read file conf/app.txt: is a FIFO (named pipe), not a regular file",
        ),
    ],
)
def test_referenced_files_that_are_not_regular_are_refused_without_blocking(
    short_tmp: Path, descriptor: str, make: str, message: str
) -> None:
    source = source_with(short_tmp, descriptor)
    (source / "conf").mkdir()
    keep: list[socket.socket] = []
    if make == "fifo":
        os.mkfifo(source / "api.yaml")
    elif make == "symlink-to-socket":
        keep.append(_socket_file(source / "s"))
        (source / "conf" / "app.txt").symlink_to(source / "s")
    else:
        os.mkfifo(source / "pipe")
        (source / "conf" / "app.txt").symlink_to(source / "pipe")
    try:
        proc = run_step(source, output=short_tmp / "cr.yaml")  # before the fix: blocks on the FIFO forever
    finally:
        for sock in keep:
            sock.close()
    assert_clean_failure(proc, 1, message)


def test_a_descriptor_that_is_a_fifo_is_refused(short_tmp: Path) -> None:
    source = source_with(short_tmp, None)
    os.mkfifo(source / "workload.yaml")
    proc = run_step(source, output=short_tmp / "cr.yaml")  # before: silently the basic workload
    assert_clean_failure(proc, 1, "is a FIFO (named pipe), not a regular file")
    proc = run_step(source, "--descriptor", "workload.yaml", output=short_tmp / "cr.yaml")
    assert_clean_failure(proc, 1, "workload.yaml is a FIFO (named pipe), not a regular file")


def test_the_size_cap_applies_before_reading(tmp_path: Path) -> None:
    source = source_with(tmp_path, "endpoints: [{name: api, port: 80, type: HTTP, schemaFile: big.yaml}]\n")
    with open(source / "big.yaml", "wb") as handle:
        handle.truncate(8 * 2**30)  # sparse: 8 GiB that would take long to read
    result = fails(tmp_path, None)
    assert "big.yaml is 8589934592 bytes, above --max-bytes 1048576" in result.error


# ---------------------------------------------------------------------------------------------------------------------
# API responses: size caps and a total deadline per call


def _trickle_head(conn: socket.socket, _request: bytes, server: Server) -> None:
    server.send(conn, b"HTTP/1.1 200 OK\r\n")
    for _ in range(600):  # one byte every 0.2 s, for two minutes: each read succeeds, the response never ends
        server.send(conn, b"X")
        time.sleep(0.2)


def _trickle_body(conn: socket.socket, _request: bytes, server: Server) -> None:
    server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
    for _ in range(600):
        server.send(conn, b" ")
        time.sleep(0.2)


def _huge(declared: bool) -> Handler:
    def handle(conn: socket.socket, _request: bytes, server: Server) -> None:
        size = 400 * 2**20
        length = f"Content-Length: {size}\r\n" if declared else ""
        server.send(
            conn, f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n".encode()
        )
        chunk = b"x" * 2**20
        for _ in range(size // len(chunk)):
            server.send(conn, chunk)

    return handle


def test_a_deadline_that_passes_between_socket_operations_is_a_timeout_not_an_internal_error() -> None:
    """The race behind a trickling server: the deadline runs out between two reads, so it is raised by the
    deadline check itself (outside httpcore's exception mapping). It must reach httpx as a timeout."""
    import httpcore

    from steps.generate_workload.apiclient import _Deadline, _deadline_backend

    deadline = _Deadline()
    with socket.create_server(("127.0.0.1", 0)) as server:
        stream = _deadline_backend(deadline).connect_tcp("127.0.0.1", server.getsockname()[1], timeout=5)
        try:
            deadline.at, deadline.seconds = time.monotonic() - 1, 2.0
            with pytest.raises(httpcore.ReadTimeout, match="total deadline of 2s"):
                stream.read(1024, timeout=5)
            with pytest.raises(httpcore.WriteTimeout, match="total deadline of 2s"):
                stream.write(b"x", timeout=5)
        finally:
            stream.close()


@pytest.mark.parametrize(
    ("handler", "where"),
    [
        (_trickle_head, "token"),
        (_trickle_body, "token"),
        (token_then(_trickle_head), "api"),
        (token_then(_trickle_body), "api"),
    ],
    ids=["token-head", "token-body", "api-head", "api-body"],
)
def test_a_server_that_trickles_bytes_is_cut_off_at_the_total_deadline(
    tmp_path: Path, secret_file: Path, handler: Handler, where: str
) -> None:
    with Server(handler) as server:
        started = time.monotonic()
        proc = run_step(
            source_with(tmp_path, None),
            *api_args(server, secret_file, "--api-timeout", "2"),
            output=tmp_path / "cr.yaml",
            api_mode="workloads",
        )
        elapsed = time.monotonic() - started
    # before the fix the 2 s read timeout never fired (a byte every 0.2 s) and the guard expired
    assert_clean_failure(proc, contract.EXIT_TRANSIENT, "total deadline of 2s")
    assert elapsed < GUARD
    assert len(server.requests) == (1 if where == "token" else 2)


def test_a_trickled_tls_handshake_is_cut_off_at_the_total_deadline(short_tmp: Path, secret_file: Path) -> None:
    """A real TLS server whose handshake bytes leave one every 0.2 s: the deadline covers the handshake too."""
    tls = make_tls_files(short_tmp / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.server_cert, tls.server_key)
    listener = socket.create_server(("127.0.0.1", 0))
    sent: list[int] = []

    def serve() -> None:
        conn, _ = listener.accept()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        server_side = context.wrap_bio(incoming, outgoing, server_side=True)
        conn.settimeout(GUARD)
        try:
            while True:
                try:
                    server_side.do_handshake()
                    return
                except ssl.SSLWantReadError:
                    for byte in outgoing.read():
                        conn.sendall(bytes([byte]))
                        sent.append(byte)
                        time.sleep(0.2)
                    data = conn.recv(65536)
                    if not data:
                        return
                    incoming.write(data)
        except OSError:
            return
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    try:
        proc = run_step(
            source_with(short_tmp, None),
            "--api-server-url", url, "--oauth-token-url", f"{url}/token", "--ca-bundle", str(tls.ca_cert),
            "--oauth-client-secret-file", str(secret_file), "--api-retries", "1", "--api-timeout", "2",
            output=short_tmp / "cr.yaml",
            api_mode="workloads",
        )  # fmt: skip
    finally:
        listener.close()
    assert_clean_failure(proc, contract.EXIT_TRANSIENT, "POST /token")
    assert 0 < len(sent) < 100  # the handshake was under way, and far from done (a certificate is ~1 KB)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
@pytest.mark.parametrize("where", ["token", "api"])
def test_a_huge_response_body_is_refused_after_the_cap(
    tmp_path: Path, secret_file: Path, declared: bool, where: str
) -> None:
    handler = _huge(declared) if where == "token" else token_then(_huge(declared))
    with Server(handler) as server:
        proc = run_step(
            source_with(tmp_path, None),
            *api_args(server, secret_file, "--api-timeout", "60"),
            output=tmp_path / "cr.yaml",
            api_mode="workloads",
        )
        time.sleep(0.2)
        sent = server.bytes_sent
    assert_clean_failure(proc, 1, "response body")
    assert "above the limit" in proc.err or "larger than the limit" in proc.err
    assert sent < 64 * 2**20, f"the server could send {sent} bytes"  # before the fix: all 400 MiB


# ---------------------------------------------------------------------------------------------------------------------
# Strict identities


@pytest.mark.parametrize(
    ("flag", "value", "fragment"),
    [
        ("-c", "Cärt_Service", "is not a valid component name"),
        ("-c", "a/b", "is not a valid component name"),
        ("-c", "cart\nservice", "is not a valid component name"),
        ("-c", " ", "must not be empty or blank"),
        ("-c", "c" * 70, "70 given"),
        ("-n", "Team_NS", "is not a valid namespace name"),
        ("-n", "n" * 64, "64 given"),
        ("-p", "my.project", "is not a valid project name"),
        ("-p", "shop ", "is not a valid project name"),
        ("--image", "NOT A VALID IMAGE!!", "is not a valid image reference"),
        ("--image", "registry.local/Acme/App:v1", "the repository path must be lowercase"),
        ("--image", "nginx:", "is not a valid image reference"),
        ("--image", " nginx:1", "leading or trailing whitespace"),
        ("--image", "registry.local/app:" + "t" * 129, "is not a valid image reference"),
        ("--image", "registry.local/" + "a" * 250, "above 255"),
    ],
)
def test_bad_identities_are_usage_errors_naming_the_option(
    tmp_path: Path, flag: str, value: str, fragment: str
) -> None:
    result = fails(tmp_path, None, flag, value)
    assert result.code == contract.EXIT_USAGE
    assert fragment in result.error
    option = {"-c": "--component", "-n": "--namespace", "-p": "--project", "--image": "--image"}[flag]
    assert result.error.split("error: ", 1)[1].startswith(option)


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("-c", "c" * 63),
        ("-c", "x"),
        ("-n", "team-ns-2"),
        ("--image", "nginx"),
        ("--image", "localhost:5000/acme/cart:v1-abc12345@sha256:" + "0" * 64),
        ("--image", "127.0.0.1:5000/default-demo-greeter:v1-abcdef12@sha256:" + "0" * 64),
        ("--image", "Registry.Example.COM/acme/cart"),
        ("--image", "[::1]:5000/a/b:c"),
    ],
)
def test_good_identities_pass(tmp_path: Path, flag: str, value: str) -> None:
    ok(tmp_path, None, flag, value)


# ---------------------------------------------------------------------------------------------------------------------
# The output path, checked before any work


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink", "socket"])
def test_an_existing_non_regular_output_path_is_refused_and_left_alone(short_tmp: Path, kind: str) -> None:
    output = short_tmp / "out"
    keep: list[socket.socket] = []
    if kind == "fifo":
        os.mkfifo(output)
    elif kind == "directory":
        output.mkdir()
    elif kind == "symlink":
        (short_tmp / "target").write_text("not the CR\n")
        output.symlink_to(short_tmp / "target")
    else:
        keep.append(_socket_file(output))
    before = os.lstat(output)
    try:
        code, _out, err = invoke(
            ["--image", IMAGE, "-n", "n", "-p", "p", "-c", "c", "--source-dir", str(short_tmp), "-o", str(output)]
        )
    finally:
        for sock in keep:
            sock.close()
    assert code == contract.EXIT_USAGE and "--output-path" in err and "refusing to replace it" in err, err
    after = os.lstat(output)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino
    if kind == "symlink":
        assert (short_tmp / "target").read_text() == "not the CR\n"


def test_an_unwritable_output_directory_is_refused_before_any_work(short_tmp: Path) -> None:
    """As an unprivileged user (root passes every permission check): exit 2 naming the option."""
    short_tmp.chmod(0o755)
    source = source_with(short_tmp, "endpoints: [{name: api, port: 80, type: HTTP}]\n")
    source.chmod(0o755)
    (source / "workload.yaml").chmod(0o644)
    locked = short_tmp / "locked"
    locked.mkdir(mode=0o555)
    # The venv's interpreter lives under /root; Debian's python3 (with python3-yaml) is readable by everyone.
    python = "/usr/bin/python3"
    assert subprocess.run([python, "-c", "import yaml"], check=False).returncode == 0, "needs python3-yaml"
    argv = [python, "-m", "steps.generate_workload", "--image", IMAGE, "-n", "n", "-p", "p", "-c", "c"]
    argv += ["--source-dir", str(source), "-o", str(locked / "sub" / "cr.yaml"), "--api-mode", "off"]
    done = subprocess.run(
        argv,
        cwd=ROOT,
        env=step_env(),
        capture_output=True,
        text=True,
        timeout=GUARD,
        check=False,
        user=65534,
        group=65534,
    )
    assert done.returncode == contract.EXIT_USAGE, done.stderr  # before: `internal error: PermissionError`
    assert f"--output-path (env WORKLOAD_CR_OUTPUT): the directory {locked} is not writable" in done.stderr


@pytest.mark.parametrize("problem", ["fifo-output", "parent-is-a-file", "bad-descriptor", "bad-ca-bundle"])
def test_nothing_is_sent_before_every_local_check_passed(short_tmp: Path, secret_file: Path, problem: str) -> None:
    source = source_with(short_tmp, "endpoints: [{name: api, port: 80, type: HTTP}]\n")
    output = short_tmp / "cr.yaml"
    extra: list[str] = []
    if problem == "fifo-output":
        os.mkfifo(output)
    elif problem == "parent-is-a-file":
        (short_tmp / "file").write_text("x")
        output = short_tmp / "file" / "cr.yaml"
    elif problem == "bad-descriptor":
        (source / "workload.yaml").write_text("endpoints: [{name: api, port: 0, type: HTTP}]\n")
    else:
        (short_tmp / "ca.crt").write_text("not a certificate\n")
        extra = ["--ca-bundle", str(short_tmp / "ca.crt")]

    def created(conn: socket.socket, _request: bytes, server: Server) -> None:
        respond(conn, server, "201 Created", b"{}")

    with Server(token_then(created)) as server:
        proc = run_step(source, *api_args(server, secret_file, *extra), output=output, api_mode="workloads")
    assert proc.code in (1, 2) and "internal error" not in proc.err, proc.err
    assert server.requests == [], "a request was sent although a local check fails"


# ---------------------------------------------------------------------------------------------------------------------
# No stale CR on any failure path


@pytest.mark.parametrize(
    "argv",
    [["--no-such-flag", "x"], ["--max-bytes", "lots"], ["--profile", "openchoreo-9"], ["-c", "Bad_Name"], ["--image"]],
    ids=["unknown-flag", "bad-max-bytes", "bad-profile", "bad-name", "missing-value"],
)
def test_argument_errors_leave_no_stale_cr(tmp_path: Path, argv: list[str]) -> None:
    output = tmp_path / "out" / "workload-cr.yaml"
    stale_cr(output)
    base = ["--image", IMAGE, "-n", "n", "-p", "p", "-c", "c", "--source-dir", str(tmp_path), "-o", str(output)]
    code, _out, err = invoke([*base, *argv])
    assert code == contract.EXIT_USAGE, err
    assert not output.exists(), "the earlier run's CR survived an argument error"


def test_missing_required_parameters_leave_no_stale_cr_at_the_env_output_path(tmp_path: Path) -> None:
    output = tmp_path / "workload-cr.yaml"
    stale_cr(output)
    code, _out, err = invoke(["-n", "n"], {"WORKLOAD_CR_OUTPUT": str(output)})
    assert code == contract.EXIT_USAGE and "missing required parameter" in err
    assert not output.exists()


def test_sigterm_during_an_api_call_leaves_no_stale_cr(tmp_path: Path, secret_file: Path) -> None:
    arrived = threading.Event()

    def hang(conn: socket.socket, _request: bytes, _server: Server) -> None:
        arrived.set()
        time.sleep(GUARD)

    output = tmp_path / "workload-cr.yaml"
    stale_cr(output)
    with Server(hang) as server:
        argv = [sys.executable, "-m", "steps.generate_workload", "--image", IMAGE, "-n", "n", "-p", "p", "-c", "c"]
        argv += ["--source-dir", str(source_with(tmp_path, None)), "-o", str(output), "--api-mode", "workloads"]
        argv += api_args(server, secret_file, "--api-timeout", "600")
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=step_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert arrived.wait(GUARD), "the step never called the token endpoint"
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=GUARD)
        finally:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err  # before: killed by the signal (-15), CR left behind
    assert "error: terminated by SIGTERM" in err
    assert not output.exists()


# ---------------------------------------------------------------------------------------------------------------------
# Bad paths and unusable CA bundles: exit 2 naming the option


@pytest.mark.parametrize(
    ("extra", "option", "fragment"),
    [
        (["--descriptor", "d" * 300], "--descriptor", "file name too long"),
        (["--descriptor", "file.txt/workload.yaml"], "--descriptor", "not a directory"),
        (["--app-path", "a" * 300], "--app-path", "file name too long"),
        (["--app-path", "file.txt"], "--app-path", "not a directory"),
        (["-o", "OUT/" + "o" * 300], "--output-path", "file name too long"),
        (["-o", "OUT/file.txt/cr.yaml"], "--output-path", "not a directory"),
    ],
)
def test_bad_paths_are_usage_errors_naming_the_option(
    tmp_path: Path, extra: list[str], option: str, fragment: str
) -> None:
    source = source_with(tmp_path, None, {"file.txt": "x"})
    extra = [item.replace("OUT", str(source)) for item in extra]
    output = tmp_path / "cr.yaml"
    argv = ["--image", IMAGE, "-n", "n", "-p", "p", "-c", "c", "--source-dir", str(source)]
    if "-o" not in extra:
        argv += ["-o", str(output)]
    code, _out, err = invoke([*argv, *extra])
    assert code == contract.EXIT_USAGE, err  # before: `internal error: OSError` / NotADirectoryError
    assert "internal error" not in err and f"error: {option}" in err and fragment in err


@pytest.mark.parametrize("kind", ["garbage", "directory", "fifo", "too-long"])
def test_unusable_ca_bundles_are_usage_errors(short_tmp: Path, secret_file: Path, kind: str) -> None:
    ca = short_tmp / "ca.crt"
    if kind == "garbage":
        ca.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    elif kind == "directory":
        ca.mkdir()
    elif kind == "fifo":
        os.mkfifo(ca)
    else:
        ca = short_tmp / ("c" * 300)
    with Server(token_then(lambda conn, _r, server: respond(conn, server, "201 Created", b"{}"))) as server:
        proc = run_step(
            source_with(short_tmp, None),
            *api_args(server, secret_file, "--ca-bundle", str(ca)),
            output=short_tmp / "cr.yaml",
            api_mode="workloads",
        )
    assert_clean_failure(proc, contract.EXIT_USAGE, "--ca-bundle (env API_CA_BUNDLE)")
    assert server.requests == []


def test_a_client_secret_file_that_is_a_fifo_does_not_block(short_tmp: Path) -> None:
    os.mkfifo(short_tmp / "secret")
    proc = run_step(
        source_with(short_tmp, None),
        "--api-server-url", "http://127.0.0.1:9", "--oauth-token-url", "http://127.0.0.1:9/token",
        "--oauth-client-secret-file", str(short_tmp / "secret"),
        output=short_tmp / "cr.yaml",
        api_mode="workloads",
    )  # fmt: skip
    assert_clean_failure(proc, contract.EXIT_USAGE, "--oauth-client-secret-file", "FIFO")


# ---------------------------------------------------------------------------------------------------------------------
# Secrets in every encoding, and never the values of unknown flags


def test_the_redactor_covers_every_encoding_the_step_produces() -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    redactor.add_basic_auth("client-id", SECRET)
    forms = [
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        repr(SECRET)[1:-1],
        base64.b64encode(f"client-id:{SECRET}".encode()).decode(),
    ]
    for form in forms:
        line = f"server said: client_secret={form}&grant_type=client_credentials"
        assert form not in redactor(line), form
        assert REDACTED in redactor(line)


def test_short_secrets_are_redacted_where_they_stand_alone() -> None:
    redactor = Redactor()
    redactor.add("k9$")
    assert redactor("client_secret=k9%24&x=1") == f"client_secret={REDACTED}&x=1"
    assert redactor('{"client_secret": "k9$"}') == f'{{"client_secret": "{REDACTED}"}}'
    assert redactor("token k9$ rejected") == f"token {REDACTED} rejected"
    assert redactor("ok9$x stays") == "ok9$x stays"  # inside a longer word it reveals nothing


def test_a_token_endpoint_echoing_the_form_leaks_no_encoding(tmp_path: Path, secret_file: Path) -> None:
    def echo(conn: socket.socket, request: bytes, server: Server) -> None:
        form = request.partition(b"\r\n\r\n")[2].decode()
        body = json.dumps({"error": "invalid_client", "error_description": f"bad form: {form}"}).encode()
        respond(conn, server, "400 Bad Request", body)

    with Server(echo) as server:
        proc = run_step(
            source_with(tmp_path, None),
            *api_args(server, secret_file),
            output=tmp_path / "cr.yaml",
            api_mode="workloads",
        )
    assert_clean_failure(proc, 1, "invalid_client", REDACTED)
    for form in (SECRET, quote_plus(SECRET), quote(SECRET, safe=""), json.dumps(SECRET)[1:-1]):
        assert form not in proc.err  # before: client_secret=p%40ss%2Fw0rd... in the error line


@pytest.mark.parametrize(
    "argv",
    [
        ["--oauth-client-secrt", "Hunter2-secret-value"],
        ["--oauth-client-secrt=Hunter2-secret-value"],
        ["--oauth-client-secre", "Hunter2-secret-value"],
        ["Hunter2-secret-value"],
    ],
)
def test_unknown_flags_are_named_without_their_values(tmp_path: Path, argv: list[str]) -> None:
    code, out, err = invoke(["--image", IMAGE, "-n", "n", "-p", "p", "-c", "c", "--source-dir", str(tmp_path), *argv])
    assert code == contract.EXIT_USAGE
    assert "Hunter2" not in out + err  # before: `unrecognized arguments: --oauth-client-secrt Hunter2-secret-value`
    if argv[0].startswith("--"):
        assert argv[0].split("=")[0] in err


# ---------------------------------------------------------------------------------------------------------------------
# Speed: the libyaml emitter, byte for byte


def _sample_crs() -> list[dict[str, Any]]:
    crs: list[dict[str, Any]] = []
    for descriptor in sorted(SAMPLE_WORKLOADS.glob("*/workload.yaml")):
        with tempfile.TemporaryDirectory() as tmp:
            output = Path(tmp) / "cr.yaml"
            argv = ["--image", IMAGE, "-n", "n", "-p", "p", "-c", "c", "--source-dir", str(descriptor.parent)]
            code, _out, _err = invoke([*argv, "-o", str(output)])
            if code == 0:
                crs.append(yaml.safe_load(output.read_text()))
    return crs


def test_libyaml_is_used_and_writes_the_same_bytes_for_the_samples() -> None:
    assert yaml.__with_libyaml__, "PyYAML without libyaml: the step would fall back to the slow emitter"
    assert FastDumper.__mro__[1] is yaml.CSafeDumper
    crs = _sample_crs()
    assert len(crs) >= 5
    for cr in crs:
        assert not needs_python_emitter(cr)  # a sample's schema ends with a blank line: `|+`, handled
        assert render_yaml(cr, FastDumper) == render_yaml(cr, PythonDumper)


text_value = st.text(
    alphabet=st.sampled_from([*"ab :-#'\"\n\t\\|>{}[],&*!%@`?~019.éü\u2028\x85\ufeff\x00\x07\xa0\r ", "日"]),
    max_size=80,
)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(text_value, min_size=1, max_size=4), keys=st.lists(text_value, min_size=1, max_size=3))
def test_both_emitters_write_the_same_bytes_whenever_the_fast_one_is_chosen(values: list[str], keys: list[str]) -> None:
    cr = {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": "c-workload"},
        "spec": {
            "container": {"image": IMAGE, "env": [{"key": v, "value": v} for v in values]},
            "dependencies": {"resources": [{"ref": "r", "envBindings": dict.fromkeys(keys, "X")}]},
        },
    }
    python = render_yaml(cr, PythonDumper)
    assert yaml.safe_load(python) == cr
    if not needs_python_emitter(cr):
        assert render_yaml(cr, FastDumper) == python


@pytest.mark.parametrize("value", ["a\rb", "astral \U0001f600", "", "k" * 128])
def test_the_strings_the_emitters_disagree_on_go_to_the_python_emitter(value: str) -> None:
    """Without the fallback these would differ: proof the check is needed, and that it catches them."""
    cr = {"spec": {"a": value, "b": "plain", value: "x"}}
    assert needs_python_emitter(cr)
    assert render_yaml(cr, FastDumper) != render_yaml(cr, PythonDumper)


# ---------------------------------------------------------------------------------------------------------------------
# Smaller deviations, decided against occ (README: "Where we differ")


def test_utf16_with_a_bom_is_read_like_occ_reads_it(tmp_path: Path) -> None:
    text = "endpoints:\n  - {name: api, port: 80, type: HTTP}\n"
    for encoding in ("utf-16", "utf-16-be", "utf-8-sig"):
        raw = text.encode(encoding)
        if encoding == "utf-16-be":
            raw = b"\xfe\xff" + raw
        result = ok(tmp_path / encoding, None, files={"workload.yaml": raw})
        assert result.spec["endpoints"] == {"api": {"port": 80, "type": "HTTP"}}
    no_bom = fails(tmp_path / "no-bom", None, files={"workload.yaml": text.encode("utf-16-le")})
    assert "workload.yaml:1: invalid YAML: unacceptable character #x0000" in no_bom.error


def test_a_syntax_error_in_an_ignored_second_document_only_warns(tmp_path: Path) -> None:
    descriptor = "endpoints: [{name: api, port: 80, type: HTTP}]\n---\nfoo: [unclosed\n  bar: : :\n"
    result = ok(tmp_path, descriptor)  # occ v1.2.3 writes the CR too
    assert list(result.spec["endpoints"]) == ["api"]
    assert any("only the first YAML document is read" in w for w in result.warnings)


def test_u0085_and_other_line_breaks_in_an_inlined_file_round_trip(tmp_path: Path) -> None:
    content = "a\x85b\u2028c\u2029d\nline two\n"
    descriptor = "configurations:\n  files: [{name: f, mountPath: /m, valueFrom: {path: conf.txt}}]\n"
    result = ok(tmp_path, descriptor, files={"conf.txt": content.encode()})
    assert result.spec["container"]["files"][0]["value"] == content  # before: a\nb... (U+0085 became a line break)
    assert '"a\\Nb\\Lc\\Pd\\nline two\\n"' in result.output.read_text()


def test_unknown_key_warnings_are_capped(tmp_path: Path) -> None:
    text = "".join(f"x{i}: 1\n" for i in range(100_000))
    result = ok(tmp_path, text)
    unknown = [w for w in result.warnings if "unknown key" in w]
    assert len(unknown) == MAX_UNKNOWN_KEY_WARNINGS + 1
    assert unknown[-1].endswith(
        f"{100_000 - MAX_UNKNOWN_KEY_WARNINGS} more unknown key(s) not shown (ignored as occ does)"
    )


def test_the_pure_python_and_libyaml_parsers_agree_on_the_samples() -> None:
    """Same nodes, values, styles and lines from both event sources for every sample descriptor."""
    assert len(descriptor_module.EVENT_LOADERS) == 2

    def shape(node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return (node.tag, node.value, node.style, node.start_mark.line)
        if isinstance(node, yaml.SequenceNode):
            return [shape(item) for item in node.value]
        return [(shape(k), shape(v)) for k, v in node.value]

    for path in sorted(SAMPLE_WORKLOADS.glob("*/workload.yaml")):
        text = path.read_text()
        roots = [
            descriptor_module.compose_first_document(text, "w", lambda _m: None, loader).root
            for loader in descriptor_module.EVENT_LOADERS
        ]
        assert shape(roots[0]) == shape(roots[1]), path


# ---------------------------------------------------------------------------------------------------------------------
# Delivery modes (issue 9 §1): auto follows the profile; off says so


def test_auto_on_1x_without_the_api_urls_fails_at_once_naming_the_option(tmp_path: Path) -> None:
    output = tmp_path / "cr.yaml"
    stale_cr(output)
    code, _out, err = invoke(
        ["--image", IMAGE, "-n", "n", "-p", "p", "-c", "c", "--source-dir", str(tmp_path), "-o", str(output)],
        {"API_MODE": ""},
    )
    assert code == contract.EXIT_USAGE
    assert (
        "--api-server-url (env API_SERVER_URL, parameter api-server-url) is required when --api-mode=workloads" in err
    )
    assert "(api-mode=auto on openchoreo-1.x)" in err and "api-mode=off" in err and "without applying it" in err
    assert not output.exists()
    code, _out, err = invoke(
        ["--image", IMAGE, "-n", "n", "-p", "p", "-c", "c", "--source-dir", str(tmp_path), "-o", str(output)],
        {"API_MODE": "auto", "API_SERVER_URL": "http://127.0.0.1:9"},
    )
    assert code == contract.EXIT_USAGE and "--oauth-token-url (env OAUTH_TOKEN_URL" in err


def test_auto_on_017_keeps_the_output_contract_and_sends_nothing(tmp_path: Path) -> None:
    result = generate(tmp_path, None, "--profile", P017, environ={"API_MODE": "auto"}, check=False)
    assert result.code == 0, result.err
    assert "no Workload was applied" not in result.err
    assert result.err.strip().endswith(
        "delivery: output contract (the workload-cr output, applied by the OpenChoreo 0.17 controller)"
    )


def test_off_on_1x_says_in_the_log_and_the_summary_that_no_workload_was_applied(tmp_path: Path) -> None:
    result = generate(tmp_path, None, "--api-mode", "off")
    notice, summary = result.err.splitlines()
    assert notice == (
        "[generate-workload-cr] warning: no Workload was applied: api-mode=off on openchoreo-1.x; the CR is only "
        f"written to {result.output} (OpenChoreo 1.x reads nothing from it; a later step, such as gitops-publish, "
        "may deliver it)"
    )
    assert summary.endswith("delivery: none: no Workload was applied (api-mode=off)")


def test_auto_on_1x_delivers_through_the_api_and_the_summary_says_so(tmp_path: Path, secret_file: Path) -> None:
    def created(conn: socket.socket, request: bytes, server: Server) -> None:
        assert request.startswith(b"POST /api/v1/namespaces/team-ns/workloads ")
        respond(conn, server, "201 Created", request.partition(b"\r\n\r\n")[2])

    with Server(token_then(created)) as server:
        proc = run_step(
            source_with(tmp_path, None), *api_args(server, secret_file), output=tmp_path / "cr.yaml", api_mode=None
        )
    assert proc.code == 0, proc.err
    assert [r.split(b" ")[1] for r in server.requests] == [b"/token", b"/api/v1/namespaces/team-ns/workloads"]
    assert proc.err.strip().splitlines()[-1].endswith("delivery: API server: Workload team-ns/cart-workload created")
    cr = yaml.safe_load(proc.output.read_text())
    workload_validator(P1X).validate(cr)
    assert check_result(0, proc.err, proc.output, P1X) == cr


def test_unknown_api_mode_is_a_usage_error(tmp_path: Path) -> None:
    result = fails(tmp_path, None, "--api-mode", "sideways")
    assert result.code == contract.EXIT_USAGE
    assert "expected one of auto, workloads, legacy, off, got 'sideways'" in result.error
