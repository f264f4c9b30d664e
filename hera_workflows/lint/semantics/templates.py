"""One template: exactly one type, its fields, inputs and outputs, then its steps or DAG and its `{{…}}` tags."""

from __future__ import annotations

from typing import Any

from hera_workflows.lint.schema import JsonPath
from hera_workflows.lint.semantics.calls import check_dag, check_steps
from hera_workflows.lint.semantics.context import Context
from hera_workflows.lint.semantics.model import (
    GENERATE,
    LEAF_TYPES,
    MAX_TEMPLATE_NAME,
    NAME_RE,
    OUTPUT_VALUE_FROM_SOURCES,
    PARAM_NAME_RE,
    POD_TYPES,
    PULL_POLICIES,
    TEMPLATE_TYPES,
    Resource,
    Scope,
    as_dict,
    as_list,
    containers_of,
    param_names,
    params_of,
)
from hera_workflows.lint.semantics.names import check_enum, check_names
from hera_workflows.lint.semantics.openchoreo import check_generate_definition
from hera_workflows.lint.semantics.tags import check_refs


def check_templates(ctx: Context, res: Resource) -> None:
    templates = res.templates()
    check_names(ctx, res, templates, ("spec", "templates"), "template", pattern=NAME_RE, max_len=MAX_TEMPLATE_NAME)
    workflow_params = ctx.workflow_params(res)
    for i, tmpl in templates:
        _check_template(ctx, res, i, tmpl, workflow_params)


def _check_template(
    ctx: Context, res: Resource, index: int, tmpl: dict[str, Any], workflow_params: set[str] | None
) -> None:
    path: JsonPath = ("spec", "templates", index)
    name = str(tmpl.get("name") or f"#{index}")
    present = [t for t in TEMPLATE_TYPES if tmpl.get(t) is not None]
    if not present:
        ctx.add(
            res,
            path,
            f"template '{name}': template type unspecified (choose one of {', '.join(TEMPLATE_TYPES)})",
            "type",
        )
    elif len(present) > 1:
        ctx.add(res, path, f"template '{name}': multiple template types specified ({', '.join(present)})", "type")
    kind = present[0] if len(present) == 1 else None
    inputs, outputs = tmpl.get("inputs"), tmpl.get("outputs")
    for section, key, label in (
        (inputs, "parameters", "input parameter"),
        (inputs, "artifacts", "input artifact"),
        (outputs, "parameters", "output parameter"),
        (outputs, "artifacts", "output artifact"),
    ):
        where = "inputs" if section is inputs else "outputs"
        check_names(
            ctx, res, params_of(section, key), (*path, where, key), f"{label} of '{name}':", pattern=PARAM_NAME_RE
        )
    for i, param in params_of(inputs):
        check_enum(ctx, res, param, (*path, "inputs", "parameters", i), f"input '{param.get('name')}' of '{name}'")
    _check_template_fields(ctx, res, path, name, tmpl, kind=kind)
    _check_outputs(ctx, res, path, name, tmpl, kind=kind)
    scope = Scope(name, param_names(inputs), param_names(inputs, "artifacts"), workflow_params=workflow_params)
    if kind == "steps":
        check_steps(ctx, res, path, tmpl, scope)
    elif kind == "dag":
        check_dag(ctx, res, path, tmpl, scope)
    else:
        check_refs(ctx, res, tmpl, path, scope)
    if name == GENERATE:
        check_generate_definition(ctx, res, path, tmpl, kind)


def _check_template_fields(
    ctx: Context, res: Resource, path: JsonPath, name: str, tmpl: dict[str, Any], *, kind: str | None
) -> None:
    leaf = kind in LEAF_TYPES
    if kind is None:
        return
    if not leaf and tmpl.get("timeout") is not None:
        ctx.add(res, (*path, "timeout"), f"template '{name}': {kind} templates do not support timeout", "type")
    if not leaf and tmpl.get("activeDeadlineSeconds") is not None:
        ctx.add(
            res,
            (*path, "activeDeadlineSeconds"),
            f"template '{name}': activeDeadlineSeconds is only valid for leaf templates",
            "type",
        )
    if leaf and tmpl.get("parallelism") is not None:
        ctx.add(
            res,
            (*path, "parallelism"),
            f"template '{name}': parallelism is only valid for steps and dag templates",
            "type",
        )
    timeout = tmpl.get("timeout")
    if isinstance(timeout, str) and timeout.strip().isdigit():
        ctx.add(
            res,
            (*path, "timeout"),
            f"template '{name}': timeout {timeout!r} needs a unit (e.g. '{timeout}s')",
            "type",
        )
    for cpath, body in containers_of(tmpl):
        policy = as_dict(body).get("imagePullPolicy")
        if isinstance(policy, str) and "{{" not in policy and policy not in PULL_POLICIES:
            ctx.add(
                res,
                (*path, *cpath, "imagePullPolicy"),
                f"template '{name}': {policy!r} is not one of {sorted(PULL_POLICIES)} (the CRD does not check it; "
                "the pod would be rejected)",
                "kubernetes",
            )
    defaults = as_dict(res.spec.get("templateDefaults"))
    for key in ("container", "script"):
        body = tmpl.get(key)
        has_default = res.kind != "ClusterWorkflowTemplate" and as_dict(defaults.get(key)).get("image")
        if kind == key and isinstance(body, dict) and not body.get("image") and not has_default:
            ctx.add(res, (*path, key, "image"), f"template '{name}': {key}.image may not be empty", "type")
        if kind == key and isinstance(body, dict):
            mounts: dict[str, int] = {}
            for i, mount in enumerate(as_list(body.get("volumeMounts"))):
                mount_path = as_dict(mount).get("mountPath")
                if isinstance(mount_path, str) and mount_path in mounts:
                    ctx.add(
                        res,
                        (*path, key, "volumeMounts", i, "mountPath"),
                        f"template '{name}': mountPath '{mount_path}' is already mounted "
                        f"(volumeMounts[{mounts[mount_path]}])",
                        "volumes",
                    )
                elif isinstance(mount_path, str):
                    mounts[mount_path] = i


def _check_outputs(
    ctx: Context, res: Resource, path: JsonPath, name: str, tmpl: dict[str, Any], *, kind: str | None
) -> None:
    for i, param in params_of(tmpl.get("outputs")):
        ppath: JsonPath = (*path, "outputs", "parameters", i)
        label = f"output parameter '{param.get('name')}' of template '{name}'"
        value_from = param.get("valueFrom")
        if value_from is not None and param.get("value") is not None:
            ctx.add(res, ppath, f"{label} has both valueFrom and value; choose one", "outputs")
            continue
        if param.get("value") is not None:
            continue
        if not isinstance(value_from, dict):
            ctx.add(res, ppath, f"{label} has neither valueFrom nor value", "outputs")
            continue
        sources = [s for s in OUTPUT_VALUE_FROM_SOURCES if value_from.get(s) not in (None, "")]
        if not sources:
            ctx.add(
                res,
                (*ppath, "valueFrom"),
                f"{label}: valueFrom type unspecified "
                "(one of path, jqFilter, jsonPath, parameter, expression, supplied)",
                "outputs",
            )
            continue
        if len(sources) > 1:
            ctx.add(res, (*ppath, "valueFrom"), f"{label}: multiple valueFrom types ({', '.join(sources)})", "outputs")
        if kind in POD_TYPES and not value_from.get("path"):
            ctx.add(
                res,
                (*ppath, "valueFrom"),
                f"{label}: valueFrom.path must be specified for {kind} templates",
                "outputs",
            )
        elif kind == "resource" and not (value_from.get("jqFilter") or value_from.get("jsonPath")):
            ctx.add(
                res,
                (*ppath, "valueFrom"),
                f"{label}: valueFrom.jqFilter or jsonPath must be specified for resource templates",
                "outputs",
            )
        elif kind in ("steps", "dag") and not (value_from.get("parameter") or value_from.get("expression")):
            ctx.add(
                res,
                (*ppath, "valueFrom"),
                f"{label}: valueFrom.parameter or expression must be specified for {kind} templates",
                "outputs",
            )
