"""Pipeline checks: every template a pipeline reaches (through templateRef too) may only use the
`{{workflow.parameters.X}}` the pipeline declares and mount volumes declared where it runs."""

from __future__ import annotations

from typing import Any

from hera_workflows.lint.schema import JsonPath, Severity
from hera_workflows.lint.semantics.context import Context
from hera_workflows.lint.semantics.model import (
    GENERATE,
    LEAF_TYPES,
    Callee,
    Resource,
    as_dict,
    as_list,
    call_template_name,
    calls_of,
    mount_names,
    name_hint,
    param_names,
    params_of,
    strings_in,
    tags_in,
    template_type,
)


def check_pipeline(ctx: Context, res: Resource) -> None:
    spec = res.spec if res.kind != "CronWorkflow" else as_dict(res.spec.get("workflowSpec"))
    base: JsonPath = ("spec",) if res.kind != "CronWorkflow" else ("spec", "workflowSpec")
    owner, specs = res, [spec]
    ref = spec.get("workflowTemplateRef")
    if isinstance(ref, dict):
        target = ctx.workflow_template_target(ref)
        if target is None:
            return
        owner, specs = target, [spec, target.spec]
        _check_submitted_arguments(ctx, res, base, spec, target)
    entrypoint = spec.get("entrypoint") or owner.spec.get("entrypoint")
    root = owner.template(str(entrypoint)) if entrypoint else None
    if root is None:
        return  # reported by the entrypoint check
    declared: set[str] = set()
    volumes: set[str] = set()
    for s in specs:
        declared |= param_names(s.get("arguments"))
        volumes |= {str(as_dict(v).get("name")) for v in as_list(s.get("volumes"))}
        volumes |= {
            str(as_dict(as_dict(v).get("metadata")).get("name")) for v in as_list(s.get("volumeClaimTemplates"))
        }
    for _, param in params_of(root[1].get("inputs")):
        name = param.get("name")
        required = all(param.get(k) is None for k in ("value", "default", "valueFrom"))
        if required and name not in declared:
            ctx.add(
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
    reached = _reach(ctx, starts)
    args_path: JsonPath = (*base, "arguments")
    uses_generate = False
    for callee, via in reached:
        tmpl = callee.template
        kind = template_type(tmpl)
        if callee.name == GENERATE or any(GENERATE in (c.get("name"), call_template_name(c)) for c in calls_of(tmpl)):
            uses_generate = True
        if callee.owner is not res:  # the pipeline's own templates are checked with its arguments already
            for name in sorted(_workflow_param_refs(tmpl) - declared):
                ctx.add(
                    res,
                    args_path,
                    f"{callee.label} (reached via {via}) uses {{{{workflow.parameters.{name}}}}}, but this "
                    f"pipeline declares no argument '{name}'",
                    "pipeline",
                )
        if kind in LEAF_TYPES:
            tmpl_volumes = {str(as_dict(v).get("name")) for v in as_list(tmpl.get("volumes"))}
            for mount in sorted(mount_names(tmpl) - tmpl_volumes - volumes):
                ctx.add(
                    res,
                    (*base,),
                    f"volume '{mount}' mounted by {callee.label} (reached via {via}) is declared neither in the "
                    "template nor in this pipeline's spec.volumes/volumeClaimTemplates (templateRef does not "
                    "import the referenced template's spec-level volumes)",
                    "pipeline",
                )
    if uses_generate and template_type(root[1]) != "steps":
        ctx.add(
            res,
            (*base, "entrypoint"),
            f"OpenChoreo contract: the pipeline runs '{GENERATE}', so its entrypoint template "
            f"'{root[1].get('name')}' must be a Steps template, not {template_type(root[1])}: OpenChoreo orders "
            "Pod nodes by their steps index",
            "openchoreo",
        )


def _check_submitted_arguments(
    ctx: Context, res: Resource, base: JsonPath, spec: dict[str, Any], target: Resource
) -> None:
    """A Workflow run through workflowTemplateRef must supply every template argument without a value (Argo
    rejects the submission otherwise; `argo lint` allows it), and should not pass arguments the template does
    not declare (a typo is silently ignored). Errors for OpenChoreo runTemplates, which are submitted as they
    are; warnings for other Workflows, which `argo submit -p` may complete."""
    given = {str(p.get("name")): i for i, p in params_of(spec.get("arguments"))}
    declared = {str(p.get("name")): p for _, p in params_of(target.spec.get("arguments"))}
    severity: Severity = "error" if res.embedded else "warning"
    for name, param in declared.items():
        if name not in given and param.get("value") is None and param.get("valueFrom") is None:
            ctx.add(
                res,
                (*base, "arguments"),
                f"{target.label} argument '{name}' has no value and this Workflow does not supply it: the "
                "submission would be rejected",
                "arguments",
                severity,
            )
    for name, i in given.items():
        if name not in declared:
            ctx.add(
                res,
                (*base, "arguments", "parameters", i, "name"),
                f"argument '{name}' is not declared by {target.label} {name_hint(name, declared)}",
                "arguments",
                "warning",
            )


def _reach(ctx: Context, starts: list[Callee]) -> list[tuple[Callee, str]]:
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
        for call in calls_of(callee.template):
            nxt = ctx.resolve_call(callee.owner, call, (), report=False)
            if nxt is not None:
                stack.append((nxt, f"{via} > '{call.get('name')}'"))
    return out


def _workflow_param_refs(tmpl: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for _, text in strings_in({k: v for k, v in tmpl.items() if k != "inline"}, ()):
        for tag in tags_in(text):
            if tag.startswith("workflow.parameters."):
                names.add(tag[len("workflow.parameters.") :])
    return names
