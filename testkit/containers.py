"""Run the rendered templates' steps as containers (through `hera_workflows.engine.podrun`), and a registry container.

- `step_template(file, name)`: one template of templates/<file>, exactly as rendered (nothing restated here).
- `require_image(client, ref)`: fails (never skips) when a local image is missing, naming the build command.
- `tiny_image(client)`: a ~2 MB image (the host's static busybox), made with `docker import`, for podrun tests.
- `container_registry(workdir, tls=, auth=)`: the locally built registry image (`images build` makes it from
  Debian's docker-registry .deb) run by testcontainers with host networking on a free 127.0.0.1 port; it
  yields the same `Registry` handle as the host-process fixtures of testkit/registry.py.

Nothing listens anywhere but 127.0.0.1; nothing is ever pulled.
"""

from __future__ import annotations

import io
import os
import secrets
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from hera_workflows import images
from testkit.paths import TEMPLATES
from testkit.registry import Registry, free_port, make_registry_material

# Ryuk's image would be pulled from Docker Hub: never. Set before testcontainers reads its configuration.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

TINY_IMAGE = "local/podrun-test:busybox"
BUSYBOX = Path("/usr/bin/busybox")


def step_template(file: str, name: str) -> dict[str, Any]:
    """The template `name` of the ClusterWorkflowTemplate in templates/steps/<file>."""
    path = TEMPLATES / "steps" / file
    for document in yaml.safe_load_all(path.read_text()):
        for template in (document or {}).get("spec", {}).get("templates") or []:
            if template.get("name") == name:
                return dict(template)
    raise LookupError(f"template {name} not found in {path}")


def pipeline_variables(pipeline: str, templates: Path = TEMPLATES) -> dict[str, str]:
    """The `workflow.parameters.*` a step template sees inside `pipeline` (its arguments with their defaults): the
    fallbacks of the step inputs an OpenChoreo caller passes only as workflow parameters."""
    document = yaml.safe_load((templates / "pipelines" / f"{pipeline}.yaml").read_text())
    return {
        f"workflow.parameters.{p['name']}": str(p.get("value", "")) for p in document["spec"]["arguments"]["parameters"]
    }


def require_image(client: Any, ref: str) -> None:
    import docker.errors

    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {ref} is missing: run `python -m hera_workflows images build --local-base` first")


def tiny_image(client: Any) -> str:
    """`local/podrun-test:busybox`: the host's static busybox as /bin/sh and friends, user 65534 in passwd."""
    import docker.errors

    try:
        client.images.get(TINY_IMAGE)
        return TINY_IMAGE
    except docker.errors.ImageNotFound:
        pass
    if not BUSYBOX.is_file():
        pytest.fail(f"{BUSYBOX} missing: install busybox-static (scripts/setup-host.sh)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add(name: str, data: bytes | None = None, mode: int = 0o644, kind: bytes = tarfile.REGTYPE) -> None:
            info = tarfile.TarInfo(name)
            info.mode, info.type = mode, kind
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)

        for directory in ("bin", "etc", "tmp", "proc", "sys", "dev", "var", "var/tmp", "home", "home/user"):
            add(directory, mode=0o1777 if directory.endswith("tmp") else 0o755, kind=tarfile.DIRTYPE)
        add("bin/busybox", BUSYBOX.read_bytes(), 0o755)
        for applet in ("sh", "cat", "echo", "id", "ls", "mkdir", "printf", "sleep", "touch", "env", "wc", "grep"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        add("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n")
        add("etc/group", b"root:x:0:\nuser:x:1000:\n")
    buffer.seek(0)
    client.api.import_image_from_data(buffer.getvalue(), repository=TINY_IMAGE.split(":", maxsplit=1)[0], tag="busybox")
    return TINY_IMAGE


def wait_for_registry(registry: Registry, timeout: float = 20.0) -> None:
    registry.wait_ready(timeout=timeout)


@contextmanager
def container_registry(workdir: Path, *, tls: bool = False, auth: bool = False) -> Iterator[Registry]:
    """The local registry image under testcontainers (host network, 127.0.0.1:<free port>)."""
    import docker
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    client = docker.from_env()
    ref = images.registry_image_ref()
    require_image(client, ref)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    container = (
        DockerContainer(ref)
        .with_kwargs(network_mode="host")
        .with_env("REGISTRY_HTTP_ADDR", f"127.0.0.1:{port}")
        .with_env("REGISTRY_HTTP_SECRET", secrets.token_hex(16))
        .waiting_for(LogMessageWaitStrategy("listening on"))
    )
    material = make_registry_material(workdir, tls=tls, auth=auth)
    if material.cert and material.key:
        container = (
            container.with_volume_mapping(str(material.cert.parent), "/certs", "ro")
            .with_env("REGISTRY_HTTP_TLS_CERTIFICATE", f"/certs/{material.cert.name}")
            .with_env("REGISTRY_HTTP_TLS_KEY", f"/certs/{material.key.name}")
        )
    if material.htpasswd:
        container = (
            container.with_volume_mapping(str(material.htpasswd.parent), "/auth", "ro")
            .with_env("REGISTRY_AUTH", "htpasswd")
            .with_env("REGISTRY_AUTH_HTPASSWD_REALM", "ci-registry")
            .with_env("REGISTRY_AUTH_HTPASSWD_PATH", "/auth/htpasswd")
        )
    registry = Registry(
        host=f"127.0.0.1:{port}",
        scheme="https" if tls else "http",
        ca_file=material.cert,
        ca_dir=material.ca_dir,
        username=material.username,
        password=material.password,
    )
    started = time.monotonic()
    with container:
        wait_for_registry(registry, timeout=max(5.0, 30.0 - (time.monotonic() - started)))
        yield registry


def push_local_image(client: Any, source: str, registry: Registry, repo: str, tag: str) -> str:
    """Push a local image to `registry` as <repo>:<tag> with the engine (127.0.0.0/8 counts as insecure, so
    HTTP and a self-signed certificate both work); returns the pushed digest."""
    target = f"{registry.host}/{repo}"
    client.images.get(source).tag(target, tag)
    auth = {"username": registry.username, "password": registry.password} if registry.username else None
    digest = ""
    try:
        for line in client.api.push(target, tag, stream=True, decode=True, auth_config=auth):
            if "error" in line:
                raise RuntimeError(f"push {target}:{tag}: {line['error']}")
            digest = line.get("aux", {}).get("Digest", digest)
    finally:
        client.images.remove(f"{target}:{tag}")
    return digest
