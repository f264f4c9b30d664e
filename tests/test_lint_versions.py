"""lint's Argo-version layer (hera_workflows/lint/versions.py): the stored table is the upstream facts, the pack
renders nothing its target Argo line lacks, and a field newer than the target is an error naming the line.

The table is re-derived here from the full CRDs of Argo v3.6.2, v4.0.5 (Go module proxy) and v4.1.2 (GitHub tag),
read through the reference locator.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hera_workflows import lint
from hera_workflows.lint.versions import ADDED, ARGO_LINE_BY_OPENCHOREO, ARGO_LINES, derive_added, newer_fields
from testkit.paths import ARGO_CRDS, ARGO_V3_6_CRDS, ARGO_V4_0_CRDS, ROOT, TEMPLATES

CRD_BY_LINE = {"3.6": ARGO_V3_6_CRDS, "4.0": ARGO_V4_0_CRDS, "4.1": ARGO_CRDS}
KINDS = ("workflows", "workflowtemplates", "clusterworkflowtemplates")


def _spec_schema(line: str, kind: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((CRD_BY_LINE[line] / f"argoproj.io_{kind}.yaml").read_bytes(), Loader=loader)
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_stored_table_is_what_the_upstream_crds_say(kind: str) -> None:
    for older, newer in itertools.pairwise(ARGO_LINES):
        assert derive_added(_spec_schema(newer, kind), _spec_schema(older, kind)) == list(ADDED[newer]), (
            f"Argo v{newer} over v{older} ({kind})"
        )


def test_openchoreo_versions_map_to_the_argo_line_they_install() -> None:
    assert ARGO_LINE_BY_OPENCHOREO == {"1.x": "4.0", "0.17": "3.6"}


def test_the_committed_pack_uses_nothing_its_target_lacks() -> None:
    """Everything for OpenChoreo v1.x against Argo v4.0; the v0.17 folder and the templates it calls against v3.6."""
    result = lint.lint_paths([TEMPLATES], argo_version="4.0")
    assert [f.text() for f in result.findings if f.rule == "argo-version"] == []
    v017 = [TEMPLATES / "openchoreo-0.17", TEMPLATES / "steps", TEMPLATES / "pipelines"]
    result = lint.lint_paths(v017, argo_version="3.6")
    assert [f.text() for f in result.findings if f.rule == "argo-version"] == []
    assert result.resources > 0


def _seed(tmp_path: Path, edit: dict[str, Any]) -> Path:
    src = TEMPLATES / "steps" / "publish-image.yaml"
    doc = yaml.safe_load(src.read_text())
    doc["spec"]["templates"][0].update(edit)
    out = tmp_path / "publish-image.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def test_a_v4_1_field_is_flagged_for_a_v4_0_cluster_and_accepted_for_v4_1(tmp_path: Path) -> None:
    seeded = _seed(tmp_path, {"pendingTimeout": "10m"})
    for_40 = lint.lint_paths([seeded], ARGO_CRDS, argo_version="4.0").findings
    assert [(f.path, f.rule, f.severity) for f in for_40] == [
        ("spec.templates[0].pendingTimeout", "argo-version", "error")
    ]
    assert "added in Argo v4.1: an Argo v4.0 cluster drops it silently" in for_40[0].message
    assert for_40[0].line is not None
    assert lint.lint_paths([seeded], ARGO_CRDS, argo_version="4.1").findings == []


def test_a_v4_0_field_is_flagged_for_openchoreo_0_17(tmp_path: Path) -> None:
    seeded = _seed(tmp_path, {"retryStrategy": {"limit": 2, "backoff": {"duration": "5s", "cap": "1m"}}})
    proc = subprocess.run(
        [sys.executable, "-m", "hera_workflows", "lint", str(seeded), "--openchoreo", "0.17", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "spec.templates[0].retryStrategy.backoff.cap" in proc.stdout and "added in Argo v4.0" in proc.stdout
    default = subprocess.run(
        [sys.executable, "-m", "hera_workflows", "lint", str(seeded)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert default.returncode == 0, default.stdout + default.stderr  # OpenChoreo v1.x runs Argo v4.0: fine


def test_maps_lists_and_embedded_run_templates_are_walked() -> None:
    doc = {
        "spec": {
            "hooks": {"exit": {"arguments": {"artifacts": [{"name": "a", "plugin": {}}]}}},
            "templates": [{"name": "t", "container": {"env": [{"name": "X", "valueFrom": {"fileKeyRef": {}}}]}}],
        }
    }
    assert newer_fields(doc, "3.6") == [
        (("spec", "hooks", "exit", "arguments", "artifacts", 0, "plugin"), "4.0"),
        (("spec", "templates", 0, "container", "env", 0, "valueFrom", "fileKeyRef"), "4.1"),
    ]
    assert newer_fields(doc, "4.1") == []
    with pytest.raises(ValueError, match="unknown Argo line"):
        newer_fields(doc, "2.9")
