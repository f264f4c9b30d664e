"""`hostNetwork: true` with `hostUsers: false`: a Pod the API server rejects, over every template a resource runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hera_workflows.lint.semantics.context import Context
from hera_workflows.lint.semantics.model import (
    Resource,
    as_dict,
    calls_of,
    pod_spec_patch,
)


def check_host_network_user_namespace(ctx: Context, res: Resource) -> None:
    """The API server rejects a Pod with `hostUsers: false` on the host network (`spec.hostNetwork:
    Forbidden: when hostUsers is false`). hostNetwork is Workflow-level (or in a podSpecPatch), so every
    template the resource runs counts, templateRef and workflowTemplateRef targets included."""
    spec = res.spec
    if res.kind == "CronWorkflow":
        spec = as_dict(spec.get("workflowSpec"))
    spec_patch = pod_spec_patch(spec.get("podSpecPatch"))
    defaults_patch = pod_spec_patch(as_dict(spec.get("templateDefaults")).get("podSpecPatch"))
    host_network = spec.get("hostNetwork") is True or spec_patch.get("hostNetwork") is True
    spec_no_host_users = spec_patch.get("hostUsers") is False or defaults_patch.get("hostUsers") is False
    wf_ref = spec.get("workflowTemplateRef")
    target = ctx.workflow_template_target(wf_ref) if isinstance(wf_ref, dict) else None
    for label, tmpl in _run_templates(ctx, res, target):
        patch = pod_spec_patch(tmpl.get("podSpecPatch"))
        no_host_users = spec_no_host_users or patch.get("hostUsers") is False
        if (host_network or patch.get("hostNetwork") is True) and no_host_users:
            ctx.add(
                res,
                ("spec",),
                f"template {label}: hostNetwork: true together with hostUsers: false; the API server rejects "
                "the Pod (spec.hostNetwork: Forbidden: when hostUsers is false)",
                "host-network-user-namespace",
            )


def _run_templates(ctx: Context, res: Resource, target: Resource | None) -> Iterator[tuple[str, dict[str, Any]]]:
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
        for call in calls_of(tmpl):
            ref = call.get("templateRef")
            if not isinstance(ref, dict):
                continue
            registry = ctx.cluster_templates if ref.get("clusterScope") else ctx.namespaced_templates
            callee = registry.get(str(ref.get("name")))
            found = callee.template(str(ref.get("template"))) if callee is not None else None
            if callee is not None and found is not None:
                pending.append((callee, found[1]))
