"""generate-workload-cr: the built image + an optional workload.yaml -> an OpenChoreo Workload CR (as `occ workload
create` makes it for the targeted OpenChoreo version), validated, optionally published to the API, written atomically.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from steps.common import contract
from steps.common.cli import flag_values, parse_options, run_step
from steps.common.contract import EXIT_USAGE
from steps.common.log import StepError, StepLogger
from steps.common.outputs import atomic_write
from steps.generate_workload import identity, safefs
from steps.generate_workload.descriptor import Descriptor, parse_descriptor_bytes, resolve_plain
from steps.generate_workload.model import PROFILES, Profile, Workload
from steps.generate_workload.options import (
    API_MODE_OFF,
    API_MODES,
    OPTIONS,
    GenerateWorkloadOptionName,
    GenerateWorkloadOptions,
    effective_api_mode,
)
from steps.generate_workload.validate import validate_cr
from steps.generate_workload.workload import FileReader, Params, basic_workload, convert, workload_name

if TYPE_CHECKING:
    from steps.generate_workload.api import ApiSettings

PROG = "python -m steps.generate_workload"
DESCRIPTION = "Turn the published image and an optional workload.yaml into an OpenChoreo Workload CR (occ-compatible)."
STDOUT = "-"

Options = dict[str, str | bool | None]


def _scalar_style(value: str) -> str | None:
    # U+0085, U+2028 and U+2029 are line breaks to YAML 1.1 readers: inside a literal block U+0085 would come back
    # as \n, so strings holding them are written double-quoted, with escapes (\N, \L, \P).
    if not value.isascii() and ("\x85" in value or "\u2028" in value or "\u2029" in value):
        return '"'
    if "\n" in value:
        return "|"  # schema content, config files: literal blocks when YAML allows it
    if resolve_plain(value)[0] != "str":
        # Kubernetes reads the CR with go-yaml v2, which takes some plain scalars PyYAML leaves unquoted
        # (`y`, `N`, `1e+06`, `0o17`) as booleans or numbers: quote them so they stay strings.
        return '"'
    return None


class PythonDumper(yaml.SafeDumper):
    """PyYAML's pure-Python emitter: the reference for the output's bytes."""


class FastDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml's emitter (when PyYAML has it): the same bytes as PythonDumper for every CR `needs_python_emitter`
    lets through (tests/test_generate_workload_hostile.py compares them), ten times faster on large CRs."""


_STR, _INT, _BOOL, _NULL = (f"tag:yaml.org,2002:{name}" for name in ("str", "int", "bool", "null"))
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _node(data: Any) -> yaml.Node:
    """The node SafeRepresenter makes for CR data (keys sorted, block style, no aliases), without its per-object
    bookkeeping: half of a large CR's time went there."""
    if isinstance(data, str):
        return yaml.ScalarNode(_STR, data, style=_scalar_style(data))
    if isinstance(data, dict):
        pairs = [(_node(key), _node(value)) for key, value in sorted(data.items())]
        return yaml.MappingNode(_MAP, pairs, flow_style=False)
    if isinstance(data, list):
        return yaml.SequenceNode(_SEQ, [_node(item) for item in data], flow_style=False)
    if isinstance(data, bool):
        return yaml.ScalarNode(_BOOL, "true" if data else "false")
    if isinstance(data, int):
        return yaml.ScalarNode(_INT, str(data))
    if data is None:
        return yaml.ScalarNode(_NULL, "null")
    raise TypeError(f"unexpected value in a CR: {type(data).__name__}")


def _emitters_may_differ(value: str, *, key: bool) -> bool:
    """Strings the two emitters write differently: a CR holding one is written by the Python emitter.
    (libyaml takes \r as a line break, escapes characters above U+FFFF, cannot encode lone surrogates, and allows
    simple keys that are empty or 128 long.)"""
    if not value or "\r" in value or (key and len(value) >= 128):
        return True
    return not value.isascii() and any(ord(char) > 0xFFFF or 0xD800 <= ord(char) <= 0xDFFF for char in value)


def needs_python_emitter(node: Any, *, key: bool = False) -> bool:
    stack: list[tuple[Any, bool]] = [(node, key)]
    while stack:
        item, is_key = stack.pop()
        if isinstance(item, str):
            if _emitters_may_differ(item, key=is_key):
                return True
        elif isinstance(item, dict):
            stack.extend((name, True) for name in item)
            stack.extend((value, False) for value in item.values())
        elif isinstance(item, list):
            stack.extend((value, False) for value in item)
    return False


def _dump(data: Any, dumper: type[yaml.SafeDumper]) -> str:
    stream = io.StringIO()
    emitter = dumper(stream, default_flow_style=False, sort_keys=True, allow_unicode=True, width=2**31 - 1)
    try:
        emitter.open()
        emitter.serialize(_node(data))
        emitter.close()
    finally:
        emitter.dispose()
    return stream.getvalue()


def _last_scalar(node: Any) -> Any:
    """The scalar the emitter writes last (keys sorted, block style)."""
    while isinstance(node, (dict, list)) and node:
        node = node[max(node)] if isinstance(node, dict) else node[-1]
    return node


def render_yaml(cr: Mapping[str, Any], dumper: type[yaml.SafeDumper] | None = None) -> str:
    """The CR as YAML: keys sorted like occ's output (sigs.k8s.io/yaml), sequences not indented, no line folding.
    libyaml's emitter writes it unless the CR holds a string the two emitters write differently."""
    if dumper is None:
        dumper = PythonDumper if needs_python_emitter(cr) else FastDumper
    text = _dump(dict(cr), dumper)
    # After a keep-chomping `|+` block libyaml ends the document with `...` even when more followed; PyYAML only
    # when that block is the last thing written. The same document either way; keep PyYAML's bytes.
    if (
        dumper is FastDumper
        and text.endswith("\n...\n")
        and not _dump({"k": _last_scalar(dict(cr))}, PythonDumper).endswith("\n...\n")
    ):
        text = text[: -len("...\n")]
    return text


def _inside(path: Path, root: Path) -> bool:
    return os.path.commonpath([str(root), str(path)]) == str(root)


def _profile(opts: GenerateWorkloadOptions) -> Profile:
    name = opts.profile
    if name not in PROFILES:
        raise StepError(f"--profile: {name!r} is not one of {', '.join(PROFILES)}", EXIT_USAGE)
    return PROFILES[name]


def _max_bytes(opts: GenerateWorkloadOptions) -> int:
    raw = opts.max_bytes
    try:
        value = int(raw)
    except ValueError:
        raise StepError(f"--max-bytes: expected a positive number of bytes, got {raw!r}", EXIT_USAGE) from None
    if value <= 0:
        raise StepError(f"--max-bytes: expected a positive number of bytes, got {raw!r}", EXIT_USAGE)
    return value


def _probe_error(dest: GenerateWorkloadOptionName, shown: str, error: OSError | ValueError) -> StepError:
    """A path given through an option that the kernel refuses (a name too long, a component that is a file, a
    loop): exit 2 naming the option."""
    detail = safefs.reason(error) if isinstance(error, OSError) else "the path contains a NUL character"
    return StepError(f"{GenerateWorkloadOptions.label(dest)}: {shown}: {detail}", EXIT_USAGE)


def locate_descriptor(opts: GenerateWorkloadOptions, log: StepLogger) -> tuple[Path, Path, Path | None]:
    """(source root, app directory, descriptor or None), all resolved. The descriptor must lie inside the root."""
    source = Path(opts.source_dir or contract.SOURCE_DIR)
    root = Path(os.path.realpath(source))
    app_path = opts.app_path or "."
    app_dir = Path(os.path.normpath(root / app_path.lstrip("/")))
    if not _inside(app_dir, root):
        raise StepError(f"--app-path: {app_path!r} leads outside the source root {source}", EXIT_USAGE)
    given = opts.descriptor
    if not given:
        candidate = app_dir / contract.WORKLOAD_DESCRIPTOR_NAME
        try:
            present = safefs.lstat_or_none(candidate) is not None
            is_dir = app_dir.is_dir()
        except (OSError, ValueError) as error:
            raise _probe_error("app_path", app_path, error) from None
        if not present:
            if not is_dir:
                log.warning(f"the app directory {app_path} does not exist under {source}; no descriptor read")
            return root, app_dir, None
        descriptor = candidate
        shown = os.path.join(app_path, contract.WORKLOAD_DESCRIPTOR_NAME)
    else:
        descriptor = Path(given) if os.path.isabs(given) else app_dir / given
        shown = given
    try:
        safefs.regular_file_size(descriptor)
    except FileNotFoundError:
        raise StepError(
            f"{opts.label('descriptor')}: failed to read workload descriptor: "
            f"failed to open file {shown}: no such file or directory"
        ) from None
    except safefs.NotRegularFile as error:
        raise StepError(f"{opts.label('descriptor')}: {shown} {safefs.reason(error)}") from None
    except (OSError, ValueError) as error:
        raise _probe_error("descriptor" if given else "app_path", shown, error) from None
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


def check_identities(opts: GenerateWorkloadOptions) -> Params:
    """The names and the image, as the API server and OpenChoreo accept them (exit 2 otherwise)."""
    params = Params(
        namespace=identity.check_label(opts.namespace, opts.label("namespace"), "namespace name"),
        project=identity.check_label(opts.project, opts.label("project"), "project name"),
        component=identity.check_label(opts.component, opts.label("component"), "component name"),
        image=identity.check_image(opts.image, opts.label("image")),
    )
    identity.check_object_name(workload_name(params.component), f"metadata.name (from {opts.label('component')})")
    return params


def build(opts: GenerateWorkloadOptions, log: StepLogger) -> Built:
    """Options -> the validated CR and its YAML. Raises StepError on bad input."""
    profile = _profile(opts)
    max_bytes = _max_bytes(opts)
    params = check_identities(opts)
    root, _app_dir, descriptor_path = locate_descriptor(opts, log)
    shown = ""
    if descriptor_path is None:
        workload = basic_workload(params)
    else:
        shown = _display(descriptor_path, root)
        try:
            raw = safefs.read_regular(descriptor_path, max_bytes)
        except safefs.TooLarge as error:
            raise StepError(f"{shown}: the descriptor is {error.size} bytes, above --max-bytes {max_bytes}") from None
        except OSError as error:
            raise StepError(
                f"failed to read workload descriptor: failed to open file {shown}: {safefs.reason(error)}"
            ) from None
        descriptor: Descriptor = parse_descriptor_bytes(
            raw, shown, read_connections=profile.dependencies_field == "connections", warn=log.warning
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


# Every CR this step writes starts with these bytes (keys sorted: apiVersion, kind, metadata).
_CR_PREFIX = f"apiVersion: {contract.OPENCHOREO_API_VERSION}\nkind: {contract.WORKLOAD_KIND}\nmetadata:\n".encode()


def _is_our_cr(path: Path) -> bool:
    """True for a regular file that holds a Workload CR as this step writes it (an earlier run's result). Only
    its first bytes are read: the file is not parsed (it may be anything)."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            return False
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY)
        try:
            head = os.read(fd, len(_CR_PREFIX))
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return False
    return head == _CR_PREFIX


def remove_stale_output(output: str, log: StepLogger, *, descriptor: Path | None = None) -> None:
    """Delete a Workload CR an earlier run left at the output path, so nothing downstream can mistake it for this
    run's result (after any failure, and before the first API request). Any other file there is left alone."""
    if not output or output == STDOUT:
        return
    path = Path(output)
    try:
        if descriptor is not None and path.exists() and os.path.samefile(path, descriptor):
            return
    except (OSError, ValueError):
        return
    if _is_our_cr(path):
        try:
            path.unlink()
        except OSError as error:
            log.warning(f"could not remove the Workload CR an earlier run left at {output}: {safefs.reason(error)}")
            return
        log.warning(f"removed the Workload CR an earlier run left at {output}")


def check_output_path(output: str) -> None:
    """Before any work: the output path must be a regular file or absent (os.replace would replace a device node,
    a FIFO or a symlink), and its directory must exist or be creatable, and be writable."""
    if output == STDOUT:
        return
    label = GenerateWorkloadOptions.label("output")
    if "\0" in output:
        raise StepError(f"{label}: the path contains a NUL character", EXIT_USAGE)
    try:
        info = safefs.lstat_or_none(output)
    except OSError as error:
        raise StepError(f"{label}: {output}: {safefs.reason(error)}", EXIT_USAGE) from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise StepError(
            f"{label}: {output} is {safefs.describe_mode(info.st_mode)}; refusing to replace it with the CR "
            "(give a regular file path, or - for stdout)",
            EXIT_USAGE,
        )
    directory = Path(os.path.abspath(output)).parent
    while True:
        try:
            found = os.stat(directory)
        except FileNotFoundError:
            directory = directory.parent
            continue
        except OSError as error:
            raise StepError(f"{label}: {output}: {safefs.reason(error)}", EXIT_USAGE) from None
        if not stat.S_ISDIR(found.st_mode):
            raise StepError(f"{label}: {output}: {directory} is not a directory", EXIT_USAGE)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise StepError(f"{label}: the directory {directory} is not writable", EXIT_USAGE)
        return


def _check_output(output: str, descriptor: Path | None) -> None:
    if output == STDOUT:
        return
    path = Path(output)
    if descriptor is not None and path.exists() and os.path.samefile(path, descriptor):
        raise StepError(f"--output-path: {output} is the descriptor itself; refusing to overwrite it", EXIT_USAGE)


def _api_settings(opts: GenerateWorkloadOptions, profile: Profile, log: StepLogger) -> tuple[str, ApiSettings | None]:
    """(effective API mode, validated API settings or None). Checked before any work: a missing URL or Secret
    fails at once (exit 2), and `api` (and so the HTTP client) is imported only when something is sent."""
    mode = effective_api_mode(opts.api_mode, profile.name)
    if mode is None:
        raise StepError(
            f"{opts.label('api_mode')}: expected one of {', '.join(API_MODES)}, got {opts.api_mode!r}",
            EXIT_USAGE,
        )
    if mode == API_MODE_OFF:
        return mode, None
    from steps.generate_workload import api

    return mode, api.validate_api_options(opts, log)


def _no_delivery(mode_given: str, profile: Profile, where: str, log: StepLogger) -> str:
    """The summary's delivery when nothing is sent; on openchoreo-1.x also a warning (nothing reads the file)."""
    if profile.dependencies_field == "connections":  # openchoreo-0.17: its controller reads workload-cr
        return "output contract (the workload-cr output, applied by the OpenChoreo 0.17 controller)"
    log.warning(
        f"no Workload was applied: api-mode={mode_given or 'auto'} on {profile.name}; the CR is only written to "
        f"{where} (OpenChoreo 1.x reads nothing from it; a later step, such as gitops-publish, may deliver it)"
    )
    return f"none: no Workload was applied (api-mode={mode_given or 'auto'})"


def run(options: Options, log: StepLogger) -> int:
    """Run the step on the parsed options."""
    opts = GenerateWorkloadOptions.from_values(options)
    output = opts.output or contract.WORKLOAD_CR_FILE
    descriptor: Path | None = None
    try:
        check_output_path(output)
        profile = _profile(opts)
        _mode, settings = _api_settings(opts, profile, log)
        built = build(opts, log)
        descriptor = built.descriptor
        _check_output(output, built.descriptor)
        where = "stdout" if output == STDOUT else output
        if settings is not None:
            from steps.generate_workload import api

            # A run killed during the API call must not leave an earlier run's CR behind.
            remove_stale_output(output, log, descriptor=descriptor)
            delivery = api.publish(
                built.cr, from_source=built.descriptor is not None, opts=opts, log=log, settings=settings
            )
        else:
            delivery = _no_delivery(opts.api_mode.strip().lower(), profile, where, log)
        if output == STDOUT:
            sys.stdout.write(built.text)
            sys.stdout.flush()
        else:
            try:
                atomic_write(output, built.text)
            except OSError as error:
                raise StepError(f"{opts.label('output')}: cannot write {output}: {safefs.reason(error)}") from None
    except BaseException:
        remove_stale_output(output, log, descriptor=descriptor)
        raise
    source = built.descriptor_shown or "no descriptor (basic workload)"
    workload = built.workload
    log.info(
        f"Workload CR written to {where}: {workload.name} in namespace {workload.namespace}, {built.profile.name}, "
        f"from {source}; {workload.summary()} ({len(built.text.encode())} bytes); delivery: {delivery}"
    )
    return 0


def _output_of_unparsed(argv: Sequence[str] | None, environ: Mapping[str, str] | None) -> str:
    """The output path when the options could not be parsed (an unknown flag, a missing value)."""
    args = list(sys.argv[1:] if argv is None else argv)
    given = flag_values(args, ("--output-path", "-o"))
    env = os.environ if environ is None else environ
    return (given[-1] if given else "") or env.get("WORKLOAD_CR_OUTPUT", "") or contract.WORKLOAD_CR_FILE


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    def step(log: StepLogger) -> int:
        try:
            options = parse_options(PROG, DESCRIPTION, OPTIONS, argv, environ)
        except BaseException:
            remove_stale_output(_output_of_unparsed(argv, environ), log)
            raise
        return run(options, log)

    return run_step(contract.STEP_GENERATE_WORKLOAD, step)
