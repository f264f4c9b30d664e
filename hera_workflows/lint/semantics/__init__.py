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

One concept per module: `context` (registries, findings, template resolution), `resources`, `templates`, `names`,
`tags`, `calls` (steps and DAG tasks), `openchoreo` (the generate-workload-cr contract), `pipelines`,
`host_network`; `model` holds what they read. `check()` runs them in this order.
"""

from __future__ import annotations

from collections.abc import Sequence

from hera_workflows.lint.schema import Issue
from hera_workflows.lint.semantics.context import Context
from hera_workflows.lint.semantics.host_network import check_host_network_user_namespace
from hera_workflows.lint.semantics.model import ARGO_KINDS, Resource
from hera_workflows.lint.semantics.pipelines import check_pipeline
from hera_workflows.lint.semantics.resources import check_resource

__all__ = ["ARGO_KINDS", "Resource", "check"]


def check(resources: Sequence[Resource]) -> list[tuple[Resource, Issue]]:
    """Every semantic finding over `resources`, as (resource, issue) pairs."""
    ctx = Context(resources)
    ctx.register()
    for res in ctx.resources:
        check_resource(ctx, res)
    for res in ctx.resources:
        if ctx.is_pipeline(res):
            check_pipeline(ctx, res)
        check_host_network_user_namespace(ctx, res)
    return ctx.findings
