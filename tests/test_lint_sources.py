"""Where lint's structural schema comes from: Hera's models by default (nothing beside the package), the upstream
CRDs from --crd-dir, or the CRDs of the kube context (--from-cluster).

The cluster path runs lint against a fake `kubectl` on PATH (a stand-in: no Kubernetes API server runs on this
machine). It answers `get crd ... -o json` with the real upstream Argo v4.1.2 CRDs (from the reference locator) and
records its argv, so the test checks both what lint asks and what it does with the answer.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hera_workflows import lint
from hera_workflows.lint import schema as lint_schema
from hera_workflows.lint.schema import ARGO_CRD_NAMES, CrdError, CrdSchemas, hera_schemas
from testkit.paths import ARGO_CRDS, ROOT, TEMPLATES
from tests.fixtures.lint.seeds import SEEDS, PackCopy, Seed

FIXTURE_PACK = ROOT / "tests" / "fixtures" / "lint" / "pack"
STRUCTURE_SEEDS = [s for s in SEEDS if s.id in {
    "unknown-field", "bad-enum", "wrong-type", "int-or-string", "missing-required-field", "run-template-unknown-field"
}]  # fmt: skip
# The Argo swagger Hera is generated from has no enums (retryPolicy is a plain string): only the CRD checks them.
CRD_ONLY = {"bad-enum"}


@pytest.mark.parametrize("source", [TEMPLATES, FIXTURE_PACK], ids=["rendered", "fixture"])
def test_the_pack_is_clean_under_the_default_hera_schema(source: Path) -> None:
    result = lint.lint_paths([source])
    assert [f.text() for f in result.findings] == []
    assert result.resources > 0


def test_the_default_schema_needs_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACK_LINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PACK_ARGO_CRD_DIR", raising=False)
    monkeypatch.setattr(lint_schema, "_HERA_LOADED", {})
    schemas = hera_schemas()
    assert "Hera" in schemas.source and "v4.0.5" in schemas.source
    assert {kind for _, kind in schemas.schemas} == {"ClusterWorkflowTemplate", "WorkflowTemplate", "Workflow"}
    assert list((tmp_path / "cache").glob("hera-*.json"))  # built once, then read from the disk cache
    monkeypatch.setattr(lint_schema, "_HERA_LOADED", {})
    assert hera_schemas().schemas == schemas.schemas


@pytest.mark.parametrize("seed", STRUCTURE_SEEDS, ids=[s.id for s in STRUCTURE_SEEDS])
def test_structural_mistakes_are_caught_by_the_default_schema(seed: Seed, tmp_path: Path) -> None:
    pack = PackCopy(TEMPLATES, tmp_path / "pack")
    expect = seed.mutate(pack)
    pack.save()
    findings = lint.lint_paths([pack.root]).findings
    at_path = [f for f in findings if f.file.endswith(expect.file) and f.path == expect.path and f.rule == "schema"]
    if seed.id in CRD_ONLY:
        assert at_path == [], "Hera's models gained enums: move the seed out of CRD_ONLY"
        crd = lint.lint_paths([pack.root], ARGO_CRDS).findings
        assert any(f.path == expect.path and seed.message in f.message for f in crd)
        return
    assert at_path, "\n".join(f.text() for f in findings)
    assert at_path[0].severity == "error" and at_path[0].line


def _fake_kubectl(tmp_path: Path, *, fail: bool = False) -> Path:
    """A `kubectl` that prints the upstream CRDs as a List (or fails like an unreachable cluster)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    listing = tmp_path / "crds.json"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    items = [yaml.load(p.read_bytes(), Loader=loader) for p in sorted(ARGO_CRDS.glob("*.yaml"))]
    listing.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    script = bin_dir / "kubectl"
    body = (
        "import json, pathlib, sys\n"
        f"pathlib.Path({str(tmp_path / 'argv.json')!r}).write_text(json.dumps(sys.argv[1:]))\n"
        + (
            "sys.stderr.write('The connection to the server localhost:8080 was refused\\n'); sys.exit(1)\n"
            if fail
            else f"sys.stdout.write(pathlib.Path({str(listing)!r}).read_text())\n"
        )
    )
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def _lint_cli(*args: str, path_prefix: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{path_prefix}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        [sys.executable, "-m", "hera_workflows", "lint", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_from_cluster_reads_the_crds_of_the_kube_context(tmp_path: Path) -> None:
    bin_dir = _fake_kubectl(tmp_path)
    seeded = tmp_path / "pack"
    pack = PackCopy(TEMPLATES, seeded)
    expect = next(s for s in SEEDS if s.id == "bad-enum").mutate(pack)  # an enum only the CRD knows
    pack.save()
    proc = _lint_cli(str(seeded), "--from-cluster", "--context", "kind-ci", "--format", "json", path_prefix=bin_dir)
    assert proc.returncode == 1, proc.stderr
    assert json.loads((tmp_path / "argv.json").read_text()) == [
        "--context",
        "kind-ci",
        "get",
        "crd",
        *ARGO_CRD_NAMES,
        "-o",
        "json",
    ]
    findings = json.loads(proc.stdout)["findings"]
    assert any(f["path"] == expect.path and "'Sometimes' is not one of" in f["message"] for f in findings)
    from_dir = lint.lint_paths([seeded], ARGO_CRDS).findings
    assert sorted((f["path"], f["rule"]) for f in findings) == sorted((f.path, f.rule) for f in from_dir)
    clean = _lint_cli(str(TEMPLATES), "--from-cluster", "--strict", path_prefix=bin_dir)
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_from_cluster_failures_are_usage_errors(tmp_path: Path) -> None:
    bin_dir = _fake_kubectl(tmp_path, fail=True)
    proc = _lint_cli(str(TEMPLATES), "--from-cluster", path_prefix=bin_dir)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "lint: --from-cluster: kubectl get crd failed: The connection to the server " + (
        "localhost:8080 was refused"
    )
    assert proc.stdout == ""
    with pytest.raises(CrdError, match="not found on PATH"):
        CrdSchemas.from_cluster(kubectl="kubectl-that-does-not-exist")
