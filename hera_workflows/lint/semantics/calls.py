"""Steps and DAG tasks: names, dependencies and cycles, and each call against the template it resolves to
(arguments naming inputs the callee declares, required inputs supplied)."""

from __future__ import annotations

from typing import Any

from hera_workflows.lint.schema import JsonPath
from hera_workflows.lint.semantics.context import Context
from hera_workflows.lint.semantics.model import (
    ARGUMENT_VALUE_FROM,
    MAX_TEMPLATE_NAME,
    NAME_RE,
    PARAM_NAME_RE,
    Callee,
    Resource,
    Scope,
    as_dict,
    as_list,
    dag_dependencies,
    name_hint,
    param_names,
    params_of,
)
from hera_workflows.lint.semantics.names import check_names
from hera_workflows.lint.semantics.openchoreo import check_generate_call
from hera_workflows.lint.semantics.tags import check_refs


def check_steps(ctx: Context, res: Resource, path: JsonPath, tmpl: dict[str, Any], scope: Scope) -> None:
    groups = as_list(tmpl.get("steps"))
    calls: list[tuple[JsonPath, dict[str, Any]]] = []
    for gi, group in enumerate(groups):
        for si, step in enumerate(as_list(group)):
            if isinstance(step, dict):
                calls.append(((*path, "steps", gi, si), step))
    scope.kind = "steps"
    scope.all_calls = {str(s.get("name")) for _, s in calls}
    check_refs(ctx, res, {k: v for k, v in tmpl.items() if k not in ("steps", "outputs")}, path, scope)
    seen: set[str] = set()
    for gi, group in enumerate(groups):
        added: dict[str, Callee | None] = {}
        for si, step in enumerate(as_list(group)):
            if not isinstance(step, dict):
                continue
            spath: JsonPath = (*path, "steps", gi, si)
            name = step.get("name")
            _check_call_name(ctx, res, spath, name, "step", seen=seen)
            callee = ctx.resolve_call(res, step, spath)
            _check_call(ctx, res, step, spath, callee, caller=scope.template)
            step_scope = Scope(
                scope.template,
                scope.inputs | param_names(as_dict(step.get("inline")).get("inputs")),
                scope.artifacts,
                "steps",
                dict(scope.visible),
                scope.all_calls,
                any(step.get(k) for k in ("withItems", "withParam", "withSequence")),
                scope.workflow_params,
            )
            check_refs(ctx, res, {k: v for k, v in step.items() if k != "inline"}, spath, step_scope)
            check_generate_call(ctx, res, spath, step, callee, dag=False)
            if isinstance(name, str):
                added[name] = callee
        scope.visible.update(added)
    check_refs(ctx, res, tmpl.get("outputs"), (*path, "outputs"), scope)


def _check_call_name(ctx: Context, res: Resource, path: JsonPath, name: Any, noun: str, *, seen: set[str]) -> None:
    if not isinstance(name, str) or not name:
        ctx.add(res, path, f"{noun} name is required", "name")
        return
    if not NAME_RE.match(name):
        ctx.add(res, (*path, "name"), f"{noun} name '{name}' is invalid: must match {NAME_RE.pattern}", "name")
    elif len(name) > MAX_TEMPLATE_NAME:
        ctx.add(res, (*path, "name"), f"{noun} name '{name}' is longer than {MAX_TEMPLATE_NAME} characters", "name")
    if name in seen:
        ctx.add(res, (*path, "name"), f"{noun} name '{name}' is not unique", "name")
    seen.add(name)


def check_dag(ctx: Context, res: Resource, path: JsonPath, tmpl: dict[str, Any], scope: Scope) -> None:
    dag = as_dict(tmpl.get("dag"))
    tasks = [(i, t) for i, t in enumerate(as_list(dag.get("tasks"))) if isinstance(t, dict)]
    by_name = {str(t.get("name")): t for _, t in tasks if t.get("name")}
    scope.kind = "tasks"
    scope.all_calls = set(by_name)
    check_refs(ctx, res, {k: v for k, v in tmpl.items() if k not in ("dag", "outputs")}, path, scope)
    if not tasks:
        ctx.add(res, (*path, "dag", "tasks"), f"template '{scope.template}' must have at least one task", "dag")
    deps: dict[str, list[str]] = {}
    seen: set[str] = set()
    for i, task in tasks:
        tpath: JsonPath = (*path, "dag", "tasks", i)
        name = task.get("name")
        _check_call_name(ctx, res, tpath, name, "task", seen=seen)
        has_depends, has_dependencies = task.get("depends") is not None, task.get("dependencies") is not None
        if has_depends and has_dependencies:
            ctx.add(res, tpath, f"task '{name}': cannot use both depends and dependencies", "dag")
        if isinstance(name, str) and name[:1].isdigit() and (has_depends or has_dependencies):
            ctx.add(res, (*tpath, "name"), f"task '{name}': name cannot begin with a digit when using depends", "dag")
        task_deps = dag_dependencies(task)
        for dep in task_deps:
            if dep not in by_name:
                key = "depends" if has_depends else "dependencies"
                ctx.add(res, (*tpath, key), f"task '{name}' depends on undefined task '{dep}'", "dag")
        if isinstance(name, str):
            deps[name] = [d for d in task_deps if d in by_name]
    _check_cycles(ctx, res, path, deps)
    callees: dict[str, Callee | None] = {}
    for i, task in tasks:
        tpath = (*path, "dag", "tasks", i)
        callee = ctx.resolve_call(res, task, tpath)
        callees[str(task.get("name"))] = callee
        _check_call(ctx, res, task, tpath, callee, caller=scope.template)
    for i, task in tasks:
        tpath = (*path, "dag", "tasks", i)
        ancestors = _ancestors(str(task.get("name")), deps)
        task_scope = Scope(
            scope.template,
            scope.inputs | param_names(as_dict(task.get("inline")).get("inputs")),
            scope.artifacts,
            "tasks",
            {a: callees.get(a) for a in ancestors},
            scope.all_calls,
            any(task.get(k) for k in ("withItems", "withParam", "withSequence")),
            scope.workflow_params,
        )
        check_refs(ctx, res, {k: v for k, v in task.items() if k != "inline"}, tpath, task_scope)
        check_generate_call(ctx, res, tpath, task, callees.get(str(task.get("name"))), dag=True)
    scope.visible = dict(callees)
    check_refs(ctx, res, tmpl.get("outputs"), (*path, "outputs"), scope)


def _ancestors(name: str, deps: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    stack = list(deps.get(name, []))
    while stack:
        dep = stack.pop()
        if dep not in out:
            out.add(dep)
            stack.extend(deps.get(dep, []))
    return out


def _check_cycles(ctx: Context, res: Resource, path: JsonPath, deps: dict[str, list[str]]) -> None:
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
                ctx.add(res, (*path, "dag"), f"dependency cycle: {' -> '.join(cycle)}", "dag")
                return


def _check_call(
    ctx: Context, res: Resource, call: dict[str, Any], path: JsonPath, callee: Callee | None, *, caller: str
) -> None:
    call_name = call.get("name")
    arguments = call.get("arguments")
    args = params_of(arguments)
    apath: JsonPath = (*path, "arguments", "parameters")
    check_names(ctx, res, args, apath, f"argument of '{call_name}':", pattern=PARAM_NAME_RE)
    supplied: set[str] = set()
    for i, arg in args:
        name = arg.get("name")
        if isinstance(name, str):
            supplied.add(name)
        value_from = arg.get("valueFrom")
        if "value" not in arg and value_from is None:
            ctx.add(res, (*apath, i), f"'{call_name}': argument '{name}' needs value or valueFrom", "arguments")
        elif isinstance(value_from, dict):
            bad = sorted(set(value_from) - ARGUMENT_VALUE_FROM)
            if bad:
                ctx.add(
                    res,
                    (*apath, i, "valueFrom"),
                    f"'{call_name}': argument '{name}': valueFrom only allows default, configMapKeyRef and "
                    f"supplied (found {', '.join(bad)})",
                    "arguments",
                )
    if callee is None:
        return
    inputs = params_of(callee.template.get("inputs"))
    declared = {str(p.get("name")): p for _, p in inputs if p.get("name")}
    for name, param in declared.items():
        required = param.get("value") is None and param.get("default") is None and param.get("valueFrom") is None
        if required and name not in supplied:
            ctx.add(
                res,
                (*path, "arguments") if arguments is not None else path,
                f"'{call_name}': required input '{name}' of {callee.label} is not supplied",
                "arguments",
            )
    for i, arg in args:
        name = arg.get("name")
        if isinstance(name, str) and name not in declared:
            ctx.add(
                res,
                (*apath, i, "name"),
                f"'{call_name}': argument '{name}' is not an input of {callee.label} "
                f"{name_hint(name, declared, 'inputs')}",
                "arguments",
            )
            continue
        enum = as_dict(declared.get(str(name))).get("enum")
        value = arg.get("value")
        if isinstance(enum, list) and enum and isinstance(value, str) and "{{" not in value and value not in enum:
            ctx.add(
                res,
                (*apath, i, "value"),
                f"'{call_name}': argument '{name}' value {value!r} is not in the enum of {callee.label}: {enum}",
                "arguments",
            )
