"""`publish-image` / `publish-image`: push /mnt/vol/app-image.tar to the registry (steps/publish_image, skopeo)."""

from __future__ import annotations

from hera_workflows.pack import blocks as c
from hera_workflows.pack.settings import Settings
from steps.common import compression, contract
from steps.publish_image.options import OPTIONS

DESCRIPTION = (
    "Push the built image (/mnt/vol/app-image.tar: OCI/docker archive or OCI layout) to "
    "<registry>/<image-name>:<image-tag>-<git-revision> without a daemon or privileges. "
    "Outputs image (repo:tag@sha256:...), image-url and image-digest. Retries only on exit code 75 (transient). "
    "The caller provides the `workspace` volume (PVC), mounted at /mnt/vol. Optional Secrets: "
    "`registry-push-secret` (.dockerconfigjson) and `registry-ca-secret` (*.crt)."
)


def registry_secrets(settings: Settings) -> list[c.SecretMount]:
    return c.optional_secrets(settings, c.PARAM_REGISTRY_PUSH_SECRET, c.PARAM_REGISTRY_CA_SECRET)


def step_template(settings: Settings) -> c.StepTemplate:
    required: dict[str, str] = {}
    if settings.openchoreo.step_defaults_from_workflow:
        required["registry"] = settings.publish.registry  # OpenChoreo's publish-image hard-codes its registry
    inputs, env = c.option_parameters(
        OPTIONS,
        settings=settings,
        required_defaults=required,
        defaults={
            "tls-verify": str(settings.publish.tls_verify).lower(),
            "push-retries": str(settings.publish.push_retries),
            compression.PARAM: settings.publish.layer_compression,
        },
    )
    container = c.secure_container(
        c.ContainerSpec(
            template=contract.TEMPLATE_PUBLISH,
            image=c.step_image(settings, contract.IMAGE_REPO_PUBLISH),
            command=c.step_command(contract.IMAGE_REPO_PUBLISH),
            settings=settings.steps.publish_image,
            inputs=inputs,
            env=[*env, *c.constant_env()],
            outputs=c.output_parameters([contract.OUT_IMAGE, contract.OUT_IMAGE_URL, contract.OUT_IMAGE_DIGEST]),
            secrets=registry_secrets(settings),
            retry_strategy=c.transient_retry_strategy(settings) if settings.publish.retry_limit else None,
        ),
        settings,
    )
    return c.StepTemplate(cwt=contract.CWT_PUBLISH, template=container, description=DESCRIPTION)
