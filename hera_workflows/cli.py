"""`python -m hera_workflows COMMAND`: one sub-command per module, imported only when it runs.

Each command module exposes `configure(parser: argparse.ArgumentParser) -> None` and
`main(args: argparse.Namespace) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hera_workflows import __version__

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "render": (
        "hera_workflows.pack.render",
        "render the pack into templates/ (one file per resource + kustomization.yaml)",
    ),
    "list": ("hera_workflows.pack.listing", "list the pack's templates with their parameters and outputs"),
    "lint": ("hera_workflows.lint", "validate rendered YAML offline: Argo v4 CRD schema + semantic checks"),
    "images": ("hera_workflows.images", "build (and optionally push) the step images the templates reference"),
    "run": ("hera_workflows.engine.run", "run a pipeline of the pack end to end on the local Docker engine"),
    "controller-check": (
        "hera_workflows.controller_check",
        "read a Workflow's status as OpenChoreo's controller does and report WorkloadUpdated",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hera_workflows",
        description="OpenChoreo CI template pack for Argo Workflows: render, lint, build images, run locally.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.set_defaults(_module=module_name)
        # Configure lazily only for the command being run, so `--help` of one command stays cheap
        # and a broken optional module cannot break the others.
        if name in _requested_commands():
            importlib.import_module(module_name).configure(command_parser)
    return parser


def _requested_commands() -> set[str]:
    return {arg for arg in sys.argv[1:] if arg in COMMANDS}


def main(argv: Sequence[str] | None = None) -> int:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:])
    command = str(args.command)
    try:
        module = importlib.import_module(args._module)
        result: int = module.main(args)
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the last guard: one line and a non-zero exit, never a traceback
        print(f"{command}: {_one_line(error)}", file=sys.stderr)
        return 70 if not isinstance(error, OSError) else 1
    return result


def _one_line(error: BaseException) -> str:
    """An unexpected error as one line: a missing Docker engine is named as such, anything else by its type."""
    text = " ".join(str(error).split()) or type(error).__name__
    if type(error).__module__.startswith("docker"):
        return f"cannot reach the Docker engine ({text})"
    if isinstance(error, OSError):
        return text
    return f"unexpected error ({type(error).__name__}: {text}); please report it"
