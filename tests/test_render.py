"""Rendered pack: up to date, deterministic, structurally valid (Hera models + Argo v4.1.2 / OpenChoreo CRDs),
secure by default, and free of shell and of parameters interpolated into text."""

from __future__ import annotations

import argparse
import copy
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hera.workflows import models as hera_models

from hera_workflows.pack import render
from hera_workflows.pack.openchoreo import V017_TEMPLATE_PREFIX
from hera_workflows.pack.settings import Settings, load_settings
from steps.build.options import CACHE_PUSH_SECRET_DIR, PULL_SECRET_DIR
from steps.build.options import OPTIONS as BUILD_OPTIONS
from steps.checkout.options import OPTIONS as CHECKOUT_OPTIONS
from steps.common import contract
from steps.common.cli import Option
from steps.generate_workload.options import OPTIONS as GENERATE_OPTIONS
from steps.publish_image.options import OPTIONS as PUBLISH_OPTIONS
from testkit.paths import ARGO_CRDS, OPENCHOREO_017_CRDS, OPENCHOREO_1X_CRDS, TEMPLATES
from testkit.rendered import LOADER, PARAM_REF, schema_errors

SHELLS = {"sh", "bash", "ash", "dash", "zsh", "/bin/sh", "/bin/bash", "/usr/bin/env"}


# ------------------------------------------------------------------------------------------------ helpers


@cache
def rendered_files() -> dict[str, str]:
    return render.render_files(Settings())


@cache
def _default_documents() -> dict[str, dict[str, Any]]:
    return _parse(rendered_files())


def _parse(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        path: yaml.load(text, Loader=LOADER)
        for path, text in files.items()
        if not path.endswith(render.KUSTOMIZE_FILES)
    }


def documents(files: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Parsed documents (a fresh copy: tests may mutate them)."""
    return copy.deepcopy(_default_documents() if files is None else _parse(files))


def cwts(kind_filter: str | None = None) -> dict[str, dict[str, Any]]:
    out = {}
    for path, doc in documents().items():
        if doc["kind"] == "ClusterWorkflowTemplate" and (kind_filter is None or path.startswith(kind_filter + "/")):
            out[doc["metadata"]["name"]] = doc
    return out


def container_templates(docs: dict[str, dict[str, Any]] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, doc in (documents() if docs is None else docs).items():
        if doc["kind"] != "ClusterWorkflowTemplate":
            continue
        for template in doc["spec"]["templates"]:
            if "container" in template:
                yield f"{path}:{template['name']}", template


def workflow_ref(name: str) -> str:
    return "{{workflow.parameters." + name + "}}"


def step_template(cwt: str) -> dict[str, Any]:
    templates = cwts("steps")[cwt]["spec"]["templates"]
    assert len(templates) == 1
    template: dict[str, Any] = templates[0]
    return template


def inputs_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in template.get("inputs", {}).get("parameters", [])}


def env_of(template: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in template["container"].get("env", [])}


# ------------------------------------------------------------------------------------------------ up to date


def test_committed_templates_equal_a_fresh_render() -> None:
    lines = render.diff(TEMPLATES, rendered_files())
    assert not lines, "templates/ is stale; run `python -m hera_workflows render -o templates/`:\n" + "".join(
        lines[:80]
    )


def test_render_is_deterministic() -> None:
    assert render.render_files(Settings()) == render.render_files(Settings())


def _args(out: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    render.configure(parser)
    return parser.parse_args(["-o", str(out), *extra])


def test_check_fails_with_diff_when_stale_and_render_removes_owned_stale_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "templates"
    assert render.main(_args(out, "--check")) == 1  # nothing rendered yet
    assert render.main(_args(out)) == 0
    assert render.main(_args(out, "--check")) == 0
    capsys.readouterr()

    target = out / "steps" / "publish-image.yaml"
    target.write_text(target.read_text().replace("asInt(lastRetry.exitCode) == 75", "true"))
    owned_stale = out / "steps" / "old-step.yaml"
    owned_stale.write_text(render.GENERATED_HEADER + "kind: ClusterWorkflowTemplate\n")
    foreign = out / "steps" / "hand-written.yaml"
    foreign.write_text("kind: ConfigMap\n")

    assert render.main(_args(out, "--check")) == 1
    report = capsys.readouterr().out
    assert "--- a/steps/publish-image.yaml" in report and "+      expression: asInt(lastRetry.exitCode) == 75" in report
    assert "--- a/steps/old-step.yaml" in report and "+++ /dev/null" in report
    assert "hand-written" not in report

    assert render.main(_args(out)) == 0
    assert not owned_stale.exists() and foreign.exists()
    assert render.main(_args(out, "--check")) == 0


def test_render_reports_settings_errors_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert render.main(_args(tmp_path, "--set", "images.regsitry=x")) == 2
    assert "images.regsitry: unknown setting" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_one_file_per_resource_and_kustomizations() -> None:
    files = rendered_files()
    docs = documents()
    for path, doc in docs.items():
        # v0.17's build templates share their names with v0.17 Workflows in the same folder
        prefix = V017_TEMPLATE_PREFIX if doc["kind"] == "ClusterWorkflowTemplate" and "0.17" in path else ""
        assert path == f"{path.split('/')[0]}/{prefix}{doc['metadata']['name']}.yaml"
    folders = {path.split("/")[0] for path in docs}
    assert folders == {"steps", "pipelines", "openchoreo", "openchoreo-0.17"}
    for folder in folders:
        kustomization = yaml.safe_load(files[f"{folder}/kustomization.yaml"])
        assert kustomization["resources"] == sorted(p.split("/")[1] for p in docs if p.startswith(folder + "/"))
    root = yaml.safe_load(files["kustomization.yaml"])
    # `kubectl apply -k templates/` needs Argo only: OpenChoreo resources are applied from their own folders
    assert root["resources"] == ["pipelines", "steps"]
    assert {d["kind"] for p, d in docs.items() if p.split("/")[0] in root["resources"]} == {"ClusterWorkflowTemplate"}


def test_every_volume_is_named_and_no_uuid_names() -> None:
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")
    for text in rendered_files().values():
        assert not uuid.search(text)
    for where, template in container_templates():
        for volume in template.get("volumes", []):
            assert volume["name"], where


# ------------------------------------------------------------------------------------------------ validity


@pytest.mark.parametrize("path", sorted(p for p, d in documents().items() if d["kind"] == "ClusterWorkflowTemplate"))
def test_argo_documents_validate_with_hera_models_and_the_argo_crd(path: str) -> None:
    doc = documents()[path]
    hera_models.ClusterWorkflowTemplate.model_validate(doc)
    assert schema_errors(ARGO_CRDS / "argoproj.io_clusterworkflowtemplates.yaml", doc) == []


def test_crd_check_is_not_vacuous() -> None:
    doc = copy.deepcopy(documents()["steps/publish-image.yaml"])
    doc["spec"]["templates"][0]["containr"] = {}
    doc["spec"]["templates"][0]["retryStrategy"]["limit"] = 2.5
    errors = schema_errors(ARGO_CRDS / "argoproj.io_clusterworkflowtemplates.yaml", doc)
    assert any("containr" in e for e in errors) and any("retryStrategy.limit" in e for e in errors)


@pytest.mark.parametrize("path", sorted(p for p in documents() if p.startswith("openchoreo/")))
def test_cluster_workflows_validate_against_openchoreo_1x_crd(path: str) -> None:
    doc = documents()[path]
    assert doc["kind"] == "ClusterWorkflow" and doc["apiVersion"] == "openchoreo.dev/v1alpha1"
    assert schema_errors(OPENCHOREO_1X_CRDS / "openchoreo.dev_clusterworkflows.yaml", doc) == []
    assert schema_errors(ARGO_CRDS / "argoproj.io_workflows.yaml", doc["spec"]["runTemplate"]) == []


@pytest.mark.parametrize(
    "path", sorted(p for p, d in documents().items() if p.startswith("openchoreo-0.17/") and d["kind"] == "Workflow")
)
def test_v017_workflows_validate_against_openchoreo_017_crd(path: str) -> None:
    doc = documents()[path]
    assert doc["kind"] == "Workflow" and doc["metadata"]["namespace"] == "default"
    assert schema_errors(OPENCHOREO_017_CRDS / "openchoreo.dev_workflows.yaml", doc) == []
    assert schema_errors(ARGO_CRDS / "argoproj.io_workflows.yaml", doc["spec"]["runTemplate"]) == []
    assert doc["metadata"]["annotations"]["openchoreo.dev/workflow-scope"] == "component"


def test_openchoreo_run_templates_reference_existing_pipelines_with_known_arguments() -> None:
    pipelines = cwts("pipelines")
    for path, doc in documents().items():
        if not path.startswith("openchoreo") or "runTemplate" not in doc["spec"]:
            continue
        spec = doc["spec"]["runTemplate"]["spec"]
        ref = spec["workflowTemplateRef"]
        assert ref["clusterScope"] is True and ref["name"] in pipelines, path
        pipeline = pipelines[ref["name"]]["spec"]
        declared = {p["name"]: p for p in pipeline["arguments"]["parameters"]}
        passed = {p["name"] for p in spec["arguments"]["parameters"]}
        assert passed <= set(declared), path
        assert {n for n, p in declared.items() if "value" not in p} <= passed, f"{path}: required argument missing"
        assert spec["serviceAccountName"] == "workflow-sa"
        profile = next(p["value"] for p in spec["arguments"]["parameters"] if p["name"] == "openchoreo-profile")
        assert profile == ("openchoreo-0.17" if path.startswith("openchoreo-0.17/") else "openchoreo-1.x")


# ------------------------------------------------------------------------------------------------ security


BUILDAH_TEMPLATE_FILES = {
    "steps/containerfile-build.yaml",
    "openchoreo-0.17/template-docker.yaml",
    "openchoreo-0.17/template-react.yaml",
}


def _security_expectations() -> list[tuple[str, str]]:
    return [
        (where, "build" if where.split(":")[0] in BUILDAH_TEMPLATE_FILES else "restricted")
        for where, _ in container_templates()
    ]


@pytest.mark.parametrize(("where", "profile"), _security_expectations())
def test_security_defaults(where: str, profile: str) -> None:
    template = dict(container_templates())[where]
    sc = template["container"]["securityContext"]
    assert sc.get("privileged") is False
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in template["container"]["volumeMounts"]}
    volumes = {v["name"]: v for v in template["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    if profile == "restricted":
        # buildpacks: the builder's CNB_USER_ID, so the lifecycle needs no setresuid (pack/step_templates/buildpacks.py)
        env = {e["name"]: e.get("value") for e in template["container"].get("env", [])}
        uid = int(env.get("CNB_USER_ID", contract.STEP_UID))
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] == uid
        assert template["securityContext"].get("runAsUser", uid) == uid
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert "podSpecPatch" not in template
    else:
        assert sc["capabilities"] == {"add": ["SYS_ADMIN"]}  # default capabilities plus SYS_ADMIN
        assert "allowPrivilegeEscalation" not in sc  # Kubernetes rejects false together with SYS_ADMIN
        assert yaml.safe_load(template["podSpecPatch"]) == {"hostUsers": False}
        assert any(v.get("emptyDir") for n, v in volumes.items() if mounts.get("/var/lib/containers/storage") == n)
    resources = template["container"]["resources"]
    assert set(resources["requests"]) >= {"cpu", "memory"} and set(resources["limits"]) >= {"cpu", "memory"}
    assert template["activeDeadlineSeconds"] > 0
    assert template["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for init in template.get("initContainers", []):
        assert init["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert init["securityContext"]["runAsNonRoot"] is True


def test_step_images_are_pinned_and_configurable() -> None:
    for where, template in container_templates():
        image = template["container"]["image"]
        assert "@sha256:" in image or re.search(r":[\w.-]+$", image.rsplit("/", 1)[-1]), where
        assert not image.endswith(":latest"), where
    assert (
        step_template("checkout-source")["container"]["image"]
        == f"ghcr.io/openchoreo-ci-pack/checkout:{contract.PACK_VERSION}"
    )
    digest = "sha256:" + "a" * 64
    settings = load_settings(
        None, ["images.registry=registry.example.com/ci", "images.tag=9.9.9", f"images.digests.publish-image={digest}"]
    )
    files = render.render_files(settings)
    publish = yaml.safe_load(files["steps/publish-image.yaml"])["spec"]["templates"][0]["container"]["image"]
    checkout = yaml.safe_load(files["steps/checkout-source.yaml"])["spec"]["templates"][0]["container"]["image"]
    assert publish == f"registry.example.com/ci/publish-image:9.9.9@{digest}"
    assert checkout == "registry.example.com/ci/checkout:9.9.9"


def test_metadata_annotations_and_labels() -> None:
    for name, doc in cwts().items():
        meta = doc["metadata"]
        assert meta["annotations"]["workflows.argoproj.io/version"] == ">= 4.0.0", name
        assert len(meta["annotations"]["workflows.argoproj.io/description"]) > 40, name
        assert meta["labels"]["app.kubernetes.io/part-of"] == contract.PACK_NAME
        assert meta["labels"]["app.kubernetes.io/version"] == contract.PACK_VERSION


# ------------------------------------------------------------------------------------------------ no shell


def _all_containers(docs: dict[str, dict[str, Any]] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, template in container_templates(docs):
        yield where, template["container"]
        for init in template.get("initContainers", []):
            yield f"{where}:init:{init['name']}", init


def test_no_script_templates_and_no_shell() -> None:
    for path, doc in documents().items():
        if doc["kind"] == "ClusterWorkflowTemplate":
            for template in doc["spec"]["templates"]:
                assert "script" not in template and "containerSet" not in template, path
    for where, container in _all_containers():
        argv = [*container.get("command", []), *container.get("args", [])]
        assert argv, where
        assert argv[0] not in SHELLS, where
        assert "-c" not in argv, where
        assert not any(s in a for a in argv for s in ("&&", "||", "$(", "`", ";")), where


def test_parameters_reach_steps_only_as_exact_env_or_argv_values() -> None:
    for where, container in _all_containers():
        for env in container.get("env", []):
            value = env.get("value", "")
            if "{{" in value:
                assert PARAM_REF.match(value), f"{where}: env {env['name']}={value!r} interpolates into text"
        for arg in [*container.get("command", []), *container.get("args", [])]:
            if "{{" in arg:
                assert PARAM_REF.match(arg), f"{where}: argv element {arg!r} interpolates into text"
        assert "{{workflow." not in yaml.safe_dump(container), f"{where}: step templates use inputs only"


def test_input_references_resolve_to_declared_inputs() -> None:
    ref = re.compile(r"\{\{inputs\.parameters\.([-a-zA-Z0-9_]+)\}\}")
    for where, template in container_templates():
        declared = set(inputs_of(template))
        used = set(ref.findall(yaml.safe_dump(template)))
        assert used <= declared, f"{where}: undeclared {used - declared}"


# ------------------------------------------------------------------------------------------------ step contract


@pytest.mark.parametrize(
    ("cwt", "options"),
    [
        ("checkout-source", CHECKOUT_OPTIONS),
        ("containerfile-build", BUILD_OPTIONS),
        ("publish-image", PUBLISH_OPTIONS),
        ("generate-workload", GENERATE_OPTIONS),
    ],
)
def test_every_option_with_a_param_is_an_input_and_an_env_entry(cwt: str, options: list[Option]) -> None:
    template = step_template(cwt)
    inputs = inputs_of(template)
    env = env_of(template)
    settings = Settings()
    for option in options:
        if option.param is None:
            assert option.env not in env or "{{" not in env[option.env], option.dest
            continue
        assert env[option.env] == "{{inputs.parameters." + option.param + "}}"
        parameter = inputs[option.param]
        if option.required:
            # no default, or the drop-in fallback to the workflow parameter of the same name (publish-image's
            # registry, which OpenChoreo hard-codes, falls back to the platform's registry)
            fallback = settings.publish.registry if option.param == "registry" else workflow_ref(option.param)
            assert parameter.get("default", fallback) == fallback and "value" not in parameter, option.param
        else:
            assert "default" in parameter, option.param
    # settings-driven defaults
    assert (
        inputs_of(step_template("publish-image"))["tls-verify"]["default"] == str(settings.publish.tls_verify).lower()
    )
    assert inputs_of(step_template("generate-workload"))["openchoreo-profile"]["default"] == settings.openchoreo.profile


def test_option_defaults_are_the_input_defaults_unless_settings_override() -> None:
    for cwt, options in (("checkout-source", CHECKOUT_OPTIONS), ("containerfile-build", BUILD_OPTIONS)):
        inputs = inputs_of(step_template(cwt))
        for option in options:
            if option.param and not option.required and option.param not in {"tls-verify", "cache-repo", "isolation"}:
                expected = (option.default or "", workflow_ref(option.param))  # drop-in: the workflow parameter
                assert inputs[option.param]["default"] in expected, option.param


@pytest.mark.parametrize(
    ("cwt", "template", "outputs"),
    [
        ("checkout-source", "checkout", {"git-revision", "commit-sha"}),
        ("containerfile-build", "build-image", {"image-digest"}),
        ("publish-image", "publish-image", {"image", "image-url", "image-digest"}),
        ("generate-workload", "generate-workload-cr", {"workload-cr"}),
        ("paketo-buildpacks-build", "build-image", set()),
        ("gcp-buildpacks-build", "build-image", set()),
        ("ballerina-buildpack-build", "build-image", set()),
    ],
)
def test_step_templates_names_and_outputs(cwt: str, template: str, outputs: set[str]) -> None:
    doc = cwts("steps")[cwt]
    assert "entrypoint" not in doc["spec"] and "volumes" not in doc["spec"]
    tmpl = step_template(cwt)
    assert tmpl["name"] == template
    declared = {p["name"]: p["valueFrom"]["path"] for p in tmpl.get("outputs", {}).get("parameters", [])}
    assert set(declared) == outputs
    for name, path in declared.items():
        assert path == contract.output_file(name)
    assert {"name": "workspace", "mountPath": "/mnt/vol"} in tmpl["container"]["volumeMounts"]
    assert "workspace" not in {v["name"] for v in tmpl["volumes"]}  # the caller provides it


def test_generate_workload_contract() -> None:
    tmpl = step_template("generate-workload")
    assert tmpl["outputs"]["parameters"] == [{"name": "workload-cr", "valueFrom": {"path": contract.WORKLOAD_CR_FILE}}]
    assert {"image", "run-name", "api-client-secret", "api-ca-secret"} <= set(inputs_of(tmpl))
    assert "retryStrategy" not in tmpl  # a retried Pod is displayed as generate-workload-cr(0)
    assert "OAUTH_CLIENT_SECRET" not in env_of(tmpl)  # secrets only by Secret name, mounted
    mounts = {m["mountPath"]: m["name"] for m in tmpl["container"]["volumeMounts"]}
    volumes = {v["name"]: v for v in tmpl["volumes"]}
    assert volumes[mounts[contract.API_CLIENT_SECRET_DIR]]["secret"] == {
        "secretName": "{{inputs.parameters.api-client-secret}}",
        "optional": True,
        "defaultMode": 0o440,
    }


@pytest.mark.parametrize(
    ("cwt", "mounts"),
    [
        ("checkout-source", {contract.GIT_SECRET_DIR: "git-secret"}),
        (
            "containerfile-build",
            {
                PULL_SECRET_DIR: "registry-pull-secret",
                CACHE_PUSH_SECRET_DIR: "cache-push-secret",
                contract.REGISTRY_CA_DIR: "registry-ca-secret",
            },
        ),
        (
            "publish-image",
            {contract.REGISTRY_SECRET_DIR: "registry-push-secret", contract.REGISTRY_CA_DIR: "registry-ca-secret"},
        ),
        (
            "generate-workload",
            {contract.API_CLIENT_SECRET_DIR: "api-client-secret", contract.API_CA_DIR: "api-ca-secret"},
        ),
    ],
)
def test_secret_volumes_are_optional_and_named_by_parameters(cwt: str, mounts: dict[str, str]) -> None:
    tmpl = step_template(cwt)
    by_path = {m["mountPath"]: m for m in tmpl["container"]["volumeMounts"]}
    volumes = {v["name"]: v for v in tmpl["volumes"]}
    for path, param in mounts.items():
        mount = by_path[path]
        assert mount["readOnly"] is True
        secret = volumes[mount["name"]]["secret"]
        assert secret["optional"] is True
        assert secret["secretName"] == "{{inputs.parameters." + param + "}}"
        assert param in inputs_of(tmpl)


def test_publish_retries_only_transient_failures() -> None:
    retry = step_template("publish-image")["retryStrategy"]
    assert retry["expression"] == f"asInt(lastRetry.exitCode) == {contract.EXIT_TRANSIENT}"
    assert "retryPolicy" not in retry and retry["limit"] >= 1 and retry["backoff"]["duration"]
    assert step_template("gitops-publish")["retryStrategy"] == retry  # idempotent, so transient failures retry too
    for name in cwts("steps"):
        if name not in ("publish-image", "gitops-publish"):
            assert "retryStrategy" not in step_template(name), name


def test_buildpacks_run_the_lifecycle_directly_without_privileges() -> None:
    for cwt in ("paketo-buildpacks-build", "gcp-buildpacks-build", "ballerina-buildpack-build"):
        tmpl = step_template(cwt)
        assert tmpl["container"]["command"] == ["/cnb/lifecycle/creator"]
        assert tmpl["container"]["args"] == [contract.CNB_OUTPUT_IMAGE]  # a reference: the lifecycle derives paths
        env = env_of(tmpl)
        assert env["CNB_USE_LAYOUT"] == "true" and env["CNB_APP_DIR"] == "/workspace"
        assert env["CNB_LAYOUT_DIR"] == contract.CNB_LAYOUT_DIR
        app_mount = next(m for m in tmpl["container"]["volumeMounts"] if m["mountPath"] == "/workspace")
        assert app_mount == {
            "name": "workspace",
            "mountPath": "/workspace",
            "subPath": "source/{{inputs.parameters.app-path}}",
        }
        assert tmpl["container"]["workingDir"] == "/workspace"
        (prepare,) = tmpl["initContainers"]
        assert prepare["command"] == ["python", "-m", contract.BUILDPACKS_PREPARE_MODULE]
        assert env_of({"container": prepare})["CNB_RUN_IMAGE"] == env["CNB_RUN_IMAGE"]
        assert "@sha256:" in tmpl["container"]["image"] and "@sha256:" in env["CNB_RUN_IMAGE"]
        assert tmpl["container"]["securityContext"]["runAsUser"] == int(env["CNB_USER_ID"])


# ------------------------------------------------------------------------------------------------ pipelines


@pytest.mark.parametrize(
    "name", ["dockerfile-builder", "paketo-buildpacks-builder", "gcp-buildpacks-builder", "ballerina-buildpack-builder"]
)
def test_pipeline_shape(name: str) -> None:
    doc = cwts("pipelines")[name]
    spec = doc["spec"]
    assert spec["entrypoint"] == contract.PIPELINE_ENTRYPOINT
    (main,) = spec["templates"]
    assert main["name"] == "build-workflow"
    groups = main["steps"]
    assert all(len(group) == 1 for group in groups)
    steps = [group[0] for group in groups]
    assert [s["name"] for s in steps] == [
        contract.STEP_CHECKOUT,
        contract.STEP_BUILD,
        contract.STEP_PUBLISH,
        contract.STEP_GENERATE_WORKLOAD,
    ]
    assert steps[-1]["templateRef"] == {
        "name": contract.CWT_GENERATE_WORKLOAD,
        "template": contract.TEMPLATE_GENERATE_WORKLOAD,
        "clusterScope": True,
    }
    claims = spec["volumeClaimTemplates"]
    assert [c["metadata"]["name"] for c in claims] == ["workspace"]
    args = {p["name"]: p for p in spec["arguments"]["parameters"]}
    for required in ("component-name", "project-name", "namespace-name", "git-repo", "image-name"):
        assert "value" not in args[required]
    for name_ in ("workflowrun-name", "branch", "commit", "app-path", "build-env", "image-tag", "git-secret",
                  "registry-push-secret", "registry"):  # fmt: skip
        assert name_ in args
    steps_cwts = cwts("steps")
    for step in steps:
        ref = step["templateRef"]
        assert ref["clusterScope"] is True
        callee = next(t for t in steps_cwts[ref["name"]]["spec"]["templates"] if t["name"] == ref["template"])
        supplied = {p["name"] for p in step.get("arguments", {}).get("parameters", [])}
        needed = {n for n, p in inputs_of(callee).items() if "default" not in p and "value" not in p}
        assert needed <= supplied, f"{name}/{step['name']}: missing {needed - supplied}"
        assert supplied <= set(inputs_of(callee))
        for p in step.get("arguments", {}).get("parameters", []):
            for wf in re.findall(r"\{\{workflow\.parameters\.([-\w]+)\}\}", p["value"]):
                assert wf in args, f"{name}/{step['name']}: unknown workflow parameter {wf}"


def test_inline_setting_renders_template_names_for_openchoreo_015() -> None:
    files = render.render_files(load_settings(None, ["openchoreo.inline_steps=true"]))
    doc = yaml.safe_load(files["pipelines/dockerfile-builder.yaml"])
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    assert set(templates) == {"build-workflow", "checkout", "build-image", "publish-image", "generate-workload-cr"}
    steps = [g[0] for g in templates["build-workflow"]["steps"]]
    assert [s.get("template") for s in steps] == ["checkout", "build-image", "publish-image", "generate-workload-cr"]
    assert "container" in templates["generate-workload-cr"]
    hera_models.ClusterWorkflowTemplate.model_validate(doc)
    assert schema_errors(ARGO_CRDS / "argoproj.io_clusterworkflowtemplates.yaml", doc) == []


def test_settings_reach_the_rendered_templates() -> None:
    settings = load_settings(
        None,
        [
            "steps.build.resources.memory_limit=16Gi",
            "steps.publish_image.active_deadline_seconds=120",
            "publish.registry=registry.example.com/apps",
            "publish.tls_verify=false",
            "secrets.registry_ca=corp-ca",
            "api.mode=workloads",
            "api.server_url=https://api.example.com",
            "pipelines.workspace_size=5Gi",
            "openchoreo.workflows_v017=false",
            "pipelines.build_types=[dockerfile]",
            "build.user_namespace=false",
        ],
    )
    docs = documents(render.render_files(settings))
    build = docs["steps/containerfile-build.yaml"]["spec"]["templates"][0]
    assert build["container"]["resources"]["limits"]["memory"] == "16Gi"
    assert "podSpecPatch" not in build
    publish = docs["steps/publish-image.yaml"]["spec"]["templates"][0]
    assert publish["activeDeadlineSeconds"] == 120
    assert inputs_of(publish)["registry-ca-secret"]["default"] == "corp-ca"
    assert inputs_of(publish)["tls-verify"]["default"] == "false"
    generate = inputs_of(docs["steps/generate-workload.yaml"]["spec"]["templates"][0])
    assert (
        generate["api-mode"]["default"] == "workloads"
        and generate["api-server-url"]["default"] == "https://api.example.com"
    )
    pipeline = docs["pipelines/dockerfile-builder.yaml"]["spec"]
    assert pipeline["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert {p["name"]: p.get("value") for p in pipeline["arguments"]["parameters"]}[
        "registry"
    ] == "registry.example.com/apps"
    assert not any(p.startswith("openchoreo-0.17/") for p in docs)
    assert sorted(p for p in docs if p.startswith("pipelines/")) == [
        "pipelines/dockerfile-builder-gitops.yaml",
        "pipelines/dockerfile-builder.yaml",
    ]


def test_openchoreo_drop_in_mode_defaults_inputs_to_workflow_parameters() -> None:
    docs = documents()  # the default: committed step templates accept arguments or the workflow parameter

    def inputs(cwt: str) -> dict[str, dict[str, Any]]:
        return inputs_of(docs[f"steps/{cwt}.yaml"]["spec"]["templates"][0])

    # OpenChoreo's ClusterWorkflows pass only these arguments; everything else must have a default
    passed_by_openchoreo = {
        "checkout-source": set(),
        "containerfile-build": {"git-revision", "build-env", "build-args"},
        "paketo-buildpacks-build": {"git-revision"},
        "publish-image": {"git-revision"},
        "generate-workload": {"image", "run-name"},
    }
    for cwt, passed in passed_by_openchoreo.items():
        missing = {n for n, p in inputs(cwt).items() if "default" not in p} - passed
        assert not missing, f"{cwt}: {missing} would not be supplied by OpenChoreo's ClusterWorkflows"
    assert inputs("checkout-source")["git-repo"]["default"] == "{{workflow.parameters.git-repo}}"
    assert inputs("checkout-source")["git-secret"]["default"] == "{{workflow.parameters.git-secret}}"
    assert inputs("publish-image")["registry"]["default"] == Settings().publish.registry
    assert inputs("generate-workload")["namespace-name"]["default"] == "{{workflow.parameters.namespace-name}}"
    checked = 0
    for where, container in _all_containers(docs):
        for env in container.get("env", []):
            assert "{{" not in env["value"] or PARAM_REF.match(env["value"]), where
            checked += 1
    assert checked > 50
    # the pipelines still pass everything explicitly; the explicit-only mode stays available
    explicit = documents(render.render_files(load_settings(None, ["openchoreo.step_defaults_from_workflow=false"])))
    assert explicit["pipelines/dockerfile-builder.yaml"]["spec"] == docs["pipelines/dockerfile-builder.yaml"]["spec"]
    assert "default" not in inputs_of(explicit["steps/checkout-source.yaml"]["spec"]["templates"][0])["git-repo"]
