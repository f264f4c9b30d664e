"""Installing the rendered pack on a real OpenChoreo: what a platform engineer gets from the default render.

- v1.x ClusterWorkflows deliver the Workload through the API server by default, with the OAuth client secret and
  the API CA provided to the run's namespace as ExternalSecrets; v0.17 Workflows keep the output contract.
- The committed step templates keep OpenChoreo's own (and teams') ClusterWorkflows working: a caller that passes
  no arguments and reads `{{workflow.parameters.*}}` resolves against them (checked with `lint`).
- v0.17 installs find their build templates by v0.17's names; the react pipeline exists.
- The build pod holds no push Secret and no service-account token; `lint` flags hostNetwork with hostUsers: false.
- `render` warns about the public default registry.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hera_workflows import lint
from hera_workflows.pack import render
from hera_workflows.pack.openchoreo import RUN_API_CA_SECRET, RUN_API_CLIENT_SECRET, V017_TEMPLATE_PREFIX
from hera_workflows.pack.settings import (
    DEFAULT_API_SERVER_URL,
    DEFAULT_OAUTH_TOKEN_URL,
    DEFAULT_PUBLISH_REGISTRY,
    Settings,
    load_settings,
)
from steps.common import contract
from testkit.paths import ARGO_CRDS, TEMPLATES

ESO = "external-secrets.io/v1"


def _docs(overrides: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    files = render.render_files(load_settings(None, list(overrides)))
    return {p: yaml.safe_load(t) for p, t in files.items() if not p.endswith(render.KUSTOMIZE_FILES)}


DEFAULT_DOCS = _docs()


def _args(doc: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in doc["spec"]["runTemplate"]["spec"]["arguments"]["parameters"]}


def _resources(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in doc["spec"]["resources"]}


def _step_args(pipeline: dict[str, Any], step: str) -> dict[str, str]:
    for group in pipeline["spec"]["templates"][0]["steps"]:
        for call in group:
            if call["name"] == step:
                return {p["name"]: p["value"] for p in call.get("arguments", {}).get("parameters", [])}
    raise AssertionError(step)


def _lint(tmp_path: Path, docs: dict[str, dict[str, Any]], *folders: str) -> list[str]:
    """Lint `docs` (file name -> document) together with the committed templates of `folders`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        for path in (TEMPLATES / folder).glob("*.yaml"):
            if path.name not in render.KUSTOMIZE_FILES:
                (tmp_path / f"{folder}-{path.name}").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    for name, doc in docs.items():
        (tmp_path / name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    result = lint.lint_paths([tmp_path], ARGO_CRDS)
    return [f.text() for f in result.findings]


# ------------------------------------------------------------------------------------------------ §1 v1.x API


@pytest.mark.parametrize(
    "path", sorted(p for p in DEFAULT_DOCS if p.startswith("openchoreo/") and not p.endswith("-gitops.yaml"))
)
def test_cluster_workflows_deliver_through_the_api_by_default(path: str) -> None:  # GitOps variants: test_gitops_pack
    doc = DEFAULT_DOCS[path]
    args = _args(doc)
    assert args["openchoreo-profile"] == "openchoreo-1.x" and args["api-mode"] == "auto"
    assert args["api-server-url"] == DEFAULT_API_SERVER_URL
    assert args["oauth-token-url"] == DEFAULT_OAUTH_TOKEN_URL
    assert args["oauth-client-id"] == "openchoreo-workload-publisher-client"
    assert args["api-client-secret"] == RUN_API_CLIENT_SECRET == "${metadata.workflowRunName}-workload-publisher"
    assert args["api-ca-secret"] == RUN_API_CA_SECRET
    # the pipeline hands them to generate-workload-cr
    pipeline = DEFAULT_DOCS[f"pipelines/{doc['spec']['runTemplate']['spec']['workflowTemplateRef']['name']}.yaml"]
    generate = _step_args(pipeline, contract.STEP_GENERATE_WORKLOAD)
    for name in ("api-mode", "api-server-url", "oauth-token-url", "oauth-client-id", "api-client-secret"):
        assert generate[name] == "{{workflow.parameters." + name + "}}"


@pytest.mark.parametrize("path", sorted(p for p in DEFAULT_DOCS if p.startswith("openchoreo/")))
def test_api_secrets_reach_the_run_namespace_as_external_secrets(path: str) -> None:
    resources = _resources(DEFAULT_DOCS[path])
    client = resources["workload-publisher-secret"]["template"]
    assert client["apiVersion"] == ESO and client["kind"] == "ExternalSecret"
    assert client["metadata"] == {"name": RUN_API_CLIENT_SECRET, "namespace": "${metadata.namespace}"}
    assert client["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "${workflowplane.secretStore}"}
    assert client["spec"]["target"]["name"] == RUN_API_CLIENT_SECRET
    assert client["spec"]["data"] == [
        {
            "secretKey": "client-secret",
            "remoteRef": {"key": "workload-publisher-oauth-client-secret", "property": "value"},
        }
    ]
    ca = resources["api-ca"]["template"]
    assert ca["metadata"]["name"] == RUN_API_CA_SECRET
    assert ca["spec"]["data"] == [
        {"secretKey": "ca.crt", "remoteRef": {"key": "openchoreo-api-ca", "property": "value"}}
    ]
    assert "includeWhen" not in resources["workload-publisher-secret"]  # present when the run starts
    # the step mounts exactly these keys
    generate = DEFAULT_DOCS["steps/generate-workload.yaml"]["spec"]["templates"][0]
    mounts = {m["mountPath"] for m in generate["container"]["volumeMounts"]}
    assert {contract.API_CLIENT_SECRET_DIR, contract.API_CA_DIR} <= mounts


def test_api_settings_and_remote_keys_are_settings() -> None:
    docs = _docs(
        (
            "api.server_url=https://api.example.com",
            "api.oauth_token_url=https://idp.example.com/oauth2/token",
            "api.client_secret_remote_key=ci/publisher",
            "api.client_secret_remote_property=",
            "api.ca_remote_key=",
            "secrets.api_ca=corp-ca",
        )
    )
    doc = docs["openchoreo/dockerfile-builder.yaml"]
    args = _args(doc)
    assert args["api-server-url"] == "https://api.example.com"
    assert args["oauth-token-url"] == "https://idp.example.com/oauth2/token"
    assert "api-ca-secret" not in args  # no CA ExternalSecret: the pipeline default (secrets.api_ca) applies
    resources = _resources(doc)
    assert "api-ca" not in resources
    assert resources["workload-publisher-secret"]["template"]["spec"]["data"][0]["remoteRef"] == {"key": "ci/publisher"}
    pipeline = {
        p["name"]: p.get("value") for p in docs["pipelines/dockerfile-builder.yaml"]["spec"]["arguments"]["parameters"]
    }
    assert pipeline["api-ca-secret"] == "corp-ca"


def test_writing_without_delivering_is_an_explicit_mode() -> None:
    assert Settings().api.mode == "auto"
    docs = _docs(("api.mode=off",))
    assert _args(docs["openchoreo/dockerfile-builder.yaml"])["api-mode"] == "off"
    generate = docs["steps/generate-workload.yaml"]["spec"]["templates"][0]
    assert {p["name"]: p.get("default") for p in generate["inputs"]["parameters"]}["api-mode"] == "off"


@pytest.mark.parametrize(
    "path", sorted(p for p, d in DEFAULT_DOCS.items() if p.startswith("openchoreo-0.17/") and d["kind"] == "Workflow")
)
def test_v017_workflows_keep_the_output_contract_and_never_call_the_api(path: str) -> None:
    doc = DEFAULT_DOCS[path]
    args = _args(doc)
    assert args["openchoreo-profile"] == "openchoreo-0.17"
    assert not {n for n in args if n.startswith(("api-", "oauth-"))}  # auto + 0.17 profile: no API call
    resources = _resources(doc)
    assert set(resources) <= {"git-secret", "registry-push-secret", "executor-token"}
    # v0.17's ExternalSecret names the remote key only (no property)
    registry = resources["registry-push-secret"]["template"]["spec"]["data"]
    assert registry == [{"secretKey": "registrysecret", "remoteRef": {"key": "registry-push-secret"}}]
    pipeline = DEFAULT_DOCS[f"pipelines/{doc['spec']['runTemplate']['spec']['workflowTemplateRef']['name']}.yaml"]
    assert _step_args(pipeline, contract.STEP_GENERATE_WORKLOAD)["openchoreo-profile"] == (
        "{{workflow.parameters.openchoreo-profile}}"
    )
    generate = DEFAULT_DOCS["steps/generate-workload.yaml"]["spec"]["templates"][0]
    assert generate["outputs"]["parameters"][0]["name"] == contract.OUT_WORKLOAD_CR


def test_v1_registry_external_secret_keeps_its_property() -> None:
    resources = _resources(DEFAULT_DOCS["openchoreo/dockerfile-builder.yaml"])
    data = resources["registry-push-secret"]["template"]["spec"]["data"]
    assert data == [{"secretKey": "registrysecret", "remoteRef": {"key": "registry-push-secret", "property": "value"}}]


# ------------------------------------------------------------------------------------------------ §2 drop-in


def _upstream_style_cluster_workflow(build_cwt: str, workflow_params: dict[str, str]) -> dict[str, Any]:
    """A ClusterWorkflow shaped like OpenChoreo v1.2's own: the steps call the step templates by templateRef and
    pass only what OpenChoreo passes; everything else comes from `{{workflow.parameters.*}}`."""
    revision = "{{steps.checkout-source.outputs.parameters.git-revision}}"

    def step(name: str, cwt: str, template: str, arguments: dict[str, str] | None = None) -> list[dict[str, Any]]:
        call: dict[str, Any] = {"name": name, "templateRef": {"name": cwt, "clusterScope": True, "template": template}}
        if arguments:
            call["arguments"] = {"parameters": [{"name": k, "value": v} for k, v in arguments.items()]}
        return [call]

    return {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "ClusterWorkflow",
        "metadata": {"name": "team-builder"},
        "spec": {
            "workflowPlaneRef": {"kind": "ClusterWorkflowPlane", "name": "default"},
            "runTemplate": {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"name": "${metadata.workflowRunName}", "namespace": "${metadata.namespace}"},
                "spec": {
                    "arguments": {"parameters": [{"name": k, "value": v} for k, v in workflow_params.items()]},
                    "serviceAccountName": "workflow-sa",
                    "entrypoint": "build-workflow",
                    "templates": [
                        {
                            "name": "build-workflow",
                            "steps": [
                                step("checkout-source", "checkout-source", "checkout"),
                                step("lint-source", "team-linter", "lint"),
                                step("build-image", build_cwt, "build-image", {"git-revision": revision}),
                                step("publish-image", "publish-image", "publish-image", {"git-revision": revision}),
                                step(
                                    "generate-workload-cr",
                                    "generate-workload",
                                    "generate-workload-cr",
                                    {
                                        "image": "{{steps.publish-image.outputs.parameters.image}}",
                                        "run-name": "{{workflow.parameters.workflowrun-name}}",
                                    },
                                ),
                            ],
                        }
                    ],
                    "volumeClaimTemplates": [
                        {
                            "metadata": {"name": "workspace"},
                            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}},
                        }
                    ],
                },
            },
        },
    }


def _team_linter() -> dict[str, Any]:
    """A team's own step (like OpenChoreo's custom-steps sample): reads the workspace, takes no inputs."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ClusterWorkflowTemplate",
        "metadata": {"name": "team-linter"},
        "spec": {
            "templates": [
                {
                    "name": "lint",
                    "inputs": {"parameters": [{"name": "app-path", "default": "{{workflow.parameters.app-path}}"}]},
                    "container": {
                        "image": "registry.example.com/tools/linter:1",
                        "args": ["/mnt/vol/source/{{inputs.parameters.app-path}}"],
                        "volumeMounts": [{"name": "workspace", "mountPath": "/mnt/vol"}],
                    },
                }
            ]
        },
    }


# What OpenChoreo v1.2's ClusterWorkflows define as workflow parameters (openchoreo-ci-contract §4.3).
V12_WORKFLOW_PARAMS = {
    "component-name": "${metadata.labels['openchoreo.dev/component']}",
    "project-name": "${metadata.labels['openchoreo.dev/project']}",
    "workflowrun-name": "${metadata.workflowRunName}",
    "namespace-name": "${metadata.namespaceName}",
    "git-repo": "${parameters.repository.url}",
    "branch": "${parameters.repository.revision.branch}",
    "commit": "${parameters.repository.revision.commit}",
    "app-path": "${parameters.repository.appPath}",
    "docker-context": "${parameters.docker.context}",
    "dockerfile-path": "${parameters.docker.filePath}",
    "build-env": "${parameters.buildEnv}",
    "build-args": "${parameters.buildArgs}",
    "image-name": "${metadata.namespaceName}-p-c",
    "image-tag": "v1",
    "git-secret": "${metadata.workflowRunName}-git-secret",
    "registry-push-secret": "${metadata.workflowRunName}-registry-push-secret",
}


@pytest.mark.parametrize("build_cwt", ["containerfile-build", "paketo-buildpacks-build", "gcp-buildpacks-build"])
def test_upstream_style_caller_without_arguments_resolves_against_the_committed_step_templates(
    tmp_path: Path, build_cwt: str
) -> None:
    docs = {
        "caller.yaml": _upstream_style_cluster_workflow(build_cwt, V12_WORKFLOW_PARAMS),
        "linter.yaml": _team_linter(),
    }
    assert _lint(tmp_path, docs, "steps") == []


def test_the_drop_in_check_is_not_vacuous(tmp_path: Path) -> None:
    params = {k: v for k, v in V12_WORKFLOW_PARAMS.items() if k not in ("git-repo", "namespace-name")}
    docs = {
        "caller.yaml": _upstream_style_cluster_workflow("containerfile-build", params),
        "linter.yaml": _team_linter(),
    }
    findings = "\n".join(_lint(tmp_path, docs, "steps"))
    assert "git-repo" in findings and "namespace-name" in findings


# What OpenChoreo v0.17's Workflows define (openchoreo-ci-contract §4.4); the react one adds node-version.
V017_WORKFLOW_PARAMS = {
    k: V12_WORKFLOW_PARAMS[k]
    for k in (
        "component-name",
        "project-name",
        "git-repo",
        "branch",
        "commit",
        "app-path",
        "image-name",
        "image-tag",
        "git-secret",
        "registry-push-secret",
    )
}


@pytest.mark.parametrize("name", ["docker", "google-cloud-buildpacks", "ballerina-buildpack", "react"])
def test_v017_build_templates_keep_v017_names_and_resolve_under_v017_callers(tmp_path: Path, name: str) -> None:
    assert f"openchoreo-0.17/{V017_TEMPLATE_PREFIX}{name}.yaml" in DEFAULT_DOCS
    params = dict(V017_WORKFLOW_PARAMS)
    if name == "docker":
        params |= {"docker-context": ".", "dockerfile-path": "./Dockerfile"}
    if name == "react":
        params |= {"node-version": "${parameters.nodeVersion}"}
    caller = _upstream_style_cluster_workflow(name, params)
    steps = caller["spec"]["runTemplate"]["spec"]["templates"][0]["steps"]
    steps[:] = [g for g in steps if g[0]["name"] not in ("lint-source", "generate-workload-cr")]
    assert _lint(tmp_path, {"caller.yaml": caller}, "steps", "pipelines", "openchoreo-0.17") == []


def test_v017_react_template_builds_the_app_path_with_the_react_preset() -> None:
    template = DEFAULT_DOCS[f"openchoreo-0.17/{V017_TEMPLATE_PREFIX}react.yaml"]["spec"]["templates"][0]
    defaults = {p["name"]: p.get("default") for p in template["inputs"]["parameters"]}
    assert defaults["preset"] == "react"
    assert defaults["docker-context"] == "{{workflow.parameters.app-path}}"
    assert defaults["node-version"] == "{{workflow.parameters.node-version}}"
    assert defaults["build-args"] == "[]"  # v0.17 Workflows define no build-args: never a workflow reference


def test_react_pipeline_and_workflows() -> None:
    pipeline = DEFAULT_DOCS["pipelines/react-builder.yaml"]
    build = _step_args(pipeline, contract.STEP_BUILD)
    assert build["preset"] == "react" and build["docker-context"] == "{{workflow.parameters.app-path}}"
    assert build["node-version"] == "{{workflow.parameters.node-version}}"
    v1 = DEFAULT_DOCS["openchoreo/react-builder.yaml"]
    assert v1["spec"]["parameters"]["openAPIV3Schema"]["properties"]["nodeVersion"]["enum"] == ["16", "18", "20", "22"]
    assert _args(v1)["node-version"] == "${parameters.nodeVersion}"
    v017 = DEFAULT_DOCS["openchoreo-0.17/react.yaml"]
    assert v017["kind"] == "Workflow" and _args(v017)["node-version"] == "${parameters.nodeVersion}"
    assert "nodeVersion" in v017["spec"]["schema"]["parameters"]


# ------------------------------------------------------------------------------------------------ §3 build pod


def test_build_pod_holds_no_push_secret_and_no_token() -> None:
    build = DEFAULT_DOCS["steps/containerfile-build.yaml"]["spec"]["templates"][0]
    secrets = {v["name"]: v["secret"]["secretName"] for v in build["volumes"] if "secret" in v}
    assert secrets == {
        "registry-pull-secret": "{{inputs.parameters.registry-pull-secret}}",
        "cache-push-secret": "{{inputs.parameters.cache-push-secret}}",
        "registry-ca": "{{inputs.parameters.registry-ca-secret}}",
    }
    defaults = {p["name"]: p.get("default") for p in build["inputs"]["parameters"]}
    assert "registry-push-secret" not in defaults
    assert defaults["registry-pull-secret"] == "registry-pull-secret"
    assert defaults["cache-push-secret"] == "build-cache-push-secret"
    assert defaults["isolation"] == "user-namespace"
    pipeline = DEFAULT_DOCS["pipelines/dockerfile-builder.yaml"]
    assert "registry-push-secret" not in _step_args(pipeline, contract.STEP_BUILD)
    assert "registry-push-secret" in _step_args(pipeline, contract.STEP_PUBLISH)  # the only pod that pushes


def test_every_step_pod_runs_without_the_service_account_token() -> None:
    seen = 0
    for path, doc in DEFAULT_DOCS.items():
        if doc["kind"] != "ClusterWorkflowTemplate":
            continue
        for template in doc["spec"]["templates"]:
            if "container" in template:
                assert template["automountServiceAccountToken"] is False, path
                assert template["executor"] == {"serviceAccountName": "workflow-sa"}, path
                seen += 1
    assert seen >= 11
    # the executor's token Secret is provided to each run's namespace
    token = _resources(DEFAULT_DOCS["openchoreo/dockerfile-builder.yaml"])["executor-token"]["template"]
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["name"] == "workflow-sa.service-account-token"
    assert token["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "workflow-sa"}
    docs = _docs(("security.automount_service_account_token=true",))
    build = docs["steps/containerfile-build.yaml"]["spec"]["templates"][0]
    assert "automountServiceAccountToken" not in build and "executor" not in build
    assert "executor-token" not in _resources(docs["openchoreo/dockerfile-builder.yaml"])


def test_privileged_isolation_is_an_explicit_choice() -> None:
    docs = _docs(("build.isolation=privileged", "build.apparmor_unconfined=true"))
    build = docs["steps/containerfile-build.yaml"]["spec"]["templates"][0]
    assert build["container"]["securityContext"]["privileged"] is True
    assert build["container"]["securityContext"]["appArmorProfile"] == {"type": "Unconfined"}
    assert {p["name"]: p.get("default") for p in build["inputs"]["parameters"]}["isolation"] == "privileged"
    assert json.loads(build["podSpecPatch"]) == {"hostUsers": False}  # as OpenChoreo's own templates
    default = DEFAULT_DOCS["steps/containerfile-build.yaml"]["spec"]["templates"][0]
    assert default["container"]["securityContext"]["privileged"] is False


def _host_network_workflow(spec_patch: dict[str, Any] | None, host_network: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "entrypoint": "main",
        "arguments": {"parameters": [{"name": n, "value": "x"} for n in ("image-name", "docker-context")]},
        "templates": [
            {
                "name": "main",
                "steps": [
                    [
                        {
                            "name": "build-image",
                            "templateRef": {
                                "name": "containerfile-build",
                                "template": "build-image",
                                "clusterScope": True,
                            },
                            "arguments": {
                                "parameters": [
                                    {"name": n, "value": "x"}
                                    for n in (
                                        "image-name",
                                        "git-revision",
                                        "dockerfile-path",
                                        "build-args",
                                        "build-env",
                                    )
                                ]
                            },
                        }
                    ]
                ],
            }
        ],
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "workspace"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        ],
    }
    if host_network:
        spec["hostNetwork"] = True
    if spec_patch is not None:
        spec["podSpecPatch"] = json.dumps(spec_patch)
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "hn"}, "spec": spec}


def test_lint_flags_host_network_with_user_namespaces(tmp_path: Path) -> None:
    flagged = _lint(tmp_path / "a", {"wf.yaml": _host_network_workflow(None, True)}, "steps")
    assert any("hostNetwork: true together with hostUsers: false" in f and "build-image" in f for f in flagged), flagged
    patched = _host_network_workflow({"hostNetwork": True}, False)
    flagged = _lint(tmp_path / "b", {"wf.yaml": patched}, "steps")
    assert any("spec.hostNetwork: Forbidden" in f for f in flagged), flagged
    clean = _lint(tmp_path / "c", {"wf.yaml": _host_network_workflow(None, False)}, "steps")
    assert not any("hostNetwork" in f for f in clean), clean
    # the combination inside one template (no templateRef) is found too
    own = copy.deepcopy(_team_linter())
    own["kind"] = "Workflow"
    own["spec"] |= {"entrypoint": "lint", "hostNetwork": True}
    own["spec"]["templates"][0]["podSpecPatch"] = '{"hostUsers": false}'
    own["spec"]["templates"][0]["container"]["args"] = ["/mnt/vol"]
    own["spec"]["volumes"] = [{"name": "workspace", "emptyDir": {}}]
    flagged = _lint(tmp_path / "d", {"own.yaml": own})
    assert any("hostNetwork: true together with hostUsers: false" in f for f in flagged), flagged


# ------------------------------------------------------------------------------------------------ §5 render


def _render_args(out: Path, *extra: str) -> Any:
    import argparse

    parser = argparse.ArgumentParser()
    render.configure(parser)
    return parser.parse_args(["-o", str(out), *extra])


def test_render_warns_about_the_public_default_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert render.main(_render_args(tmp_path / "a")) == 0
    err = capsys.readouterr().err
    assert f"warning: the OpenChoreo resources push every app image to {DEFAULT_PUBLISH_REGISTRY}" in err
    assert "publish.registry" in err
    assert render.main(_render_args(tmp_path / "b", "--set", "publish.registry=registry.example.com/apps")) == 0
    assert "warning" not in capsys.readouterr().err
    off = ("--set", "openchoreo.cluster_workflows=false", "--set", "openchoreo.workflows_v017=false")
    assert render.main(_render_args(tmp_path / "c", *off)) == 0
    assert "warning" not in capsys.readouterr().err  # no OpenChoreo resources: the pipelines take `registry`


def test_a_v017_render_keeps_upstream_v017_workflows_working(tmp_path: Path) -> None:
    """Rendered for v0.17, the step templates resolve under a v0.17-style Workflow that passes only `image` to
    generate-workload-cr, and generate-workload-cr writes the output contract without calling the API."""
    docs = _docs(("openchoreo.profile=openchoreo-0.17",))
    generate = docs["steps/generate-workload.yaml"]["spec"]["templates"][0]
    defaults = {p["name"]: p.get("default") for p in generate["inputs"]["parameters"]}
    assert defaults["openchoreo-profile"] == "openchoreo-0.17" and defaults["api-mode"] == "auto"
    assert defaults["namespace-name"] == "{{workflow.namespace}}"  # v0.17's controller sets the namespace itself
    for path, doc in docs.items():
        if path.startswith("steps/") or path == f"openchoreo-0.17/{V017_TEMPLATE_PREFIX}docker.yaml":
            (tmp_path / path.replace("/", "-")).write_text(yaml.safe_dump(doc), encoding="utf-8")
    caller = _upstream_style_cluster_workflow(
        "docker", V017_WORKFLOW_PARAMS | {"docker-context": ".", "dockerfile-path": "./Dockerfile"}
    )
    steps = caller["spec"]["runTemplate"]["spec"]["templates"][0]["steps"]
    steps[:] = [g for g in steps if g[0]["name"] != "lint-source"]
    generate_call = steps[-1][0]
    generate_call["arguments"]["parameters"] = [
        p for p in generate_call["arguments"]["parameters"] if p["name"] == "image"
    ]
    (tmp_path / "caller.yaml").write_text(yaml.safe_dump(caller), encoding="utf-8")
    assert [f.text() for f in lint.lint_paths([tmp_path], ARGO_CRDS).findings] == []
