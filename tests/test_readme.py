"""The README's promises that code can check: the template table matches the pack, the commands exist."""

from __future__ import annotations

import re
import subprocess
import sys

from hera_workflows.cli import COMMANDS
from hera_workflows.listing import describe, markdown_table
from hera_workflows.render import build_pack_resources
from hera_workflows.settings import Settings
from tests.support.paths import ROOT

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
