"""The README's promises that code can check: the template table matches the pack, the commands exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from hera_workflows.cli import COMMANDS
from hera_workflows.pack.listing import describe, markdown_table
from hera_workflows.pack.render import build_pack_resources
from hera_workflows.pack.settings import Settings
from testkit.paths import ROOT

README = (ROOT / "README.md").read_text()


def test_template_table_matches_the_pack() -> None:
    table = re.search(r"<!-- templates-table:start -->\n(.*?)<!-- templates-table:end -->", README, re.S)
    assert table, "README lost its templates-table markers"
    expected = markdown_table(describe(build_pack_resources(Settings())))
    assert table.group(1) == expected, "README table is stale: run `python scripts/update_readme_table.py`"


def test_every_cli_command_in_the_readme_exists_and_has_help() -> None:
    documented = set(re.findall(r"^\| `([a-z-]+)[ `]", README, re.M)) & set(COMMANDS) | {"render", "list"}
    assert documented == set(COMMANDS)
    for command in sorted(COMMANDS):
        result = subprocess.run(
            [sys.executable, "-m", "hera_workflows", command, "--help"],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, (command, result.stderr)
        assert "usage:" in result.stdout


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in README
    assert "exec make test" in (ROOT / ".ci" / "run").read_text()


def test_extension_example_renders_and_lints(tmp_path: Path) -> None:
    block = re.search(r"<!-- extension-example:start -->\n```python\n(.*?)```", README, re.S)
    assert block, "README lost its extension example"
    package = tmp_path / "my_ci"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "extension.py").write_text(block.group(1))
    out = tmp_path / "templates"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    render = [sys.executable, "-m", "hera_workflows", "render", "-o", str(out), "--extension", "my_ci.extension:extend"]
    result = subprocess.run(render, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lint = subprocess.run(
        [sys.executable, "-m", "hera_workflows", "lint", str(out)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    pipeline = yaml.safe_load((out / "pipelines" / "dockerfile-builder.yaml").read_text())
    main = next(t for t in pipeline["spec"]["templates"] if t["name"] == "build-workflow")
    names = [step["name"] for group in main["steps"] for step in group]
    assert names == ["checkout-source", "build-image", "publish-image", "smoke-test", "generate-workload-cr"]
    assert (out / "steps" / "smoke-test.yaml").is_file()
