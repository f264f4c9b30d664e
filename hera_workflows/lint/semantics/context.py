"""The state every semantic rule shares: the linted resources, the template registries (by name and scope), the
findings (reported once per place and message), and template resolution (`template`, `templateRef`, `inline`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hera_workflows.lint.schema import Issue, JsonPath, Severity
from hera_workflows.lint.semantics.model import (
    Callee,
    Resource,
    as_dict,
    name_hint,
    param_names,
)


class Context:
    """The linted resources, the template registries and the findings, shared by every rule."""

    def __init__(self, resources: Sequence[Resource]) -> None:
        self.resources = list(resources)
        self.cluster_templates: dict[str, Resource] = {}
        self.namespaced_templates: dict[str, Resource] = {}
        self.findings: list[tuple[Resource, Issue]] = []
        self._seen: set[tuple[int, JsonPath, str]] = set()

    def add(self, res: Resource, path: JsonPath, message: str, rule: str, severity: Severity = "error") -> None:
        full = (*res.prefix, *path)
        key = (id(res), full, message)
        if key in self._seen:
            return
        self._seen.add(key)
        self.findings.append((res, Issue(full, message, rule, severity)))

    def register(self) -> None:
        for res in self.resources:
            if res.embedded or res.kind not in ("ClusterWorkflowTemplate", "WorkflowTemplate") or not res.name:
                continue
            registry = self.cluster_templates if res.kind == "ClusterWorkflowTemplate" else self.namespaced_templates
            if res.name in registry:
                other = registry[res.name]
                where = f" (first defined in {other.origin})" if other.origin else ""
                self.add(res, ("metadata", "name"), f"duplicate {res.kind} name '{res.name}'{where}", "duplicate")
                continue
            registry[res.name] = res

    def workflow_template_target(self, ref: dict[str, Any]) -> Resource | None:
        registry = self.cluster_templates if ref.get("clusterScope") else self.namespaced_templates
        return registry.get(str(ref.get("name")))

    @staticmethod
    def is_pipeline(res: Resource) -> bool:
        return res.kind in ("Workflow", "CronWorkflow") or bool(res.spec.get("entrypoint"))

    def workflow_params(self, res: Resource) -> set[str] | None:
        """Declared workflow parameters, or None when the caller supplies them (step templates)."""
        if not self.is_pipeline(res):
            return None
        names = param_names(res.spec.get("arguments"))
        ref = res.spec.get("workflowTemplateRef")
        if isinstance(ref, dict):
            target = self.workflow_template_target(ref)
            if target is None:
                return None
            names |= param_names(target.spec.get("arguments"))
        return names

    def resolve_call(self, res: Resource, call: dict[str, Any], path: JsonPath, report: bool = True) -> Callee | None:
        holders = [k for k in ("template", "templateRef", "inline") if call.get(k) is not None]
        if len(holders) != 1:
            if report:
                present = ", ".join(holders) if holders else "none"
                self.add(
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
                    self.add(
                        res,
                        (*path, "template"),
                        f"'{call.get('name')}': template '{name}' undefined in {res.label} "
                        f"{name_hint(name, res.template_names(), 'templates')}",
                        "reference",
                    )
                return None
            return Callee(res, found[0], found[1])
        ref = as_dict(call.get("templateRef"))
        ref_name, ref_template = ref.get("name"), ref.get("template")
        if not ref_name or not ref_template:
            if report:
                missing = "name" if not ref_name else "template"
                self.add(
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
                self.add(
                    res,
                    (*path, "templateRef", "name"),
                    f"'{call.get('name')}': templateRef to {kind} '{ref_name}' not found in the linted files{hint}",
                    "reference",
                )
            return None
        found = target.template(str(ref_template))
        if found is None:
            if report:
                self.add(
                    res,
                    (*path, "templateRef", "template"),
                    f"'{call.get('name')}': {target.label} has no template '{ref_template}' "
                    f"{name_hint(str(ref_template), target.template_names(), 'templates')}",
                    "reference",
                )
            return None
        return Callee(target, found[0], found[1])
