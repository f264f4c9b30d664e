"""`python -m hera_workflows images`: build (and push) the step images the rendered templates reference.

Image names come from `steps.common.contract` (`<IMAGE_REGISTRY>/<repository>:<IMAGE_TAG>`), the same constants
the Hera modules render into templates/; `images build` also reads templates/*.yaml and fails when a template
references a pack image this command does not build.

Each step image is `Dockerfiles/<step>.Dockerfile` on top of a base image:

* default: the Dockerfile's `ARG BASE_IMAGE` (an upstream `python:3.11-slim-bookworm`; OS tools are then
  installed with apt inside the build, which needs network);
* `--base IMAGE`: that image for every step image;
* `--local-base`: bases made on this machine from Debian packages, with no registry access: the package closure
  is resolved by apt against an empty dpkg status (maintainer-script-only packages such as perl, debconf, dpkg
  are marked "installed" so they stay out), the .debs are fetched with `apt-get download` (plain http), unpacked
  with `dpkg-deb -x`, fixed up (merged /usr, /bin/sh, CA bundle, ld.so cache, precompiled stdlib) and turned into
  an image with `docker import`. A base is labelled with the hash of its inputs and rebuilt only when they change.

Why not `mmdebstrap --variant=extract … | docker import` (measured on bookworm, mmdebstrap 1.3.5, issue 13): it
replaces only the resolve/download/unpack part (the fix-ups below stay), is no faster cold (the five bases: 179 s
against 192 s here, within the noise of a shared machine), and does not give the same contents. Even with this
module's dpkg status planted by a setup hook (without it, dpkg, debconf, tar, openssl and six libraries come in),
it still pulls openssl (every base), dmsetup (skopeo, buildah) and git-man (git); it leaves its skeleton
(/dev nodes, etc/apt, etc/dpkg, var/lib/dpkg, etc/fstab, etc/hostname, etc/resolv.conf); its extract variant
unpacks bin/, lib/, lib64/ unmerged; it resolves against freshly fetched indexes rather than the apt lists whose
versions the base's tag hashes; and with the one default mirror line it takes pre-security-update versions.

Python dependencies (requirements/<image>.txt, exact pins) are downloaded as wheels on the host
(`pip download --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11`) and installed on the
host into a target directory that the Dockerfile copies: no pip and no network inside the image build.
The step code copied is `steps/__init__.py`, `steps/common/` and `steps/<step>/` only (never hera).

The same command builds the test registry image `local/registry:<version>` from Debian's docker-registry .deb.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from steps.common import contract

ROOT = Path(__file__).resolve().parents[2]  # hera_workflows/images/<module> -> the checkout
DOCKERFILES = ROOT / "Dockerfiles"
REQUIREMENTS = ROOT / "requirements"
TEMPLATES = ROOT / "templates"
DEFAULT_CACHE = ROOT / ".cache" / "images"
PUSHED_SETTINGS_FILE = "pack-images.yaml"

# Bumped whenever the rootfs recipe below changes in a way the package list does not show.
ROOTFS_RECIPE = "6"
BASE_REPOSITORY = "local/openchoreo-ci-pack-base"
HASH_LABEL = "org.openchoreo.ci-pack.inputs-hash"
REGISTRY_REPOSITORY = "local/registry"
REGISTRY_PACKAGE = "docker-registry"
SOURCE_URL = "https://github.com/openchoreo/openchoreo-ci-pack"
LICENSE = "Apache-2.0"
# The Python all step images run: Debian bookworm's (local bases) or the upstream python:3.11 image.
PYTHON_VERSION = "3.11"
WHEEL_PLATFORM = "manylinux2014_x86_64"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Packages that only serve maintainer scripts (never run: .debs are unpacked, not installed) or that pull in
# large trees the steps never use. They are marked installed in the fake dpkg status, so apt neither picks them
# nor their own dependencies.
NOT_INSTALLED = (
    "adduser", "debconf", "debianutils", "dpkg", "init-system-helpers", "lsb-base", "passwd", "login",
    "libpam0g", "libpam-modules", "libpam-modules-bin", "libpam-runtime", "libsemanage2", "libsemanage-common",
    "libsepol2", "libaudit1", "libaudit-common", "libcap-ng0", "perl-base", "perl", "perl-modules-5.36",
    "libperl5.36", "liberror-perl", "libfile-find-rule-perl", "libnumber-compare-perl", "libtext-glob-perl",
    "sysvinit-utils", "tar", "usrmerge", "openssl", "git-man", "dmsetup", "gnupg", "gpg", "gpg-agent", "gpgsm",
    "gpgconf", "dirmngr", "gnupg-l10n", "gnupg-utils", "gpg-wks-client", "gpg-wks-server", "pinentry-curses",
    "iptables", "containernetworking-plugins", "netavark", "aardvark-dns", "uidmap", "libsubid4", "coreutils",
)  # fmt: skip

PYTHON_PACKAGES = ("python3.11", "python3", "python-is-python3", "ca-certificates", "dash", "busybox-static")


@dataclass(frozen=True)
class BaseSpec:
    """A base image made from Debian packages."""

    name: str
    packages: tuple[str, ...]
    env: tuple[str, ...] = ()
    python: bool = True
    description: str = ""

    @property
    def repository(self) -> str:
        return f"{BASE_REPOSITORY}-{self.name}"


BASES: dict[str, BaseSpec] = {
    spec.name: spec
    for spec in (
        BaseSpec("python", PYTHON_PACKAGES, description="Python 3.11 (Debian bookworm), busybox"),
        BaseSpec(
            "git",
            (*PYTHON_PACKAGES, "git", "openssh-client", "libnss-wrapper"),
            description="Python 3.11 + git + ssh (+ nss_wrapper for arbitrary uids)",
        ),
        BaseSpec(
            "buildah",
            # git and skopeo: build avoidance reads the checkout's tree ids and resolves base digests
            (*PYTHON_PACKAGES, "buildah", "git", "skopeo"),
            env=("BUILDAH_ISOLATION=chroot",),
            description="Python 3.11 + buildah (overlay storage, chroot isolation) + git and skopeo",
        ),
        BaseSpec("skopeo", (*PYTHON_PACKAGES, "skopeo"), description="Python 3.11 + skopeo"),
        BaseSpec("registry", (REGISTRY_PACKAGE,), python=False, description="distribution registry"),
    )
}


@dataclass(frozen=True)
class StepImage:
    """One step image: `<IMAGE_REGISTRY>/<repository>:<IMAGE_TAG>` built from Dockerfiles/<step>.Dockerfile."""

    repository: str  # contract.IMAGE_REPO_*
    step: str  # package under steps/
    base: str  # key of BASES used with --local-base
    user: str  # the USER the Dockerfile sets
    description: str

    @property
    def name(self) -> str:
        return self.repository

    @property
    def ref(self) -> str:
        return image_ref(self.repository)

    @property
    def module(self) -> str:
        return contract.STEP_MODULES[self.repository]

    @property
    def dockerfile(self) -> Path:
        return DOCKERFILES / f"{self.step}.Dockerfile"

    @property
    def requirements(self) -> Path:
        return REQUIREMENTS / f"{self.repository}.txt"


def image_ref(repository: str, registry: str = contract.IMAGE_REGISTRY, tag: str = contract.IMAGE_TAG) -> str:
    return f"{registry}/{repository}:{tag}"


_NON_ROOT = f"{contract.STEP_UID}:{contract.STEP_GID}"
STEP_IMAGES: dict[str, StepImage] = {
    image.name: image
    for image in (
        StepImage(contract.IMAGE_REPO_CHECKOUT, "checkout", "git", _NON_ROOT, "clones the source at one commit"),
        StepImage(contract.IMAGE_REPO_BUILD, "build", "buildah", "0:0", "builds a Containerfile with buildah"),
        StepImage(contract.IMAGE_REPO_PUBLISH, "publish_image", "skopeo", _NON_ROOT, "pushes the image with skopeo"),
        StepImage(
            contract.IMAGE_REPO_GENERATE_WORKLOAD,
            "generate_workload",
            "python",
            _NON_ROOT,
            "writes the OpenChoreo Workload CR",
        ),
        StepImage(
            contract.IMAGE_REPO_GITOPS_PUBLISH,
            "gitops_publish",
            "git",
            _NON_ROOT,
            "writes the release into a GitOps repository and opens a pull request",
        ),
    )
}
REGISTRY_IMAGE_NAME = "registry"
ALL_NAMES = (*STEP_IMAGES, REGISTRY_IMAGE_NAME)


class ImageBuildError(RuntimeError):
    pass


def _log(message: str) -> None:
    print(f"images: {message}", file=sys.stderr, flush=True)


def _run(cmd: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(cmd), capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise ImageBuildError(f"{' '.join(cmd[:4])}... failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def _sha(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


# --------------------------------------------------------------------------------------------------- Debian


@dataclass(frozen=True)
class Deb:
    name: str
    version: str
    arch: str

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"


_INST = re.compile(r"^Inst (\S+) \((\S+) .*\[(\S+)\]\)")


def _apt_lists_fingerprint() -> str:
    lists = sorted(Path("/var/lib/apt/lists").glob("*_Packages*"))
    return _sha([(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in lists])


def _ensure_apt_lists() -> None:
    if not any(Path("/var/lib/apt/lists").glob("*_Packages*")):
        _log("no apt package lists: apt-get update")
        _run(["apt-get", "update", "-qq"])


def resolve_packages(spec: BaseSpec, cache: Path) -> list[Deb]:
    """The package closure of `spec` (Depends/Pre-Depends, no Recommends) as apt resolves it from scratch.
    Cached per apt lists state; call it from one thread at a time (apt's binary cache is shared)."""
    fingerprint = _apt_lists_fingerprint()
    key = _sha(spec.packages, NOT_INSTALLED, fingerprint)
    cached = cache / "resolve" / f"{spec.name}-{key[:16]}.json"
    if cached.is_file():
        return [Deb(**item) for item in json.loads(cached.read_text())]
    apt_dir = _fake_dpkg_status(cache, fingerprint)
    result = _run(
        [
            "apt-get", "-s", "-q", "-o", f"Dir::State::status={apt_dir}/status",
            "-o", f"Dir::Cache::pkgcache={apt_dir}/pkgcache.bin", "-o", f"Dir::Cache::srcpkgcache={apt_dir}/src.bin",
            "install", "--no-install-recommends", *spec.packages,
        ]
    )  # fmt: skip
    debs = [Deb(*m.groups()) for line in result.stdout.splitlines() if (m := _INST.match(line))]
    if not debs:
        raise ImageBuildError(f"base {spec.name}: apt resolved no packages:\n{result.stdout[-2000:]}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps([dataclasses.asdict(d) for d in debs]))
    return debs


def _fake_dpkg_status(cache: Path, fingerprint: str) -> Path:
    """A dpkg status file in which only NOT_INSTALLED is installed, with no dependencies of its own (so apt
    neither pulls those nor sees them broken). Rewritten only when it changes, so apt's binary cache next to
    it stays valid between calls."""
    apt_dir = cache / "apt"
    apt_dir.mkdir(parents=True, exist_ok=True)
    stamp = apt_dir / "status.key"
    key = _sha(NOT_INSTALLED, fingerprint)
    if stamp.is_file() and stamp.read_text() == key:
        return apt_dir
    shown = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", *NOT_INSTALLED], capture_output=True, text=True, check=False
    ).stdout
    stanzas = [s for s in shown.strip().split("\n\n") if s.startswith("Package:")]
    keep = ("Package:", "Version:", "Architecture:", "Provides:", "Multi-Arch:", "Essential:")
    status = "\n\n".join(
        "\n".join([*(f for f in s.splitlines() if f.startswith(keep)), "Status: install ok installed"]) for s in stanzas
    )
    for stale in ("pkgcache.bin", "src.bin"):
        (apt_dir / stale).unlink(missing_ok=True)
    (apt_dir / "status").write_text(status + "\n")
    stamp.write_text(key)
    return apt_dir


def download_debs(debs: Iterable[Deb], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    missing = sorted({d for d in debs if not (directory / d.filename).is_file()}, key=lambda d: d.name)
    if not missing:
        return
    started = time.monotonic()
    _run(["apt-get", "download", "-q", *(f"{d.name}={d.version}" for d in missing)], cwd=directory)
    absent = [d.filename for d in missing if not (directory / d.filename).is_file()]
    if absent:
        raise ImageBuildError(f"apt-get download did not produce {absent}")
    _log(f"downloaded {len(missing)} .debs in {time.monotonic() - started:.1f}s")


_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"
_REGISTRY_CONFIG = """\
version: 0.1
log: {level: info, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: /var/lib/registry}, delete: {enabled: true}}
http: {addr: "127.0.0.1:5000"}
"""
_CONTAINERS_STORAGE = """\
[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
"""
_PRUNE = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
          "usr/share/bug", "usr/share/bash-completion", "usr/share/zsh", "usr/share/fish", "usr/share/gitweb",
          "usr/lib/python3.11/test", "usr/lib/python3.11/idlelib", "usr/lib/python3.11/tkinter",
          "usr/lib/python3.11/turtledemo", "usr/lib/python3.11/lib2to3/tests", "var/cache", "var/lib/dpkg",
          "usr/share/git-core/templates/hooks", "usr/lib/x86_64-linux-gnu/gconv", "usr/lib/python3.11/pydoc_data",
          "usr/lib/python3.11/lib2to3", "usr/lib/python3.11/turtle.py", "usr/bin/pygettext3.11",
          # git and OpenSSH programs a clone never runs (server side, push over dumb http, mail, file transfer)
          "usr/bin/scalar", "usr/bin/git-shell", "usr/lib/git-core/scalar", "usr/lib/git-core/git-shell",
          "usr/lib/git-core/git-http-push", "usr/lib/git-core/git-imap-send", "usr/lib/git-core/git-http-backend",
          "usr/lib/git-core/git-daemon", "usr/lib/git-core/git-instaweb", "usr/lib/git-core/git-http-fetch",
          "usr/lib/git-core/git-cvsserver", "usr/lib/git-core/git-archimport", "usr/lib/git-core/git-cvsimport",
          "usr/lib/git-core/git-svn", "usr/lib/git-core/git-send-email", "usr/bin/sftp", "usr/bin/scp",
          "usr/bin/ssh-copy-id", "usr/bin/ssh-agent", "usr/bin/ssh-add", "usr/bin/git-cvsserver")  # fmt: skip
# C extension modules of the stdlib test suite
_PRUNE_GLOBS = (
    "usr/lib/python3.11/lib-dynload/_test*",
    "usr/lib/python3.11/lib-dynload/_ctypes_test*",
    "usr/lib/python3.11/lib-dynload/xxlimited*",
    "usr/lib/python3.11/lib-dynload/_xxtestfuzz*",
)


_MERGED_USR = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def unpack_deb(deb: Deb, deb_dir: Path, cache: Path) -> Path:
    """`dpkg-deb -x` once per package version into the cache, already in merged-/usr layout and, for the
    Python stdlib packages, with precompiled byte code. Rootfs trees are assembled from these by hard links."""
    target = cache / "unpacked" / deb.filename.removesuffix(".deb")
    with _UNPACK_LOCKS_GUARD:
        lock = _UNPACK_LOCKS.setdefault(str(target), threading.Lock())
    with lock:
        return _unpack_deb_locked(deb, deb_dir, target)


_UNPACK_LOCKS: dict[str, threading.Lock] = {}
_UNPACK_LOCKS_GUARD = threading.Lock()


def _unpack_deb_locked(deb: Deb, deb_dir: Path, target: Path) -> Path:
    marker = target.with_name(target.name + ".ok")
    if marker.is_file() and target.is_dir():
        return target
    scratch = target.with_name(target.name + ".tmp")
    for stale in (scratch, target):
        if stale.exists():
            shutil.rmtree(stale)
    scratch.mkdir(parents=True)
    _run(["dpkg-deb", "-x", str(deb_dir / deb.filename), str(scratch)])
    for top in _MERGED_USR:  # bookworm installs /bin, /lib, ... as links into /usr
        path = scratch / top
        if path.is_dir() and not path.is_symlink():
            (scratch / "usr" / top).mkdir(parents=True, exist_ok=True)
            _run(["cp", "-a", "--link", f"{path}/.", str(scratch / "usr" / top)])
            shutil.rmtree(path)
    stdlib = scratch / "usr/lib/python3.11"
    if deb.name.startswith(("libpython3.11", "python3.11")) and stdlib.is_dir():
        _compile_stdlib(scratch, stdlib)
    scratch.rename(target)
    marker.write_text(deb.filename)
    return target


def _compile_stdlib(root: Path, directory: Path) -> None:
    """Byte code for the stdlib, as Debian's postinst would make it (images run with read-only roots and
    must start fast). The host's Debian python3.11 compiles it; paths are rewritten to the image's."""
    host_python = Path("/usr/bin/python3.11")
    if not host_python.is_file():
        return  # the rootfs then compiles it in a chroot (make_rootfs)
    cmd = [str(host_python), "-m", "compileall", "-q", "-j0", "-s", str(root), "-p", "/", str(directory)]
    subprocess.run(cmd, capture_output=True, check=False)  # a module that fails to compile is not fatal


def _write(path: Path, text: str) -> None:
    """Replace a file without touching a hard-linked original in the unpack cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.write_text(text)


def make_rootfs(spec: BaseSpec, unpacked: Sequence[Path], rootfs: Path) -> None:
    """Assemble `rootfs` from unpacked packages (hard links) and apply the fix-ups a dpkg install would make:
    merged /usr, /bin/sh, users, CA bundle, ld.so cache. Files are only ever replaced, never edited in place."""
    if rootfs.exists():
        shutil.rmtree(rootfs)
    rootfs.mkdir(parents=True)
    _run(["cp", "-a", "--link", "--force", *(f"{path}/." for path in unpacked), f"{rootfs}/"])
    for top in _MERGED_USR:
        if (rootfs / "usr" / top).is_dir():
            (rootfs / top).symlink_to(f"usr/{top}")
    for directory in ("tmp", "var/tmp", "root", "etc/ssl/certs", "proc", "sys", "dev", "run", "usr/local/bin"):
        (rootfs / directory).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    (rootfs / "var/tmp").chmod(0o1777)
    _write(rootfs / "etc/passwd", _PASSWD)
    _write(rootfs / "etc/group", _GROUP)
    _write(rootfs / "etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n")
    if (rootfs / "usr/bin/dash").exists():
        (rootfs / "usr/bin/sh").unlink(missing_ok=True)
        (rootfs / "usr/bin/sh").symlink_to("dash")
    busybox = rootfs / "usr/bin/busybox"
    if busybox.exists():
        applets = _run([str(busybox), "--list"]).stdout.split()
        for applet in applets:
            if not any((rootfs / d / applet).exists() for d in ("usr/bin", "usr/sbin", "usr/local/bin")):
                (rootfs / "usr/local/bin" / applet).symlink_to("/usr/bin/busybox")
    mozilla = sorted((rootfs / "usr/share/ca-certificates/mozilla").glob("*.crt"))
    if mozilla:
        _write(rootfs / "etc/ssl/certs/ca-certificates.crt", "".join(p.read_text() for p in mozilla))
        ssl_dir = rootfs / "usr/lib/ssl"
        ssl_dir.mkdir(parents=True, exist_ok=True)
        for link, target in (("certs", "/etc/ssl/certs"), ("cert.pem", "/etc/ssl/certs/ca-certificates.crt")):
            (ssl_dir / link).unlink(missing_ok=True)
            (ssl_dir / link).symlink_to(target)
    if spec.name == "buildah":
        _write(rootfs / "etc/containers/storage.conf", _CONTAINERS_STORAGE)
        for directory in ("var/lib/containers/storage", "run/containers/storage"):
            (rootfs / directory).mkdir(parents=True, exist_ok=True)
    if spec.name == "registry":
        _write(rootfs / "etc/docker/registry/config.yml", _REGISTRY_CONFIG)
        (rootfs / "var/lib/registry").mkdir(parents=True, exist_ok=True)
    for relative in _PRUNE:
        path = rootfs / relative
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for pattern in _PRUNE_GLOBS:
        for path in rootfs.glob(pattern):
            path.unlink()
    _run(["ldconfig", "-r", str(rootfs)])
    stdlib = rootfs / "usr/lib/python3.11"
    if spec.python and not (stdlib / "__pycache__").is_dir():
        subprocess.run(
            ["chroot", str(rootfs), "/usr/bin/python3.11", "-m", "compileall", "-q", "/usr/lib/python3.11"],
            capture_output=True,
            check=False,
        )


def _tar_rootfs(rootfs: Path, out: Path) -> None:
    # Hard links into the shared unpack cache change ctimes while other trees are assembled: GNU tar reports
    # that as "file changed as we read it" (exit 1), harmless here since contents never change.
    cmd = ["tar", "--numeric-owner", "--warning=no-file-changed", "-C", str(rootfs), "-cf", str(out), "."]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1) or result.stderr.strip():
        raise ImageBuildError(f"tar of {rootfs} failed ({result.returncode}): {result.stderr[-2000:]}")


# ---------------------------------------------------------------------------------------------- docker


def docker_client() -> Any:
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as error:
        where = os.environ.get("DOCKER_HOST") or "the default socket"
        raise ImageBuildError(f"cannot reach the Docker engine at {where}: {error}") from None
    return client


def image_exists(client: Any, ref: str) -> bool:
    import docker.errors

    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def image_size(client: Any, ref: str) -> int:
    size: int = client.images.get(ref).attrs["Size"]
    return size


@dataclass
class Built:
    name: str
    ref: str
    seconds: float
    cached: bool
    size: int = 0
    digest: str = ""


def base_ref(spec: BaseSpec, debs: Sequence[Deb]) -> tuple[str, str]:
    """(image reference, inputs hash) of a base: the hash covers the recipe, the spec and every package version."""
    digest = _sha(ROOTFS_RECIPE, spec, [dataclasses.astuple(d) for d in debs])
    if spec.name == "registry":
        version = next(d.version for d in debs if d.name == REGISTRY_PACKAGE)
        return f"{REGISTRY_REPOSITORY}:{registry_version(version)}", digest
    return f"{spec.repository}:{digest[:16]}", digest


def base_is_current(client: Any, ref: str, digest: str) -> bool:
    return image_exists(client, ref) and client.images.get(ref).labels.get(HASH_LABEL) == digest


def build_base(client: Any, spec: BaseSpec, cache: Path, *, force: bool = False) -> Built:
    """Make (or reuse) the base image for `spec`; its tag is the hash of its inputs."""
    started = time.monotonic()
    debs = resolve_packages(spec, cache)
    ref, digest = base_ref(spec, debs)
    if not force and base_is_current(client, ref, digest):
        return Built(spec.name, ref, time.monotonic() - started, True, image_size(client, ref))
    download_debs(debs, cache / "debs")
    with ThreadPoolExecutor(max_workers=4) as pool:
        unpacked = list(pool.map(lambda deb: unpack_deb(deb, cache / "debs", cache), debs))
    with tempfile.TemporaryDirectory(prefix=f"pack-rootfs-{spec.name}-", dir=cache) as tmp:
        rootfs = Path(tmp) / "rootfs"
        make_rootfs(spec, unpacked, rootfs)
        archive = Path(tmp) / "rootfs.tar"
        _tar_rootfs(rootfs, archive)
        changes = [f"ENV {PATH_ENV}", "ENV LANG=C.UTF-8", *(f"ENV {e}" for e in spec.env)]
        labels = {
            HASH_LABEL: digest,
            "org.opencontainers.image.title": f"{contract.PACK_NAME} base {spec.name}",
            "org.opencontainers.image.description": spec.description,
            "org.opencontainers.image.source": SOURCE_URL,
            "org.opencontainers.image.base.name": "debian:bookworm (.debs)",
        }
        changes += [f"LABEL {k}={json.dumps(v)}" for k, v in labels.items()]
        if spec.name == "registry":
            changes += [
                'ENTRYPOINT ["/usr/bin/docker-registry"]',
                'CMD ["serve", "/etc/docker/registry/config.yml"]',
                "VOLUME /var/lib/registry",
            ]
        else:
            changes.append('CMD ["python3"]')
        repository, _, image_tag = ref.rpartition(":")
        client.api.import_image_from_file(str(archive), repository=repository, tag=image_tag, changes=changes)
    if not image_exists(client, ref):
        raise ImageBuildError(f"docker import did not create {ref}")
    if spec.name != "registry":  # also a stable alias for humans: local/...-<name>:latest
        client.images.get(ref).tag(spec.repository, "latest")
        _untag_stale(client, spec.repository, keep={ref, f"{spec.repository}:latest"})
    return Built(spec.name, ref, time.monotonic() - started, False, image_size(client, ref))


def _untag_stale(client: Any, repository: str, keep: set[str]) -> None:
    """Drop older hash tags of a base (untag only: layers still used by step images stay)."""
    for image in client.images.list(name=repository):
        for tag in image.tags:
            if tag not in keep:
                with contextlib.suppress(Exception):
                    client.images.remove(tag)


def registry_version(deb_version: str) -> str:
    """`2.8.2+ds1-1` -> `2.8.2` (the upstream distribution version)."""
    version = deb_version.split(":", 1)[-1]
    return re.split(r"[+~-]", version, maxsplit=1)[0]


def registry_image_ref() -> str:
    """The local registry image's reference, from the docker-registry version apt knows (no network)."""
    out = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", REGISTRY_PACKAGE], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"^Version: (\S+)", out, re.M)
    return f"{REGISTRY_REPOSITORY}:{registry_version(match.group(1)) if match else '2.8.2'}"


# ------------------------------------------------------------------------------------------- python deps


def python_deps(image: StepImage, cache: Path) -> Path:
    """Install the image's pinned requirements for CPython 3.11/x86_64 into a host directory (cached)."""
    lines = _requirement_lines(image.requirements)
    key = _sha(PYTHON_VERSION, WHEEL_PLATFORM, lines)[:16]
    target = cache / "pydeps" / key  # images with the same requirements share one tree
    if (target / ".complete").is_file():
        return target
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    platform = [
        "--only-binary=:all:", "--platform", WHEEL_PLATFORM, "--python-version", PYTHON_VERSION,
        "--implementation", "cp", "--disable-pip-version-check", "-q",
    ]  # fmt: skip
    _run([sys.executable, "-m", "pip", "download", *platform, "-d", str(wheels), "-r", str(image.requirements)])
    if target.exists():
        shutil.rmtree(target)
    _run(
        [
            sys.executable, "-m", "pip", "install", *platform, "--no-index", "--find-links", str(wheels),
            "--no-compile", "--no-warn-script-location", "--target", str(target), "-r", str(image.requirements),
        ]
    )  # fmt: skip
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts carry the host's interpreter path
    (target / ".complete").write_text(key)
    return target


def _requirement_lines(path: Path) -> list[str]:
    """The requirement lines of `path` and the files it includes (`-r`), comments and blanks dropped."""
    text = path.read_text().replace("\\\n", " ")
    lines: list[str] = []
    for raw in text.splitlines():
        line = " ".join(raw.split("#", 1)[0].split())
        if line.startswith(("-r ", "--requirement ")):
            lines += _requirement_lines(path.parent / line.split(None, 1)[1])
        elif line:
            lines.append(line)
    return sorted(lines)


# ------------------------------------------------------------------------------------------ step images


def _add_tree(tar: tarfile.TarFile, source: Path, arcname: str) -> None:
    """Add files with normalised metadata, so the build context (and the layer cache key) depends on content."""
    paths = [source] if source.is_file() else sorted(source.rglob("*"))
    for path in paths:
        if "__pycache__" in path.parts or path.suffix == ".pyc" or path.name == ".complete":
            continue
        if path.is_dir() and not path.is_symlink():
            continue
        name = arcname if path == source else f"{arcname}/{path.relative_to(source).as_posix()}"
        info = tar.gettarinfo(str(path), arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755 if info.mode & 0o100 else 0o644
        if info.isreg():
            with path.open("rb") as handle:
                tar.addfile(info, handle)
        else:
            tar.addfile(info)


_STEP_IMPORT = re.compile(r"^\s*(?:from|import)\s+steps\.(\w+)", re.M)


def step_packages(step: str) -> list[str]:
    """The packages under steps/ an image needs: `common`, the step's own, and any other step package its code
    imports (transitively). Cross-step imports are reported: shared code belongs in steps/common."""
    needed, todo = {"common", step}, [step, "common"]
    while todo:
        package = ROOT / "steps" / todo.pop()
        for source in sorted(package.rglob("*.py")):
            for imported in _STEP_IMPORT.findall(source.read_text()):
                if imported not in needed and (ROOT / "steps" / imported).is_dir():
                    _log(
                        f"warning: {source.relative_to(ROOT)} imports steps.{imported}; it is copied into the "
                        f"{step} image too (move shared code to steps/common)"
                    )
                    needed.add(imported)
                    todo.append(imported)
    return sorted(needed)


def build_context(image: StepImage, pydeps: Path) -> io.BytesIO:
    """Dockerfile + steps/{__init__.py,common,<step>} + pydeps/ (installed requirements) as a tar stream."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add_tree(tar, image.dockerfile, "Dockerfile")
        _add_tree(tar, ROOT / "steps" / "__init__.py", "steps/__init__.py")
        for package in step_packages(image.step):
            _add_tree(tar, ROOT / "steps" / package, f"steps/{package}")
        _add_tree(tar, pydeps, "pydeps")
    buffer.seek(0)
    return buffer


def dockerfile_default_base(image: StepImage) -> str:
    """The `ARG BASE_IMAGE=...` default of the image's Dockerfile."""
    match = re.search(r"^ARG BASE_IMAGE=(\S+)", image.dockerfile.read_text(), re.M)
    if not match:
        raise ImageBuildError(f"{image.dockerfile}: no `ARG BASE_IMAGE=<default>`")
    return match.group(1)


def docker_build(client: Any, context: io.BytesIO, tag: str, buildargs: dict[str, str], network: str) -> None:
    output: list[str] = []
    for chunk in client.api.build(
        fileobj=context,
        custom_context=True,
        tag=tag,
        buildargs=buildargs,
        network_mode=network,
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
    ):
        if "stream" in chunk:
            output.append(chunk["stream"])
        if "error" in chunk:
            raise ImageBuildError(f"building {tag} failed: {chunk['error']}\n{''.join(output)[-3000:]}")


def _vcs_ref() -> str:
    # read-only query; an unborn or missing repository gives "unknown"
    result = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def build_step_image(
    client: Any, image: StepImage, cache: Path, base: str | None, *, upstream_base: bool, vcs_ref: str
) -> Built:
    started = time.monotonic()
    pydeps = python_deps(image, cache)
    buildargs = {"PACK_VERSION": contract.PACK_VERSION, "VCS_REF": vcs_ref}
    if base is not None:
        buildargs["BASE_IMAGE"] = base
    before = client.images.get(image.ref).id if image_exists(client, image.ref) else None
    docker_build(client, build_context(image, pydeps), image.ref, buildargs, "host" if upstream_base else "none")
    after = client.images.get(image.ref).id
    return Built(image.name, image.ref, time.monotonic() - started, before == after, image_size(client, image.ref))


# -------------------------------------------------------------------------------------- templates check


def template_images(templates_dir: Path = TEMPLATES) -> dict[str, list[str]]:
    """image reference -> ["<file>:<template>/<container>", ...] for every container in templates/*.yaml."""
    import yaml

    found: dict[str, list[str]] = {}
    for path in sorted(templates_dir.glob("**/*.y*ml")):
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            mark = getattr(error, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ImageBuildError(f"{path}{line}: cannot read the template: {' '.join(str(error).split())}") from None
        for document in documents:
            if not isinstance(document, dict):
                continue
            spec = document.get("spec") or {}
            for template in spec.get("templates") or []:
                containers = [("main", template.get("container"))]
                containers += [(c.get("name", "init"), c) for c in template.get("initContainers") or []]
                containers += [(c.get("name", "sidecar"), c) for c in template.get("sidecars") or []]
                for container_name, container in containers:
                    if isinstance(container, dict) and "image" in container:
                        where = f"{path.relative_to(templates_dir)}:{template.get('name')}/{container_name}"
                        found.setdefault(str(container["image"]), []).append(where)
    return found


def check_templates(templates_dir: Path = TEMPLATES) -> list[str]:
    """Problems: pack images the templates reference but this command does not build (empty list: agree)."""
    built = {image.ref for image in STEP_IMAGES.values()}
    problems = []
    for ref, where in sorted(template_images(templates_dir).items()):
        if ref.startswith(f"{contract.IMAGE_REGISTRY}/") and ref not in built:
            problems.append(f"{ref} (used by {', '.join(where)}) is not an image `images build` makes")
    return problems


# -------------------------------------------------------------------------------------------------- push


def push(client: Any, ref: str, registry: str) -> tuple[str, str]:
    """Tag `ref` as `<registry>/<repository>:<tag>` and push it; returns (new ref, digest)."""
    repository, _, tag = ref.rpartition(":")
    target_repo = f"{registry.rstrip('/')}/{repository.rsplit('/', 1)[-1]}"
    client.images.get(ref).tag(target_repo, tag)
    digest = ""
    for line in client.api.push(target_repo, tag, stream=True, decode=True):
        if "error" in line:
            raise ImageBuildError(f"push {target_repo}:{tag}: {line['error']}")
        digest = line.get("aux", {}).get("Digest", digest)
    return f"{target_repo}:{tag}", digest


def write_settings_file(path: Path, registry: str, pushed: Sequence[Built]) -> None:
    """A pack settings file (`render --config FILE`) that pins the pushed step images by digest."""
    registry = registry.rstrip("/")
    digests: dict[str, str] = {}
    if path.is_file():  # an earlier `--push --only ...` to the same registry and tag: keep its other digests
        try:
            earlier = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("images") or {}
        except (OSError, yaml.YAMLError, AttributeError):
            earlier = {}
        if earlier.get("registry") == registry and earlier.get("tag") == contract.IMAGE_TAG:
            digests.update({str(k): str(v) for k, v in (earlier.get("digests") or {}).items()})
    digests.update({built.name: built.digest for built in pushed if built.digest})
    settings = {"images": {"registry": registry, "tag": contract.IMAGE_TAG, "digests": digests}}
    header = (
        "# Written by `python -m hera_workflows images build --push`: the step images as pushed, pinned by digest.\n"
        f"# Render with: python -m hera_workflows render -o templates/ --config {path.name}\n"
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(header + yaml.safe_dump(settings, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------- command


@dataclass
class BuildOptions:
    names: Sequence[str] = ALL_NAMES
    base: str | None = None
    local_base: bool = False
    push_registry: str | None = None
    cache: Path = DEFAULT_CACHE
    force_base: bool = False
    allow_pull: bool = False


def build_all(options: BuildOptions, client: Any | None = None) -> list[Built]:
    """Build the requested images; bases first (in parallel), then the step images."""
    client = client or docker_client()
    cache = options.cache
    cache.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys(options.names))
    steps = [STEP_IMAGES[n] for n in names if n in STEP_IMAGES]
    results: list[Built] = []
    base_specs: list[BaseSpec] = []
    if options.local_base:
        base_specs = [BASES[b] for b in dict.fromkeys(image.base for image in steps)]
    if REGISTRY_IMAGE_NAME in names:
        base_specs.append(BASES["registry"])
    bases: dict[str, Built] = {}
    if base_specs:
        phase = time.monotonic()
        _ensure_apt_lists()
        # resolve + download once for all, then unpack/import in parallel
        resolved = [resolve_packages(spec, cache) for spec in base_specs]
        _log(f"resolved {len(base_specs)} package sets in {time.monotonic() - phase:.1f}s")
        stale = [
            debs
            for spec, debs in zip(base_specs, resolved, strict=True)
            if options.force_base or not base_is_current(client, *base_ref(spec, debs))
        ]
        unique = list({d for debs in stale for d in debs})
        download_debs(unique, cache / "debs")
        phase = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda deb: unpack_deb(deb, cache / "debs", cache), unique))
        if unique:
            _log(f"unpacked {len(unique)} packages in {time.monotonic() - phase:.1f}s")
        phase = time.monotonic()
        with ThreadPoolExecutor(max_workers=2) as pool:
            for built in pool.map(lambda s: build_base(client, s, cache, force=options.force_base), base_specs):
                bases[built.name] = built
                results.append(built)
        _log(f"base images ready in {time.monotonic() - phase:.1f}s")
    vcs_ref = _vcs_ref()
    phase = time.monotonic()
    for image in steps:  # sequential: they share the wheel directory
        python_deps(image, cache)
    _log(f"python dependencies ready in {time.monotonic() - phase:.1f}s")

    if not options.local_base and not options.allow_pull:
        for image in steps:  # the engine would pull a missing FROM image: only when asked to
            base = options.base or dockerfile_default_base(image)
            if not image_exists(client, base):
                raise ImageBuildError(
                    f"base image {base} is not in the local engine: pass --local-base (no registry needed), "
                    "--base IMAGE, or --allow-pull to let the engine pull it"
                )

    def build_one(image: StepImage) -> Built:
        base = bases[image.base].ref if options.local_base else options.base
        return build_step_image(client, image, cache, base, upstream_base=not options.local_base, vcs_ref=vcs_ref)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results += list(pool.map(build_one, steps))
    if options.push_registry:
        for built in [r for r in results if r.name in STEP_IMAGES]:
            built.ref, built.digest = push(client, built.ref, options.push_registry)
    return results


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="images_command", metavar="SUBCOMMAND", required=True)
    build = sub.add_parser("build", help="build the step images (and the local registry image)")
    build.add_argument("--base", metavar="IMAGE", help="base image for every step image (default: the Dockerfile's)")
    build.add_argument(
        "--local-base",
        action="store_true",
        help="make the base images from Debian packages on this machine (no registry access needed)",
    )
    build.add_argument(
        "--push",
        metavar="REGISTRY",
        help="retag as REGISTRY/<repository>:<tag>, push, print each digest and write --settings-file",
    )
    build.add_argument(
        "--settings-file",
        type=Path,
        default=Path(PUSHED_SETTINGS_FILE),
        metavar="FILE",
        help=f"with --push: pack settings pinning the pushed images by digest, for `render --config FILE` "
        f"(default: {PUSHED_SETTINGS_FILE})",
    )
    build.add_argument("--only", nargs="+", metavar="NAME", choices=ALL_NAMES, help=f"subset of {', '.join(ALL_NAMES)}")
    build.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="downloads and build cache")
    build.add_argument("--rebuild-base", action="store_true", help="rebuild the local bases even when unchanged")
    build.add_argument("--allow-pull", action="store_true", help="let the engine pull a missing upstream base")
    build.add_argument(
        "--templates", type=Path, default=TEMPLATES, help="rendered templates to check image names against"
    )
    listing = sub.add_parser("list", help="print the image references the templates use")
    listing.add_argument("--templates", type=Path, default=TEMPLATES)


def main(args: argparse.Namespace) -> int:
    if args.images_command == "list":
        for image in STEP_IMAGES.values():
            print(f"{image.name:20} {image.ref}  (python -m {image.module}, user {image.user})")
        print(f"{REGISTRY_IMAGE_NAME:20} {registry_image_ref()}  (tests only)")
        return _report_template_problems(args.templates)
    if args.base and args.local_base:
        print("images build: --base and --local-base exclude each other", file=sys.stderr)
        return 2
    if _report_template_problems(args.templates):
        return 1
    started = time.monotonic()
    try:
        results = build_all(
            BuildOptions(
                names=args.only or ALL_NAMES,
                base=args.base,
                local_base=args.local_base,
                push_registry=args.push,
                cache=args.cache_dir,
                force_base=args.rebuild_base,
                allow_pull=args.allow_pull,
            )
        )
    except ImageBuildError as error:
        print(f"images build: {error}", file=sys.stderr)
        return 1
    for built in results:
        state = "cached" if built.cached else "built"
        extra = f"  {built.digest}" if built.digest else ""
        print(f"{built.name:18} {built.size / 1e6:7.1f} MB  {state:6} {built.seconds:6.1f}s  {built.ref}{extra}")
    if args.push:
        pushed = [built for built in results if built.name in STEP_IMAGES]
        write_settings_file(args.settings_file, args.push, pushed)
        print(f"images build: wrote {args.settings_file}; render with --config {args.settings_file}")
    print(f"images build: done in {time.monotonic() - started:.1f}s")
    return 0


def _report_template_problems(templates_dir: Path) -> int:
    try:
        problems = check_templates(templates_dir) if templates_dir.is_dir() else []
    except ImageBuildError as error:
        print(f"images: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"images: template mismatch: {problem}", file=sys.stderr)
    return 1 if problems else 0


def iter_refs() -> Iterator[str]:
    """Every image `images build --local-base` leaves in the engine (step images, then the registry image)."""
    for image in STEP_IMAGES.values():
        yield image.ref
    yield registry_image_ref()
