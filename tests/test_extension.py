"""The extension API and the shipped example (examples/image_scan_extension)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hera.workflows import models as hera_models

from hera_workflows.extension import ExtensionError, load_extension
from hera_workflows.pack import render
from hera_workflows.pack.settings import load_settings
from testkit.paths import ARGO_CRDS, ROOT
from testkit.rendered import PARAM_REF, schema_errors

EXAMPLES = ROOT / "examples"
SPEC = "image_scan_extension:extend"


@pytest.fixture
def examples_on_path() -> Iterator[None]:
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield
    finally:
        sys.path.remove(str(EXAMPLES))
        sys.modules.pop("image_scan_extension", None)


def test_example_extension_renders_an_extra_step(examples_on_path: None) -> None:
    files = render.render_files(
        load_settings(None, ["extension_settings.image_scan.severity=CRITICAL"], extensions=[SPEC])
    )
    scan = yaml.safe_load(files["steps/image-scan.yaml"])
    hera_models.ClusterWorkflowTemplate.model_validate(scan)
    assert schema_errors(ARGO_CRDS / "argoproj.io_clusterworkflowtemplates.yaml", scan) == []
    (template,) = scan["spec"]["templates"]
    assert template["name"] == "scan-image"
    sc = template["container"]["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["capabilities"] == {"drop": ["ALL"]}
    for env in template["container"]["env"]:
        assert "{{" not in env["value"] or PARAM_REF.match(env["value"])
    for name in (
        "dockerfile-builder",
        "paketo-buildpacks-builder",
        "gcp-buildpacks-builder",
        "ballerina-buildpack-builder",
    ):
        pipeline = yaml.safe_load(files[f"pipelines/{name}.yaml"])
        assert schema_errors(ARGO_CRDS / "argoproj.io_clusterworkflowtemplates.yaml", pipeline) == []
        steps = [g[0] for g in pipeline["spec"]["templates"][0]["steps"]]
        assert [s["name"] for s in steps] == [
            "checkout-source",
            "build-image",
            "publish-image",
            "scan-image",
            "generate-workload-cr",
        ]
        assert steps[3]["templateRef"] == {"name": "image-scan", "template": "scan-image", "clusterScope": True}
        args = {p["name"]: p.get("value") for p in pipeline["spec"]["arguments"]["parameters"]}
        assert args["scan-severity"] == "CRITICAL"
    assert "image-scan.yaml" in yaml.safe_load(files["steps/kustomization.yaml"])["resources"]


def test_example_extension_through_the_cli(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES), str(ROOT)])}
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "hera_workflows", "render", "-o", str(out), "--extension", SPEC],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (out / "steps" / "image-scan.yaml").is_file()
    assert "scan-image" in (out / "pipelines" / "dockerfile-builder.yaml").read_text()
    check = subprocess.run(
        [sys.executable, "-m", "hera_workflows", "render", "-o", str(out), "--check"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 1 and "image-scan.yaml" in check.stdout  # without the extension: stale


def test_example_extension_rejects_unknown_settings(examples_on_path: None) -> None:
    settings = load_settings(None, ["extension_settings.image_scan.severty=LOW"], extensions=[SPEC])
    with pytest.raises(ExtensionError, match=r"image_scan_extension:extend failed: .*unknown setting\(s\) severty"):
        render.render_files(settings)


def test_load_extension_errors() -> None:
    with pytest.raises(ExtensionError, match=r"expected module\.path:function"):
        load_extension("no-colon")
    with pytest.raises(ExtensionError, match="cannot import no_such_module_xyz"):
        load_extension("no_such_module_xyz:extend")
    with pytest.raises(ExtensionError, match="has no callable 'nope'"):
        load_extension("hera_workflows.pack.model:nope")
