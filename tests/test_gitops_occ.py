"""Differential test: OpenChoreo's real `occ` v1.2.3 (built from the Go module proxy by scripts/build-oracles.sh) in
file-system mode is the oracle for gitops-publish's files (steps/gitops_publish/occfs.py).

Each case copies the hand-written GitOps repository tests/fixtures/gitops/repo twice, runs on one copy what
OpenChoreo's sample GitOps workflow runs (`occ workload create --descriptor`, `occ componentrelease generate --name
<component>-<revision>`, `occ releasebinding generate --component-release <that name>`, all `--mode file-system
--root-dir`), computes our files for the other copy from the Workload CR our generate-workload-cr step writes from
the same descriptor, and compares the two trees: the same paths and the same bytes.

Documented differences (README "GitOps delivery"; each has a case below that pins occ's behaviour and ours):
- occ leaves its index cache in `<root>/.occ/` (index.json, metadata.json); we write no cache. Left out of the
  comparison.
- The release name exists already (a re-run of the same source commit): occ refuses ("already exists"); we rewrite
  the file, so a re-run updates the same release, branch and pull request.
- The latest release already has the same spec: occ writes no release and then fails to bind the name it was given
  ("not found"); we bind the existing release.
- Without --descriptor occ keeps an existing Workload and swaps its image; we write the CR generate-workload-cr made.
- release-config.yaml (occ's output directories) is refused with a clear error: not supported yet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from steps.gitops_publish.occfs import OccError, Request, plan
from testkit.paths import ROOT

pytestmark = pytest.mark.oracle

OCC = Path(os.environ.get("PACK_ORACLES_DIR", "/root/.cache/pack-oracles")) / "occ-v1.2.3"
FIXTURE_REPO = ROOT / "tests" / "fixtures" / "gitops" / "repo"
SAMPLE_APP = ROOT / "tests" / "fixtures" / "sample-app"
NAMESPACE, PROJECT, REVISION = "demo-ns", "shop", "2dd7cb40"
IMAGE = f"127.0.0.1:5000/demo-ns-shop-app:v1-{REVISION}@sha256:{'e3' * 32}"


@pytest.fixture(scope="module")
def occ_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """$HOME with an occ context for the namespace (`releasebinding generate` takes it from the context only)."""
    if not OCC.is_file():
        pytest.fail(f"the occ oracle is missing at {OCC}: run scripts/build-oracles.sh")
    home = tmp_path_factory.mktemp("occ-home")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    for args in (
        [
            "config",
            "context",
            "add",
            "gitops",
            "--namespace",
            NAMESPACE,
            "--controlplane",
            "default",
            "--credentials",
            "default",
        ],
        ["config", "context", "use", "gitops"],
    ):
        subprocess.run([str(OCC), *args], env=env, capture_output=True, text=True, check=True, timeout=60)
    return home


@dataclass
class Case:
    id: str
    component: str
    descriptor: bool = True  # pass the sample app's workload.yaml (else a basic workload)
    target_env: str = ""
    path_root: str = ""  # occ's --root-dir inside the repository
    prepare: list[str] = field(default_factory=list)  # named repository changes before both runs
    occ_error: str | None = None
    ours_error: str | None = None


CASES = [
    Case("new-component-with-traits", "greeter"),
    Case("existing-binding-keeps-its-fields", "cart", descriptor=False),
    Case("cluster-component-type-and-cluster-trait", "jobs"),
    Case("existing-workload-file-and-release-folder", "legacy"),
    Case("explicit-target-environment", "greeter", target_env="staging"),
    # occ re-writes an existing binding through sigs.k8s.io/yaml: an oracle for our YAML writer on hostile scalars
    Case("existing-binding-with-hostile-scalars", "cart", descriptor=False, prepare=["hostile-binding"]),
    Case("repository-in-a-subdirectory", "greeter", path_root="gitops", prepare=["move-into-gitops"]),
    Case(
        "missing-component",
        "ghost",
        occ_error='component "ghost" not found in namespace "demo-ns"',
        ours_error="component 'ghost' not found in namespace 'demo-ns'",
    ),
    Case(
        "missing-component-type",
        "greeter",
        prepare=["drop-component-type"],
        occ_error='component type "web-service" not found',
        ours_error="ComponentType 'web-service' (referenced by Component greeter",
    ),
    Case(
        "missing-trait",
        "greeter",
        prepare=["drop-traits"],
        occ_error='trait "sidecar-logger" not found',
        ours_error="Trait 'sidecar-logger' (referenced by Component greeter or its type) not found",
    ),
    Case(
        "trait-not-allowed",
        "greeter",
        prepare=["disallow-ingress"],
        occ_error="traits [Trait:ingress] are not in the allowed list",
        ours_error="traits [Trait:ingress] are not in the allowed list",
    ),
    Case(
        "unknown-target-environment",
        "greeter",
        target_env="qa",
        occ_error='environment "qa" does not exist in deployment pipeline',
        ours_error="environment 'qa' does not exist in the deployment pipeline",
    ),
]


def prepare(root: Path, changes: list[str]) -> None:
    platform = root / "namespaces" / NAMESPACE / "platform"
    for change in changes:
        if change == "move-into-gitops":
            inner = root / "gitops"
            inner.mkdir()
            for item in list(root.iterdir()):
                if item.name != "gitops":
                    shutil.move(str(item), inner / item.name)
        elif change == "drop-component-type":
            (platform / "component-types" / "web-service.yaml").unlink()
        elif change == "drop-traits":
            (platform / "traits" / "ingress.yaml").write_text(
                (platform / "traits" / "ingress.yaml").read_text().split("---\n")[0]
            )
        elif change == "hostile-binding":
            path = root / "namespaces" / NAMESPACE / "projects" / PROJECT / "components" / "cart"
            binding = path / "release-bindings" / "cart-dev.yaml"
            binding.write_text(binding.read_text() + HOSTILE_VALUES)
        elif change == "disallow-ingress":
            path = platform / "component-types" / "web-service.yaml"
            path.write_text(path.read_text().replace("    - name: ingress\n", "    - name: not-ingress\n"))
        else:
            raise AssertionError(change)


HOSTILE_VALUES = "  workloadOverrides:\n" + "".join(
    f"    {line}\n"
    for line in [
        "k10: 1",
        "k9: 2",
        "K: upper",
        "_under: x",
        "a1b: x",
        "a01b: y",
        '"0": zero',
        '"true": t',
        "plain: hello world",
        'quotedYes: "yes"',
        "bareYes: yes",
        "bareOn: on",
        "bareY: y",
        'quotedNum: "0123"',
        "octalish: 0o17",
        "hexish: 0x1F",
        "ts: 2024-01-02",
        'tsQuoted: "2024-01-02T10:00:00Z"',
        'base60: "1:20"',
        "float1: 1.5",
        "float2: 1e6",
        "float3: 0.00001",
        "float4: 1.0",
        "float5: 1234567.5",
        "float6: -2.5e-7",
        "bigint: 12345678901234567890",
        "negzero: -0",
        'empty: ""',
        "nullv: null",
        "tilde: ~",
        "multi: |\n      line one\n      line two",
        "multiKeep: |+\n      keep\n\n",
        "multiStrip: |-\n      strip",
        'indented: "  first\\nsecond\\n"',
        'leadingSpace: "  lead"',
        'trailingSpace: "trail  "',
        'colon: "a: b"',
        'hash: "a #b"',
        'dash: "- x"',
        'star: "*ref"',
        'bang: "!tag"',
        'percent: "%x"',
        'at: "@x"',
        'brace: "{x}"',
        'unicode: "h\u00e9llo \u2603"',
        "longline: " + " ".join(["word"] * 30),
        "longnospace: " + "x" * 100,
        'tab: "a\\tb"',
        'control: "bell\\a"',
        'list: [1, "2", three, "", null, true]',
        "nested: {a: [], b: {}}",
        "backslash: 'C:\\path'",
        'quote: "it\'s"',
        "dquote: 'say \"hi\"'",
        "anchor: &a {x: 1}",
        "alias: *a",
        "merged: {<<: *a, y: 2}",
    ]
)


def occ(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    return subprocess.run([str(OCC), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def run_occ(home: Path, root: Path, case: Case, release: str) -> str | None:
    """occ's three commands; the first failure's output, or None."""
    fs = ["--mode", "file-system", "--root-dir", str(root)]
    names = ["--project", PROJECT, "--component", case.component]
    descriptor = ["--descriptor", "workload.yaml"] if case.descriptor else []
    commands = [
        ["workload", "create", *fs, "--namespace", NAMESPACE, *names, "--image", IMAGE, *descriptor],
        ["componentrelease", "generate", *fs, "--namespace", NAMESPACE, "--name", release, *names],
        ["releasebinding", "generate", *fs, *names, "--component-release", release]
        + (["--target-env", case.target_env] if case.target_env else []),
    ]
    for command in commands:
        result = occ(home, SAMPLE_APP if case.descriptor else root, *command)
        if result.returncode != 0:
            return result.stdout + result.stderr
    return None


def workload_cr(tmp: Path, case: Case) -> dict[str, object]:
    cr = tmp / "workload-cr.yaml"
    source = SAMPLE_APP if case.descriptor else tmp / "empty-app"
    source.mkdir(exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "steps.generate_workload",
            "--image",
            IMAGE,
            "-n",
            NAMESPACE,
            "-p",
            PROJECT,
            "-c",
            case.component,
            "--source-dir",
            str(source),
            "--output-path",
            str(cr),
            "--api-mode",
            "off",
        ],
        cwd=ROOT,
        env={**os.environ, "PACK_OUTPUTS_DIR": str(tmp / "outputs")},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded = yaml.safe_load(cr.read_text())
    assert isinstance(loaded, dict)
    return loaded


def run_ours(root: Path, cr: dict[str, object], case: Case, release: str) -> str | None:
    try:
        result = plan(root, cr, Request(NAMESPACE, PROJECT, case.component, release, case.target_env))
    except OccError as error:
        return str(error)
    for path, text in result.files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return None


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".occ" not in path.relative_to(root).parts
    }


@pytest.fixture
def copies(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    theirs, ours = tmp_path / "occ", tmp_path / "ours"
    shutil.copytree(FIXTURE_REPO, theirs)
    shutil.copytree(FIXTURE_REPO, ours)
    yield theirs, ours


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_same_files_as_occ(case: Case, copies: tuple[Path, Path], occ_home: Path, tmp_path: Path) -> None:
    theirs, ours = copies
    for root in copies:
        prepare(root, case.prepare)
    release = f"{case.component}-{REVISION}"
    occ_failure = run_occ(occ_home, theirs / case.path_root, case, release)
    our_failure = run_ours(ours / case.path_root, workload_cr(tmp_path, case), case, release)
    if case.occ_error is not None:
        assert occ_failure is not None and case.occ_error in occ_failure, occ_failure
        assert our_failure is not None and case.ours_error is not None and case.ours_error in our_failure
        return
    assert occ_failure is None, occ_failure
    assert our_failure is None, our_failure
    occ_files, our_files = tree(theirs), tree(ours)
    assert sorted(occ_files) == sorted(our_files)
    for path in occ_files:
        diff = f"{path} differs:\n--- occ\n{occ_files[path].decode()}\n--- ours\n{our_files[path].decode()}"
        assert our_files[path] == occ_files[path], diff
    assert (theirs / case.path_root / ".occ" / "index.json").is_file()  # documented: occ's cache, not ours
    assert not (ours / case.path_root / ".occ").exists()


def test_difference_rerun_with_the_same_release_name(copies: tuple[Path, Path], occ_home: Path, tmp_path: Path) -> None:
    """occ refuses a release name that exists; we rewrite it (a re-run of the same source commit)."""
    theirs, ours = copies
    case = Case("rerun", "greeter")
    release = f"greeter-{REVISION}"
    assert run_occ(occ_home, theirs, case, release) is None
    again = occ(
        occ_home, SAMPLE_APP, "componentrelease", "generate", "--mode", "file-system", "--root-dir", str(theirs),
        "--namespace", NAMESPACE, "--name", release, "--project", PROJECT, "--component", "greeter",
    )  # fmt: skip
    assert again.returncode != 0 and "already exists" in again.stdout + again.stderr
    cr = workload_cr(tmp_path, case)
    assert run_ours(ours, cr, case, release) is None
    first = tree(ours)
    assert run_ours(ours, cr, case, release) is None
    assert tree(ours) == first == tree(theirs)


def test_difference_identical_latest_release_is_bound(
    copies: tuple[Path, Path], occ_home: Path, tmp_path: Path
) -> None:
    """The latest release already has this spec: occ skips writing and cannot bind the new name; we bind the latest."""
    theirs, ours = copies
    case = Case("identical", "greeter")
    assert run_occ(occ_home, theirs, case, "greeter-20260101-1") is None
    failure = run_occ(occ_home, theirs, case, f"greeter-{REVISION}")
    assert failure is not None and f'component release "greeter-{REVISION}" not found' in failure
    cr = workload_cr(tmp_path, case)
    assert run_ours(ours, cr, case, "greeter-20260101-1") is None
    result = plan(ours, cr, Request(NAMESPACE, PROJECT, "greeter", f"greeter-{REVISION}", ""))
    assert result.release_reused and result.release_name == "greeter-20260101-1"
    assert result.release_path is None


def test_difference_without_descriptor_occ_keeps_the_existing_workload(
    copies: tuple[Path, Path], occ_home: Path, tmp_path: Path
) -> None:
    """`occ workload create` without --descriptor only swaps the image of an existing Workload; we write the CR
    generate-workload-cr made (here the basic one), so the existing endpoints are not carried over."""
    theirs, ours = copies
    existing = "namespaces/demo-ns/projects/shop/components/legacy/manifests/deployed-workload.yaml"
    for root in copies:
        path = root / existing
        path.write_text(path.read_text() + "  endpoints:\n    http:\n      type: HTTP\n      port: 8080\n")
    case = Case("no-descriptor", "legacy", descriptor=False)
    assert run_occ(occ_home, theirs, case, f"legacy-{REVISION}") is None
    assert run_ours(ours, workload_cr(tmp_path, case), case, f"legacy-{REVISION}") is None
    occ_workload, our_workload = (yaml.safe_load((root / existing).read_text()) for root in copies)
    assert occ_workload["spec"]["container"]["image"] == our_workload["spec"]["container"]["image"] == IMAGE
    assert occ_workload["spec"]["endpoints"] == {"http": {"type": "HTTP", "port": 8080}}
    assert "endpoints" not in our_workload["spec"]


def test_difference_release_config_is_refused(copies: tuple[Path, Path], tmp_path: Path) -> None:
    """occ takes output directories from release-config.yaml; gitops-publish does not support it yet and says so."""
    _, ours = copies
    (ours / "release-config.yaml").write_text("apiVersion: occ.openchoreo.dev/v1alpha1\nkind: ReleaseConfig\n")
    case = Case("release-config", "greeter")
    failure = run_ours(ours, workload_cr(tmp_path, case), case, f"greeter-{REVISION}")
    assert failure is not None and "release-config.yaml" in failure and "not supported" in failure
