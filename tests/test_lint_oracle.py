"""Differential test: Argo's own `argo lint --offline --strict` (the oracle) against `python -m hera_workflows lint`.

The oracle is built from the Go module proxy by scripts/build-oracles.sh (cached; a cold build takes minutes, a warm
one under a second). It runs when the Go toolchain is installed, and is skipped with the reason otherwise (which
fails a CI run with PACK_FAIL_ON_SKIP=1: CI must provide Go, or deselect this module explicitly).

What it shows, per pack source (rendered templates/ and the fixture pack):
- both linters pass the pack (its Argo documents, plus each OpenChoreo runTemplate as the Workflow it becomes);
- for every seeded mistake Argo also reports (seed.argo True), Argo reports it in the same file: our rule matches
  Argo's; for the ones where seed.argo is False, Argo accepts the file: those are the pack's stricter checks (unknown
  arguments, the generate-workload-cr contract, pipeline-level volumes and parameters, imagePullPolicy values).
The oracle is Argo v4.0.5: the newest v4 the module proxy serves (the pack targets v4.1.2).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hera_workflows import lint
from testkit.lint_packs import PACK_SOURCES
from testkit.paths import ARGO_CRDS, ROOT
from tests.fixtures.lint.seeds import SEEDS, PackCopy, Seed

pytestmark = pytest.mark.oracle  # needs the Go toolchain: Argo's `lint --offline` is built from the module proxy

ORACLE_SEEDS = [s for s in SEEDS if s.argo is not None]


@pytest.fixture(scope="session")
def argo_lint() -> Path:
    if shutil.which("go") is None:
        pytest.skip("the Go toolchain is not installed: scripts/build-oracles.sh cannot build `argo lint --offline`")
    proc = subprocess.run(
        ["bash", "scripts/build-oracles.sh", "argo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert proc.returncode == 0, f"scripts/build-oracles.sh argo failed:\n{proc.stderr[-4000:]}"
    binary = Path(proc.stdout.strip().splitlines()[-1])
    assert binary.is_file()
    return binary


def argo_documents(pack_root: Path, staging: Path) -> Path:
    """Write what Argo would see into `staging`, under the same relative file names: the Argo documents, and each
    OpenChoreo runTemplate (the Workflow OpenChoreo submits). Argo's lint picks documents by kind alone, so
    OpenChoreo's own `Workflow` kind (v0.17) must not reach it."""
    for path in sorted(pack_root.rglob("*.yaml")):
        docs = []
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict):
                continue
            if str(doc.get("apiVersion", "")).startswith("argoproj.io/"):
                docs.append(doc)
            run_template = (doc.get("spec") or {}).get("runTemplate") if isinstance(doc.get("spec"), dict) else None
            if str(doc.get("apiVersion", "")).startswith("openchoreo.dev/") and isinstance(run_template, dict):
                docs.append(run_template)
        if docs:
            target = staging / path.relative_to(pack_root)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return staging


PARSE_FAILURE = "failed to parse YAML from file "


def run_oracle(binary: Path, root: Path) -> tuple[int, list[str]]:
    """Exit code and the reports as `FILE: in ...` lines. A document Argo cannot even decode (a wrong type) stops
    the whole run with exit 2 and `failed to parse YAML from file FILE: ...`; that counts as a report for FILE."""
    proc = subprocess.run([str(binary), str(root)], capture_output=True, text=True, check=False, timeout=120)
    lines = [line for line in proc.stdout.splitlines() if ": in " in line]
    if proc.returncode == 2 and proc.stderr.startswith(PARSE_FAILURE):
        file, _, why = proc.stderr[len(PARSE_FAILURE) :].partition(": ")
        return 1, [f"{file}: in (decoding): {why.strip()}"]
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, lines


@pytest.mark.parametrize("source", sorted(PACK_SOURCES))
def test_oracle_and_lint_agree_the_pack_is_clean(argo_lint: Path, source: str, tmp_path: Path) -> None:
    staging = argo_documents(PACK_SOURCES[source], tmp_path / "argo")
    code, lines = run_oracle(argo_lint, staging)
    assert (code, lines) == (0, [])
    assert lint.lint_paths([PACK_SOURCES[source]], ARGO_CRDS).findings == []


@pytest.mark.parametrize("source", sorted(PACK_SOURCES))
@pytest.mark.parametrize("seed", ORACLE_SEEDS, ids=[s.id for s in ORACLE_SEEDS])
def test_oracle_on_seeded_mistake(argo_lint: Path, seed: Seed, source: str, tmp_path: Path) -> None:
    pack = PackCopy(PACK_SOURCES[source], tmp_path / "pack")
    expect = seed.mutate(pack)
    pack.save()
    _, lines = run_oracle(argo_lint, argo_documents(pack.root, tmp_path / "argo"))
    in_file = [line for line in lines if line.split(": in ")[0].endswith(expect.file)]
    ours = [f for f in lint.lint_paths([pack.root], ARGO_CRDS).findings if f.path == expect.path]
    assert any(seed.message in f.message for f in ours)
    if seed.argo:
        assert in_file, f"argo lint --offline did not report {seed.id} in {expect.file}; it said: {lines}"
    else:
        assert in_file == [], f"argo lint --offline now reports {seed.id} (update seed.argo): {in_file}"
