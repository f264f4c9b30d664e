"""Build avoidance (issue 14, part 1): build + publish wall clock when the sources did not change, against a cold
build + publish, every build on a fresh overlay store (a new pod).

The app is a monorepo in a real git repository (the build step reads tree ids from it, as from a checkout):
`services/api` (the built component: a 64 MB "dependency install" RUN, sources, a "compile" RUN on the busybox
base) and `services/web` (another component). Each run uses a new repository in the local registry, so the cold
cases never find a key left by an earlier run. Cases, per run:

  * cold, avoidance off: the pipeline as before avoidance (the denominator);
  * cold, avoidance on (miss): the same plus the key (git, base digest lookup), the key-tag lookup and, in
    publish, the `build-<key>` tag;
  * unchanged sources: a new revision of the same tree; build-image hits and publish-image tags registry-side;
  * untouched component of a monorepo commit: a commit that changes `services/web` only; `services/api` hits.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import fixtures
from benchmarks.harness import BenchError, Context, Measurement, Skip, Timed, ratio, run_timed

NAME = "avoidance"
TITLE = "build avoidance: unchanged sources and an untouched monorepo component against a cold build + publish"
DEPS_MB = 64
CONTEXT = "services/api"

CASES: list[tuple[str, str]] = [
    ("cold", "cold build + publish, avoidance off (fresh store)"),
    ("cold-miss", "cold build + publish, avoidance on: key, lookup, key tag (fresh store)"),
    ("unchanged", "unchanged sources: build skipped, tagged registry-side"),
    ("monorepo", "another component changed in the commit: this one's build skipped"),
]


def git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    done = subprocess.run(["git", *identity, "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)}: {done.stderr.strip()}")


def write_monorepo(root: Path, base_ref: str) -> None:
    api = root / CONTEXT
    (api / "src").mkdir(parents=True)
    (api / "deps.txt").write_text("dep-a==1.0\ndep-b==2.3\n")
    for index in range(10):
        (api / "src" / f"module{index}.txt").write_text(f"module {index}\n" * 100)
    (api / "Dockerfile").write_text(
        f"FROM {base_ref}\nWORKDIR /app\nCOPY deps.txt /app/deps.txt\n"
        f"RUN /bin/busybox dd if=/dev/urandom of=/app/deps.bin bs=1M count={DEPS_MB} 2>/dev/null"
        " && sha256sum /app/deps.bin > /app/deps.sha\n"
        'COPY src/ /app/src/\nRUN cat /app/src/*.txt | sha256sum > /app/build-id\nCMD ["/bin/sh"]\n'
    )
    web = root / "services" / "web"
    web.mkdir(parents=True)
    (web / "index.html").write_text("<h1>web</h1>\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "monorepo")


@dataclass
class Pipeline:
    """build-image then publish-image, as host processes, for one run of one case."""

    ctx: Context
    source: Path
    registry: str
    image_name: str

    def run(self, revision: str, *, avoidance: bool) -> tuple[float, Timed, Timed, str]:
        pod = self.ctx.scratch(f"avoid-{revision}")
        record = pod / "build-avoidance.json"
        archive = pod / "app-image.tar"
        common = {"IMAGE_NAME": self.image_name, "IMAGE_TAG": "v1", "GIT_REVISION": revision}
        common |= {"REGISTRY_TLS_VERIFY": "false", "BUILD_AVOIDANCE_FILE": str(record), "IMAGE_ARCHIVE": str(archive)}
        build_env = fixtures.step_env(
            {
                **common,
                "SOURCE_DIR": str(self.source),
                "DOCKER_CONTEXT": CONTEXT,
                "DOCKERFILE_PATH": f"{CONTEXT}/Dockerfile",
                "BUILDAH_STORAGE_DIR": str(pod / "store" / "root"),
                "BUILD_ISOLATION": "none",
                "REGISTRY": self.registry,
                "BUILD_AVOIDANCE": "true" if avoidance else "false",
            },
            pod / "build-out",
        )
        publish_env = fixtures.step_env({**common, "REGISTRY": self.registry, "PUBLISH_RETRIES": "0"}, pod / "pub-out")
        try:
            built = run_timed([fixtures.PYTHON, "-m", "steps.build"], env=build_env, cwd=fixtures.ROOT)
            published = run_timed([fixtures.PYTHON, "-m", "steps.publish_image"], env=publish_env, cwd=fixtures.ROOT)
            digest = fixtures.read_output(pod / "pub-out", "image-digest")
        finally:
            fixtures.remove_store(pod)
        return built.seconds + published.seconds, built, published, digest


# Where a hit's time goes: (phase, step, line that ends it); a phase starts where the previous one ended.
HIT_PHASES: list[tuple[str, str, str]] = [
    ("build start-up", "build", "] isolation "),
    ("key (git, buildah --version, base digests)", "build", "build avoidance: key inputs:"),
    ("key-tag lookup", "build", "build avoidance: hit"),
    ("build exit", "build", ""),
    ("publish start-up", "publish", "] build avoided ("),
    ("registry-side tag", "publish", "] published "),
    ("publish exit", "publish", ""),
]


def hit_phases(built: Timed, published: Timed) -> dict[str, float]:
    phases: dict[str, float] = {}
    previous = {"build": 0.0, "publish": 0.0}
    for phase, step, needle in HIT_PHASES:
        timed = built if step == "build" else published
        at = timed.first(needle) if needle else timed.seconds
        if at is None:
            raise BenchError(f"no line {needle!r} in the {step} step's output:\n{timed.tail()}")
        phases[phase] = at - previous[step]
        previous[step] = at
    return phases


@dataclass
class Samples:
    total: list[float] = field(default_factory=list)
    build: list[float] = field(default_factory=list)
    publish: list[float] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=dict)

    def add(self, total: float, built: Timed, published: Timed, *, hit: bool = False) -> None:
        self.total.append(total)
        self.build.append(built.seconds)
        self.publish.append(published.seconds)
        if hit:
            for phase, seconds in hit_phases(built, published).items():
                self.phases.setdefault(phase, []).append(seconds)


def run(ctx: Context) -> list[Measurement]:
    fixtures.require_tools("buildah", "skopeo", "git")
    if not all(fixtures.steps_available()):
        raise Skip("steps/build or steps/publish_image missing")
    env = fixtures.registry_env(ctx)
    source = ctx.scratch("avoid-monorepo")
    write_monorepo(source, env.base_ref)
    samples = {case: Samples() for case, _ in CASES}
    for index in range(ctx.runs):
        ctx.log(f"avoidance: run {index + 1}/{ctx.runs}")
        stamp = f"{index:02d}{time.time_ns() % 10**6:06d}"
        off = Pipeline(ctx, source, env.registry_host, f"bench/avoid-off-{stamp}")
        total, built, published, _ = off.run(f"c{stamp}", avoidance=False)
        samples["cold"].add(total, built, published)

        pipeline = Pipeline(ctx, source, env.registry_host, f"bench/avoid-{stamp}")
        total, built, published, cold_digest = pipeline.run(f"m{stamp}", avoidance=True)
        if built.count("build avoidance: miss") != 1:
            raise BenchError(f"the cold run with avoidance did not miss:\n{built.tail()}")
        samples["cold-miss"].add(total, built, published)

        total, built, published, digest = pipeline.run(f"u{stamp}", avoidance=True)
        if built.count("build avoidance: hit") != 1 or digest != cold_digest:
            raise BenchError(f"unchanged sources did not hit (digest {digest} vs {cold_digest}):\n{built.tail()}")
        samples["unchanged"].add(total, built, published, hit=True)

        (source / "services" / "web" / "index.html").write_text(f"<h1>web {stamp}</h1>\n")
        git(source, "commit", "-q", "-am", f"web {stamp}")
        total, built, published, digest = pipeline.run(f"w{stamp}", avoidance=True)
        if built.count("build avoidance: hit") != 1 or digest != cold_digest:
            raise BenchError(f"the untouched component did not hit:\n{built.tail()}")
        samples["monorepo"].add(total, built, published, hit=True)

    cold = Measurement(f"{NAME}.cold", samples["cold"].total)
    rows: list[Measurement] = []
    for case, description in CASES:
        entry = samples[case]
        row = cold if case == "cold" else Measurement(f"{NAME}.{case}", entry.total)
        build_median = sorted(entry.build)[len(entry.build) // 2]
        publish_median = sorted(entry.publish)[len(entry.publish) // 2]
        row.notes = f"{description}; build {build_median:.2f} s + publish {publish_median:.2f} s (medians)"
        if entry.phases:
            where = ", ".join(f"{phase} {statistics.median(values):.2f}" for phase, values in entry.phases.items())
            row.notes += f"; where it goes (medians, s): {where}"
        row.ratio, row.ratio_label = ratio(row, cold), "x cold"
        row.extra = {
            "build_seconds": [round(v, 4) for v in entry.build],
            "publish_seconds": [round(v, 4) for v in entry.publish],
            "phases": {phase: [round(v, 4) for v in values] for phase, values in entry.phases.items()},
        }
        rows.append(row)
    rows[0].notes = f"{DEPS_MB} MB dependency layer + sources; " + rows[0].notes
    return rows
