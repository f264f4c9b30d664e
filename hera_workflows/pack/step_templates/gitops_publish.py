"""`gitops-publish` / `gitops-publish`: write the Workload CR generate-workload-cr wrote, its ComponentRelease and
ReleaseBinding into a GitOps repository as `occ` v1.2.3's file-system mode does, commit, push and open or update a
pull request (steps/gitops_publish). The last step of the `<pipeline>-gitops` pipelines."""

from __future__ import annotations

from hera_workflows.pack import blocks as c
from hera_workflows.pack.settings import Settings
from steps.common import contract
from steps.gitops_publish.options import OPTIONS

PARAM_GITOPS_SECRET = "gitops-secret"

DESCRIPTION = (
    "Write the Workload (/mnt/vol/workload-cr.yaml), its ComponentRelease and ReleaseBinding into a GitOps "
    "repository exactly as `occ` file-system mode does, commit (message names the source repository, commit and "
    "image digest), push release/<component>-<revision> (or the base branch with gitops-mode direct-push) and open "
    "or update the pull request through the GitHub or GitLab API. Outputs gitops-commit, gitops-branch and "
    "pull-request-url. Credentials: the Secret named by `gitops-secret` (ssh-privatekey + known_hosts, or username + "
    "password; token for the forge API). Retries only on exit code 75 (transient)."
)


def step_template(settings: Settings) -> c.StepTemplate:
    gitops = settings.gitops
    inputs, env = c.option_parameters(
        OPTIONS,
        settings=settings,
        defaults={
            "gitops-branch": gitops.base_branch,
            "gitops-path": gitops.path_root,
            "gitops-mode": gitops.mode,
            "gitops-forge": gitops.forge,
            "gitops-forge-api-url": gitops.forge_api_url,
            "gitops-forge-project": gitops.forge_project,
            "gitops-target-env": gitops.target_env,
        },
        required_defaults={"gitops-repo": gitops.repo_url} if gitops.repo_url else {},
    )
    container = c.secure_container(
        c.ContainerSpec(
            template=contract.TEMPLATE_GITOPS_PUBLISH,
            image=c.step_image(settings, contract.IMAGE_REPO_GITOPS_PUBLISH),
            command=c.step_command(contract.IMAGE_REPO_GITOPS_PUBLISH),
            settings=settings.steps.gitops_publish,
            inputs=inputs,
            env=[*env, *c.constant_env()],
            outputs=c.output_parameters(
                [contract.OUT_GITOPS_COMMIT, contract.OUT_GITOPS_BRANCH, contract.OUT_PULL_REQUEST_URL]
            ),
            secrets=[
                c.SecretMount(
                    volume="gitops-secret",
                    param=PARAM_GITOPS_SECRET,
                    default=gitops.secret,
                    mount_path=contract.GITOPS_SECRET_DIR,
                    description="name of the Secret with the GitOps git credentials and the forge API token (key "
                    "token)",
                )
            ],
            retry_strategy=c.transient_retry_strategy(settings) if settings.publish.retry_limit else None,
        ),
        settings,
    )
    return c.StepTemplate(cwt=contract.CWT_GITOPS_PUBLISH, template=container, description=DESCRIPTION)
