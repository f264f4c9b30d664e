"""Real git servers on 127.0.0.1 for the checkout tests, and the repositories they serve.

- `HttpGitServer`: smart HTTP through `git http-backend` (CGI) behind a small http.server with HTTP basic auth
  (401 without the right credentials). Protocol v2 can be switched off so that the server, like many real ones,
  refuses to serve a commit that is not the tip of a ref.
- `SshGitServer`: a real OpenSSH sshd run as a plain process on a free 127.0.0.1 port, with its own host key,
  no config but ours, and one authorized key whose forced command only allows `git-upload-pack` under the
  repository root (`python gitserver.py ssh-gate <root>`, the "gate" below).
- file:// URLs need no server: `GitRepos.file_url()`.

Nothing here listens anywhere but 127.0.0.1. Run as a script, this module is the SSH gate and uses the stdlib only.
"""

from __future__ import annotations

import base64
import getpass
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.invalid",
}


def clean_git_env(**extra: str) -> dict[str, str]:
    """This process's environment without GIT_* variables, with a fixed identity and no global config."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(GIT_IDENTITY)
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"})
    env.update(extra)
    return env


def git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", "-c", "protocol.file.allow=always", "-c", "init.defaultBranch=main", "-c", "safe.directory=*", *args],
        cwd=cwd,
        env=clean_git_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def bare_repo_with_tree(bare: Path, populate: Callable[[Path], object]) -> str:
    """Create the bare repository `bare` whose `main` holds one commit of what `populate(work_dir)` writes;
    return that commit."""
    git("init", "--quiet", "--bare", str(bare))
    work = bare.parent / f"{bare.name}-work"
    git("clone", "--quiet", str(bare), str(work))
    populate(work)
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "sample app", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    commit = git("rev-parse", "HEAD", cwd=work)
    shutil.rmtree(work)
    return commit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.05)


# --------------------------------------------------------------------------------------------------- repositories


@dataclass
class GitRepos:
    """Bare repositories under `root`:

    sub.git  two commits on main (`lib.txt`).
    app.git  main: first (README, services/api/, docs/) -> second (adds submodule libs/sub, URL ../sub.git)
             -> tip (a change to services/api); feature/x: tip + one more commit.
    """

    root: Path
    commits: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, root: Path) -> GitRepos:
        repos = cls(root)
        root.mkdir(parents=True, exist_ok=True)
        work = root.parent / f"{root.name}-work"
        git("init", "--quiet", "--bare", str(root / "sub.git"))
        git("init", "--quiet", "--bare", str(root / "app.git"))

        git("clone", "--quiet", str(root / "sub.git"), str(work / "sub"))
        (work / "sub/lib.txt").write_text("lib v1\n")
        git("add", ".", cwd=work / "sub")
        git("commit", "--quiet", "-m", "sub: first", cwd=work / "sub")
        (work / "sub/lib.txt").write_text("lib v2\n")
        git("commit", "--quiet", "-am", "sub: second", cwd=work / "sub")
        git("push", "--quiet", "origin", "main", cwd=work / "sub")
        repos.commits["sub"] = git("rev-parse", "HEAD", cwd=work / "sub")

        app = work / "app"
        git("clone", "--quiet", str(root / "app.git"), str(app))
        (app / "README.md").write_text("# app\n")
        (app / "services/api").mkdir(parents=True)
        (app / "services/api/main.py").write_text("print('v1')\n")
        (app / "docs").mkdir()
        (app / "docs/index.md").write_text("docs\n")
        git("add", ".", cwd=app)
        git("commit", "--quiet", "-m", "first", cwd=app)
        repos.commits["first"] = git("rev-parse", "HEAD", cwd=app)
        git("submodule", "--quiet", "add", "../sub.git", "libs/sub", cwd=app)
        git("commit", "--quiet", "-m", "second: add submodule", cwd=app)
        repos.commits["second"] = git("rev-parse", "HEAD", cwd=app)
        (app / "services/api/main.py").write_text("print('v2')\n")
        git("commit", "--quiet", "-am", "tip of main", cwd=app)
        repos.commits["main"] = git("rev-parse", "HEAD", cwd=app)
        git("checkout", "--quiet", "-b", "feature/x", cwd=app)
        (app / "feature.txt").write_text("feature\n")
        git("add", ".", cwd=app)
        git("commit", "--quiet", "-m", "feature work", cwd=app)
        repos.commits["feature/x"] = git("rev-parse", "HEAD", cwd=app)
        git("push", "--quiet", "origin", "main", "feature/x", cwd=app)
        shutil.rmtree(work)
        return repos

    def file_url(self, name: str = "app.git") -> str:
        return (self.root / name).as_uri()


# ---------------------------------------------------------------------------------------------------- smart HTTP


def process_snapshot() -> list[str]:
    """argv and environment of every process this user can read: where a leaked password would show."""
    seen: list[str] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        for name in ("cmdline", "environ"):
            try:
                seen.append((proc / name).read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return seen


class HttpGitServer:
    """`git http-backend` behind http.server, basic auth on every request. Use as a context manager."""

    def __init__(self, root: Path, username: str, password: str, *, protocol_v2: bool = True) -> None:
        self.root = root
        self.username = username
        self.password = password
        self.protocol_v2 = protocol_v2
        self.requests: list[tuple[str, str, int, str]] = []  # method, path, status, user
        self.snapshots: list[str] = []  # process argv/env seen while serving authorized requests
        self.record_processes = False
        # Imported here: sshd also runs this file as a plain script (the ssh gate), where only the stdlib is found.
        from testkit.loopback_http import LoopbackHttpServer

        self._http = LoopbackHttpServer("git-http")

    @property
    def port(self) -> int:
        return self._http.port

    def url(self, name: str = "app.git") -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> HttpGitServer:
        self._http.start(self._handler_class())
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.stop()

    def _authorized(self, header: str | None) -> str | None:
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if (user, password) == (self.username, self.password) else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _serve(self) -> None:
                path, _, query = self.path.partition("?")
                user = server._authorized(self.headers.get("Authorization"))
                if user is None:
                    server.requests.append((self.command, path, 401, ""))
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if server.record_processes:
                    server.snapshots.extend(process_snapshot())
                body = self._body()
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "GIT_PROJECT_ROOT": str(server.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_CONFIG_GLOBAL": os.devnull,
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_USER": user,
                    "REMOTE_ADDR": self.client_address[0],
                }
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                if server.protocol_v2 and self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
                head, _, payload = result.stdout.partition(b"\r\n\r\n")
                status, headers = 200, []
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                server.requests.append((self.command, path, status, user))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


# ----------------------------------------------------------------------------------------------------------- SSH


def ssh_keygen(path: Path, comment: str = "test") -> str:
    """A new passphrase-less ed25519 key at `path`; returns the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return Path(f"{path}.pub").read_text().strip()


class SshGitServer:
    """A real sshd on 127.0.0.1:<free port>, serving `git-upload-pack` for repositories under `root` only.

    The login user is the user running the tests (sshd as a plain process can only log in as itself; as root it
    needs /run/sshd, which is created when missing). Use as a context manager.
    """

    def __init__(
        self,
        root: Path,
        workdir: Path,
        authorized_public_key: str,
        *,
        protocol_v2: bool = True,
        allow_push: bool = False,
    ) -> None:
        self.root = root
        self.workdir = workdir
        self.authorized_public_key = authorized_public_key
        self.protocol_v2 = protocol_v2
        self.allow_push = allow_push  # the gate also lets `git-receive-pack` through (gitops-publish pushes)
        self.user = getpass.getuser()
        self.port = 0
        self.host_key_line = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.workdir / "sshd.log"

    def url(self, name: str = "app.git") -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{self.root / name}"

    @property
    def known_hosts(self) -> str:
        """The known_hosts line for this server, as `ssh-keyscan -p PORT 127.0.0.1` would print it."""
        return f"[127.0.0.1]:{self.port} {self.host_key_line}\n"

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        host_key = self.workdir / "ssh_host_ed25519_key"
        if not host_key.exists():
            self.host_key_line = " ".join(ssh_keygen(host_key, "host").split()[:2])
        push = ["--allow-push"] if self.allow_push else []
        gate = shlex.join([sys.executable, "-I", str(Path(__file__).resolve()), "ssh-gate", str(self.root), *push])
        authorized = self.workdir / "authorized_keys"
        authorized.write_text(f'restrict,command="{gate}" {self.authorized_public_key}\n')
        authorized.chmod(0o600)
        config = self.workdir / "sshd_config"
        lines = [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}",
            f"AllowUsers {self.user}",
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            "PrintMotd no",
            "LogLevel VERBOSE",
        ]
        if self.protocol_v2:
            lines.append("AcceptEnv GIT_PROTOCOL")
        config.write_text("\n".join(lines) + "\n")
        return config

    def __enter__(self) -> SshGitServer:
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for _attempt in range(3):
            self.port = free_port()
            config = self._write_config()
            with self.log_file.open("ab") as log:
                self._process = subprocess.Popen(
                    [sshd, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
                )
            try:
                wait_for_port(self.port, timeout=5)
                return self
            except TimeoutError:
                self._stop()
        raise RuntimeError(f"sshd did not start: {self.log_file.read_text()[-2000:]}")

    def _stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __exit__(self, *exc: object) -> None:
        self._stop()


def ssh_gate(root: str, allow_push: bool = False) -> int:
    """Forced command of the authorized key: only `git-upload-pack '<repo under root>'` (and `git-receive-pack`
    with `allow_push`)."""
    try:
        argv = shlex.split(os.environ.get("SSH_ORIGINAL_COMMAND", ""))
    except ValueError:
        argv = []
    allowed = ("git-upload-pack", "git-receive-pack") if allow_push else ("git-upload-pack",)
    if len(argv) != 2 or argv[0] not in allowed:
        sys.stderr.write(f"gate: only {' and '.join(allowed)} {'are' if allow_push else 'is'} allowed\n")
        return 1
    repo = Path(argv[1]).resolve()
    if Path(root).resolve() not in repo.parents:
        sys.stderr.write("gate: no such repository\n")
        return 1
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    os.execvpe("git", ["git", argv[0].removeprefix("git-"), str(repo)], env)


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "ssh-gate":
        sys.exit(ssh_gate(sys.argv[2], allow_push=sys.argv[3:] == ["--allow-push"]))
    sys.exit("usage: gitserver.py ssh-gate <repository root>")
