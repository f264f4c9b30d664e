"""4. `python -m hera_workflows render` and `lint` of the whole pack: subprocess wall time and in-process time.

Subprocess figures include interpreter start-up and imports (what `make render` / CI pay); the interpreter floor
(`python -c pass`, same venv) is its own row. In-process figures call `hera_workflows.cli.main` again after one
warm-up call in this process (imports done), so they show the work itself. Each render goes to a fresh
directory; lint reads the rendered pack from this run.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import fixtures
from benchmarks.harness import BenchError, Context, Measurement, Skip, ratio, run_timed

NAME = "pack-cli"
TITLE = "python -m hera_workflows render / lint of the whole pack"


def in_process(argv: Sequence[str]) -> float:
    from hera_workflows import cli

    saved = sys.argv[:]
    sink = io.StringIO()
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = cli.main(list(argv))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved
    seconds = time.monotonic() - started
    if code != 0:
        raise BenchError(f"in-process hera_workflows {' '.join(argv)} returned {code}:\n{sink.getvalue()[-1500:]}")
    return seconds


def run(ctx: Context) -> list[Measurement]:
    if not (fixtures.ROOT / "hera_workflows" / "pack" / "render.py").is_file():
        raise Skip("hera_workflows/pack/render.py missing")
    has_lint = (fixtures.ROOT / "hera_workflows" / "lint" / "__init__.py").is_file()
    runs = ctx.runs if ctx.quick else max(ctx.runs, 3)
    python = [fixtures.PYTHON]
    floor = Measurement("pack-cli.python-floor", notes="python -c pass (the venv's interpreter)")
    imports = Measurement(
        "pack-cli.imports", notes="python -c 'import hera_workflows.pack.render, hera_workflows.lint'"
    )
    render = Measurement("pack-cli.render")
    lint = Measurement("pack-cli.lint")
    render_in = Measurement("pack-cli.render.in-process")
    lint_in = Measurement("pack-cli.lint.in-process")
    files = 0
    last_render: Path | None = None
    for index in range(runs):
        ctx.log(f"pack-cli: run {index + 1}/{runs}")
        floor.samples.append(run_timed([*python, "-c", "pass"], cwd=fixtures.ROOT).seconds)
        modules = "hera_workflows.pack.render, hera_workflows.lint" if has_lint else "hera_workflows.pack.render"
        imports.samples.append(run_timed([*python, "-c", f"import {modules}"], cwd=fixtures.ROOT).seconds)
        target = ctx.scratch("rendered")
        render.samples.append(
            run_timed([*python, "-m", "hera_workflows", "render", "-o", str(target)], cwd=fixtures.ROOT).seconds
        )
        files = sum(1 for path in target.rglob("*.yaml"))
        last_render = target
        if has_lint:
            lint.samples.append(
                run_timed([*python, "-m", "hera_workflows", "lint", str(target)], cwd=fixtures.ROOT).seconds
            )
    assert last_render is not None
    in_process(["render", "-o", str(ctx.scratch("rendered-warmup"))])  # imports, not measured
    if has_lint:
        in_process(["lint", str(last_render)])
    for _ in range(runs):
        render_in.samples.append(in_process(["render", "-o", str(ctx.scratch("rendered-in"))]))
        if has_lint:
            lint_in.samples.append(in_process(["lint", str(last_render)]))

    render.notes = f"subprocess, {files} YAML files into a fresh dir; includes start-up and imports"
    render.ratio, render.ratio_label = ratio(render, floor), "x python -c pass"
    render_in.notes = "cli.main(['render', ...]) in this process after a warm-up call"
    rows = [render, render_in]
    if has_lint:
        lint.notes = "subprocess, the rendered pack (Argo v4 CRD schema + semantic checks)"
        lint.ratio, lint.ratio_label = ratio(lint, floor), "x python -c pass"
        lint_in.notes = "cli.main(['lint', ...]) in this process after a warm-up call"
        rows += [lint, lint_in]
    else:
        rows.append(Measurement("pack-cli.lint", status="skipped", notes="skipped: hera_workflows/lint missing"))
    imports.ratio, imports.ratio_label = ratio(imports, floor), "x python -c pass"
    rows += [imports, floor]
    return rows
