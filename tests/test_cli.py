"""Every `python -m hera_workflows` command fails with one line on stderr and a non-zero exit, never a traceback:
with no Docker engine (DOCKER_HOST names a socket that does not exist) and with a broken input file. The commands
run as the user runs them, in a subprocess, from a directory outside the checkout."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hera_workflows.cli import COMMANDS
from testkit import processes

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
NO_ENGINE = "unix:///nonexistent-hera-workflows-test.sock"
RUN_PARAMS = ["component-name=c", "project-name=p", "namespace-name=n", "git-repo=http://127.0.0.1:9/x.git"]


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return processes.python_module(
        "hera_workflows", args, cwd=cwd, env={**os.environ, "DOCKER_HOST": NO_ENGINE}, timeout=300
    )


def _cases(tmp: Path) -> dict[str, list[list[str]]]:
    broken = tmp / "broken.yaml"
    broken.write_text("publish: [\n", encoding="utf-8")
    broken_dir = tmp / "broken-templates"
    broken_dir.mkdir()
    (broken_dir / "pipeline.yaml").write_text("kind: ClusterWorkflowTemplate\nspec: {\n", encoding="utf-8")
    params = [arg for pair in [*RUN_PARAMS, "image-name=i"] for arg in ("--param", pair)]
    return {
        "render": [["render", "-o", str(tmp / "out"), "--config", str(broken)]],
        "list": [["list", "--config", str(broken)]],
        "lint": [["lint", str(broken)]],
        "images": [
            ["images", "build", "--local-base", "--templates", str(TEMPLATES)],  # no engine
            ["images", "list", "--templates", str(broken_dir)],
        ],
        "run": [
            ["run", "dockerfile-builder", "--templates", str(TEMPLATES), *params],  # no engine
            ["run", "dockerfile-builder", "--templates", str(broken_dir)],
        ],
        "controller-check": [["controller-check", str(broken)], ["controller-check", str(tmp / "missing.json")]],
    }


def test_every_command_is_covered(tmp_path: Path) -> None:
    assert set(_cases(tmp_path)) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_failures_are_one_line_never_a_traceback(command: str, tmp_path: Path) -> None:
    for args in _cases(tmp_path)[command]:
        result = _cli(args, tmp_path)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr + result.stdout, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        if command == "lint":  # the linter reports each finding as a file:line line on stdout, and a summary line
            assert "broken.yaml:2: error:" in result.stdout and len(lines) == 1, (result.stdout, result.stderr)
            continue
        assert len(lines) == 1, (args, result.stderr)
        assert lines[0].startswith(f"{args[0]}"), lines[0]
        if args[0] in ("run", "images") and "broken" not in " ".join(args):
            assert "cannot reach the Docker engine" in lines[0], lines[0]


def test_an_unexpected_error_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The last guard in `cli.main`: a bug in a command still ends in one line and exit 70."""
    from hera_workflows import cli
    from hera_workflows.pack import listing

    def broken(_args: object) -> int:
        raise KeyError("boom")

    monkeypatch.setattr(listing, "main", broken)
    assert cli.main(["list"]) == 70
    assert capsys.readouterr().err == "list: unexpected error (KeyError: 'boom'); please report it\n"


def test_moved_modules_find_the_checkout() -> None:
    """Paths derived from a module's place in the tree (the sub-packages moved them one level down)."""
    from hera_workflows import images, lint
    from hera_workflows.engine import run
    from hera_workflows.images import builder

    assert lint.DEFAULT_PATH == TEMPLATES
    assert images.ROOT == builder.ROOT == ROOT
    assert (images.ROOT / "Dockerfiles").is_dir()
    assert run.templates_dir(None).resolve() == TEMPLATES
