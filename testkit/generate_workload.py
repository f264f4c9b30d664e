"""generate-workload-cr run in-process the way its tests run it: write a source tree, run the step, check the
invariants of every run (success: a CRD-valid CR file; failure: one error line and no file)."""

from __future__ import annotations

import contextlib
import io
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from steps.generate_workload.main import main
from testkit.crd_schema import workload_validator

IMAGE = "registry.local/acme/app:v1-abc12345"
P1X = "openchoreo-1.x"
P017 = "openchoreo-0.17"


@dataclass
class Result:
    code: int
    out: str
    err: str
    output: Path
    cr: dict[str, Any] | None

    @property
    def spec(self) -> dict[str, Any]:
        assert self.cr is not None, self.err
        spec: dict[str, Any] = self.cr["spec"]
        return spec

    @property
    def error(self) -> str:
        lines = [line for line in self.err.splitlines() if "] error: " in line]
        assert lines, self.err
        return "\n".join(lines)

    @property
    def warnings(self) -> list[str]:
        """Warnings about the descriptor (the api-mode=off delivery notice is left out)."""
        return [line for line in self.err.splitlines() if "] warning: " in line and DELIVERY_NOTICE not in line]


# Conversion tests write the CR only: API_MODE=off unless a test sets the mode (on openchoreo-1.x the default,
# auto, delivers through the API server; tests/test_generate_workload_hostile.py covers the modes).
DELIVERY_NOTICE = "no Workload was applied: api-mode=off"


def invoke(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """Run the step in-process, capturing its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    env = {"API_MODE": "off", **(environ or {})}
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv), environ=env)
    return code, out.getvalue(), err.getvalue()


def check_result(code: int, err: str, output: Path, profile: str) -> dict[str, Any] | None:
    """The invariants of every run: success -> a CRD-valid CR file; failure -> one error line, no file."""
    assert "Traceback" not in err
    assert "internal error" not in err, err
    if code == 0:
        assert output.is_file(), err
        cr = yaml.safe_load(output.read_text(encoding="utf-8"))
        workload_validator(profile).validate(cr)
        return dict(cr)
    assert not output.exists(), "a failing run must leave no output file"
    assert sum("] error: " in line for line in err.splitlines()) == 1, err
    return None


def generate(
    tmp: Path,
    descriptor: str | None,
    *extra: str,
    profile: str = P1X,
    files: Mapping[str, str | bytes] | None = None,
    app_path: str = ".",
    descriptor_name: str = "workload.yaml",
    environ: Mapping[str, str] | None = None,
    check: bool = True,
) -> Result:
    """Write a source tree (descriptor under app_path, plus `files` relative to the root) and run the step."""
    source = tmp / "src"
    (source / app_path).mkdir(parents=True, exist_ok=True)
    if descriptor is not None:
        target = source / app_path / descriptor_name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(descriptor), encoding="utf-8")
    for relative, content in (files or {}).items():
        target = source / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    output = tmp / "out" / "workload-cr.yaml"
    argv = ["--image", IMAGE, "-n", "team-ns", "-p", "shop", "-c", "cart", "--source-dir", str(source)]
    argv += ["--app-path", app_path, "-o", str(output), "--profile", profile]
    if descriptor_name != "workload.yaml":
        argv += ["--descriptor", descriptor_name]
    code, out, err = invoke([*argv, *extra], environ)
    if not check:
        return Result(code, out, err, output, None)
    return Result(code, out, err, output, check_result(code, err, output, profile))


def ok(tmp: Path, descriptor: str | None, *extra: str, **kwargs: Any) -> Result:
    result = generate(tmp, descriptor, *extra, **kwargs)
    assert result.code == 0, result.err
    return result


def fails(tmp: Path, descriptor: str | None, *extra: str, **kwargs: Any) -> Result:
    result = generate(tmp, descriptor, *extra, **kwargs)
    assert result.code != 0, result.err
    return result
