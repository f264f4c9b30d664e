"""`python -m hera_workflows run PIPELINE`: run a pipeline of the pack on the local Docker engine, as Argo would.

PIPELINE is the name of a rendered ClusterWorkflowTemplate in --templates (run like a Workflow with
`spec.workflowTemplateRef`), or a Workflow YAML file that references the pack's templates. The run writes an
Argo-shaped Workflow (status.nodes as Argo v4 records them) with -o; `controller-check` reads that file.

Supported: steps (sequential groups, parallel steps in a group), templateRef / workflowTemplateRef, workflow,
input and step-output parameters with defaults and enums, container templates through `podrun` (volumes:
the `workspace` claim, emptyDir, secrets from --secret; env; init containers; security context), retryStrategy
(limit, retryPolicy, a small expression subset, backoff). Anything else fails before running, naming the field.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import docker
import docker.errors

from hera_workflows.engine.load import RunnerError, build_plan, load_library
from hera_workflows.engine.pods import podrun_executor, preflight
from hera_workflows.engine.report import Reporter
from hera_workflows.engine.workflow import Engine, Mounts

DEFAULT_TEMPLATES = Path("templates")


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key, value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", metavar="PIPELINE", help="ClusterWorkflowTemplate name, or a Workflow YAML file")
    parser.add_argument(
        "--param",
        "-p",
        action="append",
        type=_key_value,
        default=[],
        metavar="NAME=VALUE",
        help="workflow parameter (repeatable)",
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="host directory behind the 'workspace' volume claim (default: a temporary directory)",
    )
    parser.add_argument(
        "--secret",
        action="append",
        type=_key_value,
        default=[],
        metavar="NAME=DIR",
        help="Kubernetes Secret NAME as a directory whose files are its keys (repeatable)",
    )
    parser.add_argument(
        "--templates", type=Path, default=None, help="rendered templates directory (default templates/)"
    )
    parser.add_argument("--namespace", default="default", help="metadata.namespace of the Workflow")
    parser.add_argument("--name", default=None, help="workflow name (default: generateName + 5 random characters)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="WORKFLOW.json",
        help="write the Workflow with its status as JSON",
    )
    parser.add_argument("--quiet", action="store_true", help="no container logs, only progress and summary")


def templates_dir(given: Path | None) -> Path:
    if given is not None:
        return given
    if DEFAULT_TEMPLATES.is_dir():
        return DEFAULT_TEMPLATES
    return Path(__file__).resolve().parents[2] / "templates"


def main(args: argparse.Namespace) -> int:
    secrets = {name: Path(directory) for name, directory in args.secret}
    for name, directory in secrets.items():
        if not directory.is_dir():
            print(f"run: --secret {name}={directory}: not a directory", file=sys.stderr)
            return 2
    try:
        library = load_library(templates_dir(args.templates))
        plan = build_plan(
            args.pipeline, dict(args.param), library, secrets_dirs=secrets, namespace=args.namespace, name=args.name
        )
    except RunnerError as exc:
        for line in exc.errors:
            print(f"run: {line}", file=sys.stderr)
        return 2
    temp: str | None = None
    workspace: Path = args.workspace
    if workspace is None:
        temp = tempfile.mkdtemp(prefix=f"{plan.name}-workspace-")
        workspace = Path(temp)
    workspace.mkdir(parents=True, exist_ok=True)
    mounts = Mounts(workspace.resolve(), secrets)
    reporter = Reporter(sys.stdout, logs=not args.quiet)
    cancel = threading.Event()
    try:
        try:
            client = docker.from_env()
        except docker.errors.DockerException as error:
            where = os.environ.get("DOCKER_HOST") or "the default socket"
            print(f"run: cannot reach the Docker engine at {where}: {error}", file=sys.stderr)
            return 2
        problems = preflight(plan.pods, mounts, client)
        if problems:
            for line in problems:
                print(f"run: {line}", file=sys.stderr)
            return 2
        print(f"Workflow {plan.name} (namespace {plan.namespace}), workspace {workspace}")
        engine = Engine(plan, podrun_executor(client, cancel), mounts, reporter)
        try:
            workflow = engine.run()
        except RunnerError as exc:
            for line in exc.errors:
                print(f"run: {line}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            cancel.set()
            print("run: interrupted; stopping the running pods", file=sys.stderr)
            return 130
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.output.with_name(args.output.name + ".tmp")
        tmp.write_text(json.dumps(workflow, indent=2) + "\n", encoding="utf-8")
        tmp.replace(args.output)
    phase = workflow["status"]["phase"]
    print(
        f"Workflow {plan.name}: {phase}" + (f" ({workflow['status'].get('message')})" if phase != "Succeeded" else "")
    )
    return 0 if phase == "Succeeded" else 1


def run(argv: Sequence[str]) -> int:
    """Entry for tests: parse `argv` as the sub-command's arguments."""
    parser = argparse.ArgumentParser(prog="run")
    configure(parser)
    return main(parser.parse_args(list(argv)))
