"""Validation of the checkout step's inputs. Every error names the field (flag, env var, template parameter)
and never echoes a credential."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from steps.checkout.options import CheckoutOptionName, CheckoutOptions
from steps.common.cli import parse_bool
from steps.common.contract import EXIT_USAGE
from steps.common.log import StepError, redactor

_COMMIT = re.compile(r"[0-9a-fA-F]{7,40}")
# [user@]host:path, scp-like syntax (git treats it as ssh when a ':' comes before any '/').
_SCP = re.compile(r"(?P<user>[A-Za-z0-9._~+-]+)@(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?P<path>.+)")
_SCP_WITH_PASSWORD = re.compile(r"[^@/:\s]+:[^@/\s]*@[^@/\s]+:")
SUPPORTED_URLS = "https://host/path, http://host/path, ssh://[user@]host[:port]/path, user@host:path or file:///path"


def field(dest: CheckoutOptionName) -> str:
    """How an error names an option: `--flag (env VAR, parameter name)`."""
    return CheckoutOptions.label(dest)


def bad(dest: CheckoutOptionName, message: str) -> StepError:
    return StepError(f"{field(dest)}: {message}", EXIT_USAGE)


@dataclass(frozen=True)
class RepoUrl:
    url: str
    transport: str  # https, http, ssh or file
    host: str  # empty for file://

    @property
    def is_ssh(self) -> bool:
        return self.transport == "ssh"

    @property
    def is_http(self) -> bool:
        return self.transport in ("http", "https")

    def as_ssh(self) -> RepoUrl:
        """`https://host/org/repo.git` -> `git@host:org/repo.git`, as OpenChoreo's template did when the git
        secret held an SSH key. The HTTPS port is dropped: SSH uses its own."""
        path = urlsplit(self.url).path.lstrip("/")
        return RepoUrl(f"git@{self.host}:{path}", "ssh", self.host)


def _credentials_error(dest: CheckoutOptionName, userinfo: str) -> StepError:
    redactor.add(userinfo, *userinfo.split(":", 1))
    return bad(
        dest,
        "credentials must not be embedded in the URL (found user information before '@'): remove them and put "
        "username/password (or an SSH key) in the git secret",
    )


def parse_repo_url(value: str, dest: CheckoutOptionName = "repo") -> RepoUrl:
    url = value.strip()
    if not url:
        raise bad(dest, "must not be empty")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise bad(dest, "must not contain whitespace or control characters")
    if url.startswith("-"):
        raise bad(dest, "must not start with '-'")
    scheme_match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise bad(dest, f"not a valid URL ({error})") from error
        del port
        if scheme in ("http", "https"):
            if "@" in parts.netloc:
                raise _credentials_error(dest, parts.netloc.rsplit("@", 1)[0])
            if not parts.hostname:
                raise bad(dest, f"no host in {url!r}")
            return RepoUrl(url, scheme, parts.hostname)
        if scheme == "ssh":
            if parts.password is not None:
                raise _credentials_error(dest, parts.netloc.rsplit("@", 1)[0])
            if not parts.hostname or not parts.path.strip("/"):
                raise bad(dest, f"expected ssh://[user@]host[:port]/path, got {url!r}")
            return RepoUrl(url, "ssh", parts.hostname)
        if scheme == "file":
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise bad(dest, f"expected file:///absolute/path, got {url!r}")
            return RepoUrl(url, "file", "")
        raise bad(dest, f"unsupported URL scheme {scheme!r}: use {SUPPORTED_URLS}")
    if _SCP_WITH_PASSWORD.match(url):
        raise _credentials_error(dest, url.split("@", 1)[0])
    scp = _SCP.fullmatch(url)
    if scp:
        return RepoUrl(url, "ssh", scp.group("host").strip("[]"))
    raise bad(dest, f"unsupported repository URL {url!r}: use {SUPPORTED_URLS}")


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
