"""Options of the gitops-publish step. The Hera module renders every option with a `param` as a template input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from steps.common import contract
from steps.common.cli import Option, StepOptions

MODES = ("pull-request", "direct-push")

OPTIONS: list[Option] = [
    Option(
        "repo",
        ("--gitops-repo",),
        "GITOPS_REPO",
        "GitOps repository URL (https://, ssh:// or git@host:path)",
        required=True,
        param="gitops-repo",
    ),
    Option("base_branch", ("--gitops-branch",), "GITOPS_BRANCH", "base branch", default="main", param="gitops-branch"),
    Option(
        "path_root",
        ("--gitops-path",),
        "GITOPS_PATH",
        "directory inside the repository occ's --root-dir points at (empty: the repository root)",
        default="",
        param="gitops-path",
    ),
    Option(
        "mode",
        ("--gitops-mode",),
        "GITOPS_MODE",
        "pull-request (push release/<component>-<revision> and open/update a pull request) or direct-push",
        default="pull-request",
        param="gitops-mode",
    ),
    Option("forge", ("--forge",), "GITOPS_FORGE", "github or gitlab", default="github", param="gitops-forge"),
    Option(
        "forge_api_url",
        ("--forge-api-url",),
        "GITOPS_FORGE_API_URL",
        "the forge's REST API base URL (empty: https://api.github.com or https://gitlab.com/api/v4)",
        default="",
        param="gitops-forge-api-url",
    ),
    Option(
        "forge_project",
        ("--forge-project",),
        "GITOPS_FORGE_PROJECT",
        "owner/repo (GitHub) or project path (GitLab); empty: from the repository URL's path",
        default="",
        param="gitops-forge-project",
    ),
    Option(
        "target_env",
        ("--target-env",),
        "GITOPS_TARGET_ENV",
        "environment of the ReleaseBinding (empty: the root of the project's deployment pipeline)",
        default="",
        param="gitops-target-env",
    ),
    Option(
        "namespace", ("--namespace",), "NAMESPACE_NAME", "OpenChoreo namespace", required=True, param="namespace-name"
    ),
    Option("project", ("--project",), "PROJECT_NAME", "OpenChoreo project", required=True, param="project-name"),
    Option(
        "component", ("--component",), "COMPONENT_NAME", "OpenChoreo component", required=True, param="component-name"
    ),
    Option("image", ("--image",), "IMAGE", "the published image (repo:tag@sha256:...)", required=True, param="image"),
    Option(
        "source_repo",
        ("--source-repo",),
        "SOURCE_GIT_REPO",
        "source repository URL, named in the commit message",
        default="",
        param="git-repo",
    ),
    Option(
        "source_commit",
        ("--source-commit",),
        "SOURCE_COMMIT_SHA",
        "source commit (40 hex characters); names the release and the branch",
        required=True,
        param="commit-sha",
    ),
    Option(
        "workload_cr",
        ("--workload-cr",),
        "WORKLOAD_CR_FILE",
        "the Workload CR generate-workload-cr wrote",
        default=contract.WORKLOAD_CR_FILE,
    ),
    Option(
        "secret_dir",
        ("--secret-dir",),
        "GITOPS_SECRET_DIR",
        "mounted GitOps Secret: ssh-privatekey (+known_hosts) or password (+username), and token for the forge API",
        default=contract.GITOPS_SECRET_DIR,
    ),
    Option(
        "known_hosts",
        ("--known-hosts",),
        "GITOPS_SSH_KNOWN_HOSTS",
        "known_hosts lines for SSH (else the Secret's known_hosts key)",
        default="",
        param="gitops-ssh-known-hosts",
    ),
    Option(
        "push_retries",
        ("--push-retries",),
        "GITOPS_PUSH_RETRIES",
        "how often a push that lost a race (the branch moved) is redone on the new tip",
        default="3",
        param="gitops-push-retries",
    ),
    Option("author_name", ("--author-name",), "GITOPS_AUTHOR_NAME", "commit author name", default="OpenChoreo CI Pack"),
    Option(
        "author_email",
        ("--author-email",),
        "GITOPS_AUTHOR_EMAIL",
        "commit author e-mail",
        default="ci-pack@openchoreo.dev",
    ),
]


# The option names, checked by mypy where a name is passed as text (`GitopsPublishOptions.label("...")`).
GitopsPublishOptionName = Literal[
    "repo",
    "base_branch",
    "path_root",
    "mode",
    "forge",
    "forge_api_url",
    "forge_project",
    "target_env",
    "namespace",
    "project",
    "component",
    "image",
    "source_repo",
    "source_commit",
    "workload_cr",
    "secret_dir",
    "known_hosts",
    "push_retries",
    "author_name",
    "author_email",
]


@dataclass(frozen=True)
class GitopsPublishOptions(StepOptions[GitopsPublishOptionName]):
    """The gitops-publish options, typed (fields = the dests of `OPTIONS`)."""

    OPTIONS: ClassVar[Sequence[Option]] = OPTIONS

    repo: str
    base_branch: str
    path_root: str
    mode: str
    forge: str
    forge_api_url: str
    forge_project: str
    target_env: str
    namespace: str
    project: str
    component: str
    image: str
    source_repo: str
    source_commit: str
    workload_cr: str
    secret_dir: str
    known_hosts: str
    push_retries: str
    author_name: str
    author_email: str
