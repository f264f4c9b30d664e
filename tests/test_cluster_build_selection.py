"""scripts/cluster/build.sh's selection (issue 12): the gate names expand to their binaries, and
PACK_CLUSTER_CACHED_ONLY=1 reports what is cached without building anything. scripts/run-tests.sh relies on the
latter to run gates 2-3 only when their binaries are cached and to print one NOT RUN line otherwise."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from testkit.paths import ROOT

BUILD = ROOT / "scripts" / "cluster" / "build.sh"
NODE = ("kubelet-v1.36.3", "kube-controller-manager-v1.36.3", "kube-scheduler-v1.36.3")
ARGO = ("workflow-controller-v4.0.5", "argoexec-v4.0.5")


def _cached_only(cache: Path, *names: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PACK_CLUSTER_CACHE": str(cache), "PACK_CLUSTER_CACHED_ONLY": "1"}
    return subprocess.run(["bash", str(BUILD), *names], capture_output=True, text=True, env=env, check=False)


def test_cached_only_names_the_first_missing_binary_and_builds_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = _cached_only(cache, "node", "argo")
    assert result.returncode == 3
    assert result.stderr.strip() == f"not cached: {NODE[0]}"
    assert result.stdout == ""
    assert not cache.exists()  # nothing built, nothing created


def test_cached_only_prints_every_path_of_the_gates_when_all_are_cached(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    for name in (*NODE, *ARGO):
        (cache / name).write_text("#!/bin/sh\n")
        (cache / name).chmod(0o755)
    result = _cached_only(cache, "node", "argo")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(cache / name) for name in (*NODE, *ARGO)]
    (cache / ARGO[1]).chmod(0o644)  # not executable: not a usable binary
    assert _cached_only(cache, "argo").returncode == 3


def test_an_unknown_name_is_refused_with_the_usage() -> None:
    result = subprocess.run(["bash", str(BUILD), "kubectl"], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "kubelet" in result.stderr


def test_run_tests_prints_one_line_when_gates_2_3_are_not_cached() -> None:
    script = (ROOT / "scripts" / "run-tests.sh").read_text()
    assert "PACK_CLUSTER_CACHED_ONLY=1 bash scripts/cluster/build.sh node argo" in script
    assert 'echo "NOT RUN: real-system tier gates 2-3' in script
    assert 'node_selection=(-m "not node")' in script
