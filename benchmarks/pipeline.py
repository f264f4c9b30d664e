"""5. One full local pipeline run: `python -m hera_workflows run dockerfile-builder` on the local Docker engine.

The run is real end to end: the sample app (shared reference `service-go-greeter` + a Dockerfile on the busybox
base) in a git repository served over smart HTTP on 127.0.0.1 (basic auth, credentials in a git-secret dir),
the pack's step images (checkout -> build-image -> publish-image -> generate-workload-cr), the registry on
127.0.0.1. Reported: the wall time of the `run` command (interpreter start-up, template loading, four
containers, Workflow JSON), the builder's own work (the `buildah bud` duration the build step logs as
"built <image> in N s"), and everything else: the share outside the builder's work. Step durations come from
the runner's progress lines (else from the Workflow JSON it writes with -o).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from benchmarks import fixtures
from benchmarks.harness import BenchError, Context, Measurement, Skip, median_of, run_timed
from steps.common import contract

NAME = "pipeline"
TITLE = "one full local pipeline run (checkout -> build -> publish -> generate-workload-cr)"

PIPELINE = "dockerfile-builder"
SAMPLE = "service-go-greeter"
GIT_USER, GIT_PASSWORD = "bench-bot", "bench-git-password-5521"
PROJECT, COMPONENT, NAMESPACE = "bench", "greeter", "bench-ns"
_BUILT_RE = re.compile(r"\] built \S+ in ([0-9.]+)s")
_FINISHED_RE = re.compile(r"^\[[0-9:]+\] ✔ (\S+) ([0-9.]+)s$")
DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY . /app/
RUN echo "built" > /app/built.txt
CMD ["cat", "/app/built.txt"]
"""


def prerequisites() -> None:
    if shutil.which("docker") is None or shutil.which("git") is None:
        raise Skip("docker or git not installed")
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        raise Skip("Docker engine not running")
    if not (fixtures.ROOT / "hera_workflows" / "engine" / "run.py").is_file():
        raise Skip("hera_workflows/engine missing")
    try:
        from hera_workflows.engine import podrun
    except ImportError as error:
        raise Skip(f"hera_workflows.engine.podrun cannot be imported: {error}") from None
    if not hasattr(podrun, "run_pod"):
        raise Skip("hera_workflows.engine.podrun.run_pod is not implemented yet (the runner cannot start containers)")
    missing = []
    for repo in contract.IMAGE_REPOSITORIES:
        ref = f"{contract.IMAGE_REGISTRY}/{repo}:{contract.IMAGE_TAG}"
        if subprocess.run(["docker", "image", "inspect", ref], capture_output=True, check=False).returncode != 0:
            missing.append(ref)
    if missing:
        raise Skip(f"step images not built: {', '.join(missing)} (python -m hera_workflows images build --local-base)")
    if not (fixtures.SAMPLE_WORKLOADS / SAMPLE).is_dir():
        raise Skip(f"sample workload {SAMPLE} not found (python -m testkit.reference fetch)")


def make_repo(root: Path) -> str:
    """A bare repository `greeter.git` under `root` with the sample app; returns its commit."""
    from testkit.gitserver import bare_repo_with_tree

    def populate(work: Path) -> None:
        shutil.copytree(fixtures.SAMPLE_WORKLOADS / SAMPLE, work, dirs_exist_ok=True)
        (work / "Dockerfile").write_text(DOCKERFILE)

    return bare_repo_with_tree(root / "greeter.git", populate)


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def node_durations(workflow: dict[str, Any], output: str) -> dict[str, float]:
    """step -> seconds: from the runner's progress lines ("✔ step 1.2s", 0.1 s resolution), else from the Pod
    nodes' startedAt/finishedAt in the Workflow JSON (Argo timestamps have 1 s resolution)."""
    durations: dict[str, float] = {}
    for line in output.splitlines():
        match = _FINISHED_RE.match(line.strip())
        if match:
            durations[match.group(1)] = float(match.group(2))
    if durations:
        return durations
    for node in (workflow.get("status") or {}).get("nodes", {}).values():
        if node.get("type") != "Pod":
            continue
        start, end = _time(node.get("startedAt")), _time(node.get("finishedAt"))
        if start and end:
            durations[str(node.get("displayName"))] = (end - start).total_seconds()
    return durations


def run(ctx: Context) -> list[Measurement]:
    prerequisites()
    env = fixtures.registry_env(ctx)
    from testkit.gitserver import HttpGitServer

    repos = ctx.scratch("git") / "repos"
    repos.mkdir()
    secret = ctx.scratch("git-secret")
    (secret / "username").write_text(GIT_USER)
    (secret / "password").write_text(GIT_PASSWORD)
    commit = make_repo(repos)
    server = ctx.stack.enter_context(HttpGitServer(repos, GIT_USER, GIT_PASSWORD))
    runs = ctx.runs
    wall = Measurement("pipeline.wall")
    bud = Measurement("pipeline.builder-work")
    outside = Measurement("pipeline.outside-builder")
    nodes: dict[str, list[float]] = {}
    for index in range(runs):
        ctx.log(f"pipeline: run {index + 1}/{runs}")
        scratch = ctx.scratch("pipeline-run")
        out = scratch / "workflow.json"
        params = {
            "component-name": COMPONENT,
            "project-name": PROJECT,
            "namespace-name": NAMESPACE,
            "git-repo": server.url("greeter.git"),
            "commit": commit,
            "image-name": f"{NAMESPACE}-{PROJECT}-{COMPONENT}",
            "registry": env.registry_host,
            "tls-verify": "false",
            "build-args": json.dumps([{"name": "BASE_IMAGE", "value": env.base_ref}]),
            "api-mode": "off",  # no OpenChoreo API server here: write the CR only, explicitly
            "build-isolation": "none",  # Docker gives the build no user namespace; opted out explicitly
            # Every run builds the same commit: measured is the build, not an avoidance hit (benchmarks/avoidance.py).
            "build-avoidance": "false",
        }
        argv = [
            fixtures.PYTHON,
            "-m",
            "hera_workflows",
            "run",
            PIPELINE,
            "--templates",
            str(fixtures.ROOT / "templates"),
        ]
        for key, value in params.items():
            argv += ["--param", f"{key}={value}"]
        argv += ["--secret", f"git-secret={secret}", "--workspace", str(scratch / "ws"), "-o", str(out)]
        try:
            timed = run_timed(argv, cwd=fixtures.ROOT, timeout=900, check=False)
        finally:
            fixtures.remove_store(scratch / "ws")  # files written by root in containers
        workflow = json.loads(out.read_text()) if out.is_file() else {}
        phase = (workflow.get("status") or {}).get("phase")
        if phase != "Succeeded":
            errors = [line for _, line in timed.lines if "error" in line.lower()][-4:]
            raise BenchError(f"pipeline run ended {phase}:\n" + "\n".join([*errors, timed.tail(1)]))
        match = _BUILT_RE.search(timed.output)
        if match is None:
            raise BenchError("no 'built <image> in N s' line from the build step in the run's output")
        builder = float(match.group(1))
        wall.samples.append(timed.seconds)
        bud.samples.append(builder)
        outside.samples.append(timed.seconds - builder)
        for name, seconds in node_durations(workflow, timed.output).items():
            nodes.setdefault(name, []).append(seconds)
    node_note = ", ".join(f"{name} {median_of(values) or 0:.1f}" for name, values in nodes.items())
    wall.notes = f"python -m hera_workflows run {PIPELINE} (4 step containers); step medians (s): {node_note}"
    bud.notes = "buildah bud inside build-image (the step's 'built ... in N s' log line, 0.1 s resolution)"
    share = [o / w for o, w in zip(outside.samples, wall.samples, strict=True)]
    outside.ratio, outside.ratio_label = median_of(share), "of wall"
    outside.notes = "wall - builder work: runner start-up, checkout, archive, publish, generate-workload, containers"
    for row in (wall, bud, outside):
        row.extra["node_seconds"] = nodes
    return [wall, bud, outside]
