"""`{{…}}` tags: each must resolve in its scope (inputs, workflow parameters, steps/tasks and their outputs)."""

from __future__ import annotations

from typing import Any

from hera_workflows.lint.schema import JsonPath, Severity
from hera_workflows.lint.semantics.context import Context
from hera_workflows.lint.semantics.model import (
    Resource,
    Scope,
    is_input_default,
    name_hint,
    param_names,
    strings_in,
    tags_in,
)


def check_refs(ctx: Context, res: Resource, value: Any, path: JsonPath, scope: Scope) -> None:
    for spath, text in strings_in(value, path):
        if "{{" not in text:
            continue
        for tag in tags_in(text):
            message = _resolve_tag(ctx, tag, scope)
            if message is None:
                continue
            severity: Severity = "error"
            rule = "reference"
            if message.startswith("implicit contract"):
                if is_input_default(spath):
                    continue  # a fallback for callers that pass no argument (OpenChoreo's drop-in shape)
                severity, rule = "warning", "implicit-contract"
            ctx.add(res, spath, f"template '{scope.template}': {{{{{tag}}}}}: {message}", rule, severity)


def _resolve_tag(ctx: Context, tag: str, scope: Scope) -> str | None:
    """None when `tag` resolves (or is not ours to check), else why it does not."""
    if tag.startswith("="):
        return None  # expressions are evaluated at run time
    if tag.startswith("inputs.parameters."):
        name = tag[len("inputs.parameters.") :]
        if name not in scope.inputs:
            return f"input parameter '{name}' is not declared in inputs.parameters {name_hint(name, scope.inputs)}"
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
            hint = name_hint(name, scope.workflow_params)
            return f"workflow parameter '{name}' is not declared in spec.arguments.parameters {hint}"
        return None
    if tag == "item" or tag.startswith("item."):
        return None if scope.items else "{{item}} needs withItems, withParam or withSequence on the step/task"
    for prefix in ("steps", "tasks"):
        if tag.startswith(prefix + ".") and tag != f"{prefix}.name":
            return _resolve_node_tag(prefix, tag[len(prefix) + 1 :], scope)
    return None


def _resolve_node_tag(prefix: str, rest: str, scope: Scope) -> str | None:
    if scope.kind != prefix:
        where = "a leaf template" if scope.kind is None else f"a {'steps' if scope.kind == 'steps' else 'dag'} template"
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
        outputs = param_names(callee.template.get("outputs"))
        if out not in outputs:
            hint = name_hint(out, outputs, "outputs")
            return f"{noun} '{node}' ({callee.label}) has no output parameter '{out}' {hint}"
    return None
