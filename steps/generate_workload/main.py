"""generate-workload-cr: the built image + an optional workload.yaml -> an OpenChoreo Workload CR (as `occ workload
create` makes it for the targeted OpenChoreo version), validated, optionally published to the API, written atomically.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from steps.common import contract
from steps.common.cli import parse_options, run_step
from steps.common.contract import EXIT_USAGE
from steps.common.log import StepError, StepLogger
from steps.common.outputs import atomic_write
from steps.generate_workload.descriptor import Descriptor, DescriptorError, parse_descriptor, resolve_plain
from steps.generate_workload.model import API_VERSION, KIND, PROFILES, Profile, Workload
from steps.generate_workload.options import OPTIONS
from steps.generate_workload.validate import validate_cr
from steps.generate_workload.workload import FileReader, Params, basic_workload, convert

PROG = "python -m steps.generate_workload"
DESCRIPTION = "Turn the published image and an optional workload.yaml into an OpenChoreo Workload CR (occ-compatible)."
STDOUT = "-"

Options = dict[str, str | bool | None]


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings (schema content, config files) as literal blocks when YAML allows it."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        style: str | None = "|"
    elif resolve_plain(value)[0] != "str":
        # Kubernetes reads the CR with go-yaml v2, which takes some plain scalars PyYAML leaves unquoted
        # (`y`, `N`, `1e+06`, `0o17`) as booleans or numbers: quote them so they stay strings.
        style = '"'
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render_yaml(cr: Mapping[str, Any]) -> str:
    """The CR as YAML: keys sorted like occ's output (sigs.k8s.io/yaml), sequences not indented, no line folding."""
    return yaml.dump(
        dict(cr), Dumper=_Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True, width=2**31 - 1
    )


def _text(options: Options, name: str) -> str:
    value = options.get(name)
    return value if isinstance(value, str) else ""


def _inside(path: Path, root: Path) -> bool:
    return os.path.commonpath([str(root), str(path)]) == str(root)


def _profile(options: Options) -> Profile:
    name = _text(options, "profile")
    if name not in PROFILES:
        raise StepError(f"--profile: {name!r} is not one of {', '.join(PROFILES)}", EXIT_USAGE)
    return PROFILES[name]


def _max_bytes(options: Options) -> int:
    raw = _text(options, "max_bytes")
    try:
        value = int(raw)
    except ValueError:
        raise StepError(f"--max-bytes: expected a positive number of bytes, got {raw!r}", EXIT_USAGE) from None
    if value <= 0:
        raise StepError(f"--max-bytes: expected a positive number of bytes, got {raw!r}", EXIT_USAGE)
    return value


def locate_descriptor(options: Options, log: StepLogger) -> tuple[Path, Path, Path | None]:
    """(source root, app directory, descriptor or None), all resolved. The descriptor must lie inside the root."""
    source = Path(_text(options, "source_dir") or contract.SOURCE_DIR)
    root = Path(os.path.realpath(source))
    app_path = _text(options, "app_path") or "."
    app_dir = Path(os.path.normpath(root / app_path.lstrip("/")))
    if not _inside(app_dir, root):
        raise StepError(f"--app-path: {app_path!r} leads outside the source root {source}", EXIT_USAGE)
    given = _text(options, "descriptor")
    if not given:
        candidate = app_dir / contract.WORKLOAD_DESCRIPTOR_NAME
        if not candidate.is_file():
            if not app_dir.is_dir():
                log.warning(f"the app directory {app_path} does not exist under {source}; no descriptor read")
            return root, app_dir, None
        descriptor = candidate
    else:
        descriptor = Path(given) if os.path.isabs(given) else app_dir / given
        if not descriptor.exists():
            raise StepError(
                "--descriptor: failed to read workload descriptor: "
                f"failed to open file {given}: no such file or directory"
            )
        if not descriptor.is_file():
            raise StepError(f"--descriptor: {given} is not a regular file")
    real = Path(os.path.realpath(descriptor))
    if not _inside(real, root):
        raise StepError(
            f"--descriptor: {given or descriptor} is outside the source root {source} (also through symlinks); "
            "set --source-dir to the checkout that holds it"
        )
    return root, app_dir, real


def _display(path: Path, root: Path) -> str:
    return os.path.relpath(path, root) if _inside(path, root) else str(path)


@dataclass
class Built:
    cr: dict[str, Any]
    workload: Workload
    profile: Profile
    descriptor: Path | None  # the descriptor used (resolved), None for the basic workload
    descriptor_shown: str  # relative to the source root, as in messages
    text: str  # the CR as YAML


def build(options: Options, log: StepLogger) -> Built:
    """Options -> the validated CR and its YAML. Raises StepError on bad input."""
    profile = _profile(options)
    max_bytes = _max_bytes(options)
    params = Params(
        namespace=_text(options, "namespace"),
        project=_text(options, "project"),
        component=_text(options, "component"),
        image=_text(options, "image"),
    )
    root, _app_dir, descriptor_path = locate_descriptor(options, log)
    shown = ""
    if descriptor_path is None:
        workload = basic_workload(params)
    else:
        shown = _display(descriptor_path, root)
        size = descriptor_path.stat().st_size
        if size > max_bytes:
            raise StepError(f"{shown}: the descriptor is {size} bytes, above --max-bytes {max_bytes}")
        raw = descriptor_path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DescriptorError(None, shown, f"not valid UTF-8 (byte {error.start})") from None
        descriptor: Descriptor = parse_descriptor(
            text, shown, read_connections=profile.dependencies_field == "connections", warn=log.warning
        )
        files = FileReader(root=root, base_dir=descriptor_path.parent, max_bytes=max_bytes)
        workload = convert(descriptor, params, profile, files, log.warning)
    cr = workload.to_cr(profile)
    problems = validate_cr(cr, profile)
    if problems:
        raise StepError(
            f"the generated Workload CR breaks the {profile.name} CRD (CRD {profile.crd_version}):\n  "
            + "\n  ".join(problems)
        )
    text_out = render_yaml(cr)
    size = len(text_out.encode())
    if size > max_bytes:
        raise StepError(f"the Workload CR is {size} bytes, above --max-bytes {max_bytes}")
    if size > contract.WORKLOAD_CR_WARN_BYTES:
        log.warning(
            f"the Workload CR is {size} bytes, above {contract.WORKLOAD_CR_WARN_BYTES} bytes: Argo may fail to store "
            "it as an output parameter (inline schema or config files are usually the cause)"
        )
    return Built(cr, workload, profile, descriptor_path, shown, text_out)


def _is_our_cr(path: Path) -> bool:
    """True for a file that holds a Workload CR (what an earlier run of this step wrote)."""
    try:
        if not path.is_file() or path.stat().st_size > 64 * 1024 * 1024:
            return False
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("apiVersion") == API_VERSION and data.get("kind") == KIND


def remove_stale_output(output: str, log: StepLogger) -> None:
    """After a failure, delete a Workload CR an earlier run left at the output path, so nothing downstream can
    mistake it for this run's result. Any other file there is left alone."""
    if not output or output == STDOUT:
        return
    path = Path(output)
    if _is_our_cr(path):
        path.unlink(missing_ok=True)
        log.warning(f"removed the Workload CR an earlier run left at {output}")


def _check_output(output: str, descriptor: Path | None) -> None:
    if output == STDOUT:
        return
    path = Path(output)
    if path.is_dir():
        raise StepError(f"--output-path: {output} is a directory", EXIT_USAGE)
    if descriptor is not None and path.exists() and os.path.samefile(path, descriptor):
        raise StepError(f"--output-path: {output} is the descriptor itself; refusing to overwrite it", EXIT_USAGE)


def run(options: Options, log: StepLogger) -> int:
    output = _text(options, "output") or contract.WORKLOAD_CR_FILE
    try:
        built = build(options, log)
        _check_output(output, built.descriptor)
        if _text(options, "api_mode") not in ("", "off"):
            from steps.generate_workload import api

            api.publish(built.cr, from_source=built.descriptor is not None, options=options, log=log)
        if output == STDOUT:
            sys.stdout.write(built.text)
            sys.stdout.flush()
            where = "stdout"
        else:
            atomic_write(output, built.text)
            where = output
    except BaseException:
        remove_stale_output(output, log)
        raise
    source = built.descriptor_shown or "no descriptor (basic workload)"
    workload = built.workload
    log.info(
        f"Workload CR written to {where}: {workload.name} in namespace {workload.namespace}, {built.profile.name}, "
        f"from {source}; {workload.summary()} ({len(built.text.encode())} bytes)"
    )
    return 0


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    def step(log: StepLogger) -> int:
        options = parse_options(PROG, DESCRIPTION, OPTIONS, argv, environ)
        return run(options, log)

    return run_step(contract.STEP_GENERATE_WORKLOAD, step)
