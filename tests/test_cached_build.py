"""scripts/lib/cached-build.sh, shared by scripts/cluster/build.sh and the oracle build scripts: a binary is built
once into the cache, reused afterwards, built exactly once when two runs overlap, and never left half-written."""

from __future__ import annotations

import subprocess
from pathlib import Path

from testkit.paths import ROOT

HELPER = ROOT / "scripts" / "lib" / "cached-build.sh"


def _script(cache: Path, counter: Path, *, fail: bool = False, delay: float = 0) -> str:
    """A build script in the style of scripts/cluster/build.sh whose builder counts its runs."""
    body = 'echo partial > "$2"; exit 3' if fail else 'printf "#!/bin/sh\\necho hi\\n" > "$2"'
    return f"""
set -euo pipefail
source {HELPER}
build_thing() {{
  echo run >> {counter}
  sleep {delay}
  [[ -d "$1" ]]
  {body}
}}
cached_build {cache} thing-v1 build_thing
"""


def _run(script: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_built_once_then_reused(tmp_path: Path) -> None:
    cache, counter = tmp_path / "cache", tmp_path / "runs"
    script = _script(cache, counter)
    for _ in range(2):
        process = _run(script)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert out == f"{cache}/thing-v1\n"
    assert counter.read_text() == "run\n"
    assert subprocess.run([cache / "thing-v1"], capture_output=True, text=True, check=True).stdout == "hi\n"
    assert sorted(p.name for p in cache.iterdir()) == [".thing-v1.lock", "thing-v1"]


def test_overlapping_runs_build_once(tmp_path: Path) -> None:
    cache, counter = tmp_path / "cache", tmp_path / "runs"
    script = _script(cache, counter, delay=1.5)
    processes = [_run(script) for _ in range(3)]
    results = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], results
    assert {out for out, _ in results} == {f"{cache}/thing-v1\n"}
    assert counter.read_text() == "run\n"
    assert sorted(p.name for p in cache.iterdir()) == [".thing-v1.lock", "thing-v1"]


def test_a_failed_build_leaves_nothing_behind(tmp_path: Path) -> None:
    cache, counter = tmp_path / "cache", tmp_path / "runs"
    process = _run(_script(cache, counter, fail=True))
    _, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "building thing-v1" in err
    assert sorted(p.name for p in cache.iterdir()) == [".thing-v1.lock"]  # no binary, no half-written output


def test_a_killed_run_s_directory_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    cache, counter = tmp_path / "cache", tmp_path / "runs"
    stale = cache / ".build-thing-v1.AbC123"
    (stale / "src").mkdir(parents=True)
    (stale / "src" / "go.mod").write_text("module x\n")
    (stale / "src").chmod(0o555)  # read-only, like a copy out of the module cache
    process = _run(_script(cache, counter))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert sorted(p.name for p in cache.iterdir()) == [".thing-v1.lock", "thing-v1"]
