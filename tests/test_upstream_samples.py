"""OpenChoreo v1.2.3's *own* sample ClusterWorkflows keep working once the pack's step templates are applied.

`kubectl apply -k templates/` replaces the same-named step ClusterWorkflowTemplates upstream's ClusterWorkflows call
(`checkout-source`, `containerfile-build`, `publish-image`, `generate-workload`, the buildpacks ones). Those callers
pass few or no arguments and rely on `{{workflow.parameters.*}}`. The upstream files
(`samples/getting-started/ci-workflows/*.yaml` of the Go module github.com/openchoreo/openchoreo@v1.2.3) are read at
test time through the reference locator, never copied. Each runTemplate is rendered as OpenChoreo renders it (every
`${...}` expression evaluated against a sample run: metadata, and the parameters' schema defaults), then linted
together with the step templates: no error, every templateRef resolves to one of our templates, every required input
is supplied, and every workflow parameter our templates read is declared by the upstream Workflow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from hera_workflows import lint
from testkit.paths import OPENCHOREO_1X_SAMPLES, TEMPLATES

UPSTREAM_CLUSTER_WORKFLOWS = sorted((OPENCHOREO_1X_SAMPLES / "ci-workflows").glob("*.yaml"))
# A sample WorkflowRun, as OpenChoreo's renderer sees it (`${metadata.*}`).
RUN_METADATA = {
    "metadata.workflowRunName": "greeter-build-1",
    "metadata.namespace": "workflows-default",
    "metadata.namespaceName": "default",
    "metadata.labels['openchoreo.dev/component']": "greeter",
    "metadata.labels['openchoreo.dev/project']": "demo",
}
SAMPLE_PARAMETERS = {"repository.url": "https://git.example.com/demo/greeter.git"}
EXPRESSION = re.compile(r"\$\{([^}]*)\}")
WORKFLOW_PARAMETER = re.compile(r"\{\{\s*workflow\.parameters\.([-\w.]+)\s*\}\}")


def _parameter_value(schema: Mapping[str, Any], dotted: str) -> str:
    if dotted in SAMPLE_PARAMETERS:
        return SAMPLE_PARAMETERS[dotted]
    node: Mapping[str, Any] = schema
    for part in dotted.split("."):
        node = (node.get("properties") or {}).get(part) or {}
    assert "default" in node, f"parameters.{dotted}: no default and no sample value"
    value = node["default"]
    return value if isinstance(value, str) else json.dumps(value)  # arrays reach Argo as JSON text


def render_run_template(cluster_workflow: Mapping[str, Any]) -> dict[str, Any]:
    """The ClusterWorkflow with its runTemplate's `${...}` expressions evaluated for RUN_METADATA."""
    schema = cluster_workflow["spec"]["parameters"]["openAPIV3Schema"]

    def evaluate(expression: str) -> str:
        if expression in RUN_METADATA:
            return RUN_METADATA[expression]
        assert expression.startswith("parameters."), f"unsupported expression ${{{expression}}}"
        return _parameter_value(schema, expression.removeprefix("parameters."))

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: walk(sub) for key, sub in value.items()}
        if isinstance(value, list):
            return [walk(sub) for sub in value]
        if isinstance(value, str):
            return EXPRESSION.sub(lambda m: evaluate(m.group(1)), value)
        return value

    rendered = dict(cluster_workflow)
    rendered["spec"] = dict(cluster_workflow["spec"], runTemplate=walk(cluster_workflow["spec"]["runTemplate"]))
    return rendered


def _cluster_templates(root: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(root.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "ClusterWorkflowTemplate":
                found[doc["metadata"]["name"]] = doc
    return found


def test_the_upstream_samples_are_there() -> None:
    assert [p.name for p in UPSTREAM_CLUSTER_WORKFLOWS] == [
        "ballerina-buildpack-builder.yaml",
        "dockerfile-builder.yaml",
        "gcp-buildpacks-builder.yaml",
        "paketo-buildpacks-builder.yaml",
    ]


@pytest.mark.parametrize("upstream", UPSTREAM_CLUSTER_WORKFLOWS, ids=lambda p: p.stem)
def test_upstream_cluster_workflow_resolves_against_our_step_templates(upstream: Path, tmp_path: Path) -> None:
    rendered = render_run_template(yaml.safe_load(upstream.read_text()))
    rendered_file = tmp_path / upstream.name
    rendered_file.write_text(yaml.safe_dump(rendered, sort_keys=False))

    result = lint.lint_paths([rendered_file, TEMPLATES / "steps"])
    assert [f.text() for f in result.errors] == []
    assert not [f for f in result.findings if f.file.endswith(upstream.name)], [f.text() for f in result.findings]

    ours = _cluster_templates(TEMPLATES / "steps")
    run = rendered["spec"]["runTemplate"]["spec"]
    declared = {p["name"] for p in run["arguments"]["parameters"]}
    called = 0
    for template in run["templates"]:
        for group in template.get("steps") or []:
            for step in group:
                ref = step.get("templateRef")
                if not ref:
                    continue
                called += 1
                assert ref["name"] in ours, f"{step['name']}: no ClusterWorkflowTemplate {ref['name']} in the pack"
                targets = [t for t in ours[ref["name"]]["spec"]["templates"] if t["name"] == ref["template"]]
                assert targets, f"{step['name']}: {ref['name']} has no template {ref['template']}"
                read = set(WORKFLOW_PARAMETER.findall(json.dumps(targets[0])))
                assert read <= declared, f"{step['name']}: reads undeclared workflow parameters {read - declared}"
    assert called >= 4
