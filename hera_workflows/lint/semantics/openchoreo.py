"""The OpenChoreo `generate-workload-cr` contract (openchoreo-ci-contract §1.4): step and template both named
`generate-workload-cr`, a Pod template, output `workload-cr` read from contract.WORKLOAD_CR_FILE, called from Steps."""

from __future__ import annotations

from typing import Any

from hera_workflows.lint.schema import JsonPath
from hera_workflows.lint.semantics.context import Context
from hera_workflows.lint.semantics.model import (
    GENERATE,
    POD_TYPES,
    Callee,
    Resource,
    as_dict,
    call_template_name,
    params_of,
    template_type,
)
from steps.common import contract


def check_generate_definition(
    ctx: Context, res: Resource, path: JsonPath, tmpl: dict[str, Any], kind: str | None
) -> None:
    label = f"template '{GENERATE}'"
    if kind is not None and kind not in POD_TYPES:
        ctx.add(
            res,
            path,
            f"OpenChoreo contract: {label} must run as a Pod (container or script), not {kind}: OpenChoreo only "
            "reads the workload-cr output from Pod nodes",
            "openchoreo",
        )
        return
    _check_workload_output(ctx, res, path, tmpl, label)


def _check_workload_output(ctx: Context, res: Resource, path: JsonPath, tmpl: dict[str, Any], label: str) -> None:
    outputs = {str(p.get("name")): (i, p) for i, p in params_of(tmpl.get("outputs"))}
    if contract.OUT_WORKLOAD_CR not in outputs:
        ctx.add(
            res,
            path,
            f"OpenChoreo contract: {label} must declare output parameter '{contract.OUT_WORKLOAD_CR}' "
            f"(valueFrom.path {contract.WORKLOAD_CR_FILE})",
            "openchoreo",
        )
        return
    i, param = outputs[contract.OUT_WORKLOAD_CR]
    got = as_dict(param.get("valueFrom")).get("path")
    if got != contract.WORKLOAD_CR_FILE:
        ctx.add(
            res,
            (*path, "outputs", "parameters", i, "valueFrom", "path"),
            f"OpenChoreo contract: output '{contract.OUT_WORKLOAD_CR}' of {label} must be read from "
            f"valueFrom.path {contract.WORKLOAD_CR_FILE} (got {got!r})",
            "openchoreo",
        )


def check_generate_call(
    ctx: Context, res: Resource, path: JsonPath, call: dict[str, Any], callee: Callee | None, *, dag: bool
) -> None:
    name, template = call.get("name"), call_template_name(call)
    if GENERATE not in (name, template):
        return
    noun = "task" if dag else "step"
    if dag:
        ctx.add(
            res,
            path,
            f"OpenChoreo contract: '{GENERATE}' must be a step of a Steps pipeline, not a DAG task: OpenChoreo "
            "orders Pod nodes by their steps index",
            "openchoreo",
        )
    if name != GENERATE:
        ctx.add(
            res,
            (*path, "name"),
            f"OpenChoreo contract: the {noun} calling template '{GENERATE}' must be named '{GENERATE}' "
            f"(got '{name}'); OpenChoreo v0.17+ matches the node's display name",
            "openchoreo",
        )
    if template != GENERATE:
        key: JsonPath = ("templateRef", "template") if call.get("templateRef") is not None else ("template",)
        ctx.add(
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
        ctx.add(
            res,
            path,
            f"OpenChoreo contract: {noun} '{name}' calls {callee.label}, a {kind} template; it must be a Pod "
            "(container or script)",
            "openchoreo",
        )
    elif callee.name != GENERATE:  # a template named so is checked where it is defined
        _check_workload_output_at_call(ctx, res, path, callee)


def _check_workload_output_at_call(ctx: Context, res: Resource, path: JsonPath, callee: Callee) -> None:
    outputs = {str(p.get("name")): p for _, p in params_of(callee.template.get("outputs"))}
    got = as_dict(as_dict(outputs.get(contract.OUT_WORKLOAD_CR)).get("valueFrom")).get("path")
    if got != contract.WORKLOAD_CR_FILE:
        ctx.add(
            res,
            path,
            f"OpenChoreo contract: {callee.label} must declare output '{contract.OUT_WORKLOAD_CR}' with "
            f"valueFrom.path {contract.WORKLOAD_CR_FILE}",
            "openchoreo",
        )
