"""`python -m benchmarks [--quick] [--runs N] [--only NAME ...] [-o results.json]`: run, print a table, write JSON.

Progress goes to stderr; the table to stdout. A benchmark whose prerequisites are missing shows one
"skipped: <reason>" row; one that fails shows a "FAILED: <reason>" row and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType

from benchmarks.harness import (
    BenchError,
    Context,
    Measurement,
    Skip,
    describe_machine,
    failed,
    machine_info,
    measurement_from_json,
    render_table,
    skipped,
    write_json,
)

# name -> module, in the order they run
BENCHMARKS: dict[str, str] = {
    "handoff": "benchmarks.handoff",
    "rebuild": "benchmarks.rebuild",
    "avoidance": "benchmarks.avoidance",
    "generate-workload": "benchmarks.generate_workload",
    "pack-cli": "benchmarks.pack_cli",
    "pipeline": "benchmarks.pipeline",
    "buildpacks": "benchmarks.buildpacks",
}
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"
FULL_RUNS = 9
DEFAULT_SCRATCH = "/var/tmp"
QUICK_RUNS = 2


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of the pack side by side with OpenChoreo's shipped approach: a table and JSON.",
    )
    parser.add_argument("--quick", action="store_true", help=f"fewer runs ({QUICK_RUNS}), smaller large image")
    parser.add_argument("--runs", type=int, default=None, help=f"runs per measurement (default {FULL_RUNS})")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME", help="run only these")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file ({DEFAULT_OUTPUT})")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the scratch directory (debugging)")
    parser.add_argument(
        "--scratch-dir",
        type=Path,
        default=Path(DEFAULT_SCRATCH),
        help=f"where the stores, archives and the registry live ({DEFAULT_SCRATCH}; e.g. /dev/shm when other work "
        "saturates the disk: both paths alike, the JSON records the file system)",
    )
    parser.add_argument("--show", type=Path, metavar="RESULTS.json", help="print the table of a saved run, run nothing")
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be >= 1")
    return args


def scratch_info(path: Path) -> str:
    """The scratch directory and its file system type (from /proc/self/mounts: the longest mount point above it)."""
    resolved = str(path.resolve())
    best, fstype = "", "unknown"
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            mount = fields[1]
            inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best):
                best, fstype = mount, fields[2]
    except OSError:
        pass
    return f"{resolved} ({fstype})"


def run_one(ctx: Context, name: str, module: ModuleType) -> list[Measurement]:
    """Run one benchmark module, turning Skip / errors into rows instead of crashing the run."""
    run: Callable[[Context], list[Measurement]] = module.run
    try:
        return run(ctx)
    except Skip as reason:
        return [skipped(name, str(reason))]
    except BenchError as error:
        return [failed(name, str(error).splitlines()[0] if str(error) else type(error).__name__)] + [
            Measurement(f"{name}.detail", status="failed", notes=line) for line in str(error).splitlines()[1:][-6:]
        ]
    except Exception as error:  # noqa: BLE001 - one broken benchmark must not lose the others' figures
        traceback.print_exc(file=sys.stderr)
        return [failed(name, f"{type(error).__name__}: {error}")]


def show(path: Path, markdown: bool) -> int:
    document = json.loads(path.read_text(encoding="utf-8"))
    measurements = [measurement_from_json(item) for item in document["measurements"]]
    mode = f"--quick, {document['runs']} run(s)" if document["quick"] else f"full, {document['runs']} run(s)"
    print(f"# benchmarks ({mode}), {document['started']}, {document['duration_seconds']:.0f} s")
    print(f"# machine: {describe_machine(document['machine'])}")
    print(render_table(measurements, markdown=markdown))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.show is not None:
        return show(args.show, args.markdown)
    runs = args.runs or (QUICK_RUNS if args.quick else FULL_RUNS)
    selected = args.only or list(BENCHMARKS)
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    if not args.scratch_dir.is_dir():
        print(f"--scratch-dir: {args.scratch_dir} is not a directory", file=sys.stderr)
        return 2
    info = machine_info()
    info["scratch"] = scratch_info(args.scratch_dir)
    workdir = Path(tempfile.mkdtemp(prefix="pack-bench-", dir=args.scratch_dir))
    measurements: list[Measurement] = []
    summary: dict[str, dict[str, object]] = {}
    try:
        with ExitStack() as stack:
            ctx = Context(quick=args.quick, runs=runs, workdir=workdir, stack=stack)
            ctx.log(f"scratch {workdir}; runs {runs}{' (quick)' if args.quick else ''}")
            for name, module_name in BENCHMARKS.items():
                if name not in selected:
                    continue
                module = importlib.import_module(module_name)
                ctx.log(f"--- {name}: {getattr(module, 'TITLE', '')}")
                begin = time.monotonic()
                rows = run_one(ctx, name, module)
                seconds = time.monotonic() - begin
                status = "ok" if all(r.status == "ok" for r in rows) else rows[0].status
                summary[name] = {
                    "status": status,
                    "seconds": round(seconds, 1),
                    "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
                }
                ctx.log(f"{name}: {status} in {seconds:.0f}s")
                measurements.extend(rows)
    finally:
        if args.keep_workdir:
            print(f"scratch kept: {workdir}", file=sys.stderr)
        else:
            from benchmarks.fixtures import remove_store

            remove_store(workdir)
    duration = time.monotonic() - started
    mode = f"--quick, {runs} run(s)" if args.quick else f"full, {runs} run(s)"
    print(f"# benchmarks ({mode}), {started_at:%Y-%m-%d %H:%M} UTC, {duration:.0f} s")
    print(f"# machine: {describe_machine(info)}")
    print(render_table(measurements, markdown=args.markdown))
    document = {
        "started": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round(duration, 1),
        "quick": args.quick,
        "runs": runs,
        "machine": info,
        "benchmarks": summary,
        "measurements": [m.to_json() for m in measurements],
    }
    write_json(args.output, document)
    print(f"# JSON: {args.output}")
    return 1 if any(m.status == "failed" for m in measurements) else 0


if __name__ == "__main__":
    sys.exit(main())
