"""Run one Argo container template as a Docker container, the way an Argo Pod would run it.

INTERFACE (agreed between the step-container tests and the local runner; keep it stable):

    run_pod(template, variables, mounts, *, name, client=None, on_log=None,
            deadline_seconds=None, cancel=None, keep=False) -> PodResult

- `template`: one Argo template dict exactly as rendered in templates/ (a `container` template, with its
  `inputs`, `outputs`, `volumes`, `initContainers`, `securityContext`, `podSpecPatch`, ...). The runner adds
  the Workflow's own `volumes`/`securityContext`/`podSpecPatch` to it before calling.
- `variables`: values for `{{...}}` substitution, keyed without braces, e.g. {"inputs.parameters.image": "x",
  "workflow.parameters.git-repo": "y", "workflow.name": "z"}. Input defaults (and fixed `value`s) from the
  template are applied first; `pod.name` defaults to `name`. An unresolved `{{...}}` or an `{{=expression}}`
  raises UnsupportedTemplate naming the field (e.g. `container.args[3]`).
- `mounts`: a `Mounts` or a mapping with the same keys: `workspace` (host directory behind the volume named
  contract.WORKSPACE_VOLUME, normally a workflow volumeClaimTemplate), `secrets` {secret name -> host dir whose
  files are the secret's keys}, optionally `config_maps` (same shape), `volumes` {volume or claim name -> host
  dir} for other PVCs, and `scratch` (where emptyDirs and projected secrets are made; default: the system
  temp dir). Secret and configMap volumes are projected into a fresh directory the way the kubelet does it
  (`items`, `defaultMode`, read-only); a missing secret is an empty volume when `optional: true`, else PodError.
  emptyDir: a fresh 0777 directory; `medium: Memory` puts it on the host's /dev/shm (tmpfs) when that allows
  exec, so it can be shared by the init and main containers and read after exit like a Pod's emptyDir.
- Containers run with network_mode="host" (so servers must listen on 127.0.0.1), never pull (a missing image
  raises PodError naming the image and how to build it), and map the template's command/args (Kubernetes
  `command` = Docker entrypoint, `args` = Docker command, `$(VAR)` expansion as the kubelet does), env (`value`,
  `valueFrom.secretKeyRef`/`configMapKeyRef`/`fieldRef`, `envFrom`), workingDir, resources.limits (memory ->
  mem_limit with no extra swap, cpu -> nano_cpus; requests only schedule, so they are ignored) and the pod- and
  container-level securityContext: runAsUser/runAsGroup -> user, fsGroup/supplementalGroups -> group_add (and
  fsGroup ownership of emptyDirs and the workspace, as the kubelet applies it), runAsNonRoot -> checked against
  the effective user before the container starts (an image user that is root or non-numeric fails the pod
  like the kubelet does), readOnlyRootFilesystem -> read_only, capabilities add/drop -> cap_add/cap_drop,
  allowPrivilegeEscalation: false -> no-new-privileges, seccompProfile RuntimeDefault -> Docker's default
  profile, Unconfined -> seccomp=unconfined, privileged -> privileged. podSpecPatch may only hold
  `hostUsers: false`, a no-op here (Docker runs no user namespace per container; noted in PodResult.notes).
- initContainers run first, in order, with the same volumes (`mirrorVolumeMounts` honoured); a failing one
  fails the pod. activeDeadlineSeconds / timeout (and `deadline_seconds`, whichever is shortest) kill the pod:
  phase Failed, Argo's message "Pod was active on the node longer than the specified deadline". `cancel` (a
  threading.Event) stops it too.
- Output parameters are read from `valueFrom.path` after the main container exits (from the host directory
  behind a mount, else from the stopped container's filesystem), with ONE trailing newline trimmed (Argo);
  `valueFrom.default` is used when the file is missing; without a default a successful pod becomes an Error.
- Logs (stdout and stderr, in order) stream line by line to `on_log(line)` (init containers' lines are
  prefixed `[<name>] `) and are returned in PodResult.logs; the main container's stdout alone is
  PodResult.stdout (Argo's `outputs.result`).
- Anything podrun cannot reproduce faithfully raises UnsupportedTemplate naming the field path, before any
  container runs. Fields that only matter to a scheduler (nodeSelector, tolerations, affinity, requests,
  serviceAccountName, ...) or to the workflow controller (retryStrategy, synchronization, memoize, metrics,
  hooks, ...) are accepted and ignored: the runner implements the controller's part.

`plan_pod()` does all the validation and mapping without Docker (used by tests and `run --dry-run`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from hera_workflows.upstream import argo_v3_6 as argo
from steps.common import contract

DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
CANCEL_MESSAGE = "Stopped by the runner"
BUILD_HINT = "build it first: python -m hera_workflows images build --local-base"
LABEL_POD = "org.openchoreo.ci-pack.podrun.pod"
LABEL_CONTAINER = "org.openchoreo.ci-pack.podrun.container"
SUCCEEDED, FAILED, ERROR = "Succeeded", "Failed", "Error"

JSON = dict[str, Any]
LogSink = Callable[[str], None]


class UnsupportedTemplate(ValueError):
    """The template uses something podrun cannot run faithfully (or cannot resolve). `field` is its path."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidTemplate(UnsupportedTemplate):
    """The template is invalid: Kubernetes or Argo would reject it too."""


class PodError(RuntimeError):
    """The pod cannot start on this machine: image missing, a required secret or host directory missing."""


@dataclass(frozen=True)
class Mounts:
    """Host directories behind the pod's volumes (see the module docstring)."""

    workspace: str | os.PathLike[str] | None = None
    secrets: Mapping[str, str | os.PathLike[str]] = field(default_factory=dict)
    config_maps: Mapping[str, str | os.PathLike[str]] = field(default_factory=dict)
    volumes: Mapping[str, str | os.PathLike[str]] = field(default_factory=dict)
    scratch: str | os.PathLike[str] | None = None

    @classmethod
    def of(cls, mounts: Mounts | Mapping[str, Any] | None) -> Mounts:
        if mounts is None:
            return cls()
        if isinstance(mounts, Mounts):
            return mounts
        unknown = set(mounts) - {"workspace", "secrets", "config_maps", "volumes", "scratch"}
        if unknown:
            raise TypeError(f"mounts: unknown keys {sorted(unknown)}")
        return cls(**dict(mounts))


@dataclass
class PodResult:
    exit_code: int | None  # the main container's exit code (None: it never ran)
    outputs: dict[str, str]  # output parameter name -> value
    logs: str  # every container's stdout+stderr, init containers first (their lines prefixed)
    message: str  # Argo-style node message ("" when it succeeded)
    started_at: datetime
    finished_at: datetime
    phase: str = SUCCEEDED  # Succeeded | Failed | Error
    stdout: str = ""  # the main container's stdout (Argo's outputs.result)
    notes: list[str] = field(default_factory=list)  # fields accepted but mapped approximately or ignored
    deadline_exceeded: bool = False

    @property
    def succeeded(self) -> bool:
        return self.phase == SUCCEEDED


# ------------------------------------------------------------------------------------------------ plan


@dataclass
class VolumePlan:
    name: str
    kind: str  # host | emptyDir | secret | configMap
    source: Path | None = None  # host: the directory; secret/configMap: the host dir with the keys (None: absent)
    optional: bool = False
    items: list[JSON] = field(default_factory=list)
    default_mode: int = 0o644
    memory: bool = False
    size_limit: float | None = None


@dataclass
class MountPlan:
    volume: str
    target: str
    sub_path: str = ""
    read_only: bool = False


@dataclass
class ContainerPlan:
    name: str
    image: str
    entrypoint: list[str] | None
    command: list[str] | None
    environment: dict[str, str] = field(repr=False)  # may hold secret values
    mounts: list[MountPlan]
    working_dir: str | None = None
    user: str | None = None
    uid: int | None = None
    group_add: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    read_only: bool = False
    security_opt: list[str] = field(default_factory=list)
    privileged: bool = False
    run_as_non_root: bool = False
    mem_limit: int | None = None
    nano_cpus: int | None = None
    init: bool = False

    def docker_kwargs(self) -> JSON:
        """Keyword arguments for `client.containers.create` (mounts excluded: they need the host paths)."""
        kwargs: JSON = {
            "image": self.image,
            "network_mode": "host",
            "environment": dict(self.environment),
            "detach": True,
        }
        if self.entrypoint is not None:
            kwargs["entrypoint"] = self.entrypoint
        if self.command is not None:
            kwargs["command"] = self.command
        if self.working_dir:
            kwargs["working_dir"] = self.working_dir
        if self.user is not None:
            kwargs["user"] = self.user
        optional: JSON = {
            "group_add": self.group_add,
            "cap_add": self.cap_add,
            "cap_drop": self.cap_drop,
            "security_opt": self.security_opt,
        }
        kwargs.update({key: value for key, value in optional.items() if value})
        if self.read_only:
            kwargs["read_only"] = True
        if self.privileged:
            kwargs["privileged"] = True
        if self.mem_limit is not None:
            kwargs["mem_limit"] = self.mem_limit
            kwargs["memswap_limit"] = self.mem_limit  # Kubernetes nodes run without swap
        if self.nano_cpus is not None:
            kwargs["nano_cpus"] = self.nano_cpus
        return kwargs


@dataclass(frozen=True)
class OutputPlan:
    name: str
    path: str
    default: str | None


@dataclass
class PodPlan:
    name: str
    containers: list[ContainerPlan]  # init containers first, the main container last
    volumes: dict[str, VolumePlan]
    outputs: list[OutputPlan]
    deadline: float | None
    labels: dict[str, str]
    fs_group: int | None
    notes: list[str]
    scratch: Path | None

    @property
    def main(self) -> ContainerPlan:
        return self.containers[-1]


# Template keys: handled here, handled by the runner/controller (ignored), or scheduling only (ignored).
_TEMPLATE_KEYS = {
    "name", "container", "inputs", "outputs", "volumes", "initContainers", "securityContext", "podSpecPatch",
    "activeDeadlineSeconds", "timeout", "metadata",
}  # fmt: skip
_CONTROLLER_KEYS = {
    "retryStrategy", "synchronization", "memoize", "metrics", "hooks", "failFast", "parallelism", "archiveLocation",
    "serviceAccountName", "automountServiceAccountToken", "executor", "nodeSelector", "tolerations", "affinity",
    "priorityClassName", "priority", "schedulerName", "annotations", "labels",
}  # fmt: skip
_CONTAINER_KEYS = {
    "name", "image", "command", "args", "workingDir", "env", "envFrom", "volumeMounts", "resources",
    "securityContext", "imagePullPolicy", "terminationMessagePath", "terminationMessagePolicy", "ports",
}  # fmt: skip
_INIT_KEYS = _CONTAINER_KEYS | {"mirrorVolumeMounts"}
_POD_SECURITY_KEYS = {
    "runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "fsGroupChangePolicy", "supplementalGroups",
    "supplementalGroupsPolicy", "seccompProfile", "appArmorProfile", "sysctls", "seLinuxOptions",
    "seLinuxChangePolicy",
}  # fmt: skip
_CONTAINER_SECURITY_KEYS = {
    "runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "capabilities", "allowPrivilegeEscalation",
    "privileged", "seccompProfile", "appArmorProfile", "procMount", "seLinuxOptions",
}  # fmt: skip
_VOLUME_KINDS = {"emptyDir", "secret", "configMap", "persistentVolumeClaim"}


def plan_pod(
    template: Mapping[str, Any],
    variables: Mapping[str, str],
    mounts: Mounts | Mapping[str, Any] | None = None,
    *,
    name: str,
) -> PodPlan:
    """Validate `template` and map it to Docker terms without touching Docker (see the module docstring)."""
    mounts = Mounts.of(mounts)
    if not isinstance(template, Mapping):
        raise UnsupportedTemplate("<template>", "expected a mapping")
    unknown = sorted(set(template) - _TEMPLATE_KEYS - _CONTROLLER_KEYS)
    if unknown:
        raise UnsupportedTemplate(unknown[0], _unknown_reason(unknown[0], "template"))
    if "container" not in template:
        raise UnsupportedTemplate("container", "only container templates run as pods")
    notes: list[str] = []
    values = _variables(template, variables, name)
    resolved: JSON = _substitute({k: v for k, v in template.items() if k != "inputs"}, values, "")
    volumes = _plan_volumes(resolved.get("volumes") or [], mounts, notes)
    pod_security = _mapping(resolved.get("securityContext"), "securityContext")
    _check_keys(pod_security, _POD_SECURITY_KEYS, "securityContext")
    _check_pod_security(pod_security, notes)
    _apply_pod_spec_patch(resolved.get("podSpecPatch"), notes)
    main_spec = _mapping(resolved["container"], "container")
    containers: list[ContainerPlan] = []
    for index, init in enumerate(resolved.get("initContainers") or []):
        where = f"initContainers[{index}]"
        init_spec = dict(_mapping(init, where))
        _check_keys(init_spec, _INIT_KEYS, where)
        if init_spec.pop("mirrorVolumeMounts", False):
            init_spec["volumeMounts"] = [*(init_spec.get("volumeMounts") or []), *(main_spec.get("volumeMounts") or [])]
        plan = _plan_container(
            init_spec,
            where,
            pod_security=pod_security,
            volumes=volumes,
            mounts=mounts,
            pod_name=name,
            values=values,
            notes=notes,
        )
        plan.init = True
        if not plan.name or plan.name == "main":
            raise InvalidTemplate(f"{where}.name", "init containers need a name other than 'main'")
        containers.append(plan)
    _check_keys(main_spec, _CONTAINER_KEYS, "container")
    main = _plan_container(
        main_spec,
        "container",
        pod_security=pod_security,
        volumes=volumes,
        mounts=mounts,
        pod_name=name,
        values=values,
        notes=notes,
    )
    main.name = "main"  # Argo names the template's container `main`
    containers.append(main)
    for container in containers:
        for mount in container.mounts:
            if mount.volume not in volumes:
                volumes[mount.volume] = _implicit_volume(mount.volume, mounts, container.name)
    outputs = _plan_outputs(resolved.get("outputs") or {})
    deadline = _deadline(resolved)
    labels = {LABEL_POD: name}
    metadata = _mapping(resolved.get("metadata"), "metadata")
    for key in ("labels", "annotations"):
        for label, value in _mapping(metadata.get(key), f"metadata.{key}").items():
            labels[str(label)] = str(value)
    for key in sorted(set(template) & _CONTROLLER_KEYS):
        notes.append(f"{key}: not applied by podrun (controller/scheduler field)")
    fs_group = pod_security.get("fsGroup")
    return PodPlan(
        name=name,
        containers=containers,
        volumes=volumes,
        outputs=outputs,
        deadline=deadline,
        labels=labels,
        fs_group=int(fs_group) if fs_group is not None else None,
        notes=notes,
        scratch=Path(mounts.scratch) if mounts.scratch else None,
    )


def _unknown_reason(key: str, where: str) -> str:
    hints = {
        "script": "script templates are not supported (the pack keeps logic in steps/, not in templates)",
        "sidecars": "sidecars are not supported",
        "steps": "only container templates run as pods (the runner expands steps)",
        "dag": "only container templates run as pods",
        "resource": "resource templates need a Kubernetes API server",
        "containerSet": "containerSet templates are not supported",
        "daemon": "daemon containers are not supported",
        "hostAliases": "hostAliases are not supported",
    }
    return hints.get(key, f"not supported in a {where} by podrun")


def _check_keys(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in sorted(mapping):
        if key not in allowed:
            raise UnsupportedTemplate(f"{where}.{key}", _unknown_reason(key, where))


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidTemplate(where, f"expected a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidTemplate(where, f"expected a list, got {type(value).__name__}")
    return value


# ------------------------------------------------------------------------------------------ substitution


def _variables(template: Mapping[str, Any], given: Mapping[str, str], name: str) -> dict[str, str]:
    values = {"pod.name": name, **{str(k): str(v) for k, v in given.items()}}
    inputs = _mapping(template.get("inputs"), "inputs")
    if inputs.get("artifacts"):
        raise UnsupportedTemplate("inputs.artifacts", "input artifacts need an artifact repository")
    for index, param in enumerate(_list(inputs.get("parameters"), "inputs.parameters")):
        where = f"inputs.parameters[{index}]"
        pname = _mapping(param, where).get("name")
        if not pname:
            raise InvalidTemplate(f"{where}.name", "missing")
        key = f"inputs.parameters.{pname}"
        if key in values:
            value = values[key]
        elif "value" in param:
            value = _substitute(str(param["value"]), values, f"{where}.value")
        elif "default" in param:
            value = _substitute(str(param["default"]), values, f"{where}.default")
        else:
            raise InvalidTemplate(where, f"input parameter '{pname}' has no value and no default")
        enum = param.get("enum")
        if enum and value not in [str(e) for e in enum]:
            raise InvalidTemplate(where, f"value {value!r} of '{pname}' is not one of {enum}")
        values[key] = value
    return values


def _substitute(value: Any, values: Mapping[str, str], path: str) -> Any:
    """Argo's `{{...}}` substitution over strings anywhere in `value`; keys and structure stay."""
    if isinstance(value, str):

        def replace(tag: str) -> str:
            if tag.startswith(argo.EXPRESSION_PREFIX):
                raise UnsupportedTemplate(path or "<template>", f"expression tag {argo.spelled(tag)} is not supported")
            if tag not in values:
                raise UnsupportedTemplate(path or "<template>", f"unresolved variable {argo.spelled(tag)}")
            return values[tag]

        return argo.substitute(value, replace)
    if isinstance(value, Mapping):
        return {k: _substitute(v, values, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def expand_k8s(text: str, env: Mapping[str, str]) -> str:
    """The kubelet's `$(VAR)` expansion: defined variables are replaced, `$$` is a literal `$`, the rest stays."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    var = text[i + 2 : end]
                    out.append(env[var] if var in env else text[i : end + 1])
                    i = end + 1
                    continue
        out.append(char)
        i += 1
    return "".join(out)


# --------------------------------------------------------------------------------------------- volumes


def _plan_volumes(volumes: Sequence[Any], mounts: Mounts, notes: list[str]) -> dict[str, VolumePlan]:
    planned: dict[str, VolumePlan] = {}
    for index, raw in enumerate(_list(volumes, "volumes")):
        where = f"volumes[{index}]"
        volume = _mapping(raw, where)
        vname = str(volume.get("name") or "")
        kinds = [k for k in volume if k != "name"]
        if not vname or len(kinds) != 1:
            raise InvalidTemplate(where, "a volume needs a name and exactly one source")
        kind = kinds[0]
        if kind not in _VOLUME_KINDS:
            raise UnsupportedTemplate(f"{where}.{kind}", f"volume source '{kind}' is not supported")
        spec = _mapping(volume[kind], f"{where}.{kind}")
        if kind == "emptyDir":
            _check_keys(spec, {"medium", "sizeLimit"}, f"{where}.emptyDir")
            medium = spec.get("medium") or ""
            if medium not in ("", "Memory"):
                raise UnsupportedTemplate(f"{where}.emptyDir.medium", f"medium {medium!r} is not supported")
            size = parse_quantity(spec["sizeLimit"], f"{where}.emptyDir.sizeLimit") if "sizeLimit" in spec else None
            if size is not None:
                notes.append(f"{where}.emptyDir.sizeLimit: not enforced by podrun")
            planned[vname] = VolumePlan(vname, "emptyDir", memory=medium == "Memory", size_limit=size)
        elif kind in ("secret", "configMap"):
            key_name = "secretName" if kind == "secret" else "name"
            _check_keys(spec, {key_name, "optional", "items", "defaultMode"}, f"{where}.{kind}")
            source_name = str(spec.get(key_name) or "")
            table = mounts.secrets if kind == "secret" else mounts.config_maps
            host = table.get(source_name)
            items = [dict(_mapping(i, f"{where}.{kind}.items")) for i in _list(spec.get("items"), f"{where}.items")]
            for item_index, item in enumerate(items):
                _check_keys(item, {"key", "path", "mode"}, f"{where}.{kind}.items[{item_index}]")
            planned[vname] = VolumePlan(
                vname,
                kind,
                source=Path(host) if host is not None else None,
                optional=bool(spec.get("optional", False)),
                items=items,
                default_mode=int(spec.get("defaultMode", 0o644)),
            )
        else:  # persistentVolumeClaim
            _check_keys(spec, {"claimName", "readOnly"}, f"{where}.persistentVolumeClaim")
            claim = str(spec.get("claimName") or "")
            host = mounts.volumes.get(claim) or mounts.volumes.get(vname)
            if host is None and contract.WORKSPACE_VOLUME in (claim, vname):
                host = mounts.workspace
            if host is None:
                raise PodError(f"{where}: no host directory for claim '{claim}' (give mounts.volumes['{claim}'])")
            planned[vname] = VolumePlan(vname, "host", source=Path(host))
    return planned


def _implicit_volume(vname: str, mounts: Mounts, container: str) -> VolumePlan:
    """A mount of a volume the template does not declare: a workflow-level claim or volume."""
    host = mounts.volumes.get(vname)
    if host is None and vname == contract.WORKSPACE_VOLUME:
        host = mounts.workspace
    if host is None:
        raise PodError(
            f"container {container} mounts volume '{vname}', which neither the template declares nor mounts gives "
            f"(mounts.workspace for '{contract.WORKSPACE_VOLUME}', mounts.volumes for others)"
        )
    return VolumePlan(vname, "host", source=Path(host))


# ------------------------------------------------------------------------------------------ containers


def _plan_container(
    spec: Mapping[str, Any],
    where: str,
    *,
    pod_security: Mapping[str, Any],
    volumes: Mapping[str, VolumePlan],
    mounts: Mounts,
    pod_name: str,
    values: Mapping[str, str],
    notes: list[str],
) -> ContainerPlan:
    image = spec.get("image")
    if not image or not isinstance(image, str):
        raise InvalidTemplate(f"{where}.image", "missing")
    if spec.get("ports"):
        notes.append(f"{where}.ports: host networking, ports are not published")
    environment = _environment(spec, where, mounts, pod_name, values)
    command = [expand_k8s(str(a), environment) for a in _list(spec.get("command"), f"{where}.command")]
    args = [expand_k8s(str(a), environment) for a in _list(spec.get("args"), f"{where}.args")]
    plan = ContainerPlan(
        name=str(spec.get("name") or ""),
        image=image,
        entrypoint=command or None,
        command=args or None,
        environment=environment,
        mounts=[],
        working_dir=str(spec["workingDir"]) if spec.get("workingDir") else None,
    )
    for index, raw in enumerate(_list(spec.get("volumeMounts"), f"{where}.volumeMounts")):
        mwhere = f"{where}.volumeMounts[{index}]"
        mount = _mapping(raw, mwhere)
        _check_keys(mount, {"name", "mountPath", "readOnly", "subPath"}, mwhere)
        if not mount.get("name") or not mount.get("mountPath"):
            raise InvalidTemplate(mwhere, "a volume mount needs name and mountPath")
        sub_path = str(mount.get("subPath") or "")
        if sub_path.startswith("/") or ".." in PurePosixPath(sub_path).parts:
            raise InvalidTemplate(f"{mwhere}.subPath", "must be a relative path without '..'")
        volume = volumes.get(str(mount["name"]))
        read_only = bool(mount.get("readOnly", False)) or (
            volume is not None and volume.kind in ("secret", "configMap")
        )
        plan.mounts.append(MountPlan(str(mount["name"]), str(mount["mountPath"]), sub_path, read_only))
    _apply_resources(plan, _mapping(spec.get("resources"), f"{where}.resources"), f"{where}.resources", notes)
    security = _mapping(spec.get("securityContext"), f"{where}.securityContext")
    _check_keys(security, _CONTAINER_SECURITY_KEYS, f"{where}.securityContext")
    _apply_security(plan, pod_security, security, f"{where}.securityContext", notes)
    return plan


def _read_key(directory: Path | None, key: str) -> str | None:
    if directory is None:
        return None
    path = Path(directory) / key
    return path.read_text() if path.is_file() else None


def _environment(
    spec: Mapping[str, Any], where: str, mounts: Mounts, pod_name: str, values: Mapping[str, str]
) -> dict[str, str]:
    env: dict[str, str] = {}
    for index, raw in enumerate(_list(spec.get("envFrom"), f"{where}.envFrom")):
        ewhere = f"{where}.envFrom[{index}]"
        source = _mapping(raw, ewhere)
        _check_keys(source, {"secretRef", "configMapRef", "prefix"}, ewhere)
        prefix = str(source.get("prefix") or "")
        for kind, table in (("secretRef", mounts.secrets), ("configMapRef", mounts.config_maps)):
            if kind not in source:
                continue
            ref = _mapping(source[kind], f"{ewhere}.{kind}")
            host = table.get(str(ref.get("name")))
            if host is None or not Path(host).is_dir():
                if ref.get("optional"):
                    continue
                raise PodError(f"{ewhere}.{kind}: '{ref.get('name')}' not found (give it in mounts)")
            for path in sorted(Path(host).iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    env[prefix + path.name] = path.read_text()
    for index, raw_item in enumerate(_list(spec.get("env"), f"{where}.env")):
        ewhere = f"{where}.env[{index}]"
        item = _mapping(raw_item, ewhere)
        _check_keys(item, {"name", "value", "valueFrom"}, ewhere)
        ename = str(item.get("name") or "")
        if not ename:
            raise InvalidTemplate(f"{ewhere}.name", "missing")
        if "valueFrom" not in item:
            env[ename] = expand_k8s(str(item.get("value", "")), env)
            continue
        value_from = _mapping(item["valueFrom"], f"{ewhere}.valueFrom")
        _check_keys(value_from, {"secretKeyRef", "configMapKeyRef", "fieldRef"}, f"{ewhere}.valueFrom")
        if "fieldRef" in value_from:
            field_path = str(_mapping(value_from["fieldRef"], f"{ewhere}.valueFrom.fieldRef").get("fieldPath"))
            fields = {
                "metadata.name": pod_name,
                "metadata.namespace": values.get("workflow.namespace", "default"),
                "status.podIP": "127.0.0.1",
                "status.hostIP": "127.0.0.1",
            }
            if field_path not in fields:
                raise UnsupportedTemplate(f"{ewhere}.valueFrom.fieldRef.fieldPath", f"'{field_path}' not supported")
            env[ename] = fields[field_path]
            continue
        kind = "secretKeyRef" if "secretKeyRef" in value_from else "configMapKeyRef"
        ref = _mapping(value_from[kind], f"{ewhere}.valueFrom.{kind}")
        table = mounts.secrets if kind == "secretKeyRef" else mounts.config_maps
        host = table.get(str(ref.get("name")))
        value = _read_key(Path(host) if host is not None else None, str(ref.get("key")))
        if value is None:
            if ref.get("optional"):
                continue
            raise PodError(f"{ewhere}.valueFrom.{kind}: key '{ref.get('key')}' of '{ref.get('name')}' not found")
        env[ename] = value
    return env


_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_SUFFIX = {
    None: 1, "m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip


def parse_quantity(value: Any, where: str) -> float:
    """A Kubernetes resource quantity ("512Mi", "1.5", "250m", "1e3") as a number."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise InvalidTemplate(where, f"not a resource quantity: {value!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def _apply_resources(plan: ContainerPlan, resources: Mapping[str, Any], where: str, notes: list[str]) -> None:
    _check_keys(resources, {"limits", "requests"}, where)
    for kind in ("limits", "requests"):
        for resource in _mapping(resources.get(kind), f"{where}.{kind}"):
            if resource not in ("cpu", "memory", "ephemeral-storage"):
                raise UnsupportedTemplate(f"{where}.{kind}.{resource}", "only cpu, memory, ephemeral-storage")
    limits = _mapping(resources.get("limits"), f"{where}.limits")
    if "memory" in limits:
        plan.mem_limit = int(parse_quantity(limits["memory"], f"{where}.limits.memory"))
    if "cpu" in limits:
        # Docker refuses a limit above the host's CPUs; a cluster node would simply have more.
        cpus = min(parse_quantity(limits["cpu"], f"{where}.limits.cpu"), os.cpu_count() or 1)
        plan.nano_cpus = int(cpus * 1e9)
    if "ephemeral-storage" in limits:
        notes.append(f"{where}.limits.ephemeral-storage: not enforced by podrun")


def _check_pod_security(pod: Mapping[str, Any], notes: list[str]) -> None:
    for key in ("seLinuxOptions", "sysctls"):
        if pod.get(key):
            raise UnsupportedTemplate(f"securityContext.{key}", "not supported by podrun")
    for key in ("fsGroupChangePolicy", "supplementalGroupsPolicy", "seLinuxChangePolicy"):
        if key in pod:
            notes.append(f"securityContext.{key}: ignored")


def _apply_pod_spec_patch(patch: Any, notes: list[str]) -> None:
    if not patch:
        return
    import yaml

    try:
        parsed = yaml.safe_load(patch) if isinstance(patch, str) else patch
    except yaml.YAMLError as error:
        raise InvalidTemplate("podSpecPatch", f"not JSON/YAML: {error}") from error
    parsed = _mapping(parsed, "podSpecPatch")
    for key, value in parsed.items():
        if key == "hostUsers" and value in (False, True):
            if value is False:
                notes.append("podSpecPatch.hostUsers=false: no-op (Docker gives containers no own user namespace)")
            continue
        raise UnsupportedTemplate(f"podSpecPatch.{key}", "only `hostUsers: false` is supported in podSpecPatch")


def _seccomp(profile: Mapping[str, Any], where: str) -> list[str]:
    kind = profile.get("type")
    if kind in (None, "RuntimeDefault"):
        # Docker's default profile is the runtime default. (Unset means Unconfined on a kubelet without
        # seccompDefault; the pack's templates always set RuntimeDefault, so unset stays confined here.)
        return []
    if kind == "Unconfined":
        return ["seccomp=unconfined"]
    raise UnsupportedTemplate(f"{where}.type", f"seccomp profile {kind!r} is not supported")


def _apply_security(
    plan: ContainerPlan, pod: Mapping[str, Any], own: Mapping[str, Any], where: str, notes: list[str]
) -> None:
    """Container-level fields override the pod-level ones (Kubernetes semantics)."""

    def pick(key: str) -> Any:
        return own[key] if key in own else pod.get(key)

    uid, gid = pick("runAsUser"), pick("runAsGroup")
    if gid is not None and uid is None:
        raise UnsupportedTemplate(f"{where}.runAsGroup", "runAsGroup without runAsUser: set both")
    if uid is not None:
        plan.uid = int(uid)
        plan.user = f"{int(uid)}:{int(gid)}" if gid is not None else str(int(uid))
    plan.run_as_non_root = bool(pick("runAsNonRoot"))  # checked against the image when the pod starts
    groups = [str(int(g)) for g in _list(pod.get("supplementalGroups"), "securityContext.supplementalGroups")]
    if pod.get("fsGroup") is not None:
        groups.append(str(int(pod["fsGroup"])))
    plan.group_add = list(dict.fromkeys(groups))
    capabilities = _mapping(own.get("capabilities"), f"{where}.capabilities")
    _check_keys(capabilities, {"add", "drop"}, f"{where}.capabilities")
    plan.cap_add = [str(c) for c in _list(capabilities.get("add"), f"{where}.capabilities.add")]
    plan.cap_drop = [str(c) for c in _list(capabilities.get("drop"), f"{where}.capabilities.drop")]
    plan.privileged = bool(own.get("privileged", False))
    plan.read_only = bool(own.get("readOnlyRootFilesystem", False))
    escalation = own.get("allowPrivilegeEscalation")
    if escalation is False:
        added = {c.upper().removeprefix("CAP_") for c in plan.cap_add}
        if plan.privileged:
            raise InvalidTemplate(f"{where}.allowPrivilegeEscalation", "cannot be false with privileged: true")
        if "SYS_ADMIN" in added:
            raise InvalidTemplate(
                f"{where}.allowPrivilegeEscalation", "cannot be false with capabilities.add SYS_ADMIN"
            )
        plan.security_opt.append("no-new-privileges")
    seccomp_where = f"{where}.seccompProfile" if "seccompProfile" in own else "securityContext.seccompProfile"
    plan.security_opt += _seccomp(_mapping(pick("seccompProfile"), seccomp_where), seccomp_where)
    apparmor = _mapping(pick("appArmorProfile"), f"{where}.appArmorProfile")
    if apparmor.get("type") not in (None, "RuntimeDefault", "Unconfined"):
        raise UnsupportedTemplate(f"{where}.appArmorProfile", f"type {apparmor.get('type')!r} is not supported")
    if apparmor:
        notes.append(f"{where}.appArmorProfile: no AppArmor on this host; ignored")
    if own.get("procMount") not in (None, "Default"):
        raise UnsupportedTemplate(f"{where}.procMount", "only Default is supported")
    if own.get("seLinuxOptions"):
        raise UnsupportedTemplate(f"{where}.seLinuxOptions", "not supported by podrun")


def _plan_outputs(outputs: Mapping[str, Any]) -> list[OutputPlan]:
    outputs = _mapping(outputs, "outputs")
    _check_keys(outputs, {"parameters"}, "outputs")
    planned = []
    for index, raw in enumerate(_list(outputs.get("parameters"), "outputs.parameters")):
        where = f"outputs.parameters[{index}]"
        param = _mapping(raw, where)
        _check_keys(param, {"name", "valueFrom", "globalName", "description"}, where)
        value_from = _mapping(param.get("valueFrom"), f"{where}.valueFrom")
        _check_keys(value_from, {"path", "default"}, f"{where}.valueFrom")
        if not value_from.get("path"):
            raise UnsupportedTemplate(f"{where}.valueFrom", "a container template's output needs valueFrom.path")
        default = value_from.get("default")
        planned.append(
            OutputPlan(str(param["name"]), str(value_from["path"]), None if default is None else str(default))
        )
    return planned


def parse_duration(value: Any, where: str) -> float:
    """Seconds from an int or a Go duration ("90", "90s", "1m30s", "2h"), as Argo reads it; InvalidTemplate else."""
    try:
        return argo.parse_duration(value)
    except ValueError as exc:
        raise InvalidTemplate(where, str(exc)) from None


def _deadline(template: Mapping[str, Any]) -> float | None:
    limits = [parse_duration(template[k], k) for k in ("activeDeadlineSeconds", "timeout") if template.get(k)]
    return min(limits) if limits else None


# ------------------------------------------------------------------------------------------------- run


def run_pod(
    template: Mapping[str, Any],
    variables: Mapping[str, str],
    mounts: Mounts | Mapping[str, Any] | None = None,
    *,
    name: str,
    client: Any = None,
    on_log: LogSink | None = None,
    deadline_seconds: float | None = None,
    cancel: threading.Event | None = None,
    keep: bool = False,
) -> PodResult:
    """Run `template` as a pod named `name` (see the module docstring). `keep` leaves containers and
    temporary volumes behind for debugging."""
    plan = plan_pod(template, variables, mounts, name=name)
    if deadline_seconds is not None:
        plan.deadline = min(deadline_seconds, plan.deadline) if plan.deadline else deadline_seconds
    if client is None:
        import docker

        client = docker.from_env()
    _check_images(client, plan)
    return _Pod(client, plan, on_log, cancel, keep).run()


def _check_images(client: Any, plan: PodPlan) -> None:
    import docker.errors

    for container in plan.containers:
        try:
            client.images.get(container.image)
        except docker.errors.ImageNotFound:
            raise PodError(
                f"image {container.image} (container {container.name}) is not in the local engine and podrun "
                f"never pulls: {BUILD_HINT}"
            ) from None


def image_user_problem(image_user: str | None, plan_uid: int | None) -> str | None:
    """The kubelet's runAsNonRoot verdict for a container (None: it may start)."""
    if plan_uid is not None:
        return "container's runAsUser breaks non-root policy" if plan_uid == 0 else None
    user = (image_user or "").split(":", 1)[0]
    if user in ("", "root", "0"):
        return "container has runAsNonRoot and image will run as root"
    if not user.isdigit():
        return f"container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root"
    return None


class _Pod:
    def __init__(
        self, client: Any, plan: PodPlan, on_log: LogSink | None, cancel: threading.Event | None, keep: bool
    ) -> None:
        self.client = client
        self.plan = plan
        self.on_log = on_log
        self.cancel = cancel
        self.keep = keep
        self.root: Path | None = None
        self.host_dirs: dict[str, Path] = {}
        self.containers: list[Any] = []
        self.logs: list[str] = []
        self.suffix = os.urandom(3).hex()

    def run(self) -> PodResult:
        started = datetime.now(UTC)
        try:
            self._materialize_volumes()
            return self._run_containers(started)
        finally:
            if not self.keep:
                self._cleanup()

    # -- volumes ---------------------------------------------------------------------------------------

    def _materialize_volumes(self) -> None:
        scratch = str(self.plan.scratch) if self.plan.scratch else None
        self.root = Path(tempfile.mkdtemp(prefix=f"podrun-{_safe(self.plan.name)[:40]}-", dir=scratch))
        fs_group = self.plan.fs_group
        for volume in self.plan.volumes.values():
            if volume.kind == "host":
                assert volume.source is not None
                if not volume.source.is_dir():
                    raise PodError(f"volume {volume.name}: host directory {volume.source} does not exist")
                if fs_group is not None:
                    _apply_fs_group(volume.source, fs_group)
                self.host_dirs[volume.name] = volume.source
            elif volume.kind == "emptyDir":
                base = _memory_root() if volume.memory else None
                directory = Path(tempfile.mkdtemp(prefix=f"{_safe(volume.name)}-", dir=base or self.root))
                directory.chmod(0o777)
                if fs_group is not None:
                    _apply_fs_group(directory, fs_group)
                self.host_dirs[volume.name] = directory
            else:
                self.host_dirs[volume.name] = self._project(volume, fs_group)

    def _project(self, volume: VolumePlan, fs_group: int | None) -> Path:
        """A secret/configMap volume as the kubelet writes it: one file per key (or per item), mode applied."""
        assert self.root is not None
        directory = self.root / f"{volume.kind}-{_safe(volume.name)}"
        directory.mkdir(mode=0o755)
        source = volume.source
        if source is None or not source.is_dir():
            if volume.optional:
                return directory
            raise PodError(
                f"volume {volume.name}: {volume.kind} not found and not optional (give its directory in mounts)"
            )
        if volume.items:
            entries = [(str(i["key"]), str(i.get("path") or i["key"]), i.get("mode")) for i in volume.items]
        else:
            entries = [(p.name, p.name, None) for p in sorted(source.iterdir()) if p.is_file()]
        for key, relative, mode in entries:
            src = source / key
            if not src.is_file():
                if volume.optional:
                    continue
                raise PodError(f"volume {volume.name}: key '{key}' not found in {volume.kind}")
            dest = directory / relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            dest.chmod(int(mode) if mode is not None else volume.default_mode)
            if fs_group is not None and os.geteuid() == 0:
                os.chown(dest, 0, fs_group)
        return directory

    def _docker_mounts(self, container: ContainerPlan) -> list[Any]:
        from docker.types import Mount

        result = []
        for mount in container.mounts:
            source = self.host_dirs[mount.volume]
            if mount.sub_path:
                source = source / mount.sub_path
                if not source.exists():
                    source.mkdir(parents=True, exist_ok=True)  # the kubelet creates missing subPaths
            result.append(Mount(mount.target, str(source), type="bind", read_only=mount.read_only))
        return result

    # -- containers ------------------------------------------------------------------------------------

    def _run_containers(self, started: datetime) -> PodResult:
        import docker.errors

        deadline_at = (_now() + self.plan.deadline) if self.plan.deadline else None
        notes = list(self.plan.notes)
        stdout = ""
        for container in self.plan.containers:
            problem = self._non_root_problem(container)
            if problem:
                return self._result(None, started, ERROR, f"{problem} (container {container.name})", notes)
            kwargs = container.docker_kwargs()
            kwargs["mounts"] = self._docker_mounts(container)
            kwargs["name"] = f"{_safe(self.plan.name)[:200]}-{container.name}-{self.suffix}"
            kwargs["labels"] = {**self.plan.labels, LABEL_CONTAINER: container.name}
            try:
                handle = self.client.containers.create(**kwargs)
            except docker.errors.APIError as error:
                raise PodError(f"container {container.name}: docker refused to create it: {error}") from error
            self.containers.append(handle)
            prefix = f"[{container.name}] " if container.init else ""
            try:
                handle.start()
            except docker.errors.APIError as error:
                message = f"container {container.name} failed to start: {error.explanation or error}"
                return self._result(None, started, ERROR, message, notes)
            pump = threading.Thread(target=self._pump, args=(handle, prefix), daemon=True)
            pump.start()
            exit_code, stopped_by = self._wait(handle, deadline_at)
            pump.join(timeout=10)
            if stopped_by == "deadline":
                result = self._result(exit_code, started, FAILED, DEADLINE_MESSAGE, notes)
                result.deadline_exceeded = True
                return result
            if stopped_by == "cancel":
                return self._result(exit_code, started, FAILED, CANCEL_MESSAGE, notes)
            if container.init and exit_code != 0:
                message = f"init container {container.name} failed: Error (exit code {exit_code})"
                return self._result(None, started, FAILED, message, notes)
            if not container.init:
                stdout = handle.logs(stdout=True, stderr=False).decode("utf-8", "replace")
                outputs, missing = self._outputs(handle)
                phase, message = SUCCEEDED, ""
                if exit_code != 0:
                    # Argo v4 names the failed container (operator.go inferFailedReason): `main: Error (exit code 1)`
                    phase, message = FAILED, f"{container.name}: Error (exit code {exit_code})"
                elif missing:
                    phase, message = ERROR, missing
                result = self._result(exit_code, started, phase, message, notes, outputs=outputs)
                result.stdout = stdout
                return result
        raise AssertionError("a pod plan always ends with its main container")

    def _non_root_problem(self, container: ContainerPlan) -> str | None:
        if not container.run_as_non_root:
            return None
        image_user = self.client.images.get(container.image).attrs.get("Config", {}).get("User")
        return image_user_problem(image_user, container.uid)

    def _wait(self, handle: Any, deadline_at: float | None) -> tuple[int | None, str]:
        """Wait for exit; kill on deadline or cancel. Returns (exit code, "" | "deadline" | "cancel")."""
        import requests

        stopped_by = ""
        while True:
            timeout = 1.0
            if deadline_at is not None:
                timeout = max(0.05, min(timeout, deadline_at - _now()))
            try:
                status = handle.wait(timeout=timeout)
                code = status.get("StatusCode")
                return (int(code) if code is not None else None), stopped_by
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                pass
            if stopped_by:
                continue  # killed: wait for the exit to be reported
            if deadline_at is not None and _now() >= deadline_at:
                stopped_by = "deadline"
            elif self.cancel is not None and self.cancel.is_set():
                stopped_by = "cancel"
            if stopped_by:
                _kill(handle)

    def _pump(self, handle: Any, prefix: str) -> None:
        pending = b""
        try:
            for chunk in handle.logs(stream=True, follow=True, stdout=True, stderr=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._emit(prefix + line.decode("utf-8", "replace"))
        except Exception as error:  # noqa: BLE001 - log streaming must never break the pod's result
            self._emit(f"{prefix}[podrun: log stream ended: {error}]")
        if pending:
            self._emit(prefix + pending.decode("utf-8", "replace"))

    def _emit(self, line: str) -> None:
        self.logs.append(line)
        if self.on_log is not None:
            self.on_log(line)

    # -- outputs ---------------------------------------------------------------------------------------

    def _outputs(self, handle: Any) -> tuple[dict[str, str], str]:
        values: dict[str, str] = {}
        missing: list[str] = []
        for output in self.plan.outputs:
            content = self._read_file(handle, output.path)
            if content is None:
                if output.default is not None:
                    values[output.name] = output.default
                else:
                    missing.append(f"output parameter '{output.name}': {output.path}: no such file or directory")
                continue
            text = content.decode("utf-8", "replace")
            values[output.name] = text[:-1] if text.endswith("\n") else text
        return values, "; ".join(missing)

    def _read_file(self, handle: Any, path: str) -> bytes | None:
        host = self._host_path(path)
        if host is not None:
            return host.read_bytes() if host.is_file() else None
        return _archive_file(handle, path)

    def _host_path(self, path: str) -> Path | None:
        """The host file behind a container path when a mount covers it (the deepest mount wins)."""
        target = PurePosixPath(path)
        best: tuple[int, Path] | None = None
        for mount in self.plan.main.mounts:
            mount_path = PurePosixPath(mount.target)
            if target == mount_path or mount_path in target.parents:
                source = (
                    self.host_dirs[mount.volume] / mount.sub_path if mount.sub_path else self.host_dirs[mount.volume]
                )
                candidate = source / target.relative_to(mount_path)
                depth = len(mount_path.parts)
                if best is None or depth > best[0]:
                    best = (depth, candidate)
        return best[1] if best else None

    # -- result and cleanup ----------------------------------------------------------------------------

    def _result(
        self,
        exit_code: int | None,
        started: datetime,
        phase: str,
        message: str,
        notes: list[str],
        *,
        outputs: dict[str, str] | None = None,
    ) -> PodResult:
        return PodResult(
            exit_code=exit_code,
            outputs=outputs or {},
            logs="\n".join(self.logs) + ("\n" if self.logs else ""),
            message=message,
            started_at=started,
            finished_at=datetime.now(UTC),
            phase=phase,
            notes=notes,
        )

    def _cleanup(self) -> None:
        for handle in self.containers:
            with contextlib.suppress(Exception):  # already gone
                handle.remove(force=True)
        for volume in self.plan.volumes.values():
            directory = self.host_dirs.get(volume.name)
            if volume.kind == "emptyDir" and volume.memory and directory is not None:
                shutil.rmtree(directory, ignore_errors=True)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def _kill(handle: Any) -> None:
    with contextlib.suppress(Exception):  # it exited meanwhile
        handle.kill()


def _archive_file(handle: Any, path: str) -> bytes | None:
    """A regular file from a (stopped) container's filesystem, or None."""
    import docker.errors

    try:
        stream, _ = handle.get_archive(path)
    except docker.errors.NotFound:
        return None
    data = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                return extracted.read() if extracted is not None else None
    return None


def _apply_fs_group(directory: Path, gid: int) -> None:
    """What the kubelet does for fsGroup on a writable volume: group ownership, group rw, setgid directories."""
    if os.geteuid() != 0:
        return
    for path in _walk(directory):
        try:
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                continue
            os.chown(path, -1, gid)
            mode = stat.S_IMODE(info.st_mode) | stat.S_IRGRP | stat.S_IWGRP
            if stat.S_ISDIR(info.st_mode):
                mode |= stat.S_IXGRP | stat.S_ISGID
            os.chmod(path, mode)
        except FileNotFoundError:
            continue


def _walk(directory: Path) -> Iterator[Path]:
    yield directory
    for root, dirs, files in os.walk(directory):
        for entry in (*dirs, *files):
            yield Path(root) / entry


def _memory_root() -> Path | None:
    """The host's /dev/shm when it is a writable tmpfs that allows exec (a Memory emptyDir lives there)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "/dev/shm" and parts[2] == "tmpfs" and "noexec" not in parts[3].split(","):
            return Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else None
    return None


def _safe(text: str) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-.")
    return cleaned or "pod"


def _now() -> float:
    return time.monotonic()


def describe(plan: PodPlan) -> str:
    """A JSON summary of a plan without secret values (for `run --dry-run` and test failure messages)."""
    return json.dumps(
        {
            "name": plan.name,
            "deadline": plan.deadline,
            "volumes": {
                k: {"kind": v.kind, "source": str(v.source) if v.source else None} for k, v in plan.volumes.items()
            },
            "containers": [
                {**{k: v for k, v in c.docker_kwargs().items() if k != "environment"}, "env": sorted(c.environment)}
                for c in plan.containers
            ],
            "outputs": [o.__dict__ for o in plan.outputs],
            "notes": plan.notes,
        },
        indent=2,
    )
