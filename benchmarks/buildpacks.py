"""6. Buildpacks rebuilds: the buildpacks `build-image` pod (the real CNB lifecycle v0.20.4 in the local test
builder, run by hera_workflows.engine.podrun exactly as rendered) on fresh storage, cold against a rebuild that
restores the lifecycle's layer cache from a registry cache image (`cache-image`).

Each run: a cold build without cache, a build that fills an empty cache image (pays for pushing it), and a
rebuild on a fresh workspace from that cache image (unchanged sources: the buildpack reuses its cached layer).
The app is the pack's small Python test app, so the rows show the lifecycle's own fixed cost and the cache's
overhead, not a dependency download saved (nothing here can download one).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from benchmarks import fixtures
from benchmarks.harness import BenchError, Context, Measurement, Skip, ratio
from steps.common import contract

NAME = "buildpacks"
TITLE = "buildpacks build-image (real lifecycle, local test builder): cold vs rebuild from the cache image"

CASES: list[tuple[str, str]] = [
    ("cold", "fresh workspace, no cache"),
    ("cache.fill", "fresh workspace, empty cache image (pushes the cache)"),
    ("cache.rebuild", "fresh workspace, cache image from the previous build, unchanged sources"),
]


def run(ctx: Context) -> list[Measurement]:
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure to reach the engine means "cannot run here"
        raise Skip(f"no Docker engine: {error}") from None
    from testkit.buildpacks import APP, BUILD_TEMPLATE, make_local_builder, run_step

    env = fixtures.registry_env(ctx)
    ctx.log("buildpacks: local test builder (the lifecycle is built from the Go module proxy on first use)")
    builder = make_local_builder(client, env.registry, ctx.scratch("buildpacks-templates"))
    samples: dict[str, list[float]] = {case: [] for case, _ in CASES}

    def build(case: str, index: int, cache_image: str) -> str:
        workspace = ctx.scratch(f"bp-{case}-{index}") / "workspace"
        shutil.copytree(APP, workspace / "source" / "app")
        inputs = {"git-revision": "0123abcd", "app-path": "app", "build-env": "[]", "cache-image": cache_image}
        started = time.monotonic()
        result = run_step(client, builder.templates, BUILD_TEMPLATE, inputs, workspace)
        seconds = time.monotonic() - started
        if not result.succeeded or not (workspace / Path(contract.IMAGE_ARCHIVE).name / "index.json").is_file():
            raise BenchError(f"build-image ({case}) failed: {result.message}\n{result.logs[-2000:]}")
        samples[case].append(seconds)
        return result.logs

    for index in range(ctx.runs):
        ctx.log(f"buildpacks: run {index + 1}/{ctx.runs}")
        cache = f"{env.registry.host}/bench/bp-cache-{index}-{time.time_ns()}:cnb"
        build("cold", index, "")
        build("cache.fill", index, cache)
        logs = build("cache.rebuild", index, cache)
        if "reusing the cached layer" not in logs:
            raise BenchError(f"the rebuild did not restore the cached layer:\n{logs[-2000:]}")

    cold = Measurement("buildpacks.cold", samples["cold"])
    rows: list[Measurement] = []
    for case, description in CASES:
        row = cold if case == "cold" else Measurement(f"buildpacks.{case}", samples[case])
        row.notes = description
        row.ratio, row.ratio_label = ratio(row, cold), "x cold"
        rows.append(row)
    rows[0].notes = "build-image pod wall time (prepare-buildpacks + lifecycle creator); " + rows[0].notes
    return rows
