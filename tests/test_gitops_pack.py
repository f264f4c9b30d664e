"""The GitOps delivery in the pack: `<pipeline>-gitops` pipelines and ClusterWorkflows, the gitops-publish step
template, and the `gitops.*` settings."""

from __future__ import annotations

from typing import Any

import pytest

from hera_workflows.pack.documents import Resource
from hera_workflows.pack.pipelines import default_pack
from hera_workflows.pack.settings import load_settings
from steps.common import contract


def render(*overrides: str) -> dict[str, dict[str, Any]]:
    resources: list[Resource] = default_pack(load_settings(overrides=overrides)).render()
    return {f"{r.folder}/{r.name}": r.body for r in resources}


@pytest.fixture(scope="module")
def docs() -> dict[str, dict[str, Any]]:
    return render()


def steps_of(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    [entry] = pipeline["spec"]["templates"][:1]
    return [group[0] for group in entry["steps"]]


def step_args(step: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in step.get("arguments", {}).get("parameters", [])}


def pipeline_args(pipeline: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: p.get("value") for p in pipeline["spec"]["arguments"]["parameters"]}


SHIPPED = ["ballerina-buildpack-builder", "dockerfile-builder", "gcp-buildpacks-builder", "paketo-buildpacks-builder"]


@pytest.mark.parametrize("name", [*SHIPPED, "react-builder"])
def test_every_pipeline_has_a_gitops_variant(docs: dict[str, dict[str, Any]], name: str) -> None:
    base, gitops = docs[f"pipelines/{name}"], docs[f"pipelines/{name}-gitops"]
    base_steps, gitops_steps = steps_of(base), steps_of(gitops)
    assert [s["name"] for s in gitops_steps] == [*(s["name"] for s in base_steps), contract.STEP_GITOPS_PUBLISH]
    # generate-workload-cr keeps its name, template and inputs; only its delivery is off (the CR only)
    generate_base = next(s for s in base_steps if s["name"] == contract.STEP_GENERATE_WORKLOAD)
    generate = next(s for s in gitops_steps if s["name"] == contract.STEP_GENERATE_WORKLOAD)
    assert (
        generate["templateRef"]
        == generate_base["templateRef"]
        == {
            "name": contract.CWT_GENERATE_WORKLOAD,
            "template": contract.TEMPLATE_GENERATE_WORKLOAD,
            "clusterScope": True,
        }
    )
    assert step_args(generate) == step_args(generate_base)
    assert pipeline_args(gitops)["api-mode"] == "off" and pipeline_args(base)["api-mode"] == "auto"
    publish = gitops_steps[-1]
    assert publish["templateRef"]["name"] == contract.CWT_GITOPS_PUBLISH
    args = step_args(publish)
    assert args["image"] == "{{steps.publish-image.outputs.parameters.image}}"
    assert args["commit-sha"] == "{{steps.checkout-source.outputs.parameters.commit-sha}}"
    assert args["gitops-repo"] == "{{workflow.parameters.gitops-repo}}"
    assert args["gitops-secret"] == "{{workflow.parameters.gitops-secret}}"
    assert "gitops-repo" in pipeline_args(gitops) and pipeline_args(gitops)["gitops-repo"] is None  # required


def test_gitops_step_template_reads_parameters_from_env_only(docs: dict[str, dict[str, Any]]) -> None:
    [template] = docs["steps/gitops-publish"]["spec"]["templates"]
    container = template["container"]
    assert container["command"] == ["python", "-m", "steps.gitops_publish"]
    assert "args" not in container
    for entry in container["env"]:
        value = entry["value"]
        assert "{{" not in value or value == "{{inputs.parameters." + value[len("{{inputs.parameters.") : -2] + "}}"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["gitops-secret"] == contract.GITOPS_SECRET_DIR
    [secret] = [v for v in template["volumes"] if v["name"] == "gitops-secret"]
    assert secret["secret"] == {
        "secretName": "{{inputs.parameters.gitops-secret}}",
        "optional": True,
        "defaultMode": 0o440,
    }
    outputs = {p["name"] for p in template["outputs"]["parameters"]}
    assert outputs == {contract.OUT_GITOPS_COMMIT, contract.OUT_GITOPS_BRANCH, contract.OUT_PULL_REQUEST_URL}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert template["retryStrategy"]["expression"] == f"asInt(lastRetry.exitCode) == {contract.EXIT_TRANSIENT}"


def test_cluster_workflow_of_a_gitops_pipeline(docs: dict[str, dict[str, Any]]) -> None:
    workflow = docs["openchoreo/dockerfile-builder-gitops"]
    assert workflow["kind"] == "ClusterWorkflow" and workflow["metadata"]["name"] == "dockerfile-builder-gitops"
    run = workflow["spec"]["runTemplate"]["spec"]
    assert run["workflowTemplateRef"] == {"name": "dockerfile-builder-gitops", "clusterScope": True}
    args = {p["name"]: p["value"] for p in run["arguments"]["parameters"]}
    assert args["api-mode"] == "off"
    assert args["gitops-repo"] == "${parameters.gitops.repository}"
    assert args["gitops-secret"] == "${metadata.workflowRunName}-gitops-secret"
    schema = workflow["spec"]["parameters"]["openAPIV3Schema"]["properties"]["gitops"]
    assert schema["properties"]["repository"]["type"] == "string"
    [secret] = [r for r in workflow["spec"]["resources"] if r["id"] == "gitops-secret"]
    spec = secret["template"]["spec"]
    assert spec["target"]["name"] == "${metadata.workflowRunName}-gitops-secret"
    assert spec["dataFrom"] == [{"extract": {"key": "gitops-secret"}}] and "data" not in spec
    plain = docs["openchoreo/dockerfile-builder"]
    assert not [r for r in plain["spec"]["resources"] if r["id"] == "gitops-secret"]


def test_no_gitops_workflows_for_openchoreo_0_17(docs: dict[str, dict[str, Any]]) -> None:
    assert not [path for path in docs if path.startswith("openchoreo-0.17/") and "gitops" in path]


def test_gitops_settings_reach_the_templates() -> None:
    docs = render(
        "gitops.repo_url=ssh://git@git.example.com/platform/gitops.git",
        "gitops.mode=direct-push",
        "gitops.forge=gitlab",
        "gitops.secret=corp-gitops",
        "gitops.secret_remote_key=corp/gitops",
        "pipelines.build_types=[dockerfile]",
    )
    args = pipeline_args(docs["pipelines/dockerfile-builder-gitops"])
    assert args["gitops-repo"] == "ssh://git@git.example.com/platform/gitops.git"
    assert args["gitops-mode"] == "direct-push" and args["gitops-forge"] == "gitlab"
    assert args["gitops-secret"] == "corp-gitops"
    [template] = docs["steps/gitops-publish"]["spec"]["templates"]
    inputs = {p["name"]: p.get("default") for p in template["inputs"]["parameters"]}
    assert inputs["gitops-repo"] == "ssh://git@git.example.com/platform/gitops.git"
    assert inputs["gitops-mode"] == "direct-push" and inputs["gitops-secret"] == "corp-gitops"
    workflow = docs["openchoreo/dockerfile-builder-gitops"]
    [secret] = [r for r in workflow["spec"]["resources"] if r["id"] == "gitops-secret"]
    assert secret["template"]["spec"]["dataFrom"] == [{"extract": {"key": "corp/gitops"}}]


def test_gitops_pipelines_can_be_switched_off() -> None:
    docs = render("gitops.pipelines=false")
    assert not [path for path in docs if "gitops" in path]


def test_bad_gitops_setting_names_the_field() -> None:
    from hera_workflows.pack.settings import SettingsError

    with pytest.raises(SettingsError, match=r"gitops\.mode"):
        load_settings(overrides=["gitops.mode=yolo"])
