"""`checkout-source` / `checkout`: clone the repository into /mnt/vol/source (steps/checkout)."""

from __future__ import annotations

from hera_workflows.pack import blocks as c
from hera_workflows.pack.settings import Settings
from steps.checkout.options import OPTIONS
from steps.common import contract

DESCRIPTION = (
    "Clone a git repository (branch or commit, optional app path check) into /mnt/vol/source. "
    "Outputs git-revision (first 8 characters of the commit) and commit-sha. "
    "The caller provides the `workspace` volume (PVC), mounted at /mnt/vol. "
    "Git credentials: optional Secret named by `git-secret` (ssh-privatekey [+known_hosts] or password [+username])."
)


def step_template(settings: Settings) -> c.StepTemplate:
    inputs, env = c.option_parameters(OPTIONS, settings=settings)
    container = c.secure_container(
        c.ContainerSpec(
            template=contract.TEMPLATE_CHECKOUT,
            image=c.step_image(settings, contract.IMAGE_REPO_CHECKOUT),
            command=c.step_command(contract.IMAGE_REPO_CHECKOUT),
            settings=settings.steps.checkout,
            inputs=inputs,
            env=[*env, *c.constant_env()],
            outputs=c.output_parameters([contract.OUT_GIT_REVISION, contract.OUT_COMMIT_SHA]),
            secrets=c.optional_secrets(settings, c.PARAM_GIT_SECRET),
        ),
        settings,
    )
    return c.StepTemplate(cwt=contract.CWT_CHECKOUT, template=container, description=DESCRIPTION)
