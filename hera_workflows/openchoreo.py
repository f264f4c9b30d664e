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

from typing import TYPE_CHECKING, Any

from steps.common import contract

if TYPE_CHECKING:
    from hera_workflows.pack import Pack, Pipeline, Resource

API_VERSION = "openchoreo.dev/v1alpha1"
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


def _secret_resources(secret_store: str) -> list[dict[str, Any]]:
    run = "${metadata.workflowRunName}"
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
                            "remoteRef": {"key": "registry-push-secret", "property": "value"},
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
            "resources": _secret_resources("${workflowplane.secretStore}"),
        },
    }


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
            "resources": _secret_resources(oc.v017_secret_store),
        },
    }


def resources(pack: Pack) -> list[Resource]:
    from hera_workflows.pack import FOLDER_OPENCHOREO, FOLDER_OPENCHOREO_017, Resource

    oc = pack.settings.openchoreo
    out: list[Resource] = []
    ordered = [pack.pipelines[name] for name in sorted(pack.pipelines)]
    if oc.cluster_workflows:
        out += [Resource(FOLDER_OPENCHOREO, p.openchoreo_name, cluster_workflow(pack, p)) for p in ordered]
    if oc.workflows_v017:
        out += [Resource(FOLDER_OPENCHOREO_017, p.openchoreo_017_name, workflow_017(pack, p)) for p in ordered]
    return out
