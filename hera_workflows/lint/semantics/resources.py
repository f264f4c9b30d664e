"""One resource at a time: metadata, spec arguments, workflowTemplateRef, entrypoint, onExit, then its templates."""

from __future__ import annotations

from typing import Any

from hera_workflows.lint.schema import JsonPath
from hera_workflows.lint.semantics.context import Context
from hera_workflows.lint.semantics.model import (
    ARGUMENT_VALUE_FROM,
    DNS_SUBDOMAIN_RE,
    MAX_OBJECT_NAME,
    PARAM_NAME_RE,
    Resource,
    as_dict,
    name_hint,
    params_of,
)
from hera_workflows.lint.semantics.names import check_enum, check_names
from hera_workflows.lint.semantics.templates import check_templates


def check_resource(ctx: Context, res: Resource) -> None:
    if not res.embedded:
        _check_metadata(ctx, res)
    spec = res.spec
    if res.kind == "CronWorkflow":
        spec = as_dict(spec.get("workflowSpec"))
    _check_spec_arguments(ctx, res, spec)
    wf_ref = spec.get("workflowTemplateRef")
    target = _check_workflow_template_ref(ctx, res, wf_ref) if isinstance(wf_ref, dict) else None
    _check_entrypoint(ctx, res, spec, wf_ref, target)
    on_exit = spec.get("onExit")
    if isinstance(on_exit, str) and on_exit and wf_ref is None and res.template(on_exit) is None:
        ctx.add(res, ("spec", "onExit"), f"onExit template '{on_exit}' undefined", "reference")
    check_templates(ctx, res)


def _check_metadata(ctx: Context, res: Resource) -> None:
    meta = as_dict(res.doc.get("metadata"))
    name, generate = meta.get("name"), meta.get("generateName")
    if not name and not (res.kind == "Workflow" and generate):
        ctx.add(res, ("metadata",), "metadata.name is required", "name")
        return
    value, key = (name, "name") if name else (generate, "generateName")
    text = str(value)
    limit = MAX_OBJECT_NAME - (5 if key == "generateName" else 0)
    if len(text) > limit:
        ctx.add(res, ("metadata", key), f"'{text}' is longer than {limit} characters", "name")
    check = text.rstrip("-") if key == "generateName" else text
    if not DNS_SUBDOMAIN_RE.match(check):
        ctx.add(
            res,
            ("metadata", key),
            f"'{text}' is not a valid Kubernetes name (lower case alphanumerics, '-' and '.')",
            "name",
        )


def _check_spec_arguments(ctx: Context, res: Resource, spec: dict[str, Any]) -> None:
    base: JsonPath = ("spec", "arguments") if res.kind != "CronWorkflow" else ("spec", "workflowSpec", "arguments")
    args = spec.get("arguments")
    check_names(ctx, res, params_of(args), (*base, "parameters"), "parameter", pattern=PARAM_NAME_RE)
    check_names(ctx, res, params_of(args, "artifacts"), (*base, "artifacts"), "artifact", pattern=PARAM_NAME_RE)
    for i, param in params_of(args):
        path = (*base, "parameters", i)
        value_from = param.get("valueFrom")
        if isinstance(value_from, dict):
            bad = sorted(set(value_from) - ARGUMENT_VALUE_FROM)
            if bad:
                ctx.add(
                    res,
                    (*path, "valueFrom"),
                    f"argument '{param.get('name')}': valueFrom only allows default, configMapKeyRef and "
                    f"supplied (found {', '.join(bad)})",
                    "arguments",
                )
        if res.kind == "Workflow" and "value" not in param and value_from is None:
            ctx.add(
                res,
                path,
                f"workflow argument '{param.get('name')}' has no value: it must be supplied at submission",
                "arguments",
                "warning",
            )
        check_enum(ctx, res, param, path, f"argument '{param.get('name')}'")


def _check_workflow_template_ref(ctx: Context, res: Resource, ref: dict[str, Any]) -> Resource | None:
    path: JsonPath = ("spec", "workflowTemplateRef")
    if res.spec.get("templates"):
        ctx.add(res, ("spec", "templates"), "templates cannot be used together with workflowTemplateRef", "reference")
    name = ref.get("name")
    if not isinstance(name, str) or not name:
        ctx.add(res, (*path, "name"), "workflowTemplateRef.name is required", "reference")
        return None
    if "{{" in name or "${" in name:
        return None
    cluster = bool(ref.get("clusterScope"))
    registry = ctx.cluster_templates if cluster else ctx.namespaced_templates
    kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
    target = registry.get(name)
    if target is None:
        ctx.add(
            res, (*path, "name"), f"workflowTemplateRef: {kind} '{name}' not found in the linted files", "reference"
        )
    return target


def _check_entrypoint(ctx: Context, res: Resource, spec: dict[str, Any], wf_ref: Any, target: Resource | None) -> None:
    entrypoint = spec.get("entrypoint")
    base: JsonPath = ("spec",) if res.kind != "CronWorkflow" else ("spec", "workflowSpec")
    if isinstance(wf_ref, dict):
        if target is None:
            return
        effective = entrypoint or target.spec.get("entrypoint")
        if not effective:
            ctx.add(
                res,
                (*base, "entrypoint"),
                f"spec.entrypoint is required (neither this workflow nor {target.label} sets one)",
                "entrypoint",
            )
        elif target.template(str(effective)) is None:
            ctx.add(
                res,
                (*base, "entrypoint"),
                f"entrypoint '{effective}' is not a template of {target.label} "
                f"{name_hint(str(effective), target.template_names(), 'templates')}",
                "entrypoint",
            )
        return
    if not entrypoint:
        if res.kind in ("Workflow", "CronWorkflow"):
            ctx.add(res, (*base,), "spec.entrypoint is required", "entrypoint")
        return
    if res.template(str(entrypoint)) is None:
        ctx.add(
            res,
            (*base, "entrypoint"),
            f"entrypoint template '{entrypoint}' undefined "
            f"{name_hint(str(entrypoint), res.template_names(), 'templates')}",
            "entrypoint",
        )
