"""Git credentials of checkout-source: the shared code in steps/common/gitauth.py (gitops-publish uses it too),
with the checkout step's repository URL type."""

from __future__ import annotations

from pathlib import Path

from steps.checkout.inputs import RepoUrl
from steps.common import gitauth
from steps.common.gitauth import (
    DEFAULT_USERNAME,
    KEY_KNOWN_HOSTS,
    KEY_PASSWORD,
    KEY_SSH_PRIVATE_KEY,
    KEY_USERNAME,
    SECRET_KEYS,
    GitSecret,
    read_secret,
    ssh_env,
)
from steps.common.log import StepLogger

__all__ = [
    "DEFAULT_USERNAME",
    "KEY_KNOWN_HOSTS",
    "KEY_PASSWORD",
    "KEY_SSH_PRIVATE_KEY",
    "KEY_USERNAME",
    "SECRET_KEYS",
    "GitSecret",
    "askpass_env",
    "read_secret",
    "ssh_env",
]


def askpass_env(secret: GitSecret, repo: RepoUrl, tmp: Path, log: StepLogger) -> dict[str, str]:
    """GIT_ASKPASS helper + a 0600 credentials file for `repo`'s origin (see steps.common.gitauth)."""
    return gitauth.askpass_env(secret, repo.url, tmp, log)
