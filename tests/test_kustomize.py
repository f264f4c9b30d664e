"""An overlay's `images:` reaches every image field of the rendered pack (`kubectl kustomize`, the real tool).

kustomize's image transformer knows Pod-shaped fields only (`containers`, `initContainers`); the pack's base
kustomizations declare `configurations: [kustomizeconfig.yaml]` so Argo's `template.container.image` is
rewritten too. Needs `kubectl` (Debian: kubernetes-client, installed by scripts/setup-host.sh).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from hera_workflows.pack import render
from steps.common import contract
from testkit.paths import TEMPLATES

NEW_REGISTRY = "registry.example.com/mirror"
DIGEST = "sha256:" + "1" * 64


def _kubectl() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl not found: install Debian's kubernetes-client (scripts/setup-host.sh does)"
    return found


def _images(docs: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for doc in docs:
        for template in (doc.get("spec") or {}).get("templates") or []:
            where = f"{doc['kind']}/{doc['metadata']['name']}/{template['name']}"
            if "container" in template:
                yield f"{where}/container", template["container"]["image"]
            for init in template.get("initContainers") or []:
                yield f"{where}/initContainers/{init['name']}", init["image"]


def _overlay(tmp_path: Path, base: Path) -> list[dict[str, Any]]:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    images = [
        {"name": f"{contract.IMAGE_REGISTRY}/{repo}", "newName": f"{NEW_REGISTRY}/{repo}", "digest": DIGEST}
        for repo in contract.IMAGE_REPOSITORIES
    ]
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [str(Path("..") / base.name)], "images": images}), encoding="utf-8"
    )
    done = subprocess.run(
        [_kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _copy(tmp_path: Path, folder: str | None) -> Path:
    source = TEMPLATES if folder is None else TEMPLATES / folder
    target = tmp_path / (folder or "templates")
    shutil.copytree(source, target)
    return target


def test_overlay_images_reach_containers_and_init_containers(tmp_path: Path) -> None:
    docs = _overlay(tmp_path, _copy(tmp_path, None))
    images = dict(_images(docs))
    ours = {where: image for where, image in images.items() if "buildpacks/" not in image.split("@")[0]}
    step_images = [i for w, i in ours.items() if "/container" in w and "builder" not in i]
    assert len(step_images) >= 4
    inits = [i for w, i in images.items() if "/initContainers/" in w]
    assert len(inits) == 3  # the buildpacks templates' fetch-run-image (publish-image's image)
    for where, image in images.items():
        if image.startswith(("docker.io/", "gcr.io/", "ghcr.io/openchoreo/")):
            continue  # third-party builder images: not the pack's, not overridden here
        assert image.startswith(NEW_REGISTRY + "/") and image.endswith("@" + DIGEST), (where, image)
    assert not any(image.startswith(contract.IMAGE_REGISTRY) for image in images.values())


def test_without_the_configurations_only_pod_shaped_fields_change(tmp_path: Path) -> None:
    base = _copy(tmp_path, None)
    kustomization = base / render.KUSTOMIZATION
    text = kustomization.read_text(encoding="utf-8")
    kustomization.write_text(text.replace("configurations:\n- kustomizeconfig.yaml\n", ""), encoding="utf-8")
    images = dict(_images(_overlay(tmp_path, base)))
    build = next(i for w, i in images.items() if w.startswith("ClusterWorkflowTemplate/containerfile-build/"))
    assert build.startswith(contract.IMAGE_REGISTRY)  # kustomize alone misses template.container.image


def test_the_v017_folder_carries_its_own_configurations(tmp_path: Path) -> None:
    docs = _overlay(tmp_path, _copy(tmp_path, "openchoreo-0.17"))
    images = dict(_images(docs))
    docker = next(i for w, i in images.items() if w.startswith("ClusterWorkflowTemplate/docker/"))
    assert docker == f"{NEW_REGISTRY}/{contract.IMAGE_REPO_BUILD}@{DIGEST}"
