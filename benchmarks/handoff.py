"""1. Hand-off from build to registry: ours against OpenChoreo's, same app, same local registry, fresh stores.

ours   `python -m steps.build` (buildah bud --layers --isolation chroot, overlay store on a fresh dir, then
       `buildah push <image> oci-archive:app-image.tar`) -> `python -m steps.publish_image`
       (`skopeo copy oci-archive:app-image.tar docker://127.0.0.1:PORT/...`), gzip layers (the default).
ours-zstd  the same with layer-compression zstd (LAYER_COMPRESSION=zstd for both steps).
theirs OpenChoreo's containerfile-build + publish-image (v1.x): `podman build` -> `podman save -o app-image.tar`
       in the build pod's store; then, in a second fresh store (the publish pod), `podman load -i`,
       `podman tag`, `podman push`.

Each run uses fresh stores, as a new pod would; both paths pull the base image from the same registry.
Cases: a small image (busybox + a few files) and one with a ~300 MB layer of incompressible data (RUN from
/dev/urandom); --quick shrinks that layer to 100 MB. The order of the three paths rotates from run to run to
spread machine noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import fixtures
from benchmarks.harness import BenchError, Context, Measurement, Skip, median_of, ratio, run_timed

NAME = "handoff"
TITLE = "build -> registry hand-off: buildah + OCI archive + skopeo vs podman build/save/load/tag/push"

FULL_LARGE_MB = 300
QUICK_LARGE_MB = 100
LARGE_MAX_RUNS = 5  # a 300 MB run takes ~1 min for both paths on 2 cores


@dataclass
class PathSamples:
    total: list[float] = field(default_factory=list)
    handoff: list[float] = field(default_factory=list)  # everything after the build proper
    archive_mb: list[float] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=dict)

    def phase(self, name: str, seconds: float) -> None:
        self.phases.setdefault(name, []).append(seconds)

    def phase_note(self) -> str:
        parts = [f"{name} {median_of(values) or 0:.2f}" for name, values in self.phases.items()]
        return "medians (s): " + ", ".join(parts)


def write_app(directory: Path, base_ref: str, blob_mb: int) -> None:
    """A small app: busybox base, a COPY of a few files, one RUN; plus an optional incompressible layer."""
    (directory / "app").mkdir(parents=True)
    for index in range(5):
        (directory / "app" / f"file{index}.txt").write_text(f"content {index}\n" * 200)
    lines = [f"FROM {base_ref}", "COPY app/ /app/", 'RUN echo "built" > /app/built.txt']
    if blob_mb:
        lines.append(f"RUN /bin/busybox dd if=/dev/urandom of=/blob.bin bs=1M count={blob_mb} 2>/dev/null")
    lines.append('CMD ["/bin/sh"]')
    (directory / "Dockerfile").write_text("\n".join(lines) + "\n")


def run_ours(
    ctx: Context,
    env: fixtures.Env,
    app: Path,
    *,
    repo: str,
    revision: str,
    samples: PathSamples,
    compression: str = "gzip",
) -> None:
    pod = ctx.scratch("ours")
    step_env = {"LAYER_COMPRESSION": compression}
    try:
        workspace = pod / "workspace"
        workspace.mkdir()
        archive = workspace / "app-image.tar"
        built = fixtures.run_build_step(
            source=app,
            store=pod / "build-store",
            archive=archive,
            image_name=repo,
            revision=revision,
            outputs=pod / "out-build",
            extra=step_env,
        )
        fixtures.remove_store(pod / "build-store")  # the build pod ends; its emptyDir goes
        published = fixtures.run_publish_step(
            archive=archive,
            registry=env.registry_host,
            image_name=repo,
            revision=revision,
            outputs=pod / "out-publish",
            extra=step_env,
        )
        digest = fixtures.read_output(pod / "out-publish", "image-digest")
        if fixtures.manifest_digest(env, repo, f"v1-{revision}") != digest:
            raise BenchError(f"registry digest of {repo}:v1-{revision} differs from the publish step's {digest}")
        build_other = built.timed.seconds - built.bud_seconds - built.archive_seconds
        samples.phase("bud", built.bud_seconds)
        samples.phase("archive", built.archive_seconds)
        samples.phase("publish", published.seconds)
        samples.phase("step start-up", build_other)
        samples.total.append(built.timed.seconds + published.seconds)
        samples.handoff.append(built.archive_seconds + published.seconds)
        samples.archive_mb.append(fixtures.mib(archive))
    finally:
        fixtures.remove_store(pod / "build-store")
        fixtures.remove_store(pod)


def run_theirs(ctx: Context, env: fixtures.Env, app: Path, *, repo: str, revision: str, samples: PathSamples) -> None:
    pod = ctx.scratch("theirs")
    try:
        build_store, publish_store = pod / "build-store", pod / "publish-store"
        archive = pod / "app-image.tar"
        image = f"{repo}:v1-{revision}"
        target = f"{env.registry_host}/{image}"
        build = run_timed(
            [*fixtures.podman(build_store), "build", "--tls-verify=false", "-t", image, "-f", str(app / "Dockerfile"),
             str(app)]
        )  # fmt: skip
        save = run_timed([*fixtures.podman(build_store), "save", "-o", str(archive), image])
        fixtures.remove_store(build_store)
        load = run_timed([*fixtures.podman(publish_store), "load", "-i", str(archive)])
        tag = run_timed([*fixtures.podman(publish_store), "tag", image, target])
        push = run_timed([*fixtures.podman(publish_store), "push", "--tls-verify=false", target])
        fixtures.manifest_digest(env, repo, f"v1-{revision}")  # raises when the push did not land
        for name, timed in (("build", build), ("save", save), ("load", load), ("tag", tag), ("push", push)):
            samples.phase(name, timed.seconds)
        samples.total.append(build.seconds + save.seconds + load.seconds + tag.seconds + push.seconds)
        samples.handoff.append(save.seconds + load.seconds + tag.seconds + push.seconds)
        samples.archive_mb.append(fixtures.mib(archive))
    finally:
        fixtures.remove_store(build_store)
        fixtures.remove_store(publish_store)
        fixtures.remove_store(pod)


def measure_case(ctx: Context, env: fixtures.Env, case: str, blob_mb: int, runs: int) -> list[Measurement]:
    app = ctx.scratch(f"app-{case}")
    write_app(app, env.base_ref, blob_mb)
    ours, ours_zstd, theirs = PathSamples(), PathSamples(), PathSamples()
    paths = ["ours", "theirs", "ours-zstd"]
    for run in range(runs):
        ctx.log(f"handoff {case}: run {run + 1}/{runs}")
        shift = run % len(paths)
        for who in paths[shift:] + paths[:shift]:
            repo, revision = f"bench/handoff-{case}-{who}", f"r{run:02d}"
            if who == "theirs":
                run_theirs(ctx, env, app, repo=repo, revision=revision, samples=theirs)
            else:
                samples, compression = (ours, "gzip") if who == "ours" else (ours_zstd, "zstd")
                run_ours(ctx, env, app, repo=repo, revision=revision, samples=samples, compression=compression)
    what = f"{blob_mb} MB incompressible layer" if blob_mb else "busybox + 5 small files"
    prefix = f"handoff.{case}"
    ours_note = f"{what}; build step + publish step; {ours.phase_note()}"
    theirs_note = f"podman build+save+load+tag+push; {theirs.phase_note()}"
    rows = [
        Measurement(f"{prefix}.ours.total", ours.total, notes=ours_note),
        Measurement(f"{prefix}.theirs.total", theirs.total, notes=theirs_note),
        Measurement(f"{prefix}.ours.handoff", ours.handoff, notes="after bud: buildah push oci-archive + skopeo copy"),
        Measurement(
            f"{prefix}.theirs.handoff", theirs.handoff, notes="after build: save + load (new store) + tag + push"
        ),
        Measurement(f"{prefix}.ours.archive", ours.archive_mb, unit="MiB", notes="OCI archive, gzip layers"),
        Measurement(f"{prefix}.theirs.archive", theirs.archive_mb, unit="MiB", notes="podman save (docker archive)"),
    ]
    zstd_rows = [
        Measurement(f"{prefix}.ours-zstd.total", ours_zstd.total, notes=f"zstd layers; {ours_zstd.phase_note()}"),
        Measurement(
            f"{prefix}.ours-zstd.handoff",
            ours_zstd.handoff,
            notes="after bud: buildah push --compression-format zstd oci-archive + skopeo copy",
        ),
        Measurement(f"{prefix}.ours-zstd.archive", ours_zstd.archive_mb, unit="MiB", notes="OCI archive, zstd layers"),
    ]
    for index in (0, 2, 4):
        rows[index].ratio = ratio(rows[index], rows[index + 1])
        rows[index].ratio_label = "ours/theirs"
        zstd_rows[index // 2].ratio = ratio(zstd_rows[index // 2], rows[index + 1])
        zstd_rows[index // 2].ratio_label = "ours/theirs"
    for row in (rows[2], zstd_rows[1]):  # the hand-off goal is a speed-up: say it as one
        speedup = ratio(rows[3], row)
        if speedup is not None:
            row.notes += f"; {speedup:.2f}x faster than theirs"
    rows += zstd_rows
    for row in rows:
        row.extra["case"] = case
        row.extra["blob_mb"] = blob_mb
    rows[0].extra["phases"] = ours.phases
    rows[1].extra["phases"] = theirs.phases
    zstd_rows[0].extra["phases"] = ours_zstd.phases
    return rows


def run(ctx: Context) -> list[Measurement]:
    fixtures.require_tools("buildah", "podman", "skopeo")
    build_ok, publish_ok = fixtures.steps_available()
    if not (build_ok and publish_ok):
        raise Skip("steps/build or steps/publish_image has no __main__.py yet")
    env = fixtures.registry_env(ctx)
    large_mb = QUICK_LARGE_MB if ctx.quick else FULL_LARGE_MB
    rows = measure_case(ctx, env, "small", 0, ctx.runs)
    large_runs = min(ctx.runs, LARGE_MAX_RUNS)
    large = measure_case(ctx, env, f"{large_mb}mb", large_mb, large_runs)
    if ctx.quick:
        large[0].notes = f"--quick: layer shrunk from {FULL_LARGE_MB} MB to {large_mb} MB; " + large[0].notes
    return rows + large
