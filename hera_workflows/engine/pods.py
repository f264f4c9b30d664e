"""The real Pod executor: `hera_workflows.engine.podrun.run_pod`, adapted to the engine's `PodExecutor`.

`preflight()` runs before anything starts: every container template the pipeline reaches goes through
`podrun.plan_pod` (so a field podrun cannot reproduce fails before the first step, naming the field), and every
image must already be in the local engine (podrun never pulls).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from hera_workflows.engine import podrun
from hera_workflows.engine.load import JSON, RunnerError
from hera_workflows.engine.workflow import Mounts, PodExecutor, PodOutcome


def _podrun_mounts(mounts: Mounts) -> podrun.Mounts:
    return podrun.Mounts(workspace=str(mounts.workspace), secrets={k: str(v) for k, v in mounts.secrets.items()})


def podrun_executor(client: Any = None, cancel: threading.Event | None = None) -> PodExecutor:
    def execute(
        template: JSON,
        variables: dict[str, str],
        mounts: Mounts,
        *,
        name: str,
        on_log: Callable[[str], None],
    ) -> PodOutcome:
        try:
            result = podrun.run_pod(
                template, variables, _podrun_mounts(mounts), name=name, client=client, on_log=on_log, cancel=cancel
            )
        except podrun.UnsupportedTemplate as exc:
            raise RunnerError(f"{name}: {exc}") from exc
        except podrun.PodError as exc:
            # The pod cannot start (image, secret, host directory): Argo records such a node as Error.
            return PodOutcome("Error", None, {}, str(exc))
        return PodOutcome(result.phase, result.exit_code, dict(result.outputs), result.message)

    return execute


def preflight(pods: Iterable[tuple[str, JSON, dict[str, str]]], mounts: Mounts, client: Any) -> list[str]:
    """Problems found without running anything: podrun's plan of each pod template, and missing images."""
    import docker

    errors: list[str] = []
    images: dict[str, str] = {}
    for where, template, variables in pods:
        try:
            plan = podrun.plan_pod(template, variables, _podrun_mounts(mounts), name="preflight")
        except podrun.UnsupportedTemplate as exc:
            errors.append(f"{where}.{exc.field}: {exc.reason}")
            continue
        except podrun.PodError:
            continue  # depends on values known only when the pod starts (e.g. a secret named by an input)
        for container in plan.containers:
            images.setdefault(container.image, where)
    for image, where in images.items():
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            errors.append(f"{where}: image {image} is not in the local engine (never pulled): {podrun.BUILD_HINT}")
    return errors
