"""Options of the checkout step. The Hera module renders every option with a `param` as a template input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from steps.common import contract
from steps.common.cli import Option, StepOptions

OPTIONS: list[Option] = [
    Option(
        "repo",
        ("--repo",),
        "GIT_REPO",
        "git repository URL (https://, ssh://, git@host:path or file://)",
        required=True,
        param="git-repo",
    ),
    Option(
        "branch",
        ("--branch",),
        "GIT_BRANCH",
        "branch to clone (ignored when --commit is set)",
        default="",
        param="branch",
    ),
    Option(
        "commit",
        ("--commit",),
        "GIT_COMMIT",
        "commit SHA to check out (7-40 hex characters)",
        default="",
        param="commit",
    ),
    Option(
        "app_path",
        ("--app-path",),
        "APP_PATH",
        "application directory inside the repository; must exist",
        default=".",
        param="app-path",
    ),
    Option(
        "submodules",
        ("--submodules",),
        "GIT_SUBMODULES",
        "also fetch submodules (recursive, shallow)",
        default="false",
        param="submodules",
    ),
    Option("depth", ("--depth",), "GIT_DEPTH", "clone depth (0 = full history)", default="1", param="depth"),
    Option("dest", ("--dest",), "SOURCE_DIR", "where to clone", default=contract.SOURCE_DIR),
    Option(
        "secret_dir",
        ("--secret-dir",),
        "GIT_SECRET_DIR",
        "mounted git secret: ssh-privatekey (+known_hosts) or password (+username)",
        default=contract.GIT_SECRET_DIR,
    ),
    Option(
        "known_hosts",
        ("--known-hosts",),
        "GIT_SSH_KNOWN_HOSTS",
        "known_hosts lines for SSH (else the secret's known_hosts key)",
        default="",
        param="ssh-known-hosts",
    ),
]


# The option names, checked by mypy where a name is passed as text (`CheckoutOptions.label("...")`).
CheckoutOptionName = Literal[
    "repo",
    "branch",
    "commit",
    "app_path",
    "submodules",
    "depth",
    "dest",
    "secret_dir",
    "known_hosts",
]


@dataclass(frozen=True)
class CheckoutOptions(StepOptions[CheckoutOptionName]):
    """The checkout-source options, typed (fields = the dests of `OPTIONS`)."""

    OPTIONS: ClassVar[Sequence[Option]] = OPTIONS

    repo: str
    branch: str
    commit: str
    app_path: str
    submodules: str
    depth: str
    dest: str
    secret_dir: str
    known_hosts: str
