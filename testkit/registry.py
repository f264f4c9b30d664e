"""A real OCI registry (distribution 2.8) on 127.0.0.1 for tests: plain HTTP, or htpasswd (bcrypt) + TLS.

`Registry` is the one handle tests use, whatever runs the server. This module starts Debian's
`/usr/bin/docker-registry` as a host process; a container variant (testcontainers, host networking) only has
to produce the same `Registry` (host, scheme, CA, credentials) from its own starter.

Fixtures: `plain_registry` (HTTP, anonymous push) and `auth_registry` (HTTPS with a self-signed certificate and
basic auth), and `busybox_base` (a static busybox image in the plain registry and as an OCI archive). All are
session-scoped; tests keep apart by using their own repository names. Test modules load them with
registered in tests/conftest.py. PYTEST_DONT_REWRITE: this module has no assertions, and the
marker keeps pytest quiet when a test module imported it before registering it as a plugin.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REGISTRY_BIN = "/usr/bin/docker-registry"
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Registry:
    """A running registry reachable at `host` (always 127.0.0.1:<port>)."""

    host: str
    scheme: str = "http"
    ca_file: Path | None = None  # the server certificate (self-signed: it is its own CA)
    ca_dir: Path | None = None  # a directory holding only `ca.crt`, for `--cert-dir` / `--dest-cert-dir`
    username: str | None = None
    password: str | None = None
    storage_dir: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def tls_verify(self) -> str:
        """Value for the steps' --tls-verify: plain HTTP needs false (containers/image then allows http)."""
        return "true" if self.tls else "false"

    def ref(self, repo: str, tag: str) -> str:
        return f"{self.host}/{repo}:{tag}"

    def docker_config(self, username: str | None = None, password: str | None = None) -> dict[str, object]:
        """A `.dockerconfigjson` document for this registry (own credentials unless others are given)."""
        user = username if username is not None else self.username
        secret = password if password is not None else self.password
        if user is None or secret is None:
            raise ValueError(f"registry {self.host} has no credentials")
        token = base64.b64encode(f"{user}:{secret}".encode()).decode()
        return {"auths": {self.host: {"auth": token}}}

    def write_auth_file(self, directory: Path, username: str | None = None, password: str | None = None) -> Path:
        """Write `<directory>/.dockerconfigjson` as a mounted kubernetes.io/dockerconfigjson Secret would be."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / ".dockerconfigjson"
        path.write_text(json.dumps(self.docker_config(username, password)))
        return path

    def skopeo_flags(self, prefix: str = "") -> list[str]:
        """TLS and credential flags for skopeo (`prefix` "src-"/"dest-" for copy, "" for inspect)."""
        flags = [f"--{prefix}tls-verify={self.tls_verify}"]
        if self.ca_dir is not None:
            flags.append(f"--{prefix}cert-dir={self.ca_dir}")
        if self.username is not None and self.password is not None:
            flags.append(f"--{prefix}creds={self.username}:{self.password}")
        return flags

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> HttpResponse:
        """One HTTP request to the registry API, with its credentials. Non-2xx statuses are returned, not raised."""
        request = urllib.request.Request(f"{self.url}{path}", method=method, headers=dict(headers or {}))
        if self.username is not None and self.password is not None:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, context=self._ssl_context(), timeout=10) as response:
                return HttpResponse(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, dict(error.headers.items()), error.read())

    def manifest(self, repo: str, ref: str) -> HttpResponse:
        return self.request("GET", f"/v2/{repo}/manifests/{ref}", {"Accept": MANIFEST_ACCEPT})

    def manifest_digest(self, repo: str, ref: str) -> str:
        """The registry's `Docker-Content-Digest` for a tag or digest (raises when the manifest is missing)."""
        response = self.request("HEAD", f"/v2/{repo}/manifests/{ref}", {"Accept": MANIFEST_ACCEPT})
        if response.status != 200:
            raise LookupError(f"{self.host}/{repo}:{ref}: HTTP {response.status}")
        headers = {key.lower(): value for key, value in response.headers.items()}
        return headers["docker-content-digest"]

    def tags(self, repo: str) -> list[str]:
        response = self.request("GET", f"/v2/{repo}/tags/list")
        if response.status == 404:
            return []
        data = json.loads(response.body)
        return list(data.get("tags") or [])

    def wait_ready(self, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"registry exited with {process.returncode} before it was ready")
            try:
                status = self.request("GET", "/v2/").status
                if status in (200, 401):
                    return
                last = f"HTTP {status}"
            except OSError as error:
                last = str(error)
            time.sleep(0.05)
        raise TimeoutError(f"registry {self.url} not ready after {timeout}s: {last}")


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost (openssl). Returns (certificate, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "registry.crt", directory / "registry.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def make_htpasswd(path: Path, username: str, password: str) -> Path:
    """An htpasswd file with one bcrypt entry (distribution accepts bcrypt only)."""
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{username}:{hashed}\n")
    return path


@dataclass(frozen=True)
class RegistryMaterial:
    """TLS and basic-auth material for a test registry, whatever runs it."""

    cert: Path | None = None
    key: Path | None = None
    ca_dir: Path | None = None
    htpasswd: Path | None = None
    username: str | None = None
    password: str | None = None


def make_registry_material(workdir: Path, *, tls: bool, auth: bool) -> RegistryMaterial:
    """A self-signed certificate (and a CA dir holding it as ca.crt) and/or an htpasswd user with a random password."""
    cert = key = ca_dir = htpasswd = None
    username = password = None
    if tls:
        cert, key = make_self_signed_cert(workdir / "tls")
        ca_dir = workdir / "ca"
        ca_dir.mkdir(exist_ok=True)
        shutil.copyfile(cert, ca_dir / "ca.crt")
    if auth:
        username, password = "ciuser", "pw-" + secrets.token_urlsafe(18)
        htpasswd = make_htpasswd(workdir / "auth" / "htpasswd", username, password)
    return RegistryMaterial(cert, key, ca_dir, htpasswd, username, password)


@contextmanager
def host_registry(workdir: Path, *, tls: bool = False, auth: bool = False) -> Iterator[Registry]:
    """Run `docker-registry serve` on a free 127.0.0.1 port, storage under `workdir`; stop it on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    storage = workdir / "data"
    storage.mkdir(exist_ok=True)
    http: dict[str, object] = {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)}
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": http,
    }
    material = make_registry_material(workdir, tls=tls, auth=auth)
    if material.cert and material.key:
        http["tls"] = {"certificate": str(material.cert), "key": str(material.key)}
    if material.htpasswd:
        config["auth"] = {"htpasswd": {"realm": "ci-registry", "path": str(material.htpasswd)}}
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    log_path = workdir / "registry.log"
    registry = Registry(
        host=f"127.0.0.1:{port}",
        scheme="https" if tls else "http",
        ca_file=material.cert,
        ca_dir=material.ca_dir,
        username=material.username,
        password=material.password,
        storage_dir=storage,
        extra={"log": str(log_path)},
    )
    with log_path.open("wb") as log:
        env = {key: value for key, value in os.environ.items() if not key.startswith("REGISTRY_")}
        process = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(config_path)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        try:
            registry.wait_ready(process=process)
            yield registry
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def plain_registry() -> Iterator[Registry]:
    """Plain HTTP, anonymous push and pull."""
    with tempfile.TemporaryDirectory(prefix="pack-registry-plain-") as tmp, host_registry(Path(tmp)) as registry:
        yield registry


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[Registry]:
    """HTTPS (self-signed certificate; `ca_dir` holds it as ca.crt) with htpasswd basic auth."""
    with (
        tempfile.TemporaryDirectory(prefix="pack-registry-auth-") as tmp,
        host_registry(Path(tmp), tls=True, auth=True) as registry,
    ):
        yield registry


# --- a tiny base image made from local material (no network) ----------------------------------------------------

BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static: one static binary
BUSYBOX_APPLETS = ("sh", "cat", "echo", "printf", "env", "ls", "mkdir", "cp", "true", "sleep", "sha256sum")


def buildah_cmd(storage: Path) -> list[str]:
    return [
        "buildah",
        "--storage-driver",
        "overlay",
        "--root",
        str(storage / "root"),
        "--runroot",
        str(storage / "run"),
    ]


def remove_storage(storage: Path) -> None:
    """Remove a buildah overlay storage dir: working containers (and their mounts) first, then the files."""
    if (storage / "root").exists():
        subprocess.run([*buildah_cmd(storage), "rm", "--all"], capture_output=True, check=False)
        subprocess.run([*buildah_cmd(storage), "rmi", "--all", "--force"], capture_output=True, check=False)
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(storage) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
    shutil.rmtree(storage, ignore_errors=True)


@dataclass(frozen=True)
class BaseImage:
    """A busybox image: in the registry at `ref` (plain HTTP) and as an OCI archive at `archive`."""

    ref: str
    archive: Path
    digest: str


def make_busybox_base(registry: Registry, workdir: Path, repo: str = "base/busybox", tag: str = "1") -> BaseImage:
    """`buildah from scratch` + the static busybox, committed and pushed to `registry` and to an OCI archive."""
    storage = workdir / "base-storage"
    buildah = buildah_cmd(storage)

    def run(*args: str) -> str:
        return subprocess.run([*buildah, *args], check=True, capture_output=True, text=True).stdout.strip()

    try:
        container = run("from", "scratch")
        root = Path(run("mount", container))
        for directory in ("bin", "tmp", "etc"):
            (root / directory).mkdir(exist_ok=True)
        (root / "tmp").chmod(0o1777)
        shutil.copy2(BUSYBOX, root / "bin" / "busybox")
        for applet in BUSYBOX_APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
        run("umount", container)
        run("config", "--env", "PATH=/bin", "--cmd", "/bin/sh", container)
        run("commit", "--quiet", container, "localhost/pack-test/busybox:1")
        ref = registry.ref(repo, tag)
        digest_file = workdir / "base-digest"
        run(
            "push", "--quiet", f"--tls-verify={registry.tls_verify}", "--digestfile", str(digest_file),
            "localhost/pack-test/busybox:1", f"docker://{ref}",
        )  # fmt: skip
        archive = workdir / "busybox-oci.tar"
        run("push", "--quiet", "localhost/pack-test/busybox:1", f"oci-archive:{archive}:busybox:1")
        return BaseImage(ref=ref, archive=archive, digest=digest_file.read_text().strip())
    finally:
        remove_storage(storage)


@pytest.fixture(scope="session")
def busybox_base(plain_registry: Registry) -> Iterator[BaseImage]:
    with tempfile.TemporaryDirectory(prefix="pack-base-") as tmp:
        yield make_busybox_base(plain_registry, Path(tmp))
