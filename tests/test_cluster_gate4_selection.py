"""Gate 4's binaries in scripts/cluster/build.sh (issue 12): `planes` names OpenChoreo's manager, cluster gateway and
agent, `eso` the External Secrets Operator, each cached by its module's version; scripts/run-tests.sh runs gate 4
(marker `planes`) only when they are cached and prints one NOT RUN line otherwise."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from testkit.paths import ROOT

BUILD = ROOT / "scripts" / "cluster" / "build.sh"
PLANES = ("openchoreo-manager-v1.2.3", "openchoreo-cluster-gateway-v1.2.3", "openchoreo-cluster-agent-v1.2.3")
ESO = "external-secrets-v0.16.2"


def _cached_only(cache: Path, *names: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PACK_CLUSTER_CACHE": str(cache), "PACK_CLUSTER_CACHED_ONLY": "1"}
    return subprocess.run(["bash", str(BUILD), *names], capture_output=True, text=True, env=env, check=False)


def test_planes_and_eso_expand_to_their_versioned_binaries(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = _cached_only(cache, "planes", "eso")
    assert (result.returncode, result.stderr.strip()) == (3, f"not cached: {PLANES[0]}")
    assert not cache.exists()
    cache.mkdir()
    for name in (*PLANES, ESO):
        (cache / name).write_text("#!/bin/sh\n")
        (cache / name).chmod(0o755)
    result = _cached_only(cache, "planes", "eso")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(cache / name) for name in (*PLANES, ESO)]
    (cache / ESO).unlink()
    assert _cached_only(cache, "eso").stderr.strip() == f"not cached: {ESO}"


def test_the_usage_names_gate_4s_binaries() -> None:
    result = subprocess.run(["bash", str(BUILD), "occ"], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    for name in ("openchoreo-manager", "openchoreo-cluster-gateway", "openchoreo-cluster-agent", "external-secrets"):
        assert name in result.stderr


def test_run_tests_runs_gate_4_only_when_cached_and_says_so_otherwise() -> None:
    script = (ROOT / "scripts" / "run-tests.sh").read_text()
    assert "PACK_CLUSTER_CACHED_ONLY=1 bash scripts/cluster/build.sh planes" in script
    assert 'echo "NOT RUN: real-system tier gate 4' in script
    assert 'node_selection=(-m "not planes")' in script
    test_sh = (ROOT / "scripts" / "cluster" / "test.sh").read_text()
    assert "require-binaries.sh all node argo planes" in test_sh
