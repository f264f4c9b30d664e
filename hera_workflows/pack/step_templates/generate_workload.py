"""`generate-workload` / `generate-workload-cr`: turn the workload descriptor + image into a Workload CR
(steps/generate_workload) and, when configured, deliver it through the OpenChoreo API.

The template is a Pod (container) template and its step is named `generate-workload-cr`, so OpenChoreo finds
it by templateName (v0.13-v0.15, inline pipelines), templateRef.template (v0.16) or displayName (v0.17). It
has no retryStrategy: a retried Pod would be displayed as `generate-workload-cr(0)` and not match.
"""

from __future__ import annotations

from hera.workflows import Parameter
from hera.workflows import models as m

from hera_workflows.pack import blocks as c
from hera_workflows.pack.settings import Settings
from steps.common import contract
from steps.generate_workload.options import OPTIONS

DESCRIPTION = (
    "Generate the OpenChoreo Workload CR for the published image from the app's workload.yaml descriptor "
    "(as `occ workload create` does), write it to /mnt/vol/workload-cr.yaml and emit it as output workload-cr; "
    "with api-mode workloads/legacy also upsert it through the OpenChoreo API (OAuth2 client credentials from "
    "the Secret named by `api-client-secret`). The caller provides the `workspace` volume (PVC) at /mnt/vol."
)


def step_template(settings: Settings) -> c.StepTemplate:
    api = settings.api
    inputs, env = c.option_parameters(
        OPTIONS,
        settings=settings,
        defaults={
            "openchoreo-profile": settings.openchoreo.profile,
            "api-mode": api.mode,
            "api-server-url": api.server_url,
            "api-server-host-header": api.host_header,
            "oauth-token-url": api.oauth_token_url,
            "oauth-host-header": api.oauth_host_header,
            "oauth-client-id": api.oauth_client_id,
            "oauth-scope": api.oauth_scope,
            "api-tls-verify": str(api.tls_verify).lower(),
        },
    )
    if settings.openchoreo.profile == "openchoreo-0.17" and settings.openchoreo.step_defaults_from_workflow:
        # OpenChoreo v0.17's own Workflows define no namespace-name (v0.17's occ had no --namespace) and its
        # controller overwrites the CR's namespace with the run's: any resolvable value does.
        for parameter in inputs:
            if parameter.name == "namespace-name":
                parameter.default = "{{workflow.namespace}}"
    outputs = [
        Parameter(
            name=contract.OUT_WORKLOAD_CR,
            value_from=m.ValueFrom(path=contract.output_file(contract.OUT_WORKLOAD_CR)),
        )
    ]
    container = c.secure_container(
        c.ContainerSpec(
            template=contract.TEMPLATE_GENERATE_WORKLOAD,
            image=c.step_image(settings, contract.IMAGE_REPO_GENERATE_WORKLOAD),
            command=c.step_command(contract.IMAGE_REPO_GENERATE_WORKLOAD),
            settings=settings.steps.generate_workload,
            inputs=inputs,
            env=[*env, *c.constant_env()],
            outputs=outputs,
            secrets=c.optional_secrets(settings, c.PARAM_API_CLIENT_SECRET, c.PARAM_API_CA_SECRET),
        ),
        settings,
    )
    return c.StepTemplate(cwt=contract.CWT_GENERATE_WORKLOAD, template=container, description=DESCRIPTION)
