"""Lint layer 2: semantic rules, over the whole set of linted resources at once.

The subset of Argo's `workflow/validate` (v4) rules that the pack and its extensions use, reimplemented here (names,
template types, `{{…}}` resolution, arguments vs inputs, outputs; tests/test_lint_oracle.py compares them with
`argo lint --offline`), with `templateRef` and
`workflowTemplateRef` resolved against the linted set like `argo lint --offline`. On top of Argo:

- pipeline checks: every template a pipeline reaches (through templateRef too) may only use
  `{{workflow.parameters.X}}` the pipeline declares and mount volumes the pipeline (or the template) declares
  (templateRef does not import the referenced template's spec-level volumes or arguments);
- step ClusterWorkflowTemplates that use `{{workflow.parameters.X}}` get a warning: an implicit contract with
  whoever calls them;
- arguments naming an input the callee does not declare are errors (Argo ignores them silently);
- the OpenChoreo `generate-workload-cr` contract (openchoreo-ci-contract §1.4): step and template both named
  `generate-workload-cr`, a Pod template, output `workload-cr` read from contract.WORKLOAD_CR_FILE, and a Steps
  (not DAG) pipeline so OpenChoreo can order the Pod nodes.

Each check reports the JSON path of the offending value inside the linted document; messages name templates and
steps by name because indices alone are hard to read.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from hera_workflows.lint.schema import Issue, JsonPath, Severity
from hera_workflows.upstream import argo_v3_6 as argo
from steps.common import contract

NAME_RE = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
PARAM_NAME_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DEPENDS_TOKEN_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9]*)(?:\.[A-Za-z]+)?")
MAX_TEMPLATE_NAME = 128
MAX_OBJECT_NAME = 63

TEMPLATE_TYPES = (
    "container",
    "containerSet",
    "steps",
    "script",
    "resource",
    "dag",
    "suspend",
    "data",
    "http",
    "plugin",
)
LEAF_TYPES = frozenset(TEMPLATE_TYPES) - {"steps", "dag"}
# Template types that run as one Argo node of type Pod with a main container OpenChoreo can read outputs from.
POD_TYPES = frozenset({"container", "containerSet", "script"})
ARGO_KINDS = frozenset({"ClusterWorkflowTemplate", "WorkflowTemplate", "Workflow", "CronWorkflow"})
GENERATE = contract.STEP_GENERATE_WORKLOAD
# Step arguments may only take their value from these valueFrom sources.
ARGUMENT_VALUE_FROM = frozenset({"default", "configMapKeyRef", "supplied", "event"})
PULL_POLICIES = frozenset({"Always", "IfNotPresent", "Never"})
OUTPUT_VALUE_FROM_SOURCES = ("path", "jqFilter", "jsonPath", "parameter", "expression", "supplied")


@dataclass
class Resource:
    """One Argo object to check. `prefix` is where `doc` sits in its file document (an OpenChoreo runTemplate is an
    embedded Argo Workflow at `spec.runTemplate`); `origin` names the file, for messages about other resources."""

    kind: str
    name: str
    doc: dict[str, Any]
    origin: str = ""
    prefix: JsonPath = ()
    embedded: bool = False
    namespace: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name or '(unnamed)'}"

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.doc.get("spec")
        return spec if isinstance(spec, dict) else {}

    def templates(self) -> list[tuple[int, dict[str, Any]]]:
        templates = self.spec.get("templates")
        if not isinstance(templates, list):
            return []
        return [(i, t) for i, t in enumerate(templates) if isinstance(t, dict)]

    def template(self, name: str) -> tuple[int, dict[str, Any]] | None:
        for i, tmpl in self.templates():
            if tmpl.get("name") == name:
                return i, tmpl
        return None

    def template_names(self) -> list[str]:
        return [str(t.get("name")) for _, t in self.templates()]


@dataclass(frozen=True)
class Callee:
    """A resolved template: which resource owns it, its index there (None for inline) and the template itself."""

    owner: Resource
    index: int | None
    template: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.template.get("name") or "(inline)")

    @property
    def label(self) -> str:
        return f"{self.owner.label} template '{self.name}'"


@dataclass
class _Scope:
    """What `{{…}}` may refer to at one place in a template."""

    template: str
    inputs: set[str]
    artifacts: set[str]
    kind: str | None = None  # "steps" | "tasks" | None (leaf)
    visible: dict[str, Callee | None] = field(default_factory=dict)
    all_calls: set[str] = field(default_factory=set)
    items: bool = False
    workflow_params: set[str] | None = None  # None: the caller supplies them (step template)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def template_type(tmpl: dict[str, Any]) -> str | None:
    types = [t for t in TEMPLATE_TYPES if tmpl.get(t) is not None]
    return types[0] if len(types) == 1 else None


def _params(section: Any, key: str = "parameters") -> list[tuple[int, dict[str, Any]]]:
    return [(i, p) for i, p in enumerate(_as_list(_as_dict(section).get(key))) if isinstance(p, dict)]


def _param_names(section: Any, key: str = "parameters") -> set[str]:
    return {str(p.get("name")) for _, p in _params(section, key) if p.get("name")}


def _strings(value: Any, path: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _tags(text: str) -> Iterator[str]:
    return argo.tags_in_text(text)


def _call_template_name(call: dict[str, Any]) -> str | None:
    if isinstance(call.get("template"), str):
        return str(call["template"])
    ref = call.get("templateRef")
    if isinstance(ref, dict) and isinstance(ref.get("template"), str):
        return str(ref["template"])
    return None


def _dag_dependencies(task: dict[str, Any]) -> list[str]:
    deps = [str(d) for d in _as_list(task.get("dependencies"))]
    depends = task.get("depends")
    if isinstance(depends, str):
        deps += [m.group(1) for m in DEPENDS_TOKEN_RE.finditer(depends)]
    return list(dict.fromkeys(deps))


class SemanticChecker:
    """Runs every semantic check over a set of resources; `run()` returns (resource, issue) pairs."""

    def __init__(self, resources: Sequence[Resource]) -> None:
        self.resources = list(resources)
        self.cluster_templates: dict[str, Resource] = {}
        self.namespaced_templates: dict[str, Resource] = {}
        self.findings: list[tuple[Resource, Issue]] = []
        self._seen: set[tuple[int, JsonPath, str]] = set()

    # -- reporting -------------------------------------------------------------------------------------------
    def _add(self, res: Resource, path: JsonPath, message: str, rule: str, severity: Severity = "error") -> None:
        full = (*res.prefix, *path)
        key = (id(res), full, message)
        if key in self._seen:
            return
        self._seen.add(key)
        self.findings.append((res, Issue(full, message, rule, severity)))

    # -- entry point -----------------------------------------------------------------------------------------
    def run(self) -> list[tuple[Resource, Issue]]:
        self._register()
        for res in self.resources:
            self._check_resource(res)
        for res in self.resources:
            if self._is_pipeline(res):
                self._check_pipeline(res)
            self._check_host_network_user_namespace(res)
        return self.findings

    # -- hostNetwork with hostUsers: false -------------------------------------------------------------------
    def _check_host_network_user_namespace(self, res: Resource) -> None:
        """The API server rejects a Pod with `hostUsers: false` on the host network (`spec.hostNetwork:
        Forbidden: when hostUsers is false`). hostNetwork is Workflow-level (or in a podSpecPatch), so every
        template the resource runs counts, templateRef and workflowTemplateRef targets included."""
        spec = res.spec
        if res.kind == "CronWorkflow":
            spec = _as_dict(spec.get("workflowSpec"))
        spec_patch = _pod_spec_patch(spec.get("podSpecPatch"))
        defaults_patch = _pod_spec_patch(_as_dict(spec.get("templateDefaults")).get("podSpecPatch"))
        host_network = spec.get("hostNetwork") is True or spec_patch.get("hostNetwork") is True
        spec_no_host_users = spec_patch.get("hostUsers") is False or defaults_patch.get("hostUsers") is False
        wf_ref = spec.get("workflowTemplateRef")
        target = self._workflow_template_target(wf_ref) if isinstance(wf_ref, dict) else None
        for label, tmpl in self._run_templates(res, target):
            patch = _pod_spec_patch(tmpl.get("podSpecPatch"))
            no_host_users = spec_no_host_users or patch.get("hostUsers") is False
            if (host_network or patch.get("hostNetwork") is True) and no_host_users:
                self._add(
                    res,
                    ("spec",),
                    f"template {label}: hostNetwork: true together with hostUsers: false; the API server rejects "
                    "the Pod (spec.hostNetwork: Forbidden: when hostUsers is false)",
                    "host-network-user-namespace",
                )

    def _run_templates(self, res: Resource, target: Resource | None) -> Iterator[tuple[str, dict[str, Any]]]:
        seen: set[tuple[str, str]] = set()
        pending: list[tuple[Resource, dict[str, Any]]] = [(res, t) for _, t in res.templates()]
        if target is not None:
            pending += [(target, t) for _, t in target.templates()]
        while pending:
            owner, tmpl = pending.pop()
            key = (owner.label, str(tmpl.get("name")))
            if key in seen:
                continue
            seen.add(key)
            yield f"'{tmpl.get('name')}' of {owner.label}", tmpl
            for call in _calls(tmpl):
                ref = call.get("templateRef")
                if not isinstance(ref, dict):
                    continue
                registry = self.cluster_templates if ref.get("clusterScope") else self.namespaced_templates
                callee = registry.get(str(ref.get("name")))
                found = callee.template(str(ref.get("template"))) if callee is not None else None
                if callee is not None and found is not None:
                    pending.append((callee, found[1]))

    def _register(self) -> None:
        for res in self.resources:
            if res.embedded or res.kind not in ("ClusterWorkflowTemplate", "WorkflowTemplate") or not res.name:
                continue
            registry = self.cluster_templates if res.kind == "ClusterWorkflowTemplate" else self.namespaced_templates
            if res.name in registry:
                other = registry[res.name]
                where = f" (first defined in {other.origin})" if other.origin else ""
                self._add(res, ("metadata", "name"), f"duplicate {res.kind} name '{res.name}'{where}", "duplicate")
                continue
            registry[res.name] = res

    @staticmethod
    def _is_pipeline(res: Resource) -> bool:
        return res.kind in ("Workflow", "CronWorkflow") or bool(res.spec.get("entrypoint"))

    # -- one resource ----------------------------------------------------------------------------------------
    def _check_resource(self, res: Resource) -> None:
        if not res.embedded:
            self._check_metadata(res)
        spec = res.spec
        if res.kind == "CronWorkflow":
            spec = _as_dict(spec.get("workflowSpec"))
        self._check_spec_arguments(res, spec)
        wf_ref = spec.get("workflowTemplateRef")
        target = self._check_workflow_template_ref(res, wf_ref) if isinstance(wf_ref, dict) else None
        self._check_entrypoint(res, spec, wf_ref, target)
        on_exit = spec.get("onExit")
        if isinstance(on_exit, str) and on_exit and wf_ref is None and res.template(on_exit) is None:
            self._add(res, ("spec", "onExit"), f"onExit template '{on_exit}' undefined", "reference")
        self._check_templates(res)

    def _check_metadata(self, res: Resource) -> None:
        meta = _as_dict(res.doc.get("metadata"))
        name, generate = meta.get("name"), meta.get("generateName")
        if not name and not (res.kind == "Workflow" and generate):
            self._add(res, ("metadata",), "metadata.name is required", "name")
            return
        value, key = (name, "name") if name else (generate, "generateName")
        text = str(value)
        limit = MAX_OBJECT_NAME - (5 if key == "generateName" else 0)
        if len(text) > limit:
            self._add(res, ("metadata", key), f"'{text}' is longer than {limit} characters", "name")
        check = text.rstrip("-") if key == "generateName" else text
        if not DNS_SUBDOMAIN_RE.match(check):
            self._add(
                res,
                ("metadata", key),
                f"'{text}' is not a valid Kubernetes name (lower case alphanumerics, '-' and '.')",
                "name",
            )

    def _check_spec_arguments(self, res: Resource, spec: dict[str, Any]) -> None:
        base: JsonPath = ("spec", "arguments") if res.kind != "CronWorkflow" else ("spec", "workflowSpec", "arguments")
        args = spec.get("arguments")
        self._check_names(res, _params(args), (*base, "parameters"), "parameter", pattern=PARAM_NAME_RE)
        self._check_names(res, _params(args, "artifacts"), (*base, "artifacts"), "artifact", pattern=PARAM_NAME_RE)
        for i, param in _params(args):
            path = (*base, "parameters", i)
            value_from = param.get("valueFrom")
            if isinstance(value_from, dict):
                bad = sorted(set(value_from) - ARGUMENT_VALUE_FROM)
                if bad:
                    self._add(
                        res,
                        (*path, "valueFrom"),
                        f"argument '{param.get('name')}': valueFrom only allows default, configMapKeyRef and "
                        f"supplied (found {', '.join(bad)})",
                        "arguments",
                    )
            if res.kind == "Workflow" and "value" not in param and value_from is None:
                self._add(
                    res,
                    path,
                    f"workflow argument '{param.get('name')}' has no value: it must be supplied at submission",
                    "arguments",
                    "warning",
                )
            self._check_enum(res, param, path, f"argument '{param.get('name')}'")

    def _check_enum(self, res: Resource, param: dict[str, Any], path: JsonPath, what: str) -> None:
        enum = param.get("enum")
        if enum is None:
            return
        if isinstance(enum, list) and not enum:
            self._add(res, (*path, "enum"), f"{what}: enum must contain at least one value", "arguments")
            return
        value = param.get("value", param.get("default"))
        if isinstance(value, str) and "{{" not in value and isinstance(enum, list) and value not in enum:
            self._add(res, (*path, "value"), f"{what}: value {value!r} is not in its enum {enum}", "arguments")

    def _check_workflow_template_ref(self, res: Resource, ref: dict[str, Any]) -> Resource | None:
        path: JsonPath = ("spec", "workflowTemplateRef")
        if res.spec.get("templates"):
            self._add(
                res, ("spec", "templates"), "templates cannot be used together with workflowTemplateRef", "reference"
            )
        name = ref.get("name")
        if not isinstance(name, str) or not name:
            self._add(res, (*path, "name"), "workflowTemplateRef.name is required", "reference")
            return None
        if "{{" in name or "${" in name:
            return None
        cluster = bool(ref.get("clusterScope"))
        registry = self.cluster_templates if cluster else self.namespaced_templates
        kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
        target = registry.get(name)
        if target is None:
            self._add(
                res, (*path, "name"), f"workflowTemplateRef: {kind} '{name}' not found in the linted files", "reference"
            )
        return target

    def _check_entrypoint(self, res: Resource, spec: dict[str, Any], wf_ref: Any, target: Resource | None) -> None:
        entrypoint = spec.get("entrypoint")
        base: JsonPath = ("spec",) if res.kind != "CronWorkflow" else ("spec", "workflowSpec")
        if isinstance(wf_ref, dict):
            if target is None:
                return
            effective = entrypoint or target.spec.get("entrypoint")
            if not effective:
                self._add(
                    res,
                    (*base, "entrypoint"),
                    f"spec.entrypoint is required (neither this workflow nor {target.label} sets one)",
                    "entrypoint",
                )
            elif target.template(str(effective)) is None:
                self._add(
                    res,
                    (*base, "entrypoint"),
                    f"entrypoint '{effective}' is not a template of {target.label} "
                    f"{_hint(str(effective), target.template_names(), 'templates')}",
                    "entrypoint",
                )
            return
        if not entrypoint:
            if res.kind in ("Workflow", "CronWorkflow"):
                self._add(res, (*base,), "spec.entrypoint is required", "entrypoint")
            return
        if res.template(str(entrypoint)) is None:
            self._add(
                res,
                (*base, "entrypoint"),
                f"entrypoint template '{entrypoint}' undefined "
                f"{_hint(str(entrypoint), res.template_names(), 'templates')}",
                "entrypoint",
            )

    def _check_names(
        self,
        res: Resource,
        items: Iterable[tuple[int, dict[str, Any]]],
        base: JsonPath,
        what: str,
        *,
        pattern: re.Pattern[str],
        max_len: int | None = None,
    ) -> None:
        seen: set[str] = set()
        for i, item in items:
            name = item.get("name")
            if not isinstance(name, str) or not name:
                self._add(res, (*base, i), f"{what} name is required", "name")
                continue
            if not pattern.match(name):
                self._add(
                    res, (*base, i, "name"), f"{what} name '{name}' is invalid: must match {pattern.pattern}", "name"
                )
            elif max_len is not None and len(name) > max_len:
                self._add(res, (*base, i, "name"), f"{what} name '{name}' is longer than {max_len} characters", "name")
            if name in seen:
                self._add(res, (*base, i, "name"), f"{what} name '{name}' is not unique", "name")
            seen.add(name)

    # -- templates -------------------------------------------------------------------------------------------
    def _workflow_params(self, res: Resource) -> set[str] | None:
        """Declared workflow parameters, or None when the caller supplies them (step templates)."""
        if not self._is_pipeline(res):
            return None
        names = _param_names(res.spec.get("arguments"))
        ref = res.spec.get("workflowTemplateRef")
        if isinstance(ref, dict):
            target = self._workflow_template_target(ref)
            if target is None:
                return None
            names |= _param_names(target.spec.get("arguments"))
        return names

    def _workflow_template_target(self, ref: dict[str, Any]) -> Resource | None:
        registry = self.cluster_templates if ref.get("clusterScope") else self.namespaced_templates
        return registry.get(str(ref.get("name")))

    def _check_templates(self, res: Resource) -> None:
        templates = res.templates()
        self._check_names(res, templates, ("spec", "templates"), "template", pattern=NAME_RE, max_len=MAX_TEMPLATE_NAME)
        workflow_params = self._workflow_params(res)
        for i, tmpl in templates:
            self._check_template(res, i, tmpl, workflow_params)

    def _check_template(
        self, res: Resource, index: int, tmpl: dict[str, Any], workflow_params: set[str] | None
    ) -> None:
        path: JsonPath = ("spec", "templates", index)
        name = str(tmpl.get("name") or f"#{index}")
        present = [t for t in TEMPLATE_TYPES if tmpl.get(t) is not None]
        if not present:
            self._add(
                res,
                path,
                f"template '{name}': template type unspecified (choose one of {', '.join(TEMPLATE_TYPES)})",
                "type",
            )
        elif len(present) > 1:
            self._add(res, path, f"template '{name}': multiple template types specified ({', '.join(present)})", "type")
        kind = present[0] if len(present) == 1 else None
        inputs, outputs = tmpl.get("inputs"), tmpl.get("outputs")
        for section, key, label in (
            (inputs, "parameters", "input parameter"),
            (inputs, "artifacts", "input artifact"),
            (outputs, "parameters", "output parameter"),
            (outputs, "artifacts", "output artifact"),
        ):
            where = "inputs" if section is inputs else "outputs"
            self._check_names(
                res, _params(section, key), (*path, where, key), f"{label} of '{name}':", pattern=PARAM_NAME_RE
            )
        for i, param in _params(inputs):
            self._check_enum(res, param, (*path, "inputs", "parameters", i), f"input '{param.get('name')}' of '{name}'")
        self._check_template_fields(res, path, name, tmpl, kind)
        self._check_outputs(res, path, name, tmpl, kind)
        scope = _Scope(name, _param_names(inputs), _param_names(inputs, "artifacts"), workflow_params=workflow_params)
        if kind == "steps":
            self._check_steps(res, path, tmpl, scope)
        elif kind == "dag":
            self._check_dag(res, path, tmpl, scope)
        else:
            self._check_refs(res, tmpl, path, scope)
        if name == GENERATE:
            self._check_generate_definition(res, path, tmpl, kind)

    def _check_template_fields(
        self, res: Resource, path: JsonPath, name: str, tmpl: dict[str, Any], kind: str | None
    ) -> None:
        leaf = kind in LEAF_TYPES
        if kind is None:
            return
        if not leaf and tmpl.get("timeout") is not None:
            self._add(res, (*path, "timeout"), f"template '{name}': {kind} templates do not support timeout", "type")
        if not leaf and tmpl.get("activeDeadlineSeconds") is not None:
            self._add(
                res,
                (*path, "activeDeadlineSeconds"),
                f"template '{name}': activeDeadlineSeconds is only valid for leaf templates",
                "type",
            )
        if leaf and tmpl.get("parallelism") is not None:
            self._add(
                res,
                (*path, "parallelism"),
                f"template '{name}': parallelism is only valid for steps and dag templates",
                "type",
            )
        timeout = tmpl.get("timeout")
        if isinstance(timeout, str) and timeout.strip().isdigit():
            self._add(
                res,
                (*path, "timeout"),
                f"template '{name}': timeout {timeout!r} needs a unit (e.g. '{timeout}s')",
                "type",
            )
        for cpath, body in _containers(tmpl):
            policy = _as_dict(body).get("imagePullPolicy")
            if isinstance(policy, str) and "{{" not in policy and policy not in PULL_POLICIES:
                self._add(
                    res,
                    (*path, *cpath, "imagePullPolicy"),
                    f"template '{name}': {policy!r} is not one of {sorted(PULL_POLICIES)} (the CRD does not check it; "
                    "the pod would be rejected)",
                    "kubernetes",
                )
        defaults = _as_dict(res.spec.get("templateDefaults"))
        for key in ("container", "script"):
            body = tmpl.get(key)
            has_default = res.kind != "ClusterWorkflowTemplate" and _as_dict(defaults.get(key)).get("image")
            if kind == key and isinstance(body, dict) and not body.get("image") and not has_default:
                self._add(res, (*path, key, "image"), f"template '{name}': {key}.image may not be empty", "type")
            if kind == key and isinstance(body, dict):
                mounts: dict[str, int] = {}
                for i, mount in enumerate(_as_list(body.get("volumeMounts"))):
                    mount_path = _as_dict(mount).get("mountPath")
                    if isinstance(mount_path, str) and mount_path in mounts:
                        self._add(
                            res,
                            (*path, key, "volumeMounts", i, "mountPath"),
                            f"template '{name}': mountPath '{mount_path}' is already mounted "
                            f"(volumeMounts[{mounts[mount_path]}])",
                            "volumes",
                        )
                    elif isinstance(mount_path, str):
                        mounts[mount_path] = i

    def _check_outputs(self, res: Resource, path: JsonPath, name: str, tmpl: dict[str, Any], kind: str | None) -> None:
        for i, param in _params(tmpl.get("outputs")):
            ppath: JsonPath = (*path, "outputs", "parameters", i)
            label = f"output parameter '{param.get('name')}' of template '{name}'"
            value_from = param.get("valueFrom")
            if value_from is not None and param.get("value") is not None:
                self._add(res, ppath, f"{label} has both valueFrom and value; choose one", "outputs")
                continue
            if param.get("value") is not None:
                continue
            if not isinstance(value_from, dict):
                self._add(res, ppath, f"{label} has neither valueFrom nor value", "outputs")
                continue
            sources = [s for s in OUTPUT_VALUE_FROM_SOURCES if value_from.get(s) not in (None, "")]
            if not sources:
                self._add(
                    res,
                    (*ppath, "valueFrom"),
                    f"{label}: valueFrom type unspecified "
                    "(one of path, jqFilter, jsonPath, parameter, expression, supplied)",
                    "outputs",
                )
                continue
            if len(sources) > 1:
                self._add(
                    res, (*ppath, "valueFrom"), f"{label}: multiple valueFrom types ({', '.join(sources)})", "outputs"
                )
            if kind in POD_TYPES and not value_from.get("path"):
                self._add(
                    res,
                    (*ppath, "valueFrom"),
                    f"{label}: valueFrom.path must be specified for {kind} templates",
                    "outputs",
                )
            elif kind == "resource" and not (value_from.get("jqFilter") or value_from.get("jsonPath")):
                self._add(
                    res,
                    (*ppath, "valueFrom"),
                    f"{label}: valueFrom.jqFilter or jsonPath must be specified for resource templates",
                    "outputs",
                )
            elif kind in ("steps", "dag") and not (value_from.get("parameter") or value_from.get("expression")):
                self._add(
                    res,
                    (*ppath, "valueFrom"),
                    f"{label}: valueFrom.parameter or expression must be specified for {kind} templates",
                    "outputs",
                )

    # -- {{…}} references ------------------------------------------------------------------------------------
    def _check_refs(self, res: Resource, value: Any, path: JsonPath, scope: _Scope) -> None:
        for spath, text in _strings(value, path):
            if "{{" not in text:
                continue
            for tag in _tags(text):
                message = self._resolve_tag(tag, scope)
                if message is None:
                    continue
                severity: Severity = "error"
                rule = "reference"
                if message.startswith("implicit contract"):
                    if _is_input_default(spath):
                        continue  # a fallback for callers that pass no argument (OpenChoreo's drop-in shape)
                    severity, rule = "warning", "implicit-contract"
                self._add(res, spath, f"template '{scope.template}': {{{{{tag}}}}}: {message}", rule, severity)

    def _resolve_tag(self, tag: str, scope: _Scope) -> str | None:
        """None when `tag` resolves (or is not ours to check), else why it does not."""
        if tag.startswith("="):
            return None  # expressions are evaluated at run time
        if tag.startswith("inputs.parameters."):
            name = tag[len("inputs.parameters.") :]
            if name not in scope.inputs:
                return f"input parameter '{name}' is not declared in inputs.parameters {_hint(name, scope.inputs)}"
            return None
        if tag.startswith("inputs.artifacts."):
            name = tag[len("inputs.artifacts.") :].removesuffix(".path")
            if name not in scope.artifacts:
                return f"input artifact '{name}' is not declared in inputs.artifacts"
            return None
        if tag.startswith("workflow.parameters."):
            name = tag[len("workflow.parameters.") :]
            if scope.workflow_params is None:
                return (
                    f"implicit contract: the calling Workflow must declare spec.arguments parameter '{name}' "
                    "(prefer an input parameter)"
                )
            if name not in scope.workflow_params:
                hint = _hint(name, scope.workflow_params)
                return f"workflow parameter '{name}' is not declared in spec.arguments.parameters {hint}"
            return None
        if tag == "item" or tag.startswith("item."):
            return None if scope.items else "{{item}} needs withItems, withParam or withSequence on the step/task"
        for prefix in ("steps", "tasks"):
            if tag.startswith(prefix + ".") and tag != f"{prefix}.name":
                return self._resolve_node_tag(prefix, tag[len(prefix) + 1 :], scope)
        return None

    @staticmethod
    def _resolve_node_tag(prefix: str, rest: str, scope: _Scope) -> str | None:
        if scope.kind != prefix:
            where = (
                "a leaf template" if scope.kind is None else f"a {'steps' if scope.kind == 'steps' else 'dag'} template"
            )
            return f"{prefix}.* cannot be used in {where}"
        node, _, attribute = rest.partition(".")
        noun = "step" if prefix == "steps" else "task"
        if node not in scope.visible:
            if node in scope.all_calls:
                if prefix == "steps":
                    return f"step '{node}' runs in the same or a later group, so its outputs are not available yet"
                return f"task '{node}' is not an ancestor of this task (add it to depends/dependencies)"
            return f"no {noun} named '{node}' in this template"
        callee = scope.visible[node]
        if attribute.startswith("outputs.parameters.") and callee is not None:
            out = attribute[len("outputs.parameters.") :]
            outputs = _param_names(callee.template.get("outputs"))
            if out not in outputs:
                hint = _hint(out, outputs, "outputs")
                return f"{noun} '{node}' ({callee.label}) has no output parameter '{out}' {hint}"
        return None

    # -- steps and DAGs --------------------------------------------------------------------------------------
    def _check_steps(self, res: Resource, path: JsonPath, tmpl: dict[str, Any], scope: _Scope) -> None:
        groups = _as_list(tmpl.get("steps"))
        calls: list[tuple[JsonPath, dict[str, Any]]] = []
        for gi, group in enumerate(groups):
            for si, step in enumerate(_as_list(group)):
                if isinstance(step, dict):
                    calls.append(((*path, "steps", gi, si), step))
        scope.kind = "steps"
        scope.all_calls = {str(s.get("name")) for _, s in calls}
        self._check_refs(res, {k: v for k, v in tmpl.items() if k not in ("steps", "outputs")}, path, scope)
        seen: set[str] = set()
        for gi, group in enumerate(groups):
            added: dict[str, Callee | None] = {}
            for si, step in enumerate(_as_list(group)):
                if not isinstance(step, dict):
                    continue
                spath: JsonPath = (*path, "steps", gi, si)
                name = step.get("name")
                self._check_call_name(res, spath, name, "step", seen)
                callee = self._resolve_call(res, step, spath)
                self._check_call(res, step, spath, callee, scope.template)
                step_scope = _Scope(
                    scope.template,
                    scope.inputs | _param_names(_as_dict(step.get("inline")).get("inputs")),
                    scope.artifacts,
                    "steps",
                    dict(scope.visible),
                    scope.all_calls,
                    any(step.get(k) for k in ("withItems", "withParam", "withSequence")),
                    scope.workflow_params,
                )
                self._check_refs(res, {k: v for k, v in step.items() if k != "inline"}, spath, step_scope)
                self._check_generate_call(res, spath, step, callee, dag=False)
                if isinstance(name, str):
                    added[name] = callee
            scope.visible.update(added)
        self._check_refs(res, tmpl.get("outputs"), (*path, "outputs"), scope)

    def _check_call_name(self, res: Resource, path: JsonPath, name: Any, noun: str, seen: set[str]) -> None:
        if not isinstance(name, str) or not name:
            self._add(res, path, f"{noun} name is required", "name")
            return
        if not NAME_RE.match(name):
            self._add(res, (*path, "name"), f"{noun} name '{name}' is invalid: must match {NAME_RE.pattern}", "name")
        elif len(name) > MAX_TEMPLATE_NAME:
            self._add(
                res, (*path, "name"), f"{noun} name '{name}' is longer than {MAX_TEMPLATE_NAME} characters", "name"
            )
        if name in seen:
            self._add(res, (*path, "name"), f"{noun} name '{name}' is not unique", "name")
        seen.add(name)

    def _check_dag(self, res: Resource, path: JsonPath, tmpl: dict[str, Any], scope: _Scope) -> None:
        dag = _as_dict(tmpl.get("dag"))
        tasks = [(i, t) for i, t in enumerate(_as_list(dag.get("tasks"))) if isinstance(t, dict)]
        by_name = {str(t.get("name")): t for _, t in tasks if t.get("name")}
        scope.kind = "tasks"
        scope.all_calls = set(by_name)
        self._check_refs(res, {k: v for k, v in tmpl.items() if k not in ("dag", "outputs")}, path, scope)
        if not tasks:
            self._add(res, (*path, "dag", "tasks"), f"template '{scope.template}' must have at least one task", "dag")
        deps: dict[str, list[str]] = {}
        seen: set[str] = set()
        for i, task in tasks:
            tpath: JsonPath = (*path, "dag", "tasks", i)
            name = task.get("name")
            self._check_call_name(res, tpath, name, "task", seen)
            has_depends, has_dependencies = task.get("depends") is not None, task.get("dependencies") is not None
            if has_depends and has_dependencies:
                self._add(res, tpath, f"task '{name}': cannot use both depends and dependencies", "dag")
            if isinstance(name, str) and name[:1].isdigit() and (has_depends or has_dependencies):
                self._add(
                    res, (*tpath, "name"), f"task '{name}': name cannot begin with a digit when using depends", "dag"
                )
            task_deps = _dag_dependencies(task)
            for dep in task_deps:
                if dep not in by_name:
                    key = "depends" if has_depends else "dependencies"
                    self._add(res, (*tpath, key), f"task '{name}' depends on undefined task '{dep}'", "dag")
            if isinstance(name, str):
                deps[name] = [d for d in task_deps if d in by_name]
        self._check_cycles(res, path, deps)
        callees: dict[str, Callee | None] = {}
        for i, task in tasks:
            tpath = (*path, "dag", "tasks", i)
            callee = self._resolve_call(res, task, tpath)
            callees[str(task.get("name"))] = callee
            self._check_call(res, task, tpath, callee, scope.template)
        for i, task in tasks:
            tpath = (*path, "dag", "tasks", i)
            ancestors = self._ancestors(str(task.get("name")), deps)
            task_scope = _Scope(
                scope.template,
                scope.inputs | _param_names(_as_dict(task.get("inline")).get("inputs")),
                scope.artifacts,
                "tasks",
                {a: callees.get(a) for a in ancestors},
                scope.all_calls,
                any(task.get(k) for k in ("withItems", "withParam", "withSequence")),
                scope.workflow_params,
            )
            self._check_refs(res, {k: v for k, v in task.items() if k != "inline"}, tpath, task_scope)
            self._check_generate_call(res, tpath, task, callees.get(str(task.get("name"))), dag=True)
        scope.visible = dict(callees)
        self._check_refs(res, tmpl.get("outputs"), (*path, "outputs"), scope)

    @staticmethod
    def _ancestors(name: str, deps: dict[str, list[str]]) -> set[str]:
        out: set[str] = set()
        stack = list(deps.get(name, []))
        while stack:
            dep = stack.pop()
            if dep not in out:
                out.add(dep)
                stack.extend(deps.get(dep, []))
        return out

    def _check_cycles(self, res: Resource, path: JsonPath, deps: dict[str, list[str]]) -> None:
        state: dict[str, int] = {}

        def visit(node: str, trail: list[str]) -> list[str] | None:
            state[node] = 1
            for dep in deps.get(node, []):
                if state.get(dep) == 1:
                    return [*trail, node, dep]
                if dep not in state:
                    found = visit(dep, [*trail, node])
                    if found:
                        return found
            state[node] = 2
            return None

        for node in deps:
            if node not in state:
                cycle = visit(node, [])
                if cycle:
                    self._add(res, (*path, "dag"), f"dependency cycle: {' -> '.join(cycle)}", "dag")
                    return

    # -- calls: resolution and arguments ---------------------------------------------------------------------
    def _resolve_call(self, res: Resource, call: dict[str, Any], path: JsonPath, report: bool = True) -> Callee | None:
        holders = [k for k in ("template", "templateRef", "inline") if call.get(k) is not None]
        if len(holders) != 1:
            if report:
                present = ", ".join(holders) if holders else "none"
                self._add(
                    res,
                    path,
                    f"'{call.get('name')}' needs exactly one of template, templateRef, inline (found: {present})",
                    "reference",
                )
            return None
        holder = holders[0]
        if holder == "inline":
            inline = call["inline"]
            return Callee(res, None, inline) if isinstance(inline, dict) else None
        if holder == "template":
            name = str(call["template"])
            if "{{" in name:
                return None
            found = res.template(name)
            if found is None:
                if report:
                    self._add(
                        res,
                        (*path, "template"),
                        f"'{call.get('name')}': template '{name}' undefined in {res.label} "
                        f"{_hint(name, res.template_names(), 'templates')}",
                        "reference",
                    )
                return None
            return Callee(res, found[0], found[1])
        ref = _as_dict(call.get("templateRef"))
        ref_name, ref_template = ref.get("name"), ref.get("template")
        if not ref_name or not ref_template:
            if report:
                missing = "name" if not ref_name else "template"
                self._add(
                    res, (*path, "templateRef"), f"'{call.get('name')}': templateRef.{missing} is required", "reference"
                )
            return None
        if "{{" in str(ref_name) or "{{" in str(ref_template):
            return None
        cluster = bool(ref.get("clusterScope"))
        registry = self.cluster_templates if cluster else self.namespaced_templates
        kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
        target = registry.get(str(ref_name))
        if target is None:
            if report:
                hint = ""
                other = (self.namespaced_templates if cluster else self.cluster_templates).get(str(ref_name))
                if other is not None:
                    hint = f"; a {other.kind} of that name exists (clusterScope: {str(not cluster).lower()}?)"
                self._add(
                    res,
                    (*path, "templateRef", "name"),
                    f"'{call.get('name')}': templateRef to {kind} '{ref_name}' not found in the linted files{hint}",
                    "reference",
                )
            return None
        found = target.template(str(ref_template))
        if found is None:
            if report:
                self._add(
                    res,
                    (*path, "templateRef", "template"),
                    f"'{call.get('name')}': {target.label} has no template '{ref_template}' "
                    f"{_hint(str(ref_template), target.template_names(), 'templates')}",
                    "reference",
                )
            return None
        return Callee(target, found[0], found[1])

    def _check_call(
        self, res: Resource, call: dict[str, Any], path: JsonPath, callee: Callee | None, caller: str
    ) -> None:
        call_name = call.get("name")
        arguments = call.get("arguments")
        args = _params(arguments)
        apath: JsonPath = (*path, "arguments", "parameters")
        self._check_names(res, args, apath, f"argument of '{call_name}':", pattern=PARAM_NAME_RE)
        supplied: set[str] = set()
        for i, arg in args:
            name = arg.get("name")
            if isinstance(name, str):
                supplied.add(name)
            value_from = arg.get("valueFrom")
            if "value" not in arg and value_from is None:
                self._add(res, (*apath, i), f"'{call_name}': argument '{name}' needs value or valueFrom", "arguments")
            elif isinstance(value_from, dict):
                bad = sorted(set(value_from) - ARGUMENT_VALUE_FROM)
                if bad:
                    self._add(
                        res,
                        (*apath, i, "valueFrom"),
                        f"'{call_name}': argument '{name}': valueFrom only allows default, configMapKeyRef and "
                        f"supplied (found {', '.join(bad)})",
                        "arguments",
                    )
        if callee is None:
            return
        inputs = _params(callee.template.get("inputs"))
        declared = {str(p.get("name")): p for _, p in inputs if p.get("name")}
        for name, param in declared.items():
            required = param.get("value") is None and param.get("default") is None and param.get("valueFrom") is None
            if required and name not in supplied:
                self._add(
                    res,
                    (*path, "arguments") if arguments is not None else path,
                    f"'{call_name}': required input '{name}' of {callee.label} is not supplied",
                    "arguments",
                )
        for i, arg in args:
            name = arg.get("name")
            if isinstance(name, str) and name not in declared:
                self._add(
                    res,
                    (*apath, i, "name"),
                    f"'{call_name}': argument '{name}' is not an input of {callee.label} "
                    f"{_hint(name, declared, 'inputs')}",
                    "arguments",
                )
                continue
            enum = _as_dict(declared.get(str(name))).get("enum")
            value = arg.get("value")
            if isinstance(enum, list) and enum and isinstance(value, str) and "{{" not in value and value not in enum:
                self._add(
                    res,
                    (*apath, i, "value"),
                    f"'{call_name}': argument '{name}' value {value!r} is not in the enum of {callee.label}: {enum}",
                    "arguments",
                )

    # -- the OpenChoreo generate-workload-cr contract --------------------------------------------------------
    def _check_generate_definition(self, res: Resource, path: JsonPath, tmpl: dict[str, Any], kind: str | None) -> None:
        label = f"template '{GENERATE}'"
        if kind is not None and kind not in POD_TYPES:
            self._add(
                res,
                path,
                f"OpenChoreo contract: {label} must run as a Pod (container or script), not {kind}: OpenChoreo only "
                "reads the workload-cr output from Pod nodes",
                "openchoreo",
            )
            return
        self._check_workload_output(res, path, tmpl, label)

    def _check_workload_output(self, res: Resource, path: JsonPath, tmpl: dict[str, Any], label: str) -> None:
        outputs = {str(p.get("name")): (i, p) for i, p in _params(tmpl.get("outputs"))}
        if contract.OUT_WORKLOAD_CR not in outputs:
            self._add(
                res,
                path,
                f"OpenChoreo contract: {label} must declare output parameter '{contract.OUT_WORKLOAD_CR}' "
                f"(valueFrom.path {contract.WORKLOAD_CR_FILE})",
                "openchoreo",
            )
            return
        i, param = outputs[contract.OUT_WORKLOAD_CR]
        got = _as_dict(param.get("valueFrom")).get("path")
        if got != contract.WORKLOAD_CR_FILE:
            self._add(
                res,
                (*path, "outputs", "parameters", i, "valueFrom", "path"),
                f"OpenChoreo contract: output '{contract.OUT_WORKLOAD_CR}' of {label} must be read from "
                f"valueFrom.path {contract.WORKLOAD_CR_FILE} (got {got!r})",
                "openchoreo",
            )

    def _check_generate_call(
        self, res: Resource, path: JsonPath, call: dict[str, Any], callee: Callee | None, *, dag: bool
    ) -> None:
        name, template = call.get("name"), _call_template_name(call)
        if GENERATE not in (name, template):
            return
        noun = "task" if dag else "step"
        if dag:
            self._add(
                res,
                path,
                f"OpenChoreo contract: '{GENERATE}' must be a step of a Steps pipeline, not a DAG task: OpenChoreo "
                "orders Pod nodes by their steps index",
                "openchoreo",
            )
        if name != GENERATE:
            self._add(
                res,
                (*path, "name"),
                f"OpenChoreo contract: the {noun} calling template '{GENERATE}' must be named '{GENERATE}' "
                f"(got '{name}'); OpenChoreo v0.17+ matches the node's display name",
                "openchoreo",
            )
        if template != GENERATE:
            key: JsonPath = ("templateRef", "template") if call.get("templateRef") is not None else ("template",)
            self._add(
                res,
                (*path, *key),
                f"OpenChoreo contract: {noun} '{GENERATE}' must call a template named '{GENERATE}' (got "
                f"{template!r}); OpenChoreo v0.13-v0.16 match the template name",
                "openchoreo",
            )
        if callee is None:
            return
        kind = template_type(callee.template)
        if kind is not None and kind not in POD_TYPES:
            self._add(
                res,
                path,
                f"OpenChoreo contract: {noun} '{name}' calls {callee.label}, a {kind} template; it must be a Pod "
                "(container or script)",
                "openchoreo",
            )
        elif callee.name != GENERATE:  # a template named so is checked where it is defined
            self._check_workload_output_at_call(res, path, callee)

    def _check_workload_output_at_call(self, res: Resource, path: JsonPath, callee: Callee) -> None:
        outputs = {str(p.get("name")): p for _, p in _params(callee.template.get("outputs"))}
        got = _as_dict(_as_dict(outputs.get(contract.OUT_WORKLOAD_CR)).get("valueFrom")).get("path")
        if got != contract.WORKLOAD_CR_FILE:
            self._add(
                res,
                path,
                f"OpenChoreo contract: {callee.label} must declare output '{contract.OUT_WORKLOAD_CR}' with "
                f"valueFrom.path {contract.WORKLOAD_CR_FILE}",
                "openchoreo",
            )

    # -- pipelines: what a run actually reaches --------------------------------------------------------------
    def _check_pipeline(self, res: Resource) -> None:
        spec = res.spec if res.kind != "CronWorkflow" else _as_dict(res.spec.get("workflowSpec"))
        base: JsonPath = ("spec",) if res.kind != "CronWorkflow" else ("spec", "workflowSpec")
        owner, specs = res, [spec]
        ref = spec.get("workflowTemplateRef")
        if isinstance(ref, dict):
            target = self._workflow_template_target(ref)
            if target is None:
                return
            owner, specs = target, [spec, target.spec]
            self._check_submitted_arguments(res, base, spec, target)
        entrypoint = spec.get("entrypoint") or owner.spec.get("entrypoint")
        root = owner.template(str(entrypoint)) if entrypoint else None
        if root is None:
            return  # reported by the entrypoint check
        declared: set[str] = set()
        volumes: set[str] = set()
        for s in specs:
            declared |= _param_names(s.get("arguments"))
            volumes |= {str(_as_dict(v).get("name")) for v in _as_list(s.get("volumes"))}
            volumes |= {
                str(_as_dict(_as_dict(v).get("metadata")).get("name")) for v in _as_list(s.get("volumeClaimTemplates"))
            }
        for _, param in _params(root[1].get("inputs")):
            name = param.get("name")
            required = all(param.get(k) is None for k in ("value", "default", "valueFrom"))
            if required and name not in declared:
                self._add(
                    res,
                    (*base, "arguments"),
                    f"entrypoint template '{root[1].get('name')}' needs input '{name}', which this pipeline's "
                    "spec.arguments.parameters do not declare",
                    "arguments",
                )
        starts = [Callee(owner, root[0], root[1])]
        on_exit = owner.spec.get("onExit") or spec.get("onExit")
        if isinstance(on_exit, str) and owner.template(on_exit):
            idx, tmpl = owner.template(on_exit)  # type: ignore[misc]
            starts.append(Callee(owner, idx, tmpl))
        reached = self._reach(starts)
        args_path: JsonPath = (*base, "arguments")
        uses_generate = False
        for callee, via in reached:
            tmpl = callee.template
            kind = template_type(tmpl)
            if callee.name == GENERATE or any(
                GENERATE in (c.get("name"), _call_template_name(c)) for c in _calls(tmpl)
            ):
                uses_generate = True
            if callee.owner is not res:  # the pipeline's own templates are checked with its arguments already
                for name in sorted(self._workflow_param_refs(tmpl) - declared):
                    self._add(
                        res,
                        args_path,
                        f"{callee.label} (reached via {via}) uses {{{{workflow.parameters.{name}}}}}, but this "
                        f"pipeline declares no argument '{name}'",
                        "pipeline",
                    )
            if kind in LEAF_TYPES:
                tmpl_volumes = {str(_as_dict(v).get("name")) for v in _as_list(tmpl.get("volumes"))}
                for mount in sorted(_mount_names(tmpl) - tmpl_volumes - volumes):
                    self._add(
                        res,
                        (*base,),
                        f"volume '{mount}' mounted by {callee.label} (reached via {via}) is declared neither in the "
                        "template nor in this pipeline's spec.volumes/volumeClaimTemplates (templateRef does not "
                        "import the referenced template's spec-level volumes)",
                        "pipeline",
                    )
        if uses_generate and template_type(root[1]) != "steps":
            self._add(
                res,
                (*base, "entrypoint"),
                f"OpenChoreo contract: the pipeline runs '{GENERATE}', so its entrypoint template "
                f"'{root[1].get('name')}' must be a Steps template, not {template_type(root[1])}: OpenChoreo orders "
                "Pod nodes by their steps index",
                "openchoreo",
            )

    def _check_submitted_arguments(self, res: Resource, base: JsonPath, spec: dict[str, Any], target: Resource) -> None:
        """A Workflow run through workflowTemplateRef must supply every template argument without a value (Argo
        rejects the submission otherwise; `argo lint` allows it), and should not pass arguments the template does
        not declare (a typo is silently ignored). Errors for OpenChoreo runTemplates, which are submitted as they
        are; warnings for other Workflows, which `argo submit -p` may complete."""
        given = {str(p.get("name")): i for i, p in _params(spec.get("arguments"))}
        declared = {str(p.get("name")): p for _, p in _params(target.spec.get("arguments"))}
        severity: Severity = "error" if res.embedded else "warning"
        for name, param in declared.items():
            if name not in given and param.get("value") is None and param.get("valueFrom") is None:
                self._add(
                    res,
                    (*base, "arguments"),
                    f"{target.label} argument '{name}' has no value and this Workflow does not supply it: the "
                    "submission would be rejected",
                    "arguments",
                    severity,
                )
        for name, i in given.items():
            if name not in declared:
                self._add(
                    res,
                    (*base, "arguments", "parameters", i, "name"),
                    f"argument '{name}' is not declared by {target.label} {_hint(name, declared)}",
                    "arguments",
                    "warning",
                )

    def _reach(self, starts: list[Callee]) -> list[tuple[Callee, str]]:
        seen: set[tuple[int, int | None, str]] = set()
        out: list[tuple[Callee, str]] = []
        stack: list[tuple[Callee, str]] = [(s, f"entrypoint '{s.name}'") for s in reversed(starts)]
        while stack:
            callee, via = stack.pop()
            key = (
                id(callee.owner),
                callee.index,
                callee.name if callee.index is not None else str(id(callee.template)),
            )
            if key in seen:
                continue
            seen.add(key)
            out.append((callee, via))
            for call in _calls(callee.template):
                nxt = self._resolve_call(callee.owner, call, (), report=False)
                if nxt is not None:
                    stack.append((nxt, f"{via} > '{call.get('name')}'"))
        return out

    @staticmethod
    def _workflow_param_refs(tmpl: dict[str, Any]) -> set[str]:
        names: set[str] = set()
        for _, text in _strings({k: v for k, v in tmpl.items() if k != "inline"}, ()):
            for tag in _tags(text):
                if tag.startswith("workflow.parameters."):
                    names.add(tag[len("workflow.parameters.") :])
        return names


def _hint(name: str, names: Iterable[str], what: str = "declared", limit: int = 8) -> str:
    """`(did you mean 'x'?)` when a name is close, else the (first few) names there are."""
    choices = sorted(set(names))
    close = difflib.get_close_matches(name, choices, n=1)
    if close:
        return f"(did you mean '{close[0]}'?)"
    if not choices:
        return f"({what}: none)"
    shown = ", ".join(choices[:limit]) + (f", … {len(choices) - limit} more" if len(choices) > limit else "")
    return f"({what}: {shown})"


def _calls(tmpl: dict[str, Any]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for group in _as_list(tmpl.get("steps")):
        calls.extend(s for s in _as_list(group) if isinstance(s, dict))
    calls.extend(t for t in _as_list(_as_dict(tmpl.get("dag")).get("tasks")) if isinstance(t, dict))
    return calls


def _containers(tmpl: dict[str, Any]) -> list[tuple[JsonPath, Any]]:
    """Every container-like body of a template, with its path inside the template."""
    out: list[tuple[JsonPath, Any]] = [(("container",), tmpl.get("container")), (("script",), tmpl.get("script"))]
    for key in ("initContainers", "sidecars"):
        out += [((key, i), c) for i, c in enumerate(_as_list(tmpl.get(key)))]
    out += [
        (("containerSet", "containers", i), c)
        for i, c in enumerate(_as_list(_as_dict(tmpl.get("containerSet")).get("containers")))
    ]
    return [(p, c) for p, c in out if isinstance(c, dict)]


def _mount_names(tmpl: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for _, body in _containers(tmpl):
        for mount in _as_list(_as_dict(body).get("volumeMounts")):
            name = _as_dict(mount).get("name")
            if isinstance(name, str):
                names.add(name)
    for mount in _as_list(_as_dict(tmpl.get("containerSet")).get("volumeMounts")):
        if isinstance(_as_dict(mount).get("name"), str):
            names.add(str(mount["name"]))
    return names


def check(resources: Sequence[Resource]) -> list[tuple[Resource, Issue]]:
    """Run every semantic check over `resources` (resolved against each other)."""
    return SemanticChecker(resources).run()


def _is_input_default(path: JsonPath) -> bool:
    """`...inputs.parameters[i].default`: the value applies only when the caller passes no argument."""
    return len(path) >= 4 and path[-1] == "default" and path[-3] == "parameters" and path[-4] == "inputs"


def _pod_spec_patch(value: Any) -> dict[str, Any]:
    """A podSpecPatch (JSON or YAML text, or a mapping) as a mapping; {} when absent or not parseable."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value.strip():
        return {}
    import yaml

    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
