"""The local CNB test builder in tests: built, its run image pushed to a test registry, the templates rendered with
it substituted for the Paketo builder by settings (`buildpacks.paketo.*`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hera_workflows import images
from hera_workflows.engine.podrun import PodResult, run_pod
from hera_workflows.images import builder as builder_image
from testkit.containers import pipeline_variables, push_local_image, require_image
from testkit.paths import ROOT
from testkit.registry import Registry, free_port

APP = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "python-app"
FLAVOR = "paketo"
PLATFORM_API = "0.14"
BUILD_TEMPLATE = ("paketo-buildpacks-build.yaml", "build-image")  # the flavor the local builder replaces


@dataclass(frozen=True)
class LocalBuilder:
    builder: str
    run_image: str  # in the test registry, by digest
    templates: Path  # rendered with the local builder substituted


def local_builder_settings(builder: str, run_image: str) -> list[str]:
    """`--set` overrides that put the local test builder into the Paketo flavor's templates."""
    return [
        f"buildpacks.{FLAVOR}.builder={builder}",
        f"buildpacks.{FLAVOR}.run_image={run_image}",
        f"buildpacks.{FLAVOR}.uid={builder_image.CNB_UID}",
        f"buildpacks.{FLAVOR}.gid={builder_image.CNB_GID}",
        f"buildpacks.{FLAVOR}.run_image_tls_verify=false",
        # the newest platform API lifecycle v0.20 speaks: launch+cache layers come back from the cache image on
        # fresh storage (below 0.14 only the previous app image's metadata brings them back, and in layout mode
        # that image is looked up on the fresh workspace)
        f"buildpacks.platform_api={PLATFORM_API}",
    ]


def render(out: Path, overrides: list[str]) -> Path:
    argv = [sys.executable, "-m", "hera_workflows", "render", "-o", str(out)]
    for item in overrides:
        argv += ["--set", item]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return out


def make_local_builder(client: Any, registry: Registry, out: Path) -> LocalBuilder:
    """Build the test builder (the lifecycle from the Go module proxy on first use; fails, never skips, when it
    cannot), push its run image to `registry`, render the templates with it substituted into `out`."""
    built = builder_image.build_test_builder(client=client)
    for step in images.STEP_IMAGES.values():
        require_image(client, step.ref)
    digest = push_local_image(client, built.run_image, registry, "cnb/run", "1")
    run_ref = f"{registry.host}/cnb/run@{digest}"
    return LocalBuilder(built.builder, run_ref, render(out, local_builder_settings(built.builder, run_ref)))


def template(templates: Path, file: str, name: str) -> dict[str, Any]:
    for document in yaml.safe_load_all((templates / "steps" / file).read_text()):
        for tpl in (document or {}).get("spec", {}).get("templates") or []:
            if tpl.get("name") == name:
                return dict(tpl)
    raise LookupError(f"{name} not in {file}")


def run_step(
    client: Any,
    templates: Path,
    step: tuple[str, str],
    inputs: dict[str, str],
    workspace: Path,
    *,
    secrets: dict[str, Path] | None = None,
) -> PodResult:
    """Run template step[1] of templates/steps/<step[0]> (as rendered into `templates`) as a pod, as inside the
    paketo-buildpacks-builder pipeline (its workflow parameters are the inputs' fallbacks)."""
    variables = pipeline_variables("paketo-buildpacks-builder", templates)
    variables |= {f"inputs.parameters.{k}": v for k, v in inputs.items()}
    tpl = template(templates, *step)
    mounts = {"workspace": workspace, "secrets": secrets or {}}
    return run_pod(tpl, variables, mounts, name=step[1], client=client)


def workspace_with_app(root: Path, app_path: str = "services/py") -> Path:
    workspace = root / "workspace"
    shutil.copytree(APP, workspace / "source" / app_path.strip("/"))
    return workspace


def answer(client: Any, ref: str, timeout: float = 30.0) -> str:
    """Run the image (its default process through the CNB launcher) and GET / from it."""
    port = free_port()
    container = client.containers.run(ref, environment={"PORT": str(port)}, network_mode="host", detach=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    return str(response.read().decode())
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(container.logs().decode()[-2000:]) from None
                time.sleep(0.3)
    finally:
        container.remove(force=True)
