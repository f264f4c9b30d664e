"""Load what `run` executes and reject, before anything runs, every field the local runner does not support.

A pipeline is either the name of a ClusterWorkflowTemplate (or WorkflowTemplate) in the templates directory, run
as Argo runs a Workflow with `spec.workflowTemplateRef`, or a Workflow YAML file that references the pack's
templates (`workflowTemplateRef`, or steps with `templateRef`).
"""

from __future__ import annotations

import copy
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hera_workflows.engine import expr
from hera_workflows.upstream import argo_v3_6 as argo
from steps.common import contract

JSON = dict[str, Any]

WORKFLOW_GLOBALS = (
    "workflow.name",
    "workflow.namespace",
    "workflow.uid",
    "workflow.serviceAccountName",
    "workflow.creationTimestamp",
)
POD_LOCALS = ("pod.name", "node.name")
RETRY_NAMES = {"retries", "lastRetry.exitCode", "lastRetry.status", "lastRetry.duration", "lastRetry.message"}
RETRY_POLICIES = ("Always", "OnFailure", "OnError", "OnTransientError")

NOT_SUPPORTED = "not supported by the local runner"
# Fields with no meaning on one local Docker engine: accepted and ignored (scheduling, cluster lifecycle, metadata).
IGNORED_SPEC = {
    "serviceAccountName",
    "automountServiceAccountToken",
    "executor",
    "ttlStrategy",
    "podGC",
    "volumeClaimGC",
    "archiveLogs",
    "podMetadata",
    "workflowMetadata",
    "nodeSelector",
    "affinity",
    "tolerations",
    "imagePullSecrets",
    "priorityClassName",
    "schedulerName",
    "podPriorityClassName",
    "podDisruptionBudget",
    "artifactGC",
    "activeDeadlineSeconds",
    "hostNetwork",
    "dnsPolicy",
    "dnsConfig",
    "metrics",
    "priority",
    "retryStrategy",
}
SPEC_KEYS = {
    "entrypoint",
    "arguments",
    "templates",
    "volumeClaimTemplates",
    "volumes",
    "workflowTemplateRef",
    "securityContext",
    "podSpecPatch",
    "templateDefaults",
    "parallelism",
} | IGNORED_SPEC
IGNORED_TEMPLATE = {
    "metadata",
    "nodeSelector",
    "affinity",
    "tolerations",
    "serviceAccountName",
    "automountServiceAccountToken",
    "priorityClassName",
    "schedulerName",
    "executor",
    "hostAliases",
    "archiveLocation",
    "metrics",
    "memoize",
    "synchronization",
    "failFast",
    "priority",
}
TEMPLATE_KEYS = {
    "name",
    "inputs",
    "outputs",
    "container",
    "steps",
    "volumes",
    "initContainers",
    "securityContext",
    "podSpecPatch",
    "retryStrategy",
    "parallelism",
    "activeDeadlineSeconds",
    "timeout",
} | IGNORED_TEMPLATE
TEMPLATE_TYPES = (
    "container",
    "steps",
    "dag",
    "script",
    "resource",
    "suspend",
    "http",
    "plugin",
    "containerSet",
    "data",
)
STEP_KEYS = {"name", "template", "templateRef", "arguments"}
PARAM_KEYS = {"name", "value", "default", "enum", "description", "globalName"}
VOLUME_KINDS = {"emptyDir", "secret"}


class RunnerError(Exception):
    """Bad input or unsupported fields, found before anything runs. One error per line."""

    def __init__(self, errors: list[str] | str) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


def substitute(text: str, values: Mapping[str, str], where: str) -> str:
    """Replace every `{{…}}` tag in `text` from `values`; a tag without a value is a RunnerError naming `where`."""

    def value_of(key: str) -> str:
        if key not in values:
            raise RunnerError(f"{where}: failed to resolve {argo.spelled(key)}")
        return values[key]

    return argo.substitute(text, value_of)


@dataclass
class Library:
    """The (Cluster)WorkflowTemplates `templateRef`/`workflowTemplateRef` resolve to, with where each came from."""

    cluster: dict[str, JSON] = field(default_factory=dict)
    namespaced: dict[str, JSON] = field(default_factory=dict)
    sources: dict[tuple[bool, str], str] = field(default_factory=dict)

    def add(self, doc: JSON, source: str) -> None:
        kind = doc.get("kind")
        name = str((doc.get("metadata") or {}).get("name") or "")
        if not name:
            raise RunnerError(f"{source}: {kind} without metadata.name")
        cluster = kind == "ClusterWorkflowTemplate"
        table = self.cluster if cluster else self.namespaced
        if name in table:
            raise RunnerError(f"{source}: duplicate {kind} {name!r} (also in {self.sources[(cluster, name)]})")
        table[name] = doc
        self.sources[(cluster, name)] = source

    def get(self, name: str, cluster: bool, where: str) -> JSON:
        table = self.cluster if cluster else self.namespaced
        if name not in table:
            kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
            known = ", ".join(sorted(table)) or "none"
            raise RunnerError(f"{where}: {kind} {name!r} not found (available: {known})")
        return table[name]


def load_library(templates_dir: Path) -> Library:
    library = Library()
    if not templates_dir.is_dir():
        raise RunnerError(f"--templates {templates_dir}: not a directory (render the pack first: make render)")
    for path in sorted(templates_dir.rglob("*.y*ml")):
        if path.name.startswith("kustomization"):
            continue
        for doc in _load_yaml_docs(path):
            if doc.get("kind") in ("ClusterWorkflowTemplate", "WorkflowTemplate"):
                library.add(doc, str(path))
    return library


def _load_yaml_docs(path: Path) -> list[JSON]:
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise RunnerError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise RunnerError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    return [d for d in docs if isinstance(d, dict)]


@dataclass(frozen=True)
class Scope:
    """Where template names resolve: `local/<wf>` (or `local/` for a workflowTemplateRef run) or `cluster/<cwt>`."""

    kind: str
    name: str
    templates: tuple[JSON, ...]
    source: str  # for messages, e.g. "ClusterWorkflowTemplate containerfile-build"

    @property
    def scope(self) -> str:
        return f"{self.kind}/{self.name}"

    def find(self, name: str) -> tuple[int, JSON] | None:
        for index, template in enumerate(self.templates):
            if template.get("name") == name:
                return index, template
        return None

    def where(self, index: int) -> str:
        return f"{self.source}: spec.templates[{index}]"


@dataclass
class Plan:
    """Everything the engine needs, validated."""

    name: str
    namespace: str
    uid: str
    workflow: JSON  # the submitted Workflow object (metadata + spec)
    exec_spec: JSON  # the spec that runs (the referenced template's spec merged with the Workflow's)
    root_scope: Scope
    parameters: dict[str, str]
    library: Library
    secrets: dict[str, Path]
    template_ref_name: str | None = None  # workflowTemplateRef target
    template_ref_cluster: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    # Every container template the entrypoint reaches, as its Pod gets it, with placeholder variables:
    # (location, template, variables), for podrun's pre-run plan check.
    pods: list[tuple[str, JSON, dict[str, str]]] = field(default_factory=list)

    def global_variables(self) -> dict[str, str]:
        return {
            "workflow.name": self.name,
            "workflow.namespace": self.namespace,
            "workflow.uid": self.uid,
            "workflow.serviceAccountName": str(self.exec_spec.get("serviceAccountName") or "default"),
            **{f"workflow.parameters.{k}": v for k, v in self.parameters.items()},
        }

    def template_scope(self, cwt: str, cluster: bool = True) -> Scope:
        doc = self.library.get(cwt, cluster, "templateRef")
        kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
        return Scope("cluster" if cluster else "namespaced", cwt, tuple(_templates(doc)), f"{kind} {cwt}")

    def resolve(self, holder: Mapping[str, Any], scope: Scope) -> tuple[Scope, JSON, int]:
        """The template a step (or the entrypoint) runs, and the scope its own references resolve in."""
        ref = holder.get("templateRef")
        if ref:
            callee = self.template_scope(str(ref.get("name")), bool(ref.get("clusterScope")))
            found = callee.find(str(ref.get("template")))
            if found is None:
                raise RunnerError(f"templateRef {ref.get('name')}/{ref.get('template')}: template not found")
            return callee, found[1], found[0]
        found = scope.find(str(holder.get("template")))
        if found is None:
            raise RunnerError(f"{scope.source}: template {holder.get('template')!r} undefined")
        return scope, found[1], found[0]


def _templates(doc: Mapping[str, Any]) -> list[JSON]:
    return [t for t in (doc.get("spec") or {}).get("templates") or [] if isinstance(t, dict)]


def random_suffix(length: int = 5) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def build_plan(
    pipeline: str,
    params: Mapping[str, str],
    library: Library,
    *,
    secrets_dirs: Mapping[str, Path] | None = None,
    namespace: str = "default",
    name: str | None = None,
) -> Plan:
    """Resolve PIPELINE (a template name or a Workflow file) into a validated Plan."""
    workflow, source = _submitted_workflow(pipeline, library)
    wf_name = _name_workflow(workflow, name, namespace)
    spec = workflow.setdefault("spec", {})
    errors: list[str] = []
    _check_keys(spec, SPEC_KEYS, f"{source}: spec", errors)
    _check_params(spec, params, library, source, errors)
    # --param values become the Workflow's arguments, as `argo submit -p` does.
    _apply_params(spec, params)
    wtr = spec.get("workflowTemplateRef")
    exec_spec, root, labels = _execution_spec(workflow, library, source, errors)
    plan = Plan(
        name=wf_name,
        namespace=namespace,
        uid=_uid(),
        workflow=workflow,
        exec_spec=exec_spec,
        root_scope=root,
        parameters=_workflow_parameters(exec_spec, source, errors),
        library=library,
        secrets=dict(secrets_dirs or {}),
        template_ref_name=str(wtr.get("name")) if wtr else None,
        template_ref_cluster=bool(wtr.get("clusterScope")) if wtr else True,
        labels=labels,
    )
    if not errors:
        Validator(plan, errors).run()
    if errors:
        raise RunnerError(errors)
    return plan


def _submitted_workflow(pipeline: str, library: Library) -> tuple[JSON, str]:
    """(a copy of the Workflow to run, how errors name it): the file PIPELINE, or a Workflow that references the
    template PIPELINE as `argo submit --from` makes it."""
    path = Path(pipeline)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        if not path.is_file():
            raise RunnerError(f"{pipeline}: file not found")
        return copy.deepcopy(_workflow_from_file(path, library)), f"Workflow file {path}"
    cluster = pipeline in library.cluster
    if not cluster and pipeline not in library.namespaced:
        known = ", ".join(sorted(library.cluster) + sorted(library.namespaced)) or "none"
        raise RunnerError(
            f"pipeline {pipeline!r}: no such ClusterWorkflowTemplate in the templates (available: {known})"
        )
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": f"{pipeline}-"},
        "spec": {"workflowTemplateRef": {"name": pipeline, **({"clusterScope": True} if cluster else {})}},
    }
    return workflow, f"Workflow (from {pipeline})"


def _name_workflow(workflow: JSON, name: str | None, namespace: str) -> str:
    """Set metadata.name (given, or generateName plus a random suffix) and metadata.namespace; the name."""
    meta = workflow.setdefault("metadata", {})
    wf_name = name or meta.get("name") or f"{meta.get('generateName') or 'workflow-'}{random_suffix()}"
    if len(wf_name) > 63:
        raise RunnerError(f"metadata.name: {wf_name!r} is longer than 63 characters")
    meta["name"] = wf_name
    meta["namespace"] = namespace
    return str(wf_name)


def _check_params(
    spec: Mapping[str, Any], params: Mapping[str, str], library: Library, source: str, errors: list[str]
) -> None:
    """Every --param must be a parameter of the Workflow or of the template it references."""
    known_params = {str(p.get("name")) for p in (spec.get("arguments") or {}).get("parameters") or []}
    wtr = spec.get("workflowTemplateRef")
    if wtr:
        ref_doc = library.get(
            str(wtr.get("name")), bool(wtr.get("clusterScope")), f"{source}: spec.workflowTemplateRef"
        )
        known_params |= {
            str(p.get("name")) for p in ((ref_doc.get("spec") or {}).get("arguments") or {}).get("parameters") or []
        }
    for key in params:
        if key not in known_params:
            names = ", ".join(sorted(known_params)) or "none"
            errors.append(f"--param {key}: not a parameter of this workflow (parameters: {names})")


def _execution_spec(
    workflow: JSON, library: Library, source: str, errors: list[str]
) -> tuple[JSON, Scope, dict[str, str]]:
    """(the spec that runs, the scope of its templates, the labels Argo adds): a referenced template's spec merged
    with the Workflow's, or the Workflow's own; template defaults applied."""
    spec = workflow["spec"]
    wtr = spec.get("workflowTemplateRef")
    labels: dict[str, str] = {}
    if wtr:
        cluster = bool(wtr.get("clusterScope"))
        template_doc = library.get(str(wtr.get("name")), cluster, f"{source}: spec.workflowTemplateRef")
        root_source = f"{template_doc.get('kind')} {wtr.get('name')}"
        _check_keys(template_doc.get("spec") or {}, SPEC_KEYS, f"{root_source}: spec", errors)
        exec_spec = _merge_spec(template_doc.get("spec") or {}, spec)
        root_kind, root_name = "local", ""
        label = "cluster-workflow-template" if cluster else "workflow-template"
        labels[f"workflows.argoproj.io/{label}"] = str(wtr.get("name"))
    else:
        exec_spec = copy.deepcopy(spec)
        root_kind, root_name, root_source = "local", str(workflow["metadata"]["name"]), source
    _merge_template_defaults(exec_spec)
    return exec_spec, Scope(root_kind, root_name, tuple(exec_spec.get("templates") or []), root_source), labels


def _uid() -> str:
    import uuid

    return str(uuid.uuid4())


def _workflow_from_file(path: Path, library: Library) -> JSON:
    docs = _load_yaml_docs(path)
    workflows = [d for d in docs if d.get("kind") == "Workflow"]
    for doc in docs:
        if doc.get("kind") in ("ClusterWorkflowTemplate", "WorkflowTemplate"):
            library.add(doc, str(path))
    if len(workflows) != 1:
        kinds = ", ".join(str(d.get("kind")) for d in docs) or "nothing"
        raise RunnerError(f"{path}: expected exactly one Workflow, found {kinds}")
    return workflows[0]


def _apply_params(spec: JSON, params: Mapping[str, str]) -> None:
    if not params:
        return
    arguments = spec.setdefault("arguments", {})
    plist = arguments.setdefault("parameters", [])
    for key, value in params.items():
        for entry in plist:
            if entry.get("name") == key:
                entry["value"] = value
                break
        else:
            plist.append({"name": key, "value": value})


def _merge_spec(template_spec: Mapping[str, Any], wf_spec: Mapping[str, Any]) -> JSON:
    """The executed spec of a workflowTemplateRef run: the template's spec, the Workflow's fields on top,
    arguments merged by name (the Workflow's win)."""
    merged = copy.deepcopy(dict(template_spec))
    for key, value in wf_spec.items():
        if key in ("workflowTemplateRef", "arguments"):
            continue
        merged[key] = copy.deepcopy(value)
    base = {p.get("name"): dict(p) for p in ((merged.get("arguments") or {}).get("parameters") or [])}
    for param in (wf_spec.get("arguments") or {}).get("parameters") or []:
        entry = base.setdefault(param.get("name"), {"name": param.get("name")})
        entry.update({k: v for k, v in param.items() if k != "name"})
    if base:
        merged["arguments"] = {"parameters": list(base.values())}
    merged["workflowTemplateRef"] = copy.deepcopy(wf_spec.get("workflowTemplateRef"))
    return merged


def _merge_template_defaults(spec: JSON) -> None:
    defaults = spec.get("templateDefaults")
    if not defaults:
        return
    merged = []
    for template in spec.get("templates") or []:
        combined = copy.deepcopy(defaults)
        _deep_update(combined, template)
        merged.append(combined)
    spec["templates"] = merged


def _deep_update(base: JSON, top: Mapping[str, Any]) -> None:
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def _workflow_parameters(spec: JSON, source: str, errors: list[str]) -> dict[str, str]:
    declared = (spec.get("arguments") or {}).get("parameters") or []
    values: dict[str, str] = {}
    for index, param in enumerate(declared):
        where = f"{source}: spec.arguments.parameters[{index}] ({param.get('name')})"
        extra = set(param) - PARAM_KEYS
        if "valueFrom" in extra:
            errors.append(f"{where}.valueFrom: {NOT_SUPPORTED}")
            continue
        if param.get("value") is None:
            errors.append(f"{where}: no value; pass --param {param.get('name')}=VALUE")
            continue
        value = _scalar(param["value"])
        enum = param.get("enum")
        if enum and value not in [_scalar(e) for e in enum]:
            errors.append(f"{where}: value {value!r} is not one of {enum}")
        values[str(param.get("name"))] = value
    return values


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _check_keys(obj: Mapping[str, Any], allowed: set[str], where: str, errors: list[str]) -> None:
    for key in obj:
        if key not in allowed:
            errors.append(f"{where}.{key}: {NOT_SUPPORTED}")


class Validator:
    """Static checks of everything reachable from the entrypoint."""

    def __init__(self, plan: Plan, errors: list[str]) -> None:
        self.plan = plan
        self.errors = errors
        self.seen: set[tuple[str, str]] = set()
        spec = plan.exec_spec
        self.spec_volumes = {str(v.get("name")): v for v in spec.get("volumes") or []}
        self.claims = [str((c.get("metadata") or {}).get("name")) for c in spec.get("volumeClaimTemplates") or []]

    def run(self) -> None:
        spec = self.plan.exec_spec
        source = self.plan.root_scope.source
        for index, claim in enumerate(self.claims):
            if claim != contract.WORKSPACE_VOLUME:
                self.errors.append(
                    f"{source}: spec.volumeClaimTemplates[{index}] ({claim}): only the "
                    f"{contract.WORKSPACE_VOLUME!r} claim is supported by the local runner"
                )
        for index, volume in enumerate(spec.get("volumes") or []):
            self._check_volume(volume, f"{source}: spec.volumes[{index}]")
        entry = spec.get("entrypoint")
        if not entry:
            self.errors.append(f"{source}: spec.entrypoint is required")
            return
        if self.plan.root_scope.find(str(entry)) is None:
            self.errors.append(f"{source}: spec.entrypoint: template name {entry!r} undefined")
            return
        self.template({"template": entry}, self.plan.root_scope, f"{source}: spec.entrypoint")

    def template(self, holder: Mapping[str, Any], scope: Scope, where: str) -> tuple[Scope, JSON] | None:
        try:
            callee, template, index = self.plan.resolve(holder, scope)
        except RunnerError as exc:
            self.errors.append(f"{where}: {exc}")
            return None
        key = (callee.scope, str(template.get("name")))
        if key in self.seen:
            return callee, template
        self.seen.add(key)
        loc = callee.where(index)
        _check_keys(template, TEMPLATE_KEYS | set(TEMPLATE_TYPES), loc, self.errors)
        kinds = [k for k in TEMPLATE_TYPES if k in template]
        if len(kinds) != 1:
            self.errors.append(f"{loc}: exactly one template type is required, found {kinds or 'none'}")
            return callee, template
        if kinds[0] not in ("container", "steps"):
            self.errors.append(f"{loc}.{kinds[0]}: {NOT_SUPPORTED}")
            return callee, template
        self._inputs(template, loc)
        self._outputs(template, loc, kinds[0])
        if template.get("retryStrategy") is not None:
            self._retry(template["retryStrategy"], f"{loc}.retryStrategy")
        if kinds[0] == "container":
            self._container(template, loc)
        else:
            for field_name in ("initContainers", "volumes", "podSpecPatch", "securityContext", "activeDeadlineSeconds"):
                if field_name in template:
                    self.errors.append(f"{loc}.{field_name}: only on container templates")
            self._steps(template, callee, loc)
        return callee, template

    def _inputs(self, template: Mapping[str, Any], loc: str) -> None:
        inputs = template.get("inputs") or {}
        _check_keys(inputs, {"parameters"}, f"{loc}.inputs", self.errors)
        for i, param in enumerate(inputs.get("parameters") or []):
            _check_keys(param, PARAM_KEYS, f"{loc}.inputs.parameters[{i}]", self.errors)

    def _outputs(self, template: Mapping[str, Any], loc: str, kind: str) -> None:
        outputs = template.get("outputs") or {}
        _check_keys(outputs, {"parameters"}, f"{loc}.outputs", self.errors)
        for i, param in enumerate(outputs.get("parameters") or []):
            where = f"{loc}.outputs.parameters[{i}]"
            _check_keys(param, {"name", "valueFrom", "description", "globalName", "value"}, where, self.errors)
            source = param.get("valueFrom") or {}
            allowed = {"path", "default"} if kind == "container" else {"parameter", "default"}
            _check_keys(source, allowed, f"{where}.valueFrom", self.errors)

    def _retry(self, retry: Mapping[str, Any], loc: str) -> None:
        _check_keys(retry, {"limit", "retryPolicy", "expression", "backoff", "affinity"}, loc, self.errors)
        if retry.get("limit") is None:
            self.errors.append(f"{loc}.limit: required by the local runner (without it Argo retries forever)")
        policy = retry.get("retryPolicy")
        if policy is not None and policy not in RETRY_POLICIES:
            self.errors.append(f"{loc}.retryPolicy: {policy!r} is not one of {', '.join(RETRY_POLICIES)}")
        if retry.get("expression"):
            try:
                expr.parse(str(retry["expression"]), RETRY_NAMES)
            except expr.ExpressionError as exc:
                self.errors.append(f"{loc}.expression: {exc}")
        backoff = retry.get("backoff") or {}
        _check_keys(backoff, {"duration", "factor", "maxDuration", "cap"}, f"{loc}.backoff", self.errors)
        for key in ("duration", "maxDuration", "cap"):
            value = backoff.get(key)
            if value is not None and not argo.has_tag(str(value)):
                try:
                    argo.parse_duration(value)
                except ValueError as exc:
                    self.errors.append(f"{loc}.backoff.{key}: {exc}")

    def _allowed_names(self, template: Mapping[str, Any]) -> set[str]:
        names = set(WORKFLOW_GLOBALS) | {f"workflow.parameters.{p}" for p in self.plan.parameters}
        names |= {f"inputs.parameters.{p.get('name')}" for p in (template.get("inputs") or {}).get("parameters") or []}
        return names

    def _container(self, template: Mapping[str, Any], loc: str) -> None:
        variables = {**self.plan.global_variables(), "workflow.creationTimestamp": "", "retries": "0"}
        variables.update({"pod.name": "preflight", "node.name": "preflight"})
        for param in (template.get("inputs") or {}).get("parameters") or []:
            value = param.get("value", param.get("default"))
            if value is not None and not argo.has_tag(str(value)):
                variables[f"inputs.parameters.{param.get('name')}"] = str(value)
            else:
                variables[f"inputs.parameters.{param.get('name')}"] = "placeholder"
        self.plan.pods.append((loc, pod_template(template, self.plan.exec_spec), variables))
        allowed = self._allowed_names(template) | set(POD_LOCALS)
        if template.get("retryStrategy") is not None:
            allowed.add("retries")
        for path, tag in argo.tags_in({k: v for k, v in template.items() if k != "retryStrategy"}):
            self._tag(tag, allowed, f"{loc}.{path}")
        volumes = {str(v.get("name")): v for v in template.get("volumes") or []}
        for index, volume in enumerate(template.get("volumes") or []):
            self._check_volume(volume, f"{loc}.volumes[{index}]")
        known = set(volumes) | set(self.spec_volumes) | set(self.claims)
        containers = [("container", template.get("container") or {})]
        containers += [(f"initContainers[{i}]", c) for i, c in enumerate(template.get("initContainers") or [])]
        for cpath, container in containers:
            for mindex, mount in enumerate(container.get("volumeMounts") or []):
                if mount.get("name") not in known:
                    self.errors.append(
                        f"{loc}.{cpath}.volumeMounts[{mindex}]: volume '{mount.get('name')}' not found in workflow "
                        "spec (a templateRef caller must declare the volumes the referenced template mounts)"
                    )

    def _check_volume(self, volume: Mapping[str, Any], loc: str) -> None:
        kinds = [k for k in volume if k != "name"]
        if len(kinds) != 1 or kinds[0] not in VOLUME_KINDS:
            self.errors.append(
                f"{loc} ({volume.get('name')}): volume source {kinds} {NOT_SUPPORTED} (emptyDir, secret)"
            )
            return
        if kinds[0] == "secret":
            secret = volume.get("secret") or {}
            name = self._substitute_globals(str(secret.get("secretName") or ""))
            if name is None:
                return  # depends on inputs: checked when the pod starts
            if name not in self.plan.secrets and not secret.get("optional"):
                self.errors.append(
                    f"{loc} ({volume.get('name')}): secret {name!r} is not provided; pass --secret {name}=DIR "
                    "(a directory whose files are the secret's keys)"
                )

    def _substitute_globals(self, text: str) -> str | None:
        values = {f"workflow.parameters.{k}": v for k, v in self.plan.parameters.items()}
        values.update({"workflow.name": self.plan.name, "workflow.namespace": self.plan.namespace})
        unresolved = False

        def repl(tag: str) -> str:
            nonlocal unresolved
            if tag in values:
                return values[tag]
            unresolved = True
            return argo.spelled(tag)

        result = argo.substitute(text, repl)
        return None if unresolved else result

    def _tag(self, tag: str, allowed: set[str], where: str) -> None:
        if tag.startswith("="):
            self.errors.append(f"{where}: expression tag {{{{{tag}}}}} {NOT_SUPPORTED}")
        elif tag not in allowed:
            self.errors.append(f"{where}: failed to resolve {{{{{tag}}}}}")

    def _steps(self, template: Mapping[str, Any], scope: Scope, loc: str) -> None:
        groups = template.get("steps") or []
        base = self._allowed_names(template)
        visible: dict[str, set[str]] = {}  # step name -> names of its output parameters
        names: set[str] = set()
        for gi, group in enumerate(groups):
            if not isinstance(group, list):
                self.errors.append(f"{loc}.steps[{gi}]: expected a list of steps")
                continue
            produced: dict[str, set[str]] = {}
            for si, step in enumerate(group):
                where = f"{loc}.steps[{gi}][{si}]"
                _check_keys(step, STEP_KEYS, where, self.errors)
                step_name = str(step.get("name") or "")
                if not step_name:
                    self.errors.append(f"{where}.name: required")
                if step_name in names:
                    self.errors.append(f"{where}.name: duplicate step name {step_name!r}")
                names.add(step_name)
                if bool(step.get("template")) == bool(step.get("templateRef")):
                    self.errors.append(f"{where}: exactly one of template or templateRef is required")
                    continue
                args = step.get("arguments") or {}
                _check_keys(args, {"parameters"}, f"{where}.arguments", self.errors)
                allowed = set(base)
                for prev, outs in visible.items():
                    allowed |= {f"steps.{prev}.outputs.parameters.{o}" for o in outs}
                    allowed |= {f"steps.{prev}.exitCode", f"steps.{prev}.status"}
                supplied: set[str] = set()
                for pi, param in enumerate(args.get("parameters") or []):
                    ploc = f"{where}.arguments.parameters[{pi}]"
                    _check_keys(param, {"name", "value", "description"}, ploc, self.errors)
                    if param.get("value") is None:
                        self.errors.append(f"{ploc} ({param.get('name')}): value is required")
                    supplied.add(str(param.get("name")))
                    for path, tag in argo.tags_in(param.get("value")):
                        self._tag(tag, allowed, f"{ploc}.value{path}")
                resolved = self.template(step, scope, where)
                if resolved is None:
                    continue
                _callee_scope, callee = resolved
                for param in (callee.get("inputs") or {}).get("parameters") or []:
                    pname = str(param.get("name"))
                    if pname not in supplied and param.get("value") is None and param.get("default") is None:
                        self.errors.append(f"{where} ({step_name}): inputs.parameters.{pname} was not supplied")
                extra = supplied - {str(p.get("name")) for p in (callee.get("inputs") or {}).get("parameters") or []}
                if extra:
                    self.errors.append(
                        f"{where} ({step_name}): arguments {sorted(extra)} are not inputs of the template"
                    )
                produced[step_name] = {
                    str(p.get("name")) for p in (callee.get("outputs") or {}).get("parameters") or []
                }
            visible.update(produced)
        for oi, param in enumerate((template.get("outputs") or {}).get("parameters") or []):
            source = (param.get("valueFrom") or {}).get("parameter")
            allowed = set(base)
            for prev, outs in visible.items():
                allowed |= {f"steps.{prev}.outputs.parameters.{o}" for o in outs}
            for path, tag in argo.tags_in(source):
                self._tag(tag, allowed, f"{loc}.outputs.parameters[{oi}].valueFrom.parameter{path}")


def pod_template(template: Mapping[str, Any], spec: Mapping[str, Any]) -> JSON:
    """The template as its Pod sees it: the workflow's volumes, securityContext and podSpecPatch added."""
    pod = copy.deepcopy(dict(template))
    volumes = list(pod.get("volumes") or [])
    names = {v.get("name") for v in volumes}
    volumes += [copy.deepcopy(v) for v in spec.get("volumes") or [] if v.get("name") not in names]
    if volumes:
        pod["volumes"] = volumes
    if "securityContext" not in pod and spec.get("securityContext"):
        pod["securityContext"] = copy.deepcopy(spec["securityContext"])
    if spec.get("podSpecPatch"):
        if pod.get("podSpecPatch"):
            pod["podSpecPatch"] = merge_patches(str(spec["podSpecPatch"]), str(pod["podSpecPatch"]))
        else:
            pod["podSpecPatch"] = spec["podSpecPatch"]
    return pod


def merge_patches(first: str, second: str) -> str:
    """The workflow-level podSpecPatch applied first, then the template's, as one JSON merge of both."""
    import json

    a = yaml.safe_load(first) or {}
    b = yaml.safe_load(second) or {}
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise RunnerError("podSpecPatch: expected a JSON/YAML object")
    merged = copy.deepcopy(a)
    for key, value in b.items():
        if key == "containers" and isinstance(value, list) and isinstance(merged.get(key), list):
            by_name = {c.get("name"): c for c in merged[key] if isinstance(c, dict)}
            for container in value:
                if isinstance(container, dict) and container.get("name") in by_name:
                    by_name[container["name"]].update(container)
                else:
                    merged[key].append(container)
        else:
            merged[key] = value
    return json.dumps(merged, separators=(",", ":"))
