"""Build avoidance: skip the build when the registry already holds the image built from the same inputs.

The key is a SHA-256 over everything that determines the image (see `KeyInputs`): the git tree of the build
context and the git blob of the Dockerfile (read from the checkout's own objects, never by walking files), the
build arguments and build env, the target platform, the builder (buildah version and the bud flags that shape the
output) and the digest every external `FROM` / `COPY --from` / `RUN --mount=from=` image resolves to right now.
The image built from a key is recorded in the target repository under the tag `build-<key>`; publish-image pushes
that tag after a fresh build, and on a later hit tags the recorded manifest under the run's tag registry-side.

A key is *incomplete* (no avoidance, the build runs) whenever one input cannot be pinned: the context or the
Dockerfile has uncommitted, untracked or ignored files, the source is not a git checkout, a `FROM` needs a variable
nobody set, a base cannot be resolved to a digest (no pull credentials, registry down), a short base name depends
on the node's registries.conf search list, or an `ADD <url>` fetches content the key cannot see.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from steps.common.cli import parse_bool
from steps.common.contract import EXIT_USAGE
from steps.common.imageref import DIGEST_RE, NAME_TOTAL_LENGTH_MAX, validate_registry
from steps.common.log import StepError, StepLogger

if TYPE_CHECKING:
    from steps.build.main import BuildPlan

KEY_VERSION = "openchoreo-ci-pack/build-avoidance/v1"
KEY_TAG_PREFIX = "build-"
HANDOFF_VERSION = 1
STATUS_HIT, STATUS_MISS, STATUS_INCOMPLETE, STATUS_OFF = "hit", "miss", "incomplete", "off"
# The bud flags of steps.build.main.bud_argv that shape the image (the cache flags do not: a cached layer is the
# layer the same inputs would build).
BUD_OUTPUT_FLAGS = ("--layers", "--isolation=chroot", "--storage-driver=overlay")
SKOPEO = "skopeo"
GIT = "git"
_COMMAND_TIMEOUT = 60.0
# Platform ARGs buildah (like BuildKit) defines before the first FROM.
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le"}
_ARCH.update({"s390x": "s390x", "riscv64": "riscv64", "armv7l": "arm", "i686": "386"})


class Incomplete(Exception):
    """One key input cannot be pinned: the build runs without avoidance."""


# --- the Dockerfile ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    line: int  # 1-based line of the instruction's first line
    keyword: str  # upper case
    rest: str  # the arguments, continuation lines joined


_DIRECTIVE_RE = re.compile(r"^#\s*([A-Za-z]+)\s*=\s*(.*?)\s*$")
_HEREDOC_RE = re.compile(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile: parser directives, comments, continuations and heredocs handled."""
    lines = text.splitlines()
    escape = "\\"
    index = 0
    while index < len(lines):  # parser directives: only at the very top
        match = _DIRECTIVE_RE.match(lines[index].strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
        index += 1
    result: list[Instruction] = []
    while index < len(lines):
        raw = lines[index]
        start = index + 1
        index += 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = [stripped]
        continued = stripped.endswith(escape)
        while continued and index < len(lines):
            parts[-1] = parts[-1][: -len(escape)].rstrip()
            following = lines[index].strip()
            index += 1
            if following.startswith("#"):  # a comment inside a continuation is dropped; the instruction goes on
                parts.append(escape)
                continue
            parts.append(following)
            continued = following.endswith(escape)
        joined = " ".join(part for part in parts if part).strip()
        keyword, _, rest = joined.partition(" ")
        keyword = keyword.upper()
        if keyword in ("RUN", "COPY", "ADD"):
            for heredoc in _HEREDOC_RE.finditer(rest):  # skip the heredoc bodies that follow
                strip_tabs, word = heredoc.group(1) == "-", heredoc.group(3)
                bodies = [line.lstrip("\t") if strip_tabs else line for line in lines[index:]]
                if word in bodies:  # no terminator: not a heredoc; skip nothing (a FROM must never be lost)
                    index += bodies.index(word) + 1
        result.append(Instruction(start, keyword, rest.strip()))
    return result


_VAR_RE = re.compile(
    r"\\\$|\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-+])(?P<word>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def expand(text: str, scope: dict[str, str | None], where: str) -> str:
    """`$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR:+word}` as the Dockerfile frontend expands them; a variable
    without a value (and without a default word) makes the key incomplete instead of silently expanding to ''."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "\\$":
            return "$"
        name = match.group("braced") or match.group("bare")
        value = scope.get(name)
        op, word = match.group("op"), match.group("word") or ""
        if op in (":-", "-"):
            unset = value is None or (op == ":-" and value == "")
            return expand(word, scope, where) if unset else str(value)
        if op in (":+", "+"):
            present = value is not None and (op == "+" or value != "")
            return expand(word, scope, where) if present else ""
        if value is None:
            raise Incomplete(f"{where}: ${{{name}}} has no value (no ARG default and no build argument)")
        return value

    return _VAR_RE.sub(replace, text)


def platform_args() -> dict[str, str | None]:
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    values = {"OS": "linux", "ARCH": arch, "PLATFORM": f"linux/{arch}", "VARIANT": ""}
    return {f"{side}{name}": value for side in ("TARGET", "BUILD") for name, value in values.items()}


def target_platform() -> str:
    return str(platform_args()["TARGETPLATFORM"])


def _arg_declarations(rest: str) -> list[tuple[str, str | None]]:
    declared: list[tuple[str, str | None]] = []
    for token in _split_words(rest):
        name, eq, default = token.partition("=")
        declared.append((name, _unquote(default) if eq else None))
    return declared


def _split_words(rest: str) -> list[str]:
    """Whitespace-separated words, keeping quoted spans together (ARG A="x y")."""
    words: list[str] = []
    current, quote = "", ""
    for char in rest:
        if quote:
            current += char
            if char == quote:
                quote = ""
        elif char in "\"'":
            current += char
            quote = char
        elif char.isspace():
            if current:
                words.append(current)
            current = ""
        else:
            current += char
    if current:
        words.append(current)
    return words


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _flags(words: list[str]) -> tuple[dict[str, str], list[str]]:
    flags: dict[str, str] = {}
    index = 0
    while index < len(words) and words[index].startswith("--"):
        name, _, value = words[index][2:].partition("=")
        flags[name.lower()] = value
        index += 1
    return flags, words[index:]


@dataclass(frozen=True)
class ExternalImage:
    where: str  # "Dockerfile:<line> FROM" etc.
    reference: str  # as written, variables expanded
    platform: str  # --platform, expanded ('' when absent)


def external_images(text: str, build_args: Sequence[tuple[str, str]], name: str) -> list[ExternalImage]:
    """Every image the Dockerfile pulls from a registry, in order. Stages and `scratch` are not images.

    Raises Incomplete for what the key cannot pin: a FROM variable without a value, `ADD <url>`, a
    `COPY --from` / `RUN --mount from=` naming an image through a variable."""
    overrides = dict(build_args)
    scope: dict[str, str | None] = {**platform_args(), **overrides}
    stages: set[str] = set()
    stage_count = 0
    images: list[ExternalImage] = []
    seen_from = False
    for instruction in instructions(text):
        where = f"{name}:{instruction.line}"
        words = _split_words(instruction.rest)
        if instruction.keyword == "ARG" and not seen_from:
            for arg, default in _arg_declarations(instruction.rest):
                if arg in overrides:
                    scope[arg] = overrides[arg]
                else:
                    scope[arg] = expand(default, scope, where) if default is not None else scope.get(arg)
        elif instruction.keyword == "FROM":
            seen_from = True
            flags, rest = _flags(words)
            if not rest:
                raise Incomplete(f"{where}: FROM without an image")
            image = expand(rest[0], scope, f"{where} FROM")
            internal = image.lower() == "scratch" or image.lower() in stages
            if len(rest) >= 3 and rest[1].lower() == "as":
                stages.add(rest[2].lower())
            stage_count += 1
            if internal:
                continue
            plat = expand(flags.get("platform", ""), scope, f"{where} FROM --platform")
            images.append(ExternalImage(f"{where} FROM", image, plat))
        elif instruction.keyword in ("COPY", "RUN"):
            sources = _from_references(words, instruction.keyword)
            for source in sources:
                if (source.isdigit() and int(source) < stage_count) or source.lower() in stages:
                    continue
                if "$" in source:
                    raise Incomplete(f"{where}: {instruction.keyword} names an image through a variable ({source})")
                images.append(ExternalImage(f"{where} {instruction.keyword} --from", source, ""))
        elif instruction.keyword == "ADD":
            _flags_found, rest = _flags(words)
            sources = rest[:-1]
            json_form = " ".join(rest)
            if json_form.startswith("["):  # ADD ["src", ..., "dest"]
                try:
                    sources = [str(item) for item in json.loads(json_form)[:-1]]
                except ValueError:
                    raise Incomplete(f"{where}: ADD in JSON form that is not JSON") from None
            for source in sources:
                if re.match(r"(?i)^(?:https?://|git@|git://|ssh://)", _unquote(source)):
                    raise Incomplete(f"{where}: ADD {source} fetches content the key cannot see")
    return images


def _from_references(words: list[str], keyword: str) -> list[str]:
    flags, _rest = _flags(words)
    found: list[str] = []
    if keyword == "COPY" and flags.get("from"):
        found.append(flags["from"])
    if keyword == "RUN":
        for word in words:
            if not word.startswith("--mount="):
                continue
            options = dict(part.partition("=")[::2] for part in word[len("--mount=") :].split(","))
            if options.get("from"):
                found.append(options["from"])
    return found


# --- image references -------------------------------------------------------------------------------------------

REGISTRIES_CONF = Path("/etc/containers/registries.conf")
_LOCAL_TRANSPORTS = ("oci-archive", "oci", "docker-archive", "containers-storage", "dir", "docker-daemon")


def _registries_conf_files() -> list[Path]:
    override = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    main = Path(override) if override else REGISTRIES_CONF
    drop_in = main.parent / "registries.conf.d"
    files = [main] if main.is_file() else []
    if drop_in.is_dir():
        files += sorted(path for path in drop_in.glob("*.conf") if path.is_file())
    return files


def short_name_policy() -> tuple[dict[str, str], list[str]]:
    """(aliases, unqualified-search-registries) as containers/image merges registries.conf and its drop-ins."""
    import tomllib  # only for short names: the hit path stays lean

    aliases: dict[str, str] = {}
    search: list[str] = []
    for path in _registries_conf_files():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        aliases.update({str(k): str(v) for k, v in (data.get("aliases") or {}).items()})
        if "unqualified-search-registries" in data:
            search = [str(r) for r in data["unqualified-search-registries"]]
    return aliases, search


def qualify(reference: str, where: str) -> str:
    """A fully qualified reference as buildah pulls it; a short name only when registries.conf pins it."""
    transport = re.match(r"^([a-z][a-z0-9-]*):(?!\d+/)", reference)
    if transport and transport.group(1) in _LOCAL_TRANSPORTS:
        raise Incomplete(f"{where}: {reference!r} is a local image ({transport.group(1)}), not a registry image")
    if transport and transport.group(1) == "docker" and reference.startswith("docker://"):
        reference = reference.removeprefix("docker://")
    name = reference
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return reference if ("@" in name or ":" in name.rsplit("/", 1)[-1]) else f"{reference}:latest"
    digest = ""
    if "@" in name:
        name, digest = name.split("@", 1)
        digest = "@" + digest
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        tag = ":" + tag
    aliases, search = short_name_policy()
    if name in aliases:
        qualified = aliases[name]
    elif search == ["docker.io"]:
        qualified = f"docker.io/{'library/' if '/' not in name else ''}{name}"
    else:
        searched = ", ".join(search) or "none"
        name = f"{'library/' if '/' not in name else ''}{name}"
        raise Incomplete(
            f"{where}: short image name {reference!r} resolves through the node's registries.conf search list "
            f"({searched}); name the image with its registry host (e.g. docker.io/{name})"
        )
    return qualified + (digest or tag or ":latest")


# --- git --------------------------------------------------------------------------------------------------------


def _git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"})
    return env


def _git(source: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    # safe.directory: the checkout wrote the repository as another uid.
    argv = [GIT, "-c", "safe.directory=*", "-C", str(source), *args]
    try:
        done = subprocess.run(
            argv, env=env, input=stdin, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise Incomplete("git is not installed in the build image") from None
    except subprocess.TimeoutExpired:
        raise Incomplete(f"git {args[0]} did not finish within {_COMMAND_TIMEOUT:g}s") from None
    if done.returncode != 0:
        raise Incomplete(f"git {' '.join(args)}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
    return done.stdout


@dataclass(frozen=True)
class GitInputs:
    commit: str
    context_tree: str
    dockerfile_blob: str | None  # None with a preset
    dockerignore_blob: str | None  # <Dockerfile>.dockerignore beside the Dockerfile, when there is one


def git_inputs(source: Path, context: Path, dockerfile: Path | None) -> GitInputs:
    """Tree/blob ids of the context and the Dockerfile at HEAD, after checking the work tree matches HEAD there."""
    with tempfile.TemporaryDirectory(prefix="build-avoidance-git-") as home:
        env = _git_env(Path(home))
        paths = [context.relative_to(source).as_posix()]
        if dockerfile is not None:
            paths.append(dockerfile.relative_to(source).as_posix())
            ignore_path = dockerfile.with_name(dockerfile.name + ".dockerignore")
            if ignore_path.exists():
                paths.append(ignore_path.relative_to(source).as_posix())
        # Three git processes: the work tree against HEAD, the ids, their types.
        status = _git(
            source, env, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=matching", "--", *paths
        )
        changed = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
        if changed:
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            raise Incomplete(f"uncommitted, untracked or ignored files in the context or Dockerfile: {shown}")
        specs = ["HEAD^{tree}" if path == "." else f"HEAD:{path}" for path in paths]
        top, commit, *oids = _git(source, env, "rev-parse", "--show-toplevel", "HEAD^{commit}", *specs).splitlines()
        if Path(top).resolve() != source.resolve():
            raise Incomplete(f"the source root {source} is not the top of a git checkout (top: {top})")
        kinds = ["tree", "blob", "blob"][: len(oids)]
        found = _git(source, env, "cat-file", "--batch-check=%(objecttype)", stdin="\n".join(oids) + "\n").split()
        for path, kind, actual in zip(paths, kinds, found, strict=True):
            if actual != kind:
                raise Incomplete(f"{path} is a git {actual}, expected a {kind}")
        return GitInputs(
            commit=commit,
            context_tree=oids[0],
            dockerfile_blob=oids[1] if dockerfile is not None else None,
            dockerignore_blob=oids[2] if len(oids) > 2 else None,
        )


# --- registry ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryAccess:
    tls_verify: bool
    auth_file: Path | None
    ca_dir: Path | None

    def skopeo_flags(self) -> list[str]:
        flags = [f"--tls-verify={'true' if self.tls_verify else 'false'}"]
        if self.ca_dir is not None:
            flags += ["--cert-dir", str(self.ca_dir)]
        flags += ["--authfile", str(self.auth_file)] if self.auth_file is not None else ["--no-creds"]
        return flags


class LookupFailed(Exception):
    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


_NOT_FOUND_RE = re.compile(r"manifest unknown|not found|name unknown|404", re.IGNORECASE)


def manifest_digest(reference: str, access: RegistryAccess) -> str:
    """The digest of the manifest (or index) `reference` names now: SHA-256 of its raw bytes, as the registry's
    Docker-Content-Digest. Raises LookupFailed (with not_found for a missing tag)."""
    argv = [SKOPEO, "--command-timeout", f"{_COMMAND_TIMEOUT:g}s", "inspect", "--raw", "--retry-times", "1"]
    argv += [*access.skopeo_flags(), f"docker://{reference}"]
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_AUTH_FILE"}
    try:
        done = subprocess.run(argv, capture_output=True, timeout=_COMMAND_TIMEOUT + 15, check=False, env=env)
    except FileNotFoundError:
        raise LookupFailed("skopeo is not installed in the build image") from None
    except subprocess.TimeoutExpired:
        raise LookupFailed(f"no answer within {_COMMAND_TIMEOUT:g}s") from None
    if done.returncode != 0:
        text = done.stderr.decode("utf-8", "replace").strip()
        last = (text.splitlines() or [f"skopeo exit status {done.returncode}"])[-1]
        match = re.search(r'msg="(.*)"\s*$', last)
        message = match.group(1).replace('\\"', '"') if match else last
        raise LookupFailed(message, not_found=bool(_NOT_FOUND_RE.search(message)))
    return "sha256:" + hashlib.sha256(done.stdout).hexdigest()


def resolve_base(image: ExternalImage, access: RegistryAccess) -> tuple[str, str]:
    """(qualified reference, digest) of one external image; a digest-pinned reference needs no lookup."""
    qualified = qualify(image.reference, image.where)
    if "@" in qualified:
        digest = qualified.split("@", 1)[1]
        if not DIGEST_RE.fullmatch(digest):
            raise Incomplete(f"{image.where}: {image.reference!r} pins a digest that is not sha256")
        return qualified, digest
    try:
        return qualified, manifest_digest(qualified, access)
    except LookupFailed as error:
        raise Incomplete(f"{image.where}: cannot resolve {qualified} to a digest: {error}") from None


# --- the key ----------------------------------------------------------------------------------------------------


@dataclass
class KeyInputs:
    """What goes into the key; `describe()` is what the log shows (build-arg and env values never appear)."""

    context: str
    dockerfile: str
    git: GitInputs | None = None
    preset_sha256: str | None = None
    build_args: list[tuple[str, str]] = field(default_factory=list)
    build_env: list[tuple[str, str]] = field(default_factory=list)
    platform: str = ""
    builder: str = ""
    bases: list[tuple[str, str, str, str]] = field(default_factory=list)  # where, reference, platform, digest

    def document(self) -> dict[str, Any]:
        assert self.git is not None
        return {
            "version": KEY_VERSION,
            "context_tree": self.git.context_tree,
            "dockerfile_blob": self.git.dockerfile_blob,
            "dockerignore_blob": self.git.dockerignore_blob,
            "preset_sha256": self.preset_sha256,
            "build_args": sorted(self.build_args),
            "build_env": sorted(self.build_env),
            "platform": self.platform,
            "builder": self.builder,
            "bud_flags": list(BUD_OUTPUT_FLAGS),
            "bases": [[ref, plat, digest] for _where, ref, plat, digest in self.bases],
        }

    def key(self) -> str:
        canonical = json.dumps(self.document(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def describe(self) -> list[str]:
        assert self.git is not None
        lines = [f"context {self.context}: git tree {self.git.context_tree} (commit {self.git.commit[:12]})"]
        if self.preset_sha256:
            lines.append(f"Dockerfile: {self.dockerfile} (sha256 {self.preset_sha256[:16]})")
        else:
            lines.append(f"Dockerfile {self.dockerfile}: git blob {self.git.dockerfile_blob}")
        if self.git.dockerignore_blob:
            lines.append(f"{self.dockerfile}.dockerignore: git blob {self.git.dockerignore_blob}")
        names = ", ".join(name for name, _ in sorted(self.build_args)) or "(none)"
        lines.append(f"build args: {names} (values hashed, not shown)")
        names = ", ".join(name for name, _ in sorted(self.build_env)) or "(none)"
        lines.append(f"build env: {names} (values hashed, not shown)")
        lines.append(f"platform: {self.platform}; builder: {self.builder} {' '.join(BUD_OUTPUT_FLAGS)}")
        for where, ref, plat, digest in self.bases:
            lines.append(f"base {where}: {ref}{' (--platform ' + plat + ')' if plat else ''} -> {digest}")
        if not self.bases:
            lines.append("bases: none (scratch or stages only)")
        return lines


def builder_version() -> str:
    """`buildah --version`: another buildah may lay out the same inputs differently."""
    try:
        done = subprocess.run(["buildah", "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        raise Incomplete("cannot read the buildah version") from None
    if done.returncode != 0 or not done.stdout.strip():
        raise Incomplete("cannot read the buildah version")
    return done.stdout.strip()


def key_inputs(p: BuildPlan, preset_text: str | None, access: RegistryAccess) -> KeyInputs:
    context = p.context.relative_to(p.source).as_posix()
    if p.dockerfile is not None:
        text = p.dockerfile.read_text(encoding="utf-8", errors="replace")
        dockerfile_name = p.dockerfile.relative_to(p.source).as_posix()
    else:
        text = preset_text or ""
        dockerfile_name = f"{p.preset} preset"
    inputs = KeyInputs(context=context, dockerfile=dockerfile_name)
    if p.dockerfile is None:
        inputs.preset_sha256 = hashlib.sha256(text.encode()).hexdigest()
    inputs.git = git_inputs(p.source, p.context, p.dockerfile)
    inputs.build_args = list(p.build_args)
    inputs.build_env = list(p.build_env)
    inputs.platform = target_platform()
    inputs.builder = builder_version()
    for image in external_images(text, p.build_args, dockerfile_name):
        reference, digest = resolve_base(image, access)
        inputs.bases.append((image.where, reference, image.platform, digest))
    return inputs


# --- the decision and the hand-off ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    status: str
    reason: str
    key: str | None = None
    repository: str | None = None  # <registry>/<image-name>
    digest: str | None = None  # the recorded manifest on a hit

    @property
    def key_tag(self) -> str | None:
        return f"{KEY_TAG_PREFIX}{self.key}" if self.key else None

    def handoff(self) -> dict[str, Any]:
        return {
            "version": HANDOFF_VERSION,
            "status": self.status,
            "reason": self.reason,
            "key": self.key,
            "key_tag": self.key_tag,
            "repository": self.repository,
            "digest": self.digest,
        }


def remove_stale_handoff(path: str, log: StepLogger) -> None:
    if path and Path(path).is_file():
        log.info(f"removing the previous build-avoidance record {path}")
        Path(path).unlink()


def write_handoff(path: Path, decision: Decision) -> None:
    """Atomically: publish-image reads a complete record or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(decision.handoff(), handle, indent=2, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def decide(
    p: BuildPlan,
    *,
    enabled: str,
    registry: str,
    enabled_field: str,
    registry_field: str,
    preset_text: str | None,
    log: StepLogger,
) -> Decision:
    """Compute the key and look it up; every outcome is logged with its reason. Never raises for a missing
    input (only for bad parameter values): avoidance failing means the build runs."""
    on = parse_bool(enabled, field=enabled_field)
    registry = registry.strip()
    if registry:
        registry = validate_registry(registry, registry_field)
        if len(f"{registry}/{p.name}") > NAME_TOTAL_LENGTH_MAX:
            raise StepError(f"{registry_field}: repository name longer than {NAME_TOTAL_LENGTH_MAX}", EXIT_USAGE)
    if not on:
        log.info("build avoidance: off (build-avoidance=false); building")
        return Decision(STATUS_OFF, "build-avoidance is false")
    if not registry:
        log.info("build avoidance: off (no registry given: nowhere to look the key up); building")
        return Decision(STATUS_OFF, "no registry given")
    repository = f"{registry}/{p.name}"
    access = RegistryAccess(p.tls_verify, p.auth_file, p.ca_dir)
    try:
        inputs = key_inputs(p, preset_text, access)
    except Incomplete as error:
        log.info(f"build avoidance: incomplete key, building without avoidance: {error}")
        return Decision(STATUS_INCOMPLETE, str(error), repository=repository)
    key = inputs.key()
    log.info("build avoidance: key inputs:")
    for line in inputs.describe():
        log.info(f"  {line}")
    key_ref = f"{repository}:{KEY_TAG_PREFIX}{key}"
    log.info(f"build avoidance: key {key}; looking up {key_ref}")
    try:
        digest = manifest_digest(key_ref, access)
    except LookupFailed as error:
        if error.not_found:
            log.info(f"build avoidance: miss ({key_ref} does not exist: {error}); building")
            return Decision(STATUS_MISS, f"no key tag: {error}", key, repository)
        hint = "" if p.auth_file else " (no registry-pull-secret mounted: the lookup was anonymous)"
        log.warning(f"build avoidance: miss (the key tag lookup failed: {error}{hint}); building")
        return Decision(STATUS_MISS, f"lookup failed: {error}", key, repository)
    log.info(f"build avoidance: hit: {key_ref} is {digest}; skipping the build")
    return Decision(STATUS_HIT, "key tag found", key, repository, digest)
