"""3. The generate-workload-cr step image: its size, and time from container start to exit against a floor.

The step runs as the template runs it (`python -m steps.generate_workload`, uid 10001, read-only root, no
capabilities, `--network none`, the workspace volume at /mnt/vol holding a sample app with its workload.yaml
from the shared reference material, API delivery off). Floors: the image's base (the local Python base) running
`python3 -c pass`, and the step image itself running `python3 -c pass` (same flags). Every figure is a
`docker run --rm` wall time through the docker CLI, so all rows include the same engine overhead.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from benchmarks import fixtures
from benchmarks.harness import BenchError, Context, Measurement, Skip, ratio, run_timed
from steps.common import contract

NAME = "generate-workload"
TITLE = "generate-workload-cr step image: size and container start-to-exit time against python3 -c pass"

SAMPLE = "service-go-greeter"
STEP_IMAGE = f"{contract.IMAGE_REGISTRY}/{contract.IMAGE_REPO_GENERATE_WORKLOAD}:{contract.IMAGE_TAG}"
FULL_RUNS = 10
QUICK_RUNS = 4


def base_image() -> str:
    try:
        from hera_workflows.images import BASES

        return f"{BASES['python'].repository}:latest"
    except (ImportError, KeyError, AttributeError):
        return "local/openchoreo-ci-pack-base-python:latest"


def image_bytes(ref: str) -> int | None:
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Size}}", ref], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return None
    return int(json.loads(result.stdout.strip()))


def docker_run(image: str, workspace: Path, command: list[str], env: dict[str, str]) -> list[str]:
    """`docker run` with the template's pod settings for generate-workload-cr."""
    argv = [
        "docker", "run", "--rm", "--pull", "never", "--network", "none",
        "--user", f"{contract.STEP_UID}:{contract.STEP_GID}", "--read-only", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--tmpfs", "/tmp",
        "-v", f"{workspace}:{contract.WORKSPACE_DIR}", "--entrypoint", command[0],
    ]  # fmt: skip
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    return [*argv, image, *command[1:]]


def run(ctx: Context) -> list[Measurement]:
    if shutil.which("docker") is None:
        raise Skip("docker CLI not installed")
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        raise Skip("Docker engine not running")
    step_size = image_bytes(STEP_IMAGE)
    if step_size is None:
        raise Skip(f"image {STEP_IMAGE} not built (python -m hera_workflows images build --local-base)")
    sample = fixtures.SAMPLE_WORKLOADS / SAMPLE
    if not (sample / contract.WORKLOAD_DESCRIPTOR_NAME).is_file():
        raise Skip(f"sample workload {sample} not found (set PACK_SHARED_DIR)")
    base = base_image()
    base_size = image_bytes(base)

    workspace = ctx.scratch("gw-workspace")
    shutil.copytree(sample, workspace / "source")
    workspace.chmod(0o777)  # the step writes workload-cr.yaml as uid 10001
    output = workspace / Path(contract.WORKLOAD_CR_FILE).name
    step_env = {
        "IMAGE": "127.0.0.1:5000/default-demo-greeter:v1-abcdef12@sha256:" + "0" * 64,
        "NAMESPACE_NAME": "default",
        "PROJECT_NAME": "demo",
        "COMPONENT_NAME": "greeter",
        "APP_PATH": ".",
        "API_MODE": "off",
        "HOME": "/tmp",
        contract.OUTPUTS_DIR_ENV: contract.OUTPUTS_DIR,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    step_cmd = docker_run(STEP_IMAGE, workspace, ["python", "-m", "steps.generate_workload"], step_env)
    floor_cmd = docker_run(STEP_IMAGE, workspace, ["python3", "-c", "pass"], {})
    base_cmd = docker_run(base, workspace, ["python3", "-c", "pass"], {}) if base_size is not None else None

    runs = QUICK_RUNS if ctx.quick else max(FULL_RUNS, ctx.runs)
    step, floor, base_floor = Measurement("generate-workload.step"), Measurement("generate-workload.floor-image"), None
    if base_cmd is not None:
        base_floor = Measurement("generate-workload.floor-base")
    run_timed(step_cmd)  # warm-up: page cache and the engine's first-run costs, not measured
    for index in range(runs):
        ctx.log(f"generate-workload: run {index + 1}/{runs}")
        output.unlink(missing_ok=True)
        step.samples.append(run_timed(step_cmd).seconds)
        text = output.read_text() if output.is_file() else ""
        if "kind: Workload" not in text:
            raise BenchError(f"the step wrote no Workload CR to {output}")
        floor.samples.append(run_timed(floor_cmd).seconds)
        if base_cmd is not None and base_floor is not None:
            base_floor.samples.append(run_timed(base_cmd).seconds)

    reference = base_floor or floor
    overhead = (step.median or 0) - (reference.median or 0)
    step.ratio, step.ratio_label = ratio(step, reference), "x floor"
    step.notes = (
        f"docker run --network none, workspace with {SAMPLE}; overhead over the "
        f"{'base' if base_floor else 'image'} floor {overhead * 1000:.0f} ms"
    )
    floor.notes = "same image, python3 -c pass"
    rows = [step]
    if base_floor is not None:
        base_floor.notes = f"{base}, python3 -c pass (the floor)"
        rows.append(base_floor)
    rows.append(floor)
    size = Measurement("generate-workload.image-size", [step_size / 2**20], unit="MiB", notes=STEP_IMAGE)
    if base_size is not None:
        size.ratio, size.ratio_label = step_size / base_size, "x base"
        size.notes += (
            f"; base {base} {base_size / 2**20:.1f} MiB, step layers +{(step_size - base_size) / 2**20:.1f} MiB"
        )
    rows.append(size)
    host = host_step(ctx, step_env)
    if host is not None:
        rows.append(host)
    return rows


def host_step(ctx: Context, env: dict[str, str]) -> Measurement | None:
    """Reference: the same step as a host process (no container), minus the host's `python -c pass`."""
    workspace = ctx.scratch("gw-host")
    shutil.copytree(fixtures.SAMPLE_WORKLOADS / SAMPLE, workspace / "source")
    outputs = workspace / "outputs"
    host_env = fixtures.step_env(
        {**env, contract.OUTPUTS_DIR_ENV: str(outputs), "SOURCE_DIR": str(workspace / "source"),
         "WORKLOAD_CR_OUTPUT": str(workspace / "workload-cr.yaml")},
        outputs,
    )  # fmt: skip
    runs = QUICK_RUNS if ctx.quick else max(FULL_RUNS, ctx.runs)
    row = Measurement("generate-workload.host-process")
    floor: list[float] = []
    for _ in range(runs):
        row.samples.append(run_timed([fixtures.PYTHON, "-m", "steps.generate_workload"], env=host_env).seconds)
        floor.append(run_timed([fixtures.PYTHON, "-c", "pass"], env=host_env).seconds)
    pass_row = Measurement("", floor)
    row.ratio, row.ratio_label = ratio(row, pass_row), "x python -c pass"
    row.notes = (
        f"reference: python -m steps.generate_workload on the host; host python -c pass {pass_row.median or 0:.3f} s"
    )
    return row
