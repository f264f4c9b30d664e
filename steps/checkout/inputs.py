"""Validation of the checkout step's inputs. Every error names the field (flag, env var, template parameter)
and never echoes a credential."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from steps.checkout.options import CheckoutOptionName, CheckoutOptions
from steps.common import giturl
from steps.common.cli import parse_bool
from steps.common.contract import EXIT_USAGE
from steps.common.giturl import SUPPORTED_URLS, RepoUrl
from steps.common.log import StepError

__all__ = ["SUPPORTED_URLS", "CheckoutRequest", "RepoUrl", "bad", "field", "parse_repo_url", "parse_request"]

_COMMIT = re.compile(r"[0-9a-fA-F]{7,40}")


def field(dest: CheckoutOptionName) -> str:
    """How an error names an option: `--flag (env VAR, parameter name)`."""
    return CheckoutOptions.label(dest)


def bad(dest: CheckoutOptionName, message: str) -> StepError:
    return StepError(f"{field(dest)}: {message}", EXIT_USAGE)


def parse_repo_url(value: str, dest: CheckoutOptionName = "repo") -> RepoUrl:
    """The repository URL (steps.common.giturl), errors naming the checkout option `dest`."""
    return giturl.parse_repo_url(value, field(dest))


def parse_commit(value: str) -> str:
    commit = value.strip()
    if commit and not _COMMIT.fullmatch(commit):
        raise bad("commit", f"expected a commit SHA of 7 to 40 hexadecimal characters, got {commit!r}")
    return commit.lower()


def parse_branch(value: str, git_env: Mapping[str, str], cwd: Path) -> str:
    """A branch name as `git check-ref-format --branch` accepts it; `refs/heads/x` is taken as `x`."""
    branch = value.strip()
    branch = branch.removeprefix("refs/heads/")
    if not branch:
        return ""
    problem = ""
    if branch.startswith("-"):
        problem = "must not start with '-'"
    elif "@{" in branch:
        problem = "must be a plain branch name (no @{...} expressions)"
    else:
        result = subprocess.run(
            ["git", "check-ref-format", "--branch", branch],
            env=dict(git_env),
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            problem = "not a valid branch name (git check-ref-format --branch refuses it)"
    if problem:
        raise bad("branch", f"{problem}: {value!r}")
    return branch


def parse_depth(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise bad("depth", f"expected a whole number >= 0 (0 = full history), got {value!r}")
    return int(text)


def parse_app_path(value: str) -> PurePosixPath:
    """A path relative to the repository root. A leading '/' is dropped (the shipped templates do the same);
    '..' is refused: the application must be inside the checkout."""
    text = value.strip() or "."
    if "\x00" in text:
        raise bad("app_path", "must not contain NUL characters")
    path = PurePosixPath(text.lstrip("/") or ".")
    if ".." in path.parts:
        raise bad("app_path", f"must stay inside the repository ('..' is not allowed), got {value!r}")
    return path


@dataclass(frozen=True)
class CheckoutRequest:
    repo: RepoUrl
    branch: str
    commit: str
    depth: int
    submodules: bool
    app_path: PurePosixPath
    dest: Path
    secret_dir: Path
    known_hosts: str


def parse_request(opts: CheckoutOptions, git_env: Mapping[str, str], cwd: Path) -> CheckoutRequest:
    repo = parse_repo_url(opts.repo)
    commit = parse_commit(opts.commit)
    branch = parse_branch(opts.branch, git_env, cwd)
    if not commit and not branch:
        raise StepError(
            f"nothing to check out: set {field('branch')} or {field('commit')} (a commit wins when both are set)",
            EXIT_USAGE,
        )
    dest_text = opts.dest.strip()
    if not dest_text:
        raise bad("dest", "must not be empty")
    secret_dir_text = opts.secret_dir.strip()
    return CheckoutRequest(
        repo=repo,
        branch=branch,
        commit=commit,
        depth=parse_depth(opts.depth or "1"),
        submodules=parse_bool(opts.submodules, field=field("submodules")),
        app_path=parse_app_path(opts.app_path),
        dest=Path(dest_text).absolute(),
        secret_dir=Path(secret_dir_text) if secret_dir_text else Path("/nonexistent"),
        known_hosts=opts.known_hosts,
    )
