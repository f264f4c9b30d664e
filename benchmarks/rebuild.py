"""2. Rebuilds with our build step: cold, unchanged sources, one changed source file.

Every case runs `python -m steps.build` on a fresh overlay store (a new pod), without and with the registry
layer cache (`--cache-to/--cache-from` = BUILD_CACHE_REPO on the local registry); the same-store ("warm",
reference only: a pod never keeps its store) cases follow the cold build in its store. Each run uses a new
cache repository, so "cold + cache" also pays for pushing the cache. Ratios are to the cold build without cache.
The order of the four groups (cold + warm, fresh unchanged, fresh changed, the three cache cases) rotates
from run to run.

The app is a typical two-stage Dockerfile on the busybox base: a "dependency install" RUN (64 MB generated and
hashed, standing in for a package install), then COPY of the sources and a "compile" RUN over them. The step's
wall time includes writing the OCI archive; the bud part alone is in the notes and in the JSON.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import fixtures
from benchmarks.harness import Context, Measurement, Skip, median_of, ratio

NAME = "rebuild"
TITLE = "rebuilds: fresh store with and without the registry layer cache; same-store warm builds"

DEPS_MB = 64

CASES: list[tuple[str, str]] = [
    ("cold", "fresh store, no cache"),
    ("fresh.unchanged", "fresh store, no cache, unchanged sources"),
    ("fresh.changed", "fresh store, no cache, one changed source"),
    ("cache.cold", "fresh store, empty registry cache (pushes the cache)"),
    ("cache.unchanged", "fresh store, registry cache, unchanged sources"),
    ("cache.changed", "fresh store, registry cache, one changed source"),
    ("cache.unchanged.zstd", "as cache.unchanged, zstd layers in the archive"),
    ("cache.changed.zstd", "as cache.changed, zstd layers in the archive"),
    ("warm.unchanged", "same store as the cold build (reference), unchanged sources"),
    ("warm.changed", "same store as the cold build (reference), one changed source"),
]


def write_app(directory: Path, base_ref: str) -> None:
    (directory / "src").mkdir(parents=True)
    (directory / "deps.txt").write_text("dep-a==1.0\ndep-b==2.3\n")
    for index in range(10):
        (directory / "src" / f"module{index}.txt").write_text(f"module {index}\n" * 100)
    (directory / "Dockerfile").write_text(
        "\n".join(
            [
                f"FROM {base_ref}",
                "WORKDIR /app",
                "COPY deps.txt /app/deps.txt",
                f"RUN /bin/busybox dd if=/dev/urandom of=/app/deps.bin bs=1M count={DEPS_MB} 2>/dev/null"
                " && sha256sum /app/deps.bin > /app/deps.sha",
                "COPY src/ /app/src/",
                "RUN cat /app/src/*.txt | sha256sum > /app/build-id",
                'CMD ["/bin/sh"]',
            ]
        )
        + "\n"
    )


def change_source(app: Path, tag: str) -> None:
    (app / "src" / "module0.txt").write_text(f"module 0, changed {tag} {time.time_ns()}\n")


def restore_source(app: Path) -> None:
    (app / "src" / "module0.txt").write_text("module 0\n" * 100)


@dataclass
class CaseSamples:
    total: list[float] = field(default_factory=list)
    bud: list[float] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=dict)

    def phase_note(self) -> str:
        parts = [f"{name} {median_of(values) or 0:.2f}" for name, values in self.phases.items()]
        return "phase medians (s): " + ", ".join(parts)


def run(ctx: Context) -> list[Measurement]:
    fixtures.require_tools("buildah")
    if not fixtures.steps_available()[0]:
        raise Skip("steps/build has no __main__.py yet")
    env = fixtures.registry_env(ctx)
    app = ctx.scratch("app-rebuild")
    write_app(app, env.base_ref)
    samples = {case: CaseSamples() for case, _ in CASES}

    def build(case: str, store: Path, cache: str, run_index: int) -> None:
        pod = ctx.scratch(f"rebuild-{case}")
        try:
            result = fixtures.run_build_step(
                source=app,
                store=store,
                archive=pod / "app-image.tar",
                image_name="bench/rebuild",
                revision=f"r{run_index:02d}",
                outputs=pod / "out",
                cache_repo=cache,
                extra={"LAYER_COMPRESSION": "zstd" if case.endswith(".zstd") else "gzip"},
            )
        finally:
            fixtures.remove_store(pod)
        entry = samples[case]
        entry.total.append(result.timed.seconds)
        entry.bud.append(result.bud_seconds)
        entry.hits.append(f"{result.cache_hits}/{max(result.build_steps - 1, 0)}")
        for name, seconds in result.phases().items():
            entry.phases.setdefault(name, []).append(seconds)

    def same_store_group(index: int) -> None:
        store = ctx.scratch("rebuild-warm-store")
        try:
            build("cold", store, "", index)
            build("warm.unchanged", store, "", index)
            change_source(app, f"warm-{index}")
            build("warm.changed", store, "", index)
        finally:
            fixtures.remove_store(store)
            restore_source(app)

    def fresh_group(cases: list[tuple[str, bool]], cache_repo: str, index: int) -> None:
        for case, changed in cases:
            if changed:
                change_source(app, f"{case}-{index}")
            store = ctx.scratch(f"rebuild-store-{case}")
            try:
                build(case, store, cache_repo, index)
            finally:
                fixtures.remove_store(store)
                restore_source(app)

    for index in range(ctx.runs):
        ctx.log(f"rebuild: run {index + 1}/{ctx.runs}")
        restore_source(app)
        cache = f"{env.registry_host}/bench/rebuild-cache-{index:02d}-{time.time_ns() % 10**6}"
        # the same-store group (None) and the fresh-store groups: (cases, with the registry cache)
        groups: list[tuple[list[tuple[str, bool]], bool] | None] = [
            None,
            ([("fresh.unchanged", False)], False),
            ([("fresh.changed", True)], False),
            (
                [
                    ("cache.cold", False),
                    ("cache.unchanged", False),
                    ("cache.changed", True),
                    ("cache.unchanged.zstd", False),
                    ("cache.changed.zstd", True),
                ],
                True,
            ),
        ]
        shift = index % len(groups)  # rotate the order: no case always runs first (cold caches) or last
        for group in groups[shift:] + groups[:shift]:
            if group is None:
                same_store_group(index)
            else:
                fresh_group(group[0], cache if group[1] else "", index)

    cold = Measurement("rebuild.cold", samples["cold"].total)
    rows: list[Measurement] = []
    for case, description in CASES:
        entry = samples[case]
        row = cold if case == "cold" else Measurement(f"rebuild.{case}", entry.total)
        bud = median_of(entry.bud)
        hits = f"{entry.hits[0]} in every run" if len(set(entry.hits)) == 1 else ", ".join(entry.hits)
        row.notes = f"{description}; bud median {bud or 0:.2f} s; cache hits {hits}; {entry.phase_note()}"
        row.ratio, row.ratio_label = ratio(row, cold), "x cold"
        row.extra = {
            "bud_seconds": [round(value, 4) for value in entry.bud],
            "cache_hits": entry.hits,
            "phases": {name: [round(value, 4) for value in values] for name, values in entry.phases.items()},
        }
        rows.append(row)
    rows[0].notes = f"{DEPS_MB} MB dependency layer + sources; " + rows[0].notes
    return rows
