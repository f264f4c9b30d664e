"""A real Kubernetes node on 127.0.0.1 (issue 12, gate 2): etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kubelet v1.36.3 built from the `k8s.io/kubernetes` module by scripts/cluster/build.sh, on a
private containerd (Debian's containerd + runc) of its own.

`RealNode` starts, in a temporary directory of its own and on free ports of 127.0.0.1:
- a throwaway PKI (openssl): one CA, serving certificates for the apiserver and the kubelet, client certificates for
  the apiserver (towards the kubelet), the kubelet, the controller manager and the scheduler, a service-account key;
- etcd and kube-apiserver (`Node,RBAC`, `NodeRestriction`, the kubelet reached by hostname, which must resolve to
  127.0.0.1; a static admin token for the tests);
- a **second containerd** with its own socket, root and state (Docker's engine and its containerd are never
  touched): CRI `restrict_oom_score_adj` (a negative oom_score_adj fails here), netns mounts under its state, CNI
  with one `loopback`-only conflist (host-network pods run; any other pod fails at sandbox creation, on purpose), the
  sandbox image made locally from Debian's `catatonit`, and proxy variables pointing at a closed port on 127.0.0.1,
  so that a pull of any image from any registry off the machine fails at once instead of leaving 127.0.0.0/8;
- every image imported beforehand (`ctr -n k8s.io images import`), nothing ever pulled;
- the kubelet (cgroup v1 with `failCgroupV1: false`, cgroupfs, 127.0.0.1 everywhere, image GC off, resolvConf with
  only `nameserver 127.0.0.1`, its own root, pod-log and plugin directories), kube-controller-manager and
  kube-scheduler.

Teardown (`stop`) leaves the host as it found it: pods are deleted, every container task of the private containerd
is killed and removed, the processes stop by PID (controller manager, scheduler, kubelet, containerd, then the
apiserver before etcd), leftover shims and container processes of *this* node are killed by PID, its mounts are
unmounted, the `kubepods` cgroups removed, the three (six) host sysctls the kubelet rewrites restored and the host
paths it creates outside its root removed. `HostState.capture()` is what the tests compare before and after.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testkit.real_openchoreo import (
    ClusterSetupError,
    KubeApi,
    _Process,
    _tail,
    _wait_for,
    free_port,
    run_build_script,
)

NODE_COMPONENTS = ("etcd", "kube-apiserver", "kubelet", "kube-controller-manager", "kube-scheduler")
READY_TIMEOUT_SECONDS = 120.0

CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
CNI_BIN_DIR = "/usr/lib/cni"
CATATONIT = "/usr/bin/catatonit"
BUSYBOX = "/bin/busybox"
PAUSE_IMAGE = "pack.local/pause:catatonit"
BUSYBOX_IMAGE = "pack.local/busybox:debian"
NAMESERVER = "127.0.0.1"
SERVICE_RANGE = "10.0.0.0/24"
CLOSED_PROXY = "http://127.0.0.1:9"  # nothing listens on the discard port: a pull off the machine fails at once
# One node per host: the kubelet owns host-wide state (kubepods cgroups, sysctls, /var/lib/kubelet). Two runs that
# overlap (two checkouts, two CI jobs) queue on this lock instead of failing the "host is clean" check.
HOST_LOCK_PATH = Path("/run/lock/openchoreo-ci-pack-node.lock")
HOST_LOCK_TIMEOUT_SECONDS = float(os.environ.get("PACK_NODE_LOCK_TIMEOUT", "3600"))

# The host sysctls the kubelet sets when they differ from what it wants (protectKernelDefaults off).
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
# Host paths outside its root that the kubelet (hard-coded) or kubectl may create.
HOST_PATHS = (
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/usr/libexec/kubernetes",
    "/root/.kube",
    "/etc/kubernetes",
    "/var/run/kubernetes",
    "/var/lib/cni",
)
CGROUP_ROOT = Path("/sys/fs/cgroup")
KUBEPODS = "kubepods"


class NodeSetupError(ClusterSetupError):
    """The real node could not be built, started or torn down cleanly. First line says what; the rest are logs."""


@dataclass(frozen=True)
class NodeBinaries:
    etcd: Path
    kube_apiserver: Path
    kubelet: Path
    kube_controller_manager: Path
    kube_scheduler: Path

    @property
    def kubernetes_version(self) -> str:
        return self.kubelet.name.removeprefix("kubelet-")


def build_node_binaries() -> NodeBinaries:
    """Build (or reuse from the cache) the five binaries; NodeSetupError with the build's output on failure."""
    paths = run_build_script(NODE_COMPONENTS, len(NODE_COMPONENTS), gate="gate 2", what="the real node",
                             error=NodeSetupError)  # fmt: skip
    return NodeBinaries(*paths)


def missing_host_tools() -> list[str]:
    return [tool for tool in (CONTAINERD, CTR, "/usr/sbin/runc", CATATONIT, BUSYBOX, f"{CNI_BIN_DIR}/loopback")
            if not Path(tool).exists()]  # fmt: skip


# ------------------------------------------------------------------------------------------------ host state
def _read_sysctl(name: str) -> str:
    return Path("/proc/sys", name).read_text().strip()


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        points.append(line.split()[4].replace("\\040", " "))
    return points


def _kubepods_cgroups() -> list[str]:
    return sorted(str(path) for path in CGROUP_ROOT.glob(f"*/{KUBEPODS}*"))


@dataclass(frozen=True)
class HostState:
    """What a node may change on the host; equal before a node starts and after it stops."""

    sysctls: tuple[tuple[str, str], ...]
    kubepods_cgroups: tuple[str, ...]
    host_paths: tuple[str, ...]
    node_mounts: tuple[str, ...]  # mount points that belong to a node of this kit
    node_processes: tuple[str, ...]  # processes of a node of this kit (by their command line)

    @classmethod
    def capture(cls) -> HostState:
        return cls(
            sysctls=tuple((name, _read_sysctl(name)) for name in KUBELET_SYSCTLS if Path("/proc/sys", name).exists()),
            kubepods_cgroups=tuple(_kubepods_cgroups()),
            host_paths=tuple(path for path in HOST_PATHS if os.path.lexists(path)),
            node_mounts=tuple(point for point in _mount_points() if "pack-node-" in point),
            node_processes=tuple(f"{pid}: {cmd}" for pid, cmd in _node_processes()),
        )


def _node_processes(marker: str = "pack-node-") -> list[tuple[int, str]]:
    """Processes whose command line names a directory of a node of this kit (shims, containerd, kubelet...)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if marker in command:
            found.append((int(entry.name), command))
    return found


# ------------------------------------------------------------------------------------------------ images
def image_archive(reference: str, files: dict[str, tuple[bytes, int]], symlinks: dict[str, str],
                  entrypoint: list[str] | None, env: list[str]) -> bytes:  # fmt: skip
    """A one-layer image as a docker-archive tar (what `ctr images import` reads), made without any registry."""
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        directories = sorted({str(Path(name).parent) for name in [*files, *symlinks]} - {"."} | {"tmp"})
        for directory in directories:
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            layer.addfile(info)
        for name, (content, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), mode
            layer.addfile(info, io.BytesIO(content))
        for name, target in sorted(symlinks.items()):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            layer.addfile(info)
    layer_bytes = layer_buffer.getvalue()
    layer_digest = hashlib.sha256(layer_bytes).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": env, **({"Entrypoint": entrypoint} if entrypoint else {})},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
    }
    config_bytes = json.dumps(config).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": [reference], "Layers": [f"{layer_digest}/layer.tar"]}]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as out:
        for name, content in (
            (config_name, config_bytes),
            (f"{layer_digest}/layer.tar", layer_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            out.addfile(info, io.BytesIO(content))
    return archive.getvalue()


def pause_image() -> bytes:
    """The sandbox image: Debian's static `catatonit` in pause mode."""
    return image_archive(
        PAUSE_IMAGE, {"catatonit": (Path(CATATONIT).read_bytes(), 0o755)}, {}, ["/catatonit", "-P"], ["PATH=/"]
    )


def busybox_image() -> bytes:
    """A small image for the tests' own pods: Debian's static busybox."""
    return image_archive(
        BUSYBOX_IMAGE, {"bin/busybox": (Path(BUSYBOX).read_bytes(), 0o755)}, {"bin/sh": "busybox"}, None, ["PATH=/bin"]
    )


# ------------------------------------------------------------------------------------------------ PKI
@dataclass(frozen=True)
class Pki:
    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def ca(self) -> Path:
        return self.path("ca.crt")


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NodeSetupError(f"gate 2: openssl {args[0]} failed: {result.stderr.strip()[:400]}")


def make_pki(directory: Path, node_name: str) -> Pki:
    directory.mkdir(parents=True)
    pki = Pki(directory)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pack-node-ca",
        "-keyout", str(pki.path("ca.key")), "-out", str(pki.ca),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    first_service_ip = SERVICE_RANGE.rsplit(".", 1)[0] + ".1"
    leaves = {
        "apiserver": ("/CN=kube-apiserver", "serverAuth",
                      f"IP:127.0.0.1,IP:{first_service_ip},DNS:localhost,DNS:{node_name},DNS:kubernetes,"
                      "DNS:kubernetes.default,DNS:kubernetes.default.svc"),
        "kubelet-serving": (f"/O=system:nodes/CN=system:node:{node_name}", "serverAuth",
                            f"IP:127.0.0.1,DNS:{node_name},DNS:localhost"),
        "apiserver-kubelet-client": ("/O=system:masters/CN=kube-apiserver-kubelet-client", "clientAuth", ""),
        "kubelet": (f"/O=system:nodes/CN=system:node:{node_name}", "clientAuth", ""),
        "controller-manager": ("/CN=system:kube-controller-manager", "clientAuth", ""),
        "scheduler": ("/CN=system:kube-scheduler", "clientAuth", ""),
    }  # fmt: skip
    for name, (subject, usage, sans) in leaves.items():
        ext = pki.path(f"{name}.ext")
        ext.write_text(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage={usage}\n" + (f"subjectAltName={sans}\n" if sans else "")
        )
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                 "-keyout", str(pki.path(f"{name}.key")), "-out", str(pki.path(f"{name}.csr")))  # fmt: skip
        _openssl("x509", "-req", "-in", str(pki.path(f"{name}.csr")), "-CA", str(pki.ca),
                 "-CAkey", str(pki.path("ca.key")), "-CAcreateserial", "-days", "2",
                 "-out", str(pki.path(f"{name}.crt")), "-extfile", str(ext))  # fmt: skip
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", str(pki.path("service-account.key")))  # fmt: skip
    for key in directory.glob("*.key"):
        key.chmod(0o600)
    return pki


def _kubeconfig(path: Path, server: str, ca: Path, user: dict[str, str]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "node", "cluster": {"server": server, "certificate-authority": str(ca)}}],
                "users": [{"name": "user", "user": user}],
                "contexts": [{"name": "node", "context": {"cluster": "node", "user": "user"}}],
                "current-context": "node",
            }
        )
    )
    path.chmod(0o600)
    return path


def node_name() -> str:
    """The machine's hostname, which must resolve to 127.0.0.1: the apiserver reaches the kubelet by it."""
    name = socket.gethostname()
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(name, None, socket.AF_INET)}
    except OSError as error:
        raise NodeSetupError(f"gate 2: hostname {name!r} does not resolve ({error}); add it to /etc/hosts") from None
    if not addresses or not all(address.startswith("127.") for address in addresses):
        raise NodeSetupError(f"gate 2: hostname {name!r} resolves to {sorted(addresses)}, not 127.0.0.1 only")
    return name


def _clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy")}
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------------------ the node
@dataclass
class RealNode:
    """The running node. Use as a context manager; see the module docstring."""

    binaries: NodeBinaries
    timings: dict[str, float] = field(default_factory=dict)
    directory: Path | None = None
    state_directory: Path | None = None
    name: str = ""
    kube: KubeApi | None = None
    admin_kubeconfig: Path | None = None
    api_url: str = ""
    images: list[str] = field(default_factory=list)
    host_before: HostState | None = None
    # The host as this node found it, captured under the host lock; kept after stop() (which compares against it
    # before releasing the lock) so a test can compare two runs without racing another checkout's node.
    clean_host: HostState | None = None
    _processes: dict[str, _Process] = field(default_factory=dict)
    _host_lock: int | None = None

    @property
    def api(self) -> KubeApi:
        assert self.kube is not None
        return self.kube

    @property
    def containerd_socket(self) -> Path:
        assert self.state_directory is not None
        return self.state_directory / "containerd.sock"

    @property
    def containerd_root(self) -> Path:
        assert self.directory is not None
        return self.directory / "containerd"

    @property
    def containerd_log(self) -> Path:
        assert self.directory is not None
        return self.directory / "containerd.log"

    def __enter__(self) -> RealNode:
        try:
            self.start()
        except BaseException as error:
            logs = self.logs()
            try:
                self.stop()
            except NodeSetupError as stop_error:
                logs += f"\n(teardown after the failed start: {stop_error})"
            if isinstance(error, ClusterSetupError):
                raise NodeSetupError(f"{error}\n{logs}") from None
            raise NodeSetupError(f"gate 2: starting the real node failed: {error!r}\n{logs}") from error
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------------- start
    def start(self) -> None:
        missing = missing_host_tools()
        if missing:
            raise NodeSetupError(
                f"gate 2: missing host tools {missing} (apt-get install containerd runc containernetworking-plugins "
                "catatonit busybox-static; scripts/cluster/test.sh installs them)"
            )
        self._acquire_host_lock()
        self.host_before = self.clean_host = HostState.capture()
        leftovers = [
            f"{kind}: {list(values)}"
            for kind, values in (
                ("kubepods cgroups", self.host_before.kubepods_cgroups),
                ("node mounts", self.host_before.node_mounts),
                ("node processes", self.host_before.node_processes),
                ("kubelet paths", [p for p in self.host_before.host_paths if p == "/var/lib/kubelet"]),
            )
            if values
        ]
        if leftovers:
            self.host_before = None  # nothing of this run to undo
            raise NodeSetupError(f"gate 2: the host is not clean (another node running, or one left over): {leftovers}")
        self.name = node_name()
        started = time.monotonic()
        self.directory = Path(tempfile.mkdtemp(prefix="pack-node-"))
        # Unix socket paths are limited to 108 bytes: containerd's state (socket, runc root, shims) goes in /run.
        self.state_directory = Path(tempfile.mkdtemp(prefix="pack-node-", dir="/run"))
        pki = make_pki(self.directory / "pki", self.name)
        self.timings["pki"] = time.monotonic() - started

        self._start_control_plane(pki)
        self._start_containerd()
        self._import_images([pause_image(), busybox_image()])
        self._start_kubelet(pki)
        self._start_controllers(pki)
        self.timings["total"] = time.monotonic() - started

    def _acquire_host_lock(self) -> None:
        HOST_LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(HOST_LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + HOST_LOCK_TIMEOUT_SECONDS
        announced = False
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(descriptor)
                    raise NodeSetupError(
                        f"gate 2: another real node held {HOST_LOCK_PATH} for {HOST_LOCK_TIMEOUT_SECONDS:.0f} s"
                    ) from None
                if not announced:
                    print(f"gate 2: waiting for another real node on this host ({HOST_LOCK_PATH})", flush=True)
                    announced = True
                time.sleep(2)
        self._host_lock = descriptor

    def _release_host_lock(self) -> None:
        if self._host_lock is not None:
            fcntl.flock(self._host_lock, fcntl.LOCK_UN)
            os.close(self._host_lock)
            self._host_lock = None

    def _process(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> _Process:
        assert self.directory is not None
        process = _Process(name, argv, self.directory / f"{name}.log", env=env or _clean_env())
        self._processes[name] = process
        process.start()
        return process

    def _start_control_plane(self, pki: Pki) -> None:
        assert self.directory is not None
        etcd_port, etcd_peer_port = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = self._process("etcd", [
            str(self.binaries.etcd), "--name", "node", "--data-dir", str(self.directory / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer_port}",
            "--initial-cluster", f"node=http://127.0.0.1:{etcd_peer_port}", "--log-level", "warn",
        ])  # fmt: skip
        admin_token = secrets.token_urlsafe(24)
        token_file = self.directory / "tokens.csv"
        token_file.write_text(f'{admin_token},node-admin,node-admin,"system:masters"\n')
        token_file.chmod(0o600)
        port = free_port()
        self.api_url = f"https://127.0.0.1:{port}"
        apiserver = self._process("kube-apiserver", [
            str(self.binaries.kube_apiserver),
            "--etcd-servers", etcd_url,
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", str(port),
            "--tls-cert-file", str(pki.path("apiserver.crt")), "--tls-private-key-file", str(pki.path("apiserver.key")),
            "--client-ca-file", str(pki.ca), "--token-auth-file", str(token_file), "--anonymous-auth=false",
            "--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
            "--allow-privileged=true",
            "--kubelet-client-certificate", str(pki.path("apiserver-kubelet-client.crt")),
            "--kubelet-client-key", str(pki.path("apiserver-kubelet-client.key")),
            "--kubelet-certificate-authority", str(pki.ca),
            "--kubelet-preferred-address-types", "Hostname",
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--service-account-key-file", str(pki.path("service-account.key")),
            "--service-account-signing-key-file", str(pki.path("service-account.key")),
            "--service-cluster-ip-range", SERVICE_RANGE,
            "--endpoint-reconciler-type", "none",
            "--cert-dir", str(self.directory / "apiserver-certs"),
            "--profiling=false",
        ])  # fmt: skip
        self.kube = KubeApi(self.api_url, admin_token, pki.ca)
        kube = self.kube
        self.timings["kube-apiserver"] = _wait_for(
            "kube-apiserver /readyz", lambda: kube.status("/readyz") == 200, [etcd, apiserver], READY_TIMEOUT_SECONDS
        )
        self.admin_kubeconfig = _kubeconfig(self.directory / "admin.kubeconfig", self.api_url, pki.ca,
                                            {"token": admin_token})  # fmt: skip

    def _start_containerd(self) -> None:
        assert self.directory is not None and self.state_directory is not None
        cni_conf = self.directory / "cni"
        cni_conf.mkdir()
        (cni_conf / "10-loopback.conflist").write_text(
            json.dumps({"cniVersion": "0.4.0", "name": "loopback-only", "plugins": [{"type": "loopback"}]})
        )
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = self.directory / "containerd.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{self.containerd_root}"\n'
            f'state = "{self.state_directory}"\n'
            f'[grpc]\n  address = "{self.containerd_socket}"\n'
            f'[ttrpc]\n  address = "{self.state_directory}/containerd.sock.ttrpc"\n'
            '[metrics]\n  address = ""\n'
            f"[{cri}]\n"
            f'  sandbox_image = "{PAUSE_IMAGE}"\n'
            "  restrict_oom_score_adj = true\n"
            "  netns_mounts_under_state_dir = true\n"
            '  stream_server_address = "127.0.0.1"\n  stream_server_port = "0"\n'
            "  enable_selinux = false\n"
            f"[{cri}.cni]\n"
            f'  bin_dir = "{CNI_BIN_DIR}"\n  conf_dir = "{cni_conf}"\n  max_conf_num = 1\n'
            f"[{cri}.containerd]\n"
            '  snapshotter = "overlayfs"\n  default_runtime_name = "runc"\n'
            f"[{cri}.containerd.runtimes.runc]\n"
            '  runtime_type = "io.containerd.runc.v2"\n'
            f"[{cri}.containerd.runtimes.runc.options]\n"
            f'  Root = "{self.state_directory}/runc"\n  SystemdCgroup = false\n'
        )
        # A pull of an image from any registry off the machine goes to a closed port on loopback and fails.
        env = _clean_env(HTTP_PROXY=CLOSED_PROXY, HTTPS_PROXY=CLOSED_PROXY, NO_PROXY="127.0.0.1,localhost")
        containerd = self._process("containerd", [CONTAINERD, "--config", str(config), "--log-level", "info"], env)
        started = time.monotonic()
        _wait_for("containerd socket", lambda: self.ctr("version").returncode == 0, [containerd], 30)
        self.timings["containerd"] = time.monotonic() - started

    def ctr(self, *args: str, input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [CTR, "--address", str(self.containerd_socket), "--namespace", "k8s.io", *args],
            input=input_bytes,
            capture_output=True,
            check=False,
            timeout=120,
            env=_clean_env(),
        )

    def import_image(self, archive: bytes | Path) -> list[str]:
        """Import a docker-archive/OCI tar into the node's containerd; returns the names it added."""
        data = archive.read_bytes() if isinstance(archive, Path) else archive
        result = self.ctr("images", "import", "-", input_bytes=data)
        if result.returncode != 0:
            raise NodeSetupError(f"gate 2: ctr images import failed: {result.stderr.decode(errors='replace')[:600]}")
        names = [line.split()[1] for line in result.stdout.decode().splitlines() if line.startswith("unpacking ")]
        self.images.extend(names)
        return names

    def _import_images(self, archives: Iterable[bytes]) -> None:
        started = time.monotonic()
        for archive in archives:
            self.import_image(archive)
        self.timings["images"] = time.monotonic() - started

    def image_names(self) -> list[str]:
        result = self.ctr("images", "list", "--quiet")
        return [line for line in result.stdout.decode().splitlines() if line and not line.startswith("sha256:")]

    def _start_kubelet(self, pki: Pki) -> None:
        assert self.directory is not None and self.kube is not None
        resolv = self.directory / "resolv.conf"
        resolv.write_text(f"nameserver {NAMESERVER}\n")
        root = self.directory / "kubelet"
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "address": "127.0.0.1",
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "tlsCertFile": str(pki.path("kubelet-serving.crt")),
            "tlsPrivateKeyFile": str(pki.path("kubelet-serving.key")),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(pki.ca)},
            },
            "authorization": {"mode": "Webhook"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "makeIPTablesUtilChains": False,
            "resolvConf": str(resolv),
            "podLogsDir": str(self.directory / "pod-logs"),
            "volumePluginDir": str(self.directory / "volume-plugins"),
            "serializeImagePulls": True,
            "registerNode": True,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        }
        config_path = self.directory / "kubelet.yaml"
        config_path.write_text(yaml.safe_dump(config))
        kubeconfig = _kubeconfig(self.directory / "kubelet.kubeconfig", self.api_url, pki.ca,
                                 {"client-certificate": str(pki.path("kubelet.crt")),
                                  "client-key": str(pki.path("kubelet.key"))})  # fmt: skip
        kubelet = self._process("kubelet", [
            str(self.binaries.kubelet), "--config", str(config_path), "--kubeconfig", str(kubeconfig),
            "--root-dir", str(root), "--cert-dir", str(self.directory / "kubelet-certs"), "--v", "1",
        ])  # fmt: skip
        self.timings["node Ready"] = _wait_for(
            f"node {self.name} Ready", self._node_ready, [*self._processes.values(), kubelet], READY_TIMEOUT_SECONDS
        )

    def _node_ready(self) -> bool:
        if self.api.status(f"/api/v1/nodes/{self.name}") != 200:
            return False
        conditions = self.api.get(f"/api/v1/nodes/{self.name}")["status"].get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _start_controllers(self, pki: Pki) -> None:
        assert self.directory is not None
        for name, cert in (("kube-controller-manager", "controller-manager"), ("kube-scheduler", "scheduler")):
            kubeconfig = _kubeconfig(self.directory / f"{cert}.kubeconfig", self.api_url, pki.ca,
                                     {"client-certificate": str(pki.path(f"{cert}.crt")),
                                      "client-key": str(pki.path(f"{cert}.key"))})  # fmt: skip
            common = [
                "--kubeconfig", str(kubeconfig), "--authentication-kubeconfig", str(kubeconfig),
                "--authorization-kubeconfig", str(kubeconfig), "--bind-address", "127.0.0.1",
                "--secure-port", str(free_port()), "--leader-elect=false",
                "--cert-dir", str(self.directory / f"{cert}-certs"),
            ]  # fmt: skip
            if name == "kube-controller-manager":
                argv = [
                    str(self.binaries.kube_controller_manager), *common,
                    "--use-service-account-credentials=true",
                    "--service-account-private-key-file", str(pki.path("service-account.key")),
                    "--root-ca-file", str(pki.ca), "--service-cluster-ip-range", SERVICE_RANGE,
                    "--flex-volume-plugin-dir", str(self.directory / "flex-volumes"),
                ]  # fmt: skip
            else:
                argv = [str(self.binaries.kube_scheduler), *common]
            self._process(name, argv)
        self.timings["default ServiceAccount"] = _wait_for(
            "the default ServiceAccount",
            lambda: self.api.status("/api/v1/namespaces/default/serviceaccounts/default") == 200,
            list(self._processes.values()),
            READY_TIMEOUT_SECONDS,
        )

    # -------------------------------------------------------------------------------------------- use
    def kubectl(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        assert self.admin_kubeconfig is not None and self.directory is not None
        # HOME in the node's directory: kubectl's cache never lands in /root/.kube.
        env = _clean_env(KUBECONFIG=str(self.admin_kubeconfig), HOME=str(self.directory))
        return subprocess.run(["kubectl", *args], capture_output=True, text=True, check=False, env=env,
                              timeout=timeout)  # fmt: skip

    def wait_pod_phase(
        self, namespace: str, name: str, phases: tuple[str, ...], timeout: float = 120
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        pod: dict[str, Any] = {}
        while time.monotonic() < deadline:
            pod = self.api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
            if pod.get("status", {}).get("phase") in phases:
                return pod
            time.sleep(0.5)
        raise AssertionError(f"pod {namespace}/{name} not in {phases} after {timeout} s: {pod.get('status')}")

    def pod_log(self, namespace: str, name: str, container: str | None = None) -> str:
        path = f"/api/v1/namespaces/{namespace}/pods/{name}/log" + (f"?container={container}" if container else "")
        response = self.api._client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} -> {response.status_code}: {response.text[:400]}")
        return response.text

    def sandbox_resolv_confs(self) -> dict[str, str]:
        """The resolv.conf containerd wrote for every pod sandbox (what every container of the pod sees)."""
        sandboxes = self.containerd_root / "io.containerd.grpc.v1.cri" / "sandboxes"
        return {str(path): path.read_text() for path in sorted(sandboxes.glob("*/resolv.conf"))}

    def pulls_attempted(self) -> list[str]:
        """containerd's log lines for image pulls (the CRI logs every PullImage request)."""
        try:
            text = self.containerd_log.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if "PullImage" in line]

    # -------------------------------------------------------------------------------------------- teardown
    def stop(self) -> None:
        """Stop everything and restore the host; NodeSetupError if the host could not be restored."""
        problems: list[str] = []
        self._delete_pods()
        for name in ("kube-controller-manager", "kube-scheduler", "kubelet"):
            self._stop_process(name)
        self._remove_containers()
        self._stop_process("containerd")
        self._kill_leftover_processes()
        problems += self._unmount()
        # The apiserver before etcd: stopping both at once hung the apiserver.
        self._stop_process("kube-apiserver")
        self._stop_process("etcd")
        if self.kube is not None:
            self.kube.close()
            self.kube = None
        problems += self._restore_host()
        keep = os.environ.get("PACK_KEEP_CLUSTER_DIR") == "1"
        for directory in (self.state_directory, self.directory):
            if directory is not None and directory.exists() and not keep:
                shutil.rmtree(directory, ignore_errors=True)
                if directory.exists():
                    problems.append(f"could not remove {directory}")
        self.state_directory = self.directory if keep else None
        if not keep:
            self.directory = None
        self._release_host_lock()
        if problems:
            raise NodeSetupError("gate 2: teardown did not restore the host: " + "; ".join(problems))

    def _stop_process(self, name: str) -> None:
        process = self._processes.get(name)
        if process is not None:
            process.stop()

    def _delete_pods(self) -> None:
        """Let the kubelet stop every pod while it still runs (bounded); the forced path below catches the rest."""
        if self.kube is None or "kubelet" not in self._processes or self._processes["kubelet"].exited() is not None:
            return
        try:
            pods = self.api.get("/api/v1/pods")["items"]
            for pod in pods:
                meta = pod["metadata"]
                self.api.request("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                                 {"gracePeriodSeconds": 0}, ok=(200, 202, 404))  # fmt: skip
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.ctr("tasks", "list", "--quiet").stdout.strip():
                time.sleep(0.5)
        except (RuntimeError, OSError, subprocess.SubprocessError):
            pass  # best effort: the forced clean-up follows

    def _remove_containers(self) -> None:
        if "containerd" not in self._processes or self._processes["containerd"].exited() is not None:
            return
        tasks = self.ctr("tasks", "list", "--quiet").stdout.decode().split()
        for task in tasks:
            self.ctr("tasks", "kill", "--all", "--signal", "SIGKILL", task)
        deadline = time.monotonic() + 15
        for task in tasks:
            while time.monotonic() < deadline and self.ctr("tasks", "delete", "--force", task).returncode != 0:
                time.sleep(0.3)
        for container in self.ctr("containers", "list", "--quiet").stdout.decode().split():
            self.ctr("containers", "delete", container)

    def _kill_leftover_processes(self) -> None:
        """Shims of this node's containerd and any process still in this node's pod cgroups, killed by PID."""
        if self.state_directory is None:
            return
        pids = {pid for pid, _ in _node_processes(str(self.state_directory))}
        if self.directory is not None:
            pids |= {pid for pid, _ in _node_processes(str(self.directory))}
        for cgroup in _kubepods_cgroups():
            for procs in Path(cgroup).rglob("cgroup.procs"):
                try:
                    pids |= {int(pid) for pid in procs.read_text().split()}
                except OSError:
                    continue
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            time.sleep(0.2)

    def _unmount(self) -> list[str]:
        prefixes = [str(d) for d in (self.directory, self.state_directory) if d is not None]
        if not prefixes:
            return []
        points = [p for p in _mount_points() if any(p == x or p.startswith(x + "/") for x in prefixes)]
        for point in sorted(set(points), key=len, reverse=True):
            result = subprocess.run(["umount", point], capture_output=True, check=False)
            if result.returncode != 0:
                subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
        left = [p for p in _mount_points() if any(p.startswith(x) for x in prefixes)]
        return [f"mounts left: {left}"] if left else []

    def _restore_host(self) -> list[str]:
        before = self.host_before
        if before is None:
            return []
        problems = []
        for name, value in before.sysctls:
            if _read_sysctl(name) != value:
                Path("/proc/sys", name).write_text(value + "\n")
        for cgroup in _kubepods_cgroups():
            if cgroup in before.kubepods_cgroups:
                continue
            for directory in sorted((p for p in Path(cgroup).rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                _rmdir_quietly(directory)
            _rmdir_quietly(Path(cgroup))
        for path in HOST_PATHS:
            if path not in before.host_paths and os.path.lexists(path):
                _remove_mounts_under(path)
                shutil.rmtree(path, ignore_errors=True)
        after = HostState.capture()
        if after != before:
            problems.append(f"host state differs: before {before}, after {after}")
        self.host_before = None
        return problems

    def logs(self) -> str:
        """The tail of every component's log, for a failure message."""
        return "\n".join(
            f"----- {process.name} (pid {process.popen.pid if process.popen else '-'}, "
            f"exit {process.exited()}) {process.log}\n{_tail(process.log)}"
            for process in self._processes.values()
        )


def _rmdir_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):  # a cgroup still in use stays; the host-state check then reports it
        path.rmdir()


def _remove_mounts_under(path: str) -> None:
    for point in sorted((p for p in _mount_points() if p.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Poll `check` (0.5 s) until true; AssertionError naming `what` after `timeout` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached after {timeout:.0f} s")
