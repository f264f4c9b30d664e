"""OpenChoreo resources that run the pack's pipelines.

- `templates/openchoreo/`: one `ClusterWorkflow` (OpenChoreo v1.x, openchoreo.dev/v1alpha1) per pipeline. Its
  runTemplate is an Argo Workflow with `workflowTemplateRef` to the pipeline ClusterWorkflowTemplate of the same
  name; parameters follow OpenChoreo's shipped ClusterWorkflows (§4.3), including the git and registry
  ExternalSecrets.
- `templates/openchoreo-0.17/`: the v0.17 `Workflow` form (namespaced, buildPlaneRef, shorthand schema,
  `openchoreo.dev/workflow-scope` and `openchoreo.dev/component-workflow-parameters` annotations).

Each folder has its own kustomization.yaml and is not part of `templates/kustomization.yaml`, so the Argo part of
the pack installs on a cluster without OpenChoreo's CRDs.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from hera.workflows import Parameter

from hera_workflows.pack.blocks import StepTemplate, workflow_param_ref
from hera_workflows.pack.documents import FOLDER_OPENCHOREO, FOLDER_OPENCHOREO_017, Resource
from hera_workflows.pack.step_templates import build, buildpacks
from steps.common import contract

if TYPE_CHECKING:
    from hera_workflows.pack.model import Pack, Pipeline

API_VERSION = contract.OPENCHOREO_API_VERSION
ESO_API_VERSION = "external-secrets.io/v1"
GIT_SECRET_REF = "git-secret-reference"


def _labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": contract.PACK_NAME,
        "app.kubernetes.io/version": contract.PACK_VERSION,
    }


def _run_template(pipeline: Pipeline, namespace: str, service_account: str, legacy: bool) -> dict[str, Any]:
    parameters = []
    for argument in pipeline.arguments:
        value = argument.openchoreo_017 if legacy else argument.openchoreo
        if value is not None:
            parameters.append({"name": argument.name, "value": value})
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "${metadata.workflowRunName}", "namespace": namespace},
        "spec": {
            "arguments": {"parameters": parameters},
            "serviceAccountName": service_account,
            "entrypoint": contract.PIPELINE_ENTRYPOINT,
            "workflowTemplateRef": {"name": pipeline.name, "clusterScope": True},
        },
    }


RUN = "${metadata.workflowRunName}"
# Secrets each run's namespace gets from the ClusterWorkflow's resources (OpenChoreo creates `workflows-<ns>`
# lazily, so nothing can be put there beforehand). The runTemplate passes these names to the pipeline.
RUN_API_CLIENT_SECRET = RUN + "-workload-publisher"
RUN_API_CA_SECRET = RUN + "-api-ca"
RUN_GITOPS_SECRET = RUN + "-gitops-secret"


def _remote_ref(key: str, prop: str, v017: bool) -> dict[str, str]:
    """v1.x reads one property of the key; v0.17's ExternalSecrets name the key only."""
    return {"key": key} if v017 or not prop else {"key": key, "property": prop}


def _external_secret(
    resource_id: str, name: str, store: dict[str, str], target: dict[str, Any], data: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": resource_id,
        "template": {
            "apiVersion": ESO_API_VERSION,
            "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": "${metadata.namespace}"},
            "spec": {
                "refreshInterval": "15s",
                "secretStoreRef": store,
                "target": {"name": name, "creationPolicy": "Owner", **target},
                "data": data,
            },
        },
    }


def _api_secret_resources(pack: Pack, secret_store: str) -> list[dict[str, Any]]:
    """The OAuth2 client secret and the API CA of generate-workload-cr, as ExternalSecrets in the run's namespace."""
    api = pack.settings.api
    store = {"kind": "ClusterSecretStore", "name": secret_store}
    out = [
        _external_secret(
            "workload-publisher-secret",
            RUN_API_CLIENT_SECRET,
            store,
            {},
            [
                {
                    "secretKey": "client-secret",
                    "remoteRef": _remote_ref(api.client_secret_remote_key, api.client_secret_remote_property, False),
                }
            ],
        )
    ]
    if api.ca_remote_key:
        out.append(
            _external_secret(
                "api-ca",
                RUN_API_CA_SECRET,
                store,
                {},
                [{"secretKey": "ca.crt", "remoteRef": _remote_ref(api.ca_remote_key, api.ca_remote_property, False)}],
            )
        )
    return out


def _executor_token_resource(pack: Pack) -> list[dict[str, Any]]:
    """The step Pods mount no service-account token; Argo mounts the executor service account's token Secret
    (`<sa>.service-account-token`) into its own init/wait containers, so the run's namespace needs it."""
    security = pack.settings.security
    if security.automount_service_account_token or not pack.settings.openchoreo.executor_token_secret:
        return []
    account = security.executor_service_account
    return [
        {
            "id": "executor-token",
            "template": {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": f"{account}.service-account-token",
                    "namespace": "${metadata.namespace}",
                    "annotations": {"kubernetes.io/service-account.name": account},
                },
                "type": "kubernetes.io/service-account-token",
            },
        }
    ]


def _secret_resources(secret_store: str, *, v017: bool = False) -> list[dict[str, Any]]:
    run = RUN
    ref = f"externalRefs['{GIT_SECRET_REF}']"
    git_data = (
        "${" + ref + ".spec.data.map(secret, {\n"
        '  "secretKey": secret.secretKey,\n'
        '  "remoteRef": {\n'
        '    "key": secret.remoteRef.key,\n'
        '    "property": has(secret.remoteRef.property) && secret.remoteRef.property != "" '
        "? secret.remoteRef.property : oc_omit()\n"
        "  }\n"
        "})}\n"
    )
    store = {"kind": "ClusterSecretStore", "name": secret_store}
    return [
        {
            "id": "git-secret",
            "includeWhen": '${has(parameters.repository.secretRef) && parameters.repository.secretRef != ""}',
            "template": {
                "apiVersion": ESO_API_VERSION,
                "kind": "ExternalSecret",
                "metadata": {"name": f"{run}-git-secret", "namespace": "${metadata.namespace}"},
                "spec": {
                    "refreshInterval": "15s",
                    "secretStoreRef": store,
                    "target": {
                        "name": f"{run}-git-secret",
                        "creationPolicy": "Owner",
                        "template": {"type": "${" + ref + ".spec.template.type}"},
                    },
                    "data": git_data,
                },
            },
        },
        {
            "id": "registry-push-secret",
            "template": {
                "apiVersion": ESO_API_VERSION,
                "kind": "ExternalSecret",
                "metadata": {"name": f"{run}-registry-push-secret", "namespace": "${metadata.namespace}"},
                "spec": {
                    "refreshInterval": "15s",
                    "secretStoreRef": store,
                    "target": {
                        "name": f"{run}-registry-push-secret",
                        "creationPolicy": "Owner",
                        "template": {
                            "type": "kubernetes.io/dockerconfigjson",
                            "data": {".dockerconfigjson": "{{ .registrysecret | toString }}"},
                        },
                    },
                    "data": [
                        {
                            "secretKey": "registrysecret",
                            "remoteRef": _remote_ref("registry-push-secret", "value", v017),
                        }
                    ],
                },
            },
        },
    ]


def _external_refs() -> list[dict[str, str]]:
    return [
        {
            "id": GIT_SECRET_REF,
            "apiVersion": API_VERSION,
            "kind": "SecretReference",
            "name": "${parameters.repository.secretRef}",
        }
    ]


def cluster_workflow(pack: Pack, pipeline: Pipeline) -> dict[str, Any]:
    oc = pack.settings.openchoreo
    labels = {"openchoreo.dev/workflow-type": "component", **_labels(pipeline.openchoreo_name)}
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterWorkflow",
        "metadata": {
            "name": pipeline.openchoreo_name,
            "labels": labels,
            "annotations": {"openchoreo.dev/description": pipeline.openchoreo_description},
        },
        "spec": {
            "workflowPlaneRef": {"kind": "ClusterWorkflowPlane", "name": oc.workflow_plane},
            "ttlAfterCompletion": oc.ttl_after_completion,
            "parameters": {"openAPIV3Schema": pipeline.parameters_schema},
            "runTemplate": _run_template(pipeline, "${metadata.namespace}", oc.service_account, legacy=False),
            "externalRefs": _external_refs(),
            "resources": [
                *_secret_resources("${workflowplane.secretStore}"),
                *_api_secret_resources(pack, "${workflowplane.secretStore}"),
                *_executor_token_resource(pack),
                *_gitops_secret_resources(pack, pipeline, "${workflowplane.secretStore}"),
            ],
        },
    }


def _is_gitops(pipeline: Pipeline) -> bool:
    return contract.STEP_GITOPS_PUBLISH in pipeline.step_names()


def _gitops_secret_resources(pack: Pack, pipeline: Pipeline, secret_store: str) -> list[dict[str, Any]]:
    """GitOps pipelines: the GitOps Secret (git credentials + forge token) in the run's namespace, every property
    of the secret-store key `gitops.secret_remote_key` as one key."""
    if not _is_gitops(pipeline):
        return []
    store = {"kind": "ClusterSecretStore", "name": secret_store}
    body = _external_secret("gitops-secret", RUN_GITOPS_SECRET, store, {}, [])
    spec = body["template"]["spec"]
    del spec["data"]
    spec["dataFrom"] = [{"extract": {"key": pack.settings.gitops.secret_remote_key}}]
    return [body]


def workflow_017(pack: Pack, pipeline: Pipeline) -> dict[str, Any]:
    oc = pack.settings.openchoreo
    mapping = "\n".join(
        [
            "repoUrl: parameters.repository.url",
            "branch: parameters.repository.revision.branch",
            "commit: parameters.repository.revision.commit",
            "appPath: parameters.repository.appPath",
            "secretRef: parameters.repository.secretRef",
        ]
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "name": pipeline.openchoreo_017_name,
            "namespace": oc.v017_namespace,
            "labels": _labels(pipeline.openchoreo_017_name),
            "annotations": {
                "openchoreo.dev/description": pipeline.openchoreo_description,
                "openchoreo.dev/workflow-scope": "component",
                "openchoreo.dev/component-workflow-parameters": mapping + "\n",
            },
        },
        "spec": {
            "buildPlaneRef": {"kind": "BuildPlane", "name": oc.v017_build_plane},
            "ttlAfterCompletion": oc.ttl_after_completion,
            "schema": {"parameters": pipeline.schema_017},
            "runTemplate": _run_template(
                pipeline, "openchoreo-ci-${metadata.namespaceName}", oc.service_account, legacy=True
            ),
            "externalRefs": _external_refs(),
            "resources": [*_secret_resources(oc.v017_secret_store, v017=True), *_executor_token_resource(pack)],
        },
    }


# Workflow parameters every OpenChoreo v0.17 Workflow defines (samples/getting-started/workflows@v0.17.0), and
# the extra ones of the Workflow that calls each build template.
V017_WORKFLOW_PARAMETERS = frozenset(
    {
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
    }
)
V017_EXTRA_PARAMETERS = {
    "docker": frozenset({"docker-context", "dockerfile-path"}),
    "react": frozenset({"node-version"}),
}
# v0.17's build ClusterWorkflowTemplate names -> the pack's step template they alias.
V017_BUILD_TEMPLATES = {
    "docker": contract.CWT_CONTAINERFILE_BUILD,
    "google-cloud-buildpacks": contract.CWT_GCP_BUILD,
    "ballerina-buildpack": contract.CWT_BALLERINA_BUILD,
    "react": contract.CWT_CONTAINERFILE_BUILD,
}
V017_TEMPLATE_PREFIX = "template-"
_WORKFLOW_REF = re.compile(r"^\{\{workflow\.parameters\.([A-Za-z0-9_-]+)\}\}$")


def _explicit_defaults(pack: Pack, cwt: str) -> dict[str, str | None]:
    """Input defaults of step template `cwt` rendered without workflow-parameter defaults."""
    settings = pack.settings.model_copy(deep=True)
    settings.openchoreo.step_defaults_from_workflow = False
    by_cwt = {
        contract.CWT_CONTAINERFILE_BUILD: lambda: build.step_template(settings),
        contract.CWT_GCP_BUILD: lambda: buildpacks.step_template(settings, "gcp-buildpacks"),
        contract.CWT_BALLERINA_BUILD: lambda: buildpacks.step_template(settings, "ballerina-buildpack"),
    }
    inputs = by_cwt[cwt]().template.inputs
    items = inputs if isinstance(inputs, list) else []
    return {p.name: None if p.default is None else str(p.default) for p in items if isinstance(p, Parameter) and p.name}


def v017_build_templates(pack: Pack) -> list[Resource]:
    """v0.17's build ClusterWorkflowTemplates (`docker`, `google-cloud-buildpacks`, `ballerina-buildpack`,
    `react`) as aliases of the pack's build steps, so v0.17's own Workflows (which call them by these names with
    only `git-revision`) run the pack's steps. Inputs default to the workflow parameters v0.17's Workflows define,
    everything else to the step's own defaults."""
    out: list[Resource] = []
    drop_in = pack.settings.openchoreo.step_defaults_from_workflow
    for name, source in V017_BUILD_TEMPLATES.items():
        step = pack.step_templates.get(source)
        if step is None:
            continue
        template = copy.deepcopy(step.template)
        explicit = _explicit_defaults(pack, source)
        overrides: dict[str, str] = {}
        if name == "react":
            overrides = {"preset": "react"}
            if drop_in:
                overrides |= {
                    "docker-context": workflow_param_ref("app-path"),
                    "node-version": workflow_param_ref("node-version"),
                }
        inputs = template.inputs if isinstance(template.inputs, list) else []
        for parameter in inputs:
            if not isinstance(parameter, Parameter) or parameter.name is None:
                continue
            match = _WORKFLOW_REF.match(str(parameter.default or ""))
            defined = V017_WORKFLOW_PARAMETERS | V017_EXTRA_PARAMETERS.get(name, frozenset())
            if match and match.group(1) not in defined:
                parameter.default = explicit.get(parameter.name)
            if parameter.name in overrides:
                parameter.default = overrides[parameter.name]
        description = (
            f"OpenChoreo v0.17's `{name}` build template name for the pack's `{source}` step. {step.description}"
        )
        body = StepTemplate(cwt=name, template=template, description=description).to_dict()
        out.append(Resource(FOLDER_OPENCHOREO_017, V017_TEMPLATE_PREFIX + name, body))
    return out


def resources(pack: Pack) -> list[Resource]:
    oc = pack.settings.openchoreo
    out: list[Resource] = []
    ordered = [pack.pipelines[name] for name in sorted(pack.pipelines)]
    if oc.cluster_workflows:
        out += [Resource(FOLDER_OPENCHOREO, p.openchoreo_name, cluster_workflow(pack, p)) for p in ordered]
    if oc.workflows_v017:
        # The GitOps variants are for OpenChoreo v1.x only (v0.17 applies the Workload from the output contract).
        legacy = [p for p in ordered if not _is_gitops(p)]
        out += [Resource(FOLDER_OPENCHOREO_017, p.openchoreo_017_name, workflow_017(pack, p)) for p in legacy]
        out += v017_build_templates(pack)
    return out
