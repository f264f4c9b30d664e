"""One pipeline per build type: `build-workflow` = checkout-source -> build-image -> publish-image ->
generate-workload-cr, each step calling its step ClusterWorkflowTemplate through templateRef (clusterScope).

The arguments mirror the parameters OpenChoreo's ClusterWorkflow runTemplates pass (component-name, project-name,
workflowrun-name, namespace-name, git-repo, branch, commit, app-path, build-env, docker-context, dockerfile-path,
build-args, image-name, image-tag, git-secret, registry-push-secret), plus the platform-controlled ones this pack
makes explicit (registry, tls-verify, cache-repo, openchoreo-profile).
"""

from __future__ import annotations

import copy
from typing import Any

from hera_workflows.pack.blocks import (
    PARAM_API_CA_SECRET,
    PARAM_API_CLIENT_SECRET,
    PARAM_GIT_SECRET,
    PARAM_REGISTRY_PUSH_SECRET,
    step_output_ref,
    workflow_param_ref,
)
from hera_workflows.pack.model import Pack, Pipeline, PipelineArgument, PipelineStep
from hera_workflows.pack.openchoreo import RUN_API_CA_SECRET, RUN_API_CLIENT_SECRET, RUN_GITOPS_SECRET
from hera_workflows.pack.settings import BuildType, Settings
from hera_workflows.pack.step_templates import (
    build,
    buildpacks,
    checkout,
    generate_workload,
    gitops_publish,
    publish_image,
)
from steps.common import contract

LABEL_COMPONENT = "${metadata.labels['openchoreo.dev/component']}"
LABEL_PROJECT = "${metadata.labels['openchoreo.dev/project']}"

# build type -> (pipeline / ClusterWorkflow name, v0.17 Workflow name, build CWT, description)
BUILD_TYPES: dict[str, tuple[str, str, str, str]] = {
    "dockerfile": (
        "dockerfile-builder",
        "docker",
        contract.CWT_CONTAINERFILE_BUILD,
        "Build with a provided Dockerfile/Containerfile (buildah, no privileged mode)",
    ),
    "paketo-buildpacks": (
        "paketo-buildpacks-builder",
        "paketo-buildpacks",
        contract.CWT_PAKETO_BUILD,
        "Build with Paketo Buildpacks (CNB lifecycle, no daemon, no privileges)",
    ),
    "gcp-buildpacks": (
        "gcp-buildpacks-builder",
        "google-cloud-buildpacks",
        contract.CWT_GCP_BUILD,
        "Build with Google Cloud Buildpacks (CNB lifecycle, no daemon, no privileges)",
    ),
    "ballerina-buildpack": (
        "ballerina-buildpack-builder",
        "ballerina-buildpack",
        contract.CWT_BALLERINA_BUILD,
        "Build a Ballerina app with the Ballerina buildpack (CNB lifecycle, no daemon, no privileges)",
    ),
    "react": (
        "react-builder",
        "react",
        contract.CWT_CONTAINERFILE_BUILD,
        "Build a React (static web) app with Node.js and serve it with nginx (buildah, no privileged mode)",
    ),
}
CONTAINERFILE_TYPES = ("dockerfile", "react")
NODE_VERSIONS = ("16", "18", "20", "22")


def _wf(name: str) -> str:
    return workflow_param_ref(name)


def _arguments(settings: Settings, build_type: str) -> list[PipelineArgument]:
    dockerfile = build_type == "dockerfile"
    run = "${metadata.workflowRunName}"
    args = [
        PipelineArgument("component-name", None, "OpenChoreo component", LABEL_COMPONENT, LABEL_COMPONENT),
        PipelineArgument("project-name", None, "OpenChoreo project", LABEL_PROJECT, LABEL_PROJECT),
        PipelineArgument("workflowrun-name", "", "WorkflowRun to annotate with the workload", run, run),
        PipelineArgument(
            "namespace-name", None, "OpenChoreo namespace", "${metadata.namespaceName}", "${metadata.namespaceName}"
        ),
        PipelineArgument(
            "git-repo", None, "git repository URL", "${parameters.repository.url}", "${parameters.repository.url}"
        ),
        PipelineArgument(
            "branch",
            "",
            "branch to build (ignored when commit is set)",
            "${parameters.repository.revision.branch}",
            "${parameters.repository.revision.branch}",
        ),
        PipelineArgument(
            "commit",
            "",
            "commit SHA to build (7-40 hex characters)",
            "${parameters.repository.revision.commit}",
            "${parameters.repository.revision.commit}",
        ),
        PipelineArgument(
            "app-path",
            ".",
            "application directory inside the repository",
            "${parameters.repository.appPath}",
            "${parameters.repository.appPath}",
        ),
    ]
    if dockerfile:
        args += [
            PipelineArgument(
                "docker-context",
                ".",
                "build context, relative to the source root",
                "${parameters.docker.context}",
                "${parameters.docker.context}",
            ),
            PipelineArgument(
                "dockerfile-path",
                "./Dockerfile",
                "Dockerfile/Containerfile, relative to the source root",
                "${parameters.docker.filePath}",
                "${parameters.docker.filePath}",
            ),
        ]
    if build_type == "react":
        # Declared for the build step's fallbacks to workflow parameters; the react preset ignores them.
        args += [
            PipelineArgument("docker-context", ".", "unused by the react preset (it builds app-path)"),
            PipelineArgument("dockerfile-path", "./Dockerfile", "unused by the react preset (it writes its own)"),
            PipelineArgument("build-args", "[]", 'JSON list of {"name","value"} build arguments'),
        ]
        args.append(
            PipelineArgument(
                "node-version",
                "18",
                "Node.js version the app is built with",
                "${parameters.nodeVersion}",
                "${parameters.nodeVersion}",
            )
        )
    args.append(
        PipelineArgument("build-env", "[]", 'JSON list of {"name","value"} build environment', "${parameters.buildEnv}")
    )
    if dockerfile:
        args += [
            PipelineArgument(
                "build-args", "[]", 'JSON list of {"name","value"} build arguments', "${parameters.buildArgs}"
            ),
            PipelineArgument(
                "cache-repo", settings.build.cache_repo, "registry repository for the layer cache (empty: off)"
            ),
        ]
    if build_type in CONTAINERFILE_TYPES:
        args.append(
            PipelineArgument(
                "build-isolation",
                settings.build.isolation,
                "what isolates the build's root (user-namespace is checked at start; privileged or none opt out)",
            )
        )
        args.append(
            PipelineArgument(
                "build-avoidance",
                str(settings.build.avoidance).lower(),
                "skip the build when the registry holds the image of the same inputs (false: always build)",
            )
        )
    image_name = "${metadata.namespaceName}-" + LABEL_PROJECT + "-" + LABEL_COMPONENT
    args += [
        PipelineArgument(
            "image-name", None, "image name (OpenChoreo: <ns>-<project>-<component>)", image_name, image_name
        ),
        PipelineArgument("image-tag", "v1", "image tag prefix; the tag is <image-tag>-<git-revision>", "v1", "v1"),
        PipelineArgument(
            PARAM_GIT_SECRET,
            settings.secrets.git,
            "name of an optional Secret with git credentials",
            run + "-git-secret",
            run + "-git-secret",
        ),
        PipelineArgument(
            PARAM_REGISTRY_PUSH_SECRET,
            settings.secrets.registry_push,
            "name of an optional dockerconfigjson Secret for the registry",
            run + "-registry-push-secret",
            run + "-registry-push-secret",
        ),
        PipelineArgument("registry", settings.publish.registry, "registry host[:port][/path] to push to"),
        PipelineArgument(
            "tls-verify", str(settings.publish.tls_verify).lower(), "verify the registry's TLS certificate"
        ),
        PipelineArgument(
            "openchoreo-profile",
            settings.openchoreo.profile,
            "target OpenChoreo Workload shape",
            "openchoreo-1.x",
            "openchoreo-0.17",
        ),
    ]
    api = settings.api
    # v1.x ClusterWorkflows pass the platform's API settings and the per-run Secrets their resources create;
    # v0.17 Workflows pass none (api-mode auto writes the output contract only under that profile).
    args += [
        PipelineArgument("api-mode", api.mode, "auto | workloads | legacy | off", api.mode),
        PipelineArgument("api-server-url", api.server_url, "OpenChoreo API server URL", api.server_url),
        PipelineArgument("oauth-token-url", api.oauth_token_url, "OAuth2 token endpoint", api.oauth_token_url),
        PipelineArgument("oauth-client-id", api.oauth_client_id, "OAuth2 client id", api.oauth_client_id),
        PipelineArgument(
            PARAM_API_CLIENT_SECRET,
            settings.secrets.api_client,
            "name of the Secret with the OAuth2 client secret (key client-secret)",
            RUN_API_CLIENT_SECRET,
        ),
        PipelineArgument(
            PARAM_API_CA_SECRET,
            settings.secrets.api_ca,
            "name of an optional Secret with the API's CA bundle (key ca.crt)",
            RUN_API_CA_SECRET if api.ca_remote_key else None,
        ),
    ]
    return args


def _steps(build_type: str, build_cwt: str) -> list[PipelineStep]:
    revision = step_output_ref(contract.STEP_CHECKOUT, contract.OUT_GIT_REVISION)
    checkout = PipelineStep(
        contract.STEP_CHECKOUT,
        contract.CWT_CHECKOUT,
        contract.TEMPLATE_CHECKOUT,
        {n: _wf(n) for n in ("git-repo", "branch", "commit", "app-path", PARAM_GIT_SECRET)},
    )
    if build_type == "dockerfile":
        build_args = {
            "image-name": _wf("image-name"),
            "image-tag": _wf("image-tag"),
            "git-revision": revision,
            **{n: _wf(n) for n in ("docker-context", "dockerfile-path", "build-args", "build-env", "cache-repo")},
            "tls-verify": _wf("tls-verify"),
            "isolation": _wf("build-isolation"),
            "registry": _wf("registry"),
            "build-avoidance": _wf("build-avoidance"),
        }
    elif build_type == "react":
        build_args = {
            "image-name": _wf("image-name"),
            "image-tag": _wf("image-tag"),
            "git-revision": revision,
            "docker-context": _wf("app-path"),
            "preset": "react",
            "node-version": _wf("node-version"),
            "build-env": _wf("build-env"),
            "tls-verify": _wf("tls-verify"),
            "isolation": _wf("build-isolation"),
            "registry": _wf("registry"),
            "build-avoidance": _wf("build-avoidance"),
        }
    else:
        build_args = {"git-revision": revision, "app-path": _wf("app-path"), "build-env": _wf("build-env")}
    build = PipelineStep(contract.STEP_BUILD, build_cwt, contract.TEMPLATE_BUILD, build_args)
    publish = PipelineStep(
        contract.STEP_PUBLISH,
        contract.CWT_PUBLISH,
        contract.TEMPLATE_PUBLISH,
        {
            "registry": _wf("registry"),
            "image-name": _wf("image-name"),
            "image-tag": _wf("image-tag"),
            "git-revision": revision,
            "tls-verify": _wf("tls-verify"),
            PARAM_REGISTRY_PUSH_SECRET: _wf(PARAM_REGISTRY_PUSH_SECRET),
        },
    )
    generate = PipelineStep(
        contract.STEP_GENERATE_WORKLOAD,
        contract.CWT_GENERATE_WORKLOAD,
        contract.TEMPLATE_GENERATE_WORKLOAD,
        {
            "image": step_output_ref(contract.STEP_PUBLISH, contract.OUT_IMAGE),
            "namespace-name": _wf("namespace-name"),
            "project-name": _wf("project-name"),
            "component-name": _wf("component-name"),
            "app-path": _wf("app-path"),
            "run-name": _wf("workflowrun-name"),
            "openchoreo-profile": _wf("openchoreo-profile"),
            **{
                n: _wf(n)
                for n in (
                    "api-mode",
                    "api-server-url",
                    "oauth-token-url",
                    "oauth-client-id",
                    PARAM_API_CLIENT_SECRET,
                    PARAM_API_CA_SECRET,
                )
            },
        },
    )
    return [checkout, build, publish, generate]


def _name_value_list(description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "default": [],
        "description": description,
        "items": {
            "type": "object",
            "required": ["name", "value"],
            "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
        },
    }


def parameters_schema(build_type: str) -> dict[str, Any]:
    """The developer-facing openAPIV3Schema of the ClusterWorkflow (shape of OpenChoreo's own)."""
    ext = "x-openchoreo-component-parameter-repository-"
    repository = {
        "type": "object",
        "description": "Git repository configuration",
        "required": ["url"],
        "properties": {
            "url": {"type": "string", "description": "Git repository URL", ext + "url": True},
            "secretRef": {
                "type": "string",
                "default": "",
                "description": "SecretReference name for Git credentials",
                ext + "secret-ref": True,
            },
            "revision": {
                "type": "object",
                "default": {},
                "properties": {
                    "branch": {
                        "type": "string",
                        "default": "main",
                        "description": "Git branch to check out",
                        ext + "branch": True,
                    },
                    "commit": {
                        "type": "string",
                        "default": "",
                        "description": "Git commit SHA (optional; defaults to the branch head)",
                        ext + "commit": True,
                    },
                },
            },
            "appPath": {
                "type": "string",
                "default": ".",
                "description": "Path to the application directory within the repository",
                ext + "app-path": True,
            },
        },
    }
    dockerfile = build_type == "dockerfile"
    properties: dict[str, Any] = {"repository": repository}
    if build_type == "react":
        properties["nodeVersion"] = {
            "type": "string",
            "default": "18",
            "enum": list(NODE_VERSIONS),
            "description": "Node.js version the app is built with",
        }
    if dockerfile:
        properties["docker"] = {
            "type": "object",
            "default": {},
            "description": "Container build configuration",
            "properties": {
                "context": {
                    "type": "string",
                    "default": ".",
                    "description": "Build context relative to the repository root",
                },
                "filePath": {
                    "type": "string",
                    "default": "./Dockerfile",
                    "description": "Dockerfile/Containerfile relative to the repository root",
                },
            },
        }
    properties["buildEnv"] = _name_value_list("Environment variables available during the build")
    if dockerfile:
        properties["buildArgs"] = _name_value_list("Build arguments declared with ARG in the Dockerfile")
    return {"type": "object", "required": ["repository"], "properties": properties}


def schema_017(build_type: str) -> dict[str, Any]:
    """The v0.17 shorthand schema (`type | default=... description=...`)."""
    schema: dict[str, Any] = {
        "repository": {
            "url": 'string | description="Git repository URL"',
            "secretRef": 'string | default="" description="SecretReference name for Git credentials"',
            "revision": {
                "branch": 'string | default=main description="Git branch to check out"',
                "commit": 'string | default="" description="Git commit SHA (optional)"',
            },
            "appPath": 'string | default=. description="Path to the application directory"',
        }
    }
    if build_type == "react":
        schema["nodeVersion"] = (
            f'string | default="18" enum={",".join(NODE_VERSIONS)} description="Node.js version to build with"'
        )
    if build_type == "dockerfile":
        schema["docker"] = {
            "context": 'string | default=. description="Build context path"',
            "filePath": 'string | default=./Dockerfile description="Path to the Dockerfile"',
        }
    return schema


def pipeline(settings: Settings, build_type: BuildType) -> Pipeline:
    name, name_017, build_cwt, description = BUILD_TYPES[build_type]
    pipeline_name = settings.pipelines.names.get(build_type, name)
    return Pipeline(
        name=pipeline_name,
        build_type=build_type,
        description=(
            f"{description}: checkout-source -> build-image -> publish-image -> generate-workload-cr. "
            "Run it with workflowTemplateRef (the OpenChoreo ClusterWorkflow of the same name does)."
        ),
        arguments=_arguments(settings, build_type),
        steps=_steps(build_type, build_cwt),
        openchoreo_name=name,
        openchoreo_017_name=name_017,
        openchoreo_description=description,
        parameters_schema=parameters_schema(build_type),
        schema_017=schema_017(build_type),
    )


def default_pack(settings: Settings) -> Pack:
    """The pack as shipped: the step templates of every enabled build type and one pipeline per build type."""
    pack = Pack(settings=settings)
    types: list[BuildType] = list(dict.fromkeys(settings.pipelines.build_types))
    pack.add_step_template(checkout.step_template(settings))
    for build_type in types:
        if build_type in ("dockerfile", "react"):  # react: the containerfile build with its preset
            if contract.CWT_CONTAINERFILE_BUILD not in pack.step_templates:
                pack.add_step_template(build.step_template(settings))
        else:
            pack.add_step_template(buildpacks.step_template(settings, build_type))
    pack.add_step_template(publish_image.step_template(settings))
    pack.add_step_template(generate_workload.step_template(settings))
    for build_type in types:
        shipped = pipeline(settings, build_type)
        pack.pipelines[shipped.name] = shipped
    add_gitops_pipelines(pack)
    return pack


# ---------------------------------------------------------------------------------------------- GitOps delivery

GITOPS_SUFFIX = "-gitops"
# pipeline argument -> (settings.gitops field, description)
GITOPS_ARGUMENTS: dict[str, tuple[str, str]] = {
    "gitops-repo": ("repo_url", "GitOps repository URL"),
    "gitops-branch": ("base_branch", "base branch of the GitOps repository"),
    "gitops-path": ("path_root", "directory inside the GitOps repository occ's --root-dir points at"),
    "gitops-mode": ("mode", "pull-request or direct-push"),
    "gitops-forge": ("forge", "github or gitlab"),
    "gitops-forge-api-url": ("forge_api_url", "forge REST API base URL (empty: the forge's public API)"),
    "gitops-forge-project": ("forge_project", "owner/repo or project path (empty: from the repository URL)"),
    "gitops-target-env": ("target_env", "environment of the ReleaseBinding (empty: the pipeline's root)"),
}


def gitops_pipeline(settings: Settings, base: Pipeline) -> Pipeline:
    """The GitOps variant of a pipeline: the same steps, generate-workload-cr writes the CR only (api-mode off),
    then gitops-publish writes it, its ComponentRelease and ReleaseBinding into the GitOps repository."""
    gitops = settings.gitops
    variant = copy.deepcopy(base)
    variant.name = base.name + GITOPS_SUFFIX
    variant.openchoreo_name = base.openchoreo_name + GITOPS_SUFFIX
    variant.openchoreo_017_name = base.openchoreo_017_name + GITOPS_SUFFIX
    variant.description = base.description.replace(
        "generate-workload-cr.", "generate-workload-cr (CR only) -> gitops-publish (pull request in the GitOps repo)."
    )
    variant.openchoreo_description = base.openchoreo_description + ", delivered through a GitOps pull request"
    api_mode = variant.argument("api-mode")
    api_mode.default, api_mode.openchoreo, api_mode.openchoreo_017 = "off", "off", "off"
    for name, (setting, description) in GITOPS_ARGUMENTS.items():
        value = str(getattr(gitops, setting))
        if name == "gitops-repo":
            # Developers may name their GitOps repository per component (ClusterWorkflow parameter
            # gitops.repository); the platform's gitops.repo_url is the default.
            variant.add_argument(PipelineArgument(name, value or None, description, "${parameters.gitops.repository}"))
            continue
        variant.add_argument(PipelineArgument(name, value, description))
    variant.parameters_schema = copy.deepcopy(base.parameters_schema)
    variant.parameters_schema["properties"]["gitops"] = {
        "type": "object",
        "default": {},
        "description": "GitOps delivery",
        "properties": {
            "repository": {
                "type": "string",
                "default": gitops.repo_url,
                "description": "GitOps repository URL the release is written to (a pull request is opened there)",
            }
        },
    }
    variant.add_argument(
        PipelineArgument(
            gitops_publish.PARAM_GITOPS_SECRET,
            gitops.secret,
            "name of the Secret with the GitOps git credentials and the forge API token",
            RUN_GITOPS_SECRET,
        )
    )
    arguments = {name: _wf(name) for name in (*GITOPS_ARGUMENTS, gitops_publish.PARAM_GITOPS_SECRET)}
    arguments.update(
        {
            "namespace-name": _wf("namespace-name"),
            "project-name": _wf("project-name"),
            "component-name": _wf("component-name"),
            "image": step_output_ref(contract.STEP_PUBLISH, contract.OUT_IMAGE),
            "git-repo": _wf("git-repo"),
            "commit-sha": step_output_ref(contract.STEP_CHECKOUT, contract.OUT_COMMIT_SHA),
        }
    )
    step = PipelineStep(
        contract.STEP_GITOPS_PUBLISH, contract.CWT_GITOPS_PUBLISH, contract.TEMPLATE_GITOPS_PUBLISH, arguments
    )
    variant.insert_step(step, after=contract.STEP_GENERATE_WORKLOAD)
    return variant


def add_gitops_pipelines(pack: Pack) -> None:
    """With `gitops.pipelines`: the gitops-publish step template and a `<pipeline>-gitops` per pipeline."""
    if not pack.settings.gitops.pipelines:
        return
    pack.add_step_template(gitops_publish.step_template(pack.settings))
    for name in sorted(pack.pipelines):
        variant = gitops_pipeline(pack.settings, pack.pipelines[name])
        pack.pipelines[variant.name] = variant
