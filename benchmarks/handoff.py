"""1. Hand-off from build to registry: ours against OpenChoreo's, same app, same local registry, fresh stores.

ours   `python -m steps.build` (buildah bud --layers --isolation chroot, overlay store on a fresh dir, then
       `buildah push <image> oci:app-image.oci`, linked from app-image.tar) -> `python -m steps.publish_image`
       (`skopeo copy oci:app-image.tar docker://127.0.0.1:PORT/...`), gzip layers: the defaults.
ours-zstd  the same with layer-compression zstd (LAYER_COMPRESSION=zstd for both steps).
ours-archive  the same with handoff-format oci-archive (`buildah push ... oci-archive:app-image.tar`, which skopeo
       unpacks before pushing): the hand-off before the layout, side by side.
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
TITLE = "build -> registry hand-off: buildah + OCI layout (or archive) + skopeo vs podman build/save/load/tag/push"

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
    handoff_format: str = "oci-layout",
) -> None:
    pod = ctx.scratch("ours")
    step_env = {"LAYER_COMPRESSION": compression, "IMAGE_HANDOFF_FORMAT": handoff_format}
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


# Our variants: (path name, layer compression, hand-off format, what the rows say).
OURS: list[tuple[str, str, str, str]] = [
    ("ours", "gzip", "oci-layout", "buildah push oci: (layout, gzip) + skopeo copy oci:"),
    ("ours-zstd", "zstd", "oci-layout", "buildah push --compression-format zstd oci: (layout) + skopeo copy oci:"),
    ("ours-archive", "gzip", "oci-archive", "buildah push oci-archive: (gzip) + skopeo copy oci-archive: (unpacks it)"),
]


def measure_case(ctx: Context, env: fixtures.Env, case: str, blob_mb: int, runs: int) -> list[Measurement]:
    app = ctx.scratch(f"app-{case}")
    write_app(app, env.base_ref, blob_mb)
    samples = {name: PathSamples() for name in [variant[0] for variant in OURS] + ["theirs"]}
    variants = {name: (compression, handoff) for name, compression, handoff, _ in OURS}
    paths = list(samples)
    for run in range(runs):
        ctx.log(f"handoff {case}: run {run + 1}/{runs}")
        shift = run % len(paths)
        for who in paths[shift:] + paths[:shift]:
            repo, revision = f"bench/handoff-{case}-{who}", f"r{run:02d}"
            if who == "theirs":
                run_theirs(ctx, env, app, repo=repo, revision=revision, samples=samples[who])
            else:
                compression, handoff = variants[who]
                run_ours(
                    ctx, env, app, repo=repo, revision=revision, samples=samples[who], compression=compression,
                    handoff_format=handoff,
                )  # fmt: skip
    what = f"{blob_mb} MB incompressible layer" if blob_mb else "busybox + 5 small files"
    prefix = f"handoff.{case}"
    theirs = samples["theirs"]
    theirs_rows = {
        "total": Measurement(
            f"{prefix}.theirs.total", theirs.total, notes=f"podman build+save+load+tag+push; {theirs.phase_note()}"
        ),
        "handoff": Measurement(
            f"{prefix}.theirs.handoff", theirs.handoff, notes="after build: save + load (new store) + tag + push"
        ),
        "archive": Measurement(
            f"{prefix}.theirs.archive", theirs.archive_mb, unit="MiB", notes="podman save (docker archive)"
        ),
    }
    rows: list[Measurement] = []
    for name, compression, handoff, how in OURS:
        ours = samples[name]
        ours_rows = {
            "total": Measurement(
                f"{prefix}.{name}.total", ours.total, notes=f"{what}; build step + publish step; {ours.phase_note()}"
            ),
            "handoff": Measurement(f"{prefix}.{name}.handoff", ours.handoff, notes=f"after bud: {how}"),
            "archive": Measurement(
                f"{prefix}.{name}.archive", ours.archive_mb, unit="MiB", notes=f"{handoff}, {compression} layers"
            ),
        }
        for kind, row in ours_rows.items():
            row.ratio, row.ratio_label = ratio(row, theirs_rows[kind]), "ours/theirs"
        speedup = ratio(theirs_rows["handoff"], ours_rows["handoff"])  # the hand-off goal is a speed-up
        if speedup is not None:
            ours_rows["handoff"].notes += f"; {speedup:.2f}x faster than theirs"
        ours_rows["total"].extra["phases"] = ours.phases
        rows += ours_rows.values()
        if name == "ours":
            rows += theirs_rows.values()
    theirs_rows["total"].extra["phases"] = theirs.phases
    for row in rows:
        row.extra["case"] = case
        row.extra["blob_mb"] = blob_mb
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
