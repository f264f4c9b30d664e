"""The step images (`python -m hera_workflows images build --local-base`, run by `make test` before pytest).

Each image must exist under the exact name the rendered templates reference, run as the intended user, carry
the OCI labels, hold only its own step code (no hera), and start its step offline. Missing images fail.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hera_workflows import images
from steps.common import contract
from testkit.containers import require_image
from testkit.paths import TEMPLATES
from testkit.registry import free_port

STEP_IMAGES = list(images.STEP_IMAGES.values())
OCI_LABELS = ("title", "description", "source", "version", "revision", "licenses")


def run(
    client: Any, ref: str, command: list[str], *, entrypoint: list[str] | None = None, user: str | None = None
) -> str:
    """Run offline (--network none), read-only, removed afterwards; returns stdout+stderr."""
    output: bytes = client.containers.run(
        ref,
        command,
        entrypoint=entrypoint,
        user=user,
        network_mode="none",
        read_only=True,
        remove=True,
        stdout=True,
        stderr=True,
    )
    return output.decode()


def test_template_images_are_exactly_the_built_ones() -> None:
    referenced = {ref for ref in images.template_images(TEMPLATES) if ref.startswith(contract.IMAGE_REGISTRY + "/")}
    assert referenced == {image.ref for image in STEP_IMAGES}
    assert images.check_templates(TEMPLATES) == []


def test_a_template_naming_an_unbuilt_pack_image_is_reported(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "kind: ClusterWorkflowTemplate\nspec:\n  templates:\n  - name: x\n    container:\n"
        f"      image: {contract.IMAGE_REGISTRY}/checkout:9.9.9\n"
    )
    (problem,) = images.check_templates(tmp_path)
    assert "checkout:9.9.9" in problem and "t.yaml:x/main" in problem


@pytest.mark.docker
@pytest.mark.parametrize("image", STEP_IMAGES, ids=lambda i: i.name)
def test_image_user_labels_and_entrypoint(docker_client: Any, image: images.StepImage) -> None:
    require_image(docker_client, image.ref)
    config = docker_client.images.get(image.ref).attrs["Config"]
    assert config["User"] == image.user
    assert config["Entrypoint"] == ["python3", "-m", image.module]
    labels = config["Labels"]
    for label in OCI_LABELS:
        assert labels.get(f"org.opencontainers.image.{label}"), label
    assert labels["org.opencontainers.image.version"] == contract.PACK_VERSION
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.title"].endswith(f"/{image.name}")


@pytest.mark.docker
@pytest.mark.parametrize("image", STEP_IMAGES, ids=lambda i: i.name)
def test_step_help_runs_offline_as_the_template_user(docker_client: Any, image: images.StepImage) -> None:
    require_image(docker_client, image.ref)
    out = run(docker_client, image.ref, ["--help"], user="10001:10001")
    assert out.startswith("usage:"), out
    # the rendered templates run `python -m steps.<step>`: `python` must exist too
    out = run(docker_client, image.ref, ["-m", image.module, "--help"], entrypoint=["python"], user="10001:10001")
    assert out.startswith("usage:"), out


@pytest.mark.docker
@pytest.mark.parametrize("image", STEP_IMAGES, ids=lambda i: i.name)
def test_image_holds_its_step_code_and_no_hera(docker_client: Any, image: images.StepImage) -> None:
    require_image(docker_client, image.ref)
    script = (
        "import importlib.util, json, os, sys;"
        "names = os.listdir('/opt/pack/app/steps');"
        "print(json.dumps({'packages': sorted(d for d in names if not d.startswith(('_', '.'))),"
        "'hera': [m for m in ('hera', 'hera_workflows', 'pydantic', 'docker') if importlib.util.find_spec(m)],"
        "'yaml': importlib.util.find_spec('yaml') is not None, 'python': sys.version_info[:2]}))"
    )
    found = json.loads(run(docker_client, image.ref, ["-c", script], entrypoint=["python3"]))
    assert found["packages"] == images.step_packages(image.step)
    assert found["hera"] == []
    assert found["yaml"] is True
    assert found["python"] == [3, 11]
    files = run(docker_client, image.ref, ["-c", "find / -xdev -iname '*hera*' | head"], entrypoint=["sh"])
    assert files.strip() == ""


@pytest.mark.docker
def test_generate_workload_image_has_httpx_and_the_others_do_not(docker_client: Any) -> None:
    probe = ["-c", "import importlib.util; print(importlib.util.find_spec('httpx') is not None)"]
    for image in STEP_IMAGES:
        require_image(docker_client, image.ref)
        has_httpx = run(docker_client, image.ref, probe, entrypoint=["python3"]).strip() == "True"
        assert has_httpx == (image.name == contract.IMAGE_REPO_GENERATE_WORKLOAD), image.name


@pytest.mark.docker
@pytest.mark.parametrize(
    ("name", "command"),
    [
        (contract.IMAGE_REPO_CHECKOUT, "git --version && ssh -V && ls /usr/lib/*/libnss_wrapper.so"),
        (contract.IMAGE_REPO_BUILD, 'buildah --version && test "$BUILDAH_ISOLATION" = chroot'),
        (contract.IMAGE_REPO_PUBLISH, "skopeo --version"),
    ],
)
def test_os_tools_are_present(docker_client: Any, name: str, command: str) -> None:
    image = images.STEP_IMAGES[name]
    require_image(docker_client, image.ref)
    out = run(docker_client, image.ref, ["-c", command], entrypoint=["sh"])
    assert "version" in out


@pytest.mark.docker
def test_python_can_verify_tls_with_the_image_ca_bundle(docker_client: Any) -> None:
    image = images.STEP_IMAGES[contract.IMAGE_REPO_GENERATE_WORKLOAD]
    require_image(docker_client, image.ref)
    script = "import ssl; print(len(ssl.create_default_context().get_ca_certs()) > 100)"
    assert run(docker_client, image.ref, ["-c", script], entrypoint=["python3"]).strip() == "True"


@pytest.mark.docker
def test_local_registry_image_serves_on_loopback(docker_client: Any) -> None:
    ref = images.registry_image_ref()
    require_image(docker_client, ref)
    port = free_port()
    container = docker_client.containers.run(
        ref, network_mode="host", environment={"REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}"}, detach=True
    )
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"registry did not answer: {container.logs().decode()[-2000:]}")
    finally:
        container.remove(force=True)


def test_unit_helpers() -> None:
    assert images.registry_version("2.8.2+ds1-1") == "2.8.2"
    assert images.registry_version("1:3.0.0~rc1-2") == "3.0.0"
    lines = images._requirement_lines(images.REQUIREMENTS / "generate-workload.txt")
    assert any(line.startswith("PyYAML==6.0.3") for line in lines)
    assert any(line.startswith("httpx==0.28.1") for line in lines)
    assert images._requirement_lines(images.REQUIREMENTS / "checkout.txt") == images._requirement_lines(
        images.REQUIREMENTS / "steps.txt"
    )
    assert images.image_ref("checkout") == f"{contract.IMAGE_REGISTRY}/checkout:{contract.IMAGE_TAG}"


@pytest.mark.parametrize("image", STEP_IMAGES, ids=lambda i: i.name)
def test_dockerfile_defaults_to_an_upstream_base(image: images.StepImage) -> None:
    text = image.dockerfile.read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm\nFROM ${BASE_IMAGE}\n" in text
    assert f"\nUSER {image.user}\n" in text
    assert f'ENTRYPOINT ["python3", "-m", "{image.module}"]' in text
    assert "pip install" not in text  # dependencies arrive installed (pydeps/), never fetched in the build


@pytest.mark.docker
def test_warm_build_reuses_bases_and_push_gives_the_registry_digest(
    docker_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hera_workflows.cli import main as cli_main
    from testkit.containers import container_registry

    image = images.STEP_IMAGES[contract.IMAGE_REPO_GENERATE_WORKLOAD]
    with container_registry(tmp_path / "registry") as registry:
        code = cli_main(["images", "build", "--local-base", "--only", image.name, "--push", f"{registry.host}/pack"])
        out = capsys.readouterr().out
        assert code == 0, out
        base_line = next(line for line in out.splitlines() if line.startswith(f"{image.base} "))
        assert " cached " in base_line  # `make test` built it before pytest: same inputs, no rebuild
        pushed = next(line for line in out.splitlines() if line.startswith(f"{image.name} "))
        digest = pushed.split()[-1]
        assert digest.startswith("sha256:")
        assert f"{registry.host}/pack/{image.name}:{contract.IMAGE_TAG}" in pushed
        assert registry.manifest_digest(f"pack/{image.name}", contract.IMAGE_TAG) == digest
    docker_client.images.remove(f"{registry.host}/pack/{image.name}:{contract.IMAGE_TAG}")
