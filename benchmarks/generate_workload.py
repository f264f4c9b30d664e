"""3. The generate-workload-cr step image: its size, and time from container start to exit against a floor.

The step runs as the template runs it (`python -m steps.generate_workload`, uid 10001, read-only root, no
capabilities, `--network none`, the workspace volume at /mnt/vol holding a sample app with its workload.yaml
from the shared reference material, API delivery off). Two descriptors: the typical one (the sample as it is) and
the largest one the size limit allows (the sample plus env vars until the CR is just under `--max-bytes`, 1 MiB;
the descriptor is then about 0.9 MiB). Floors: the image's base (the local Python base) running `python3 -c pass`,
and the step image itself running `python3 -c pass` (same flags). Every figure is a `docker run --rm` wall time
through the docker CLI, so all rows include the same engine overhead.
"""

from __future__ import annotations

import contextlib
import io
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
MAX_BYTES = 1_048_576  # the step's default --max-bytes
ENV_VALUE = "v" * 60


def _cr_bytes(source: Path, env_vars: int, names: dict[str, str]) -> int:
    """Size of the CR the step makes from the sample plus `env_vars` env entries (0 when it fails)."""
    from steps.generate_workload.main import main

    text = (source / contract.WORKLOAD_DESCRIPTOR_NAME).read_text()
    body = "".join(f"    - {{name: VAR_{index:06d}, value: {ENV_VALUE}}}\n" for index in range(env_vars))
    (source / "big.yaml").write_text(f"{text}\nconfigurations:\n  env:\n{body}")
    out, err = io.StringIO(), io.StringIO()
    argv = ["--image", names["IMAGE"], "-n", names["NAMESPACE_NAME"], "-p", names["PROJECT_NAME"]]
    argv += ["-c", names["COMPONENT_NAME"], "--source-dir", str(source)]
    argv += ["--descriptor", "big.yaml", "-o", "-", "--api-mode", "off"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, environ={})
    return len(out.getvalue().encode()) if code == 0 else 0


def largest_sample(source: Path, names: dict[str, str]) -> int:
    """Turn the sample's workload.yaml into the largest descriptor the size limit allows (its CR just under
    MAX_BYTES). Returns the descriptor's size."""
    low, high = 0, MAX_BYTES // 60
    while low < high:  # the largest number of env vars whose CR still fits
        middle = (low + high + 1) // 2
        if _cr_bytes(source, middle, names):
            low = middle
        else:
            high = middle - 1
    _cr_bytes(source, low, names)
    (source / "big.yaml").replace(source / contract.WORKLOAD_DESCRIPTOR_NAME)
    return (source / contract.WORKLOAD_DESCRIPTOR_NAME).stat().st_size


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

    big_workspace = ctx.scratch("gw-workspace-largest")
    shutil.copytree(sample, big_workspace / "source")
    big_workspace.chmod(0o777)
    big_size = largest_sample(big_workspace / "source", step_env)
    big_output = big_workspace / Path(contract.WORKLOAD_CR_FILE).name
    big_cmd = docker_run(STEP_IMAGE, big_workspace, ["python", "-m", "steps.generate_workload"], step_env)

    runs = QUICK_RUNS if ctx.quick else max(FULL_RUNS, ctx.runs)
    step, floor, base_floor = Measurement("generate-workload.step"), Measurement("generate-workload.floor-image"), None
    big = Measurement("generate-workload.step-largest")
    if base_cmd is not None:
        base_floor = Measurement("generate-workload.floor-base")
    run_timed(step_cmd)  # warm-up: page cache and the engine's first-run costs, not measured
    run_timed(big_cmd)
    for index in range(runs):
        ctx.log(f"generate-workload: run {index + 1}/{runs}")
        for row, command, path in ((step, step_cmd, output), (big, big_cmd, big_output)):
            path.unlink(missing_ok=True)
            row.samples.append(run_timed(command).seconds)
            text = path.read_text() if path.is_file() else ""
            if "kind: Workload" not in text:
                raise BenchError(f"the step wrote no Workload CR to {path}")
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
    big.ratio, big.ratio_label = ratio(big, reference), "x floor"
    big_cr = big_output.stat().st_size if big_output.is_file() else 0
    big.notes = (
        f"the largest descriptor --max-bytes allows: {SAMPLE} + env vars, descriptor {big_size} bytes, CR {big_cr} "
        f"bytes; overhead over the floor {((big.median or 0) - (reference.median or 0)) * 1000:.0f} ms"
    )
    floor.notes = "same image, python3 -c pass"
    rows = [step, big]
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
    for name, largest in (("generate-workload.host-process", False), ("generate-workload.host-process-largest", True)):
        rows.append(host_step(ctx, step_env, name, largest=largest))
    return rows


def host_step(ctx: Context, env: dict[str, str], name: str, *, largest: bool) -> Measurement:
    """Reference: the same step as a host process (no container), minus the host's `python -c pass`."""
    workspace = ctx.scratch(name)
    shutil.copytree(fixtures.SAMPLE_WORKLOADS / SAMPLE, workspace / "source")
    if largest:
        largest_sample(workspace / "source", env)
    outputs = workspace / "outputs"
    host_env = fixtures.step_env(
        {**env, contract.OUTPUTS_DIR_ENV: str(outputs), "SOURCE_DIR": str(workspace / "source"),
         "WORKLOAD_CR_OUTPUT": str(workspace / "workload-cr.yaml")},
        outputs,
    )  # fmt: skip
    runs = QUICK_RUNS if ctx.quick else max(FULL_RUNS, ctx.runs)
    row = Measurement(name)
    floor: list[float] = []
    for _ in range(runs):
        row.samples.append(run_timed([fixtures.PYTHON, "-m", "steps.generate_workload"], env=host_env).seconds)
        floor.append(run_timed([fixtures.PYTHON, "-c", "pass"], env=host_env).seconds)
    pass_row = Measurement("", floor)
    row.ratio, row.ratio_label = ratio(row, pass_row), "x python -c pass"
    row.notes = (
        f"reference: python -m steps.generate_workload on the host{' (largest descriptor)' if largest else ''}; "
        f"host python -c pass {pass_row.median or 0:.3f} s"
    )
    return row
