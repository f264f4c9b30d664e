"""`render`, `list`, `lint` and `controller-check` work from an installed package with nothing beside it.

The project is installed (`pip install <checkout>`, not editable; its pinned dependencies from the package index)
into a fresh venv in a temp dir. The commands then run from a working directory outside the checkout, with a fresh
HOME (no lint cache, no reference cache) and no PACK_* variables: no ../shared, no CRD file, no templates/ to fall
back on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.paths import ROOT

pytestmark = pytest.mark.slow  # builds the wheel and installs it into a fresh venv

CONTROLLER_FIXTURE = ROOT / "tests" / "fixtures" / "controller" / "pipeline-inline-succeeded.json"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("installed")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    work = base / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACK_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"HOME": str(base / "home"), "XDG_CACHE_HOME": str(base / "home" / ".cache")}
    return python, work, env


def _run(installed: tuple[Path, Path, dict[str, str]], *args: str) -> subprocess.CompletedProcess[str]:
    python, work, env = installed
    return subprocess.run(
        [str(python), "-m", "hera_workflows", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_the_package_is_imported_from_the_venv_not_the_checkout(installed: tuple[Path, Path, dict[str, str]]) -> None:
    python, work, env = installed
    proc = subprocess.run(
        [str(python), "-c", "import hera_workflows, steps; print(hera_workflows.__file__); print(steps.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in proc.stdout.split():
        assert Path(line).is_relative_to(python.parent.parent), line
    assert not (work.parent / "shared").exists()


def test_render_list_lint_and_controller_check(installed: tuple[Path, Path, dict[str, str]]) -> None:
    _, work, _ = installed
    render = _run(installed, "render", "-o", "out")
    assert render.returncode == 0, render.stderr
    assert (work / "out" / "steps" / "containerfile-build.yaml").is_file()

    listing = _run(installed, "list", "--json")
    assert listing.returncode == 0, listing.stderr
    assert "containerfile-build" in listing.stdout

    nothing = _run(installed, "lint")
    assert nothing.returncode == 2 and "no PATH given and no ./templates here" in nothing.stderr
    lint = _run(installed, "lint", "out", "--strict")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "0 error(s), 0 warning(s)" in lint.stderr
    seeded = work / "seeded.yaml"
    text = (work / "out" / "steps" / "publish-image.yaml").read_text()
    seeded.write_text(text.replace("imagePullPolicy:", "imagePullPolicyy:", 1))
    broken = _run(installed, "lint", str(seeded), "--format", "json")
    assert broken.returncode == 1
    assert any("unknown field 'imagePullPolicyy'" in f["message"] for f in json.loads(broken.stdout)["findings"])

    workflow = work / "wf.json"
    workflow.write_text(CONTROLLER_FIXTURE.read_text())
    check = _run(installed, "controller-check", str(workflow))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Condition: WorkloadUpdated=True" in check.stdout and "step validator" in check.stdout
