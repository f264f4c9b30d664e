"""checkout-source: clone one branch or one commit of a git repository into the workspace.

Order of work: validate every input (nothing touched yet) -> read the git secret and prepare authentication in
a private temp dir -> clone/fetch (shallow) -> submodules -> check the application path -> write the output
parameters, all or nothing. On any failure the destination is emptied again and no output file is written.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from steps.checkout.auth import askpass_env, read_secret, ssh_env
from steps.checkout.inputs import CheckoutRequest, RepoUrl, bad, field, parse_request
from steps.checkout.options import CheckoutOptions
from steps.common import contract, gitcmd
from steps.common.gitcmd import Git
from steps.common.log import StepError, StepLogger
from steps.common.outputs import Outputs

PROG = "python -m steps.checkout"
DESCRIPTION = (
    "Clone a branch or a commit of a git repository (shallow, optional submodules) into the workspace and write "
    "the output parameters git-revision and commit-sha."
)

# What a server says when it will not serve a commit that is not the tip of a ref.
_REFUSED_BY_SHA = re.compile(
    r"unadvertised object|not our ref|couldn't find remote ref|no such remote ref|not a valid object", re.IGNORECASE
)


def base_env(tmp: Path, repo: RepoUrl | None = None) -> dict[str, str]:
    """The shared private git environment (steps.common.gitcmd), limited to the repository's transport."""
    return gitcmd.base_env(tmp, None if repo is None else repo.transport)


def configure_auth(request: CheckoutRequest, tmp: Path, log: StepLogger) -> tuple[RepoUrl, dict[str, str]]:
    """Pick the authentication from the secret and the URL. Returns the URL to clone (an https URL becomes
    SSH when the secret holds only an SSH key, as OpenChoreo's template did) and the environment for git."""
    secret = read_secret(request.secret_dir, log)
    repo = request.repo
    if repo.transport == "https" and secret.ssh_private_key and not secret.password:
        repo = repo.as_ssh()
        log.info(f"the git secret holds an SSH key: cloning {request.repo.url} over SSH as {repo.url}")
    if repo.is_ssh:
        if secret.password and not secret.ssh_private_key:
            log.warning("the git secret holds a password but the repository URL is SSH: the password is not used")
        env, source = ssh_env(secret, request.known_hosts, tmp, log)
        key = "the git secret's SSH key" if secret.ssh_private_key else "no key (anonymous)"
        log.info(f"auth: SSH with {key}, host keys from {source}, strict host key checking")
        return repo, env
    if repo.is_http and secret.password:
        if repo.transport == "http":
            log.warning("sending credentials over plain http://: use https:// outside test set-ups")
        log.info(f"auth: HTTP basic auth as {secret.username or 'git'} (answered by a GIT_ASKPASS helper)")
        return repo, askpass_env(secret, repo, tmp, log)
    if not secret.empty:
        log.warning(f"the git secret is not used for a {repo.transport} repository URL")
    return repo, {}


def check_dest(dest: Path) -> None:
    if dest.is_symlink() and not dest.exists():
        raise bad("dest", f"{dest} is a dangling symlink")
    if not dest.exists():
        return
    if not dest.is_dir():
        raise bad("dest", f"{dest} exists and is not a directory")
    entries = sorted(entry.name for entry in dest.iterdir())
    if entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise bad("dest", f"{dest} is not empty ({len(entries)} entries: {shown}); it must be empty or absent")


def create_dest(dest: Path) -> bool:
    """Create the destination if needed. Returns whether it was created (and so may be removed again)."""
    if dest.is_dir():
        if not os.access(dest, os.W_OK | os.X_OK):
            raise bad("dest", f"{dest} is not writable by uid {os.getuid()}")
        return False
    try:
        dest.mkdir(parents=True)
    except OSError as error:
        raise bad("dest", f"cannot create {dest}: {error.strerror}") from error
    return True


def clean_dest(dest: Path, created: bool) -> None:
    """Undo a failed checkout: a retried step must find the destination as empty as before."""
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    if dest.is_dir():
        for entry in dest.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def depth_args(depth: int) -> list[str]:
    return [f"--depth={depth}"] if depth > 0 else []


def fetch_commit(git: Git, request: CheckoutRequest, repo: RepoUrl, log: StepLogger) -> str:
    """`git init` + `git fetch --depth N origin <sha>`, like OpenChoreo; when the server refuses to serve a
    commit by its id (or the id is abbreviated) fall back to fetching every branch and tag in full."""
    dest, commit = request.dest, request.commit
    git.run("init", "--quiet", str(dest), what="git init")
    git.run("remote", "add", "origin", repo.url, cwd=dest, what="git remote add")
    fetched = False
    if len(commit) == 40:
        result = git.attempt("fetch", "--quiet", "--no-tags", *depth_args(request.depth), "origin", commit, cwd=dest)
        if result.returncode == 0:
            fetched = True
        elif _REFUSED_BY_SHA.search(result.stderr):
            log.warning(
                f"the server refused to fetch commit {commit} by its id ({result.stderr.strip().splitlines()[-1]}); "
                "fetching all branches and tags in full instead"
            )
        else:
            raise Git.failure(f"git fetch of commit {commit}", result)
    else:
        log.warning(f"commit {commit} is abbreviated: servers only serve full ids, fetching all branches and tags")
    if not fetched:
        git.run(
            "fetch",
            "--quiet",
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
            "+refs/tags/*:refs/tags/*",
            cwd=dest,
            what="git fetch (all branches and tags)",
        )
    resolved = git.attempt("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", cwd=dest)
    sha = resolved.stdout.strip()
    if resolved.returncode != 0 or not sha.startswith(commit):
        raise StepError(
            f"{field('commit')}: commit {commit} was not found in {repo.url}"
            + ("" if fetched else " (not on any branch or tag)")
            + ("; an abbreviated id may also be ambiguous: use the full 40-character id" if len(commit) < 40 else "")
        )
    git.run("checkout", "--quiet", "--detach", sha, cwd=dest, what=f"git checkout {sha}")
    return sha


def clone_branch(git: Git, request: CheckoutRequest, repo: RepoUrl) -> None:
    git.run(
        "clone",
        "--quiet",
        "--single-branch",
        "--branch",
        request.branch,
        *depth_args(request.depth),
        "--",
        repo.url,
        str(request.dest),
        what=f"git clone of branch {request.branch}",
    )


def update_submodules(git: Git, request: CheckoutRequest, log: StepLogger) -> None:
    has_submodules = (request.dest / ".gitmodules").is_file()
    if not request.submodules:
        if has_submodules:
            log.info("the repository has submodules (.gitmodules); not fetched (submodules=false)")
        return
    if not has_submodules:
        log.info("submodules requested, but the repository has none")
        return
    git.run(
        "submodule",
        "update",
        "--init",
        "--recursive",
        *depth_args(request.depth),
        cwd=request.dest,
        what="git submodule update",
    )
    listing = git.run("submodule", "status", "--recursive", cwd=request.dest, what="git submodule status")
    for line in listing.stdout.splitlines():
        log.info(f"submodule {line.strip()}")


def check_app_path(request: CheckoutRequest) -> Path:
    """The application directory must exist inside the checkout (also after following symlinks)."""
    root = request.dest.resolve()
    target = (request.dest / request.app_path).resolve()
    inside = target == root or root in target.parents
    if inside and target.is_dir():
        return target
    if not inside:
        raise bad("app_path", f"{request.app_path} leads outside the repository (symlink to {target})")
    top_level = sorted(p.name + "/" for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    what = "is not a directory" if target.exists() else "does not exist in the repository"
    message = f"{str(request.app_path)!r} {what}"
    parent = request.dest / request.app_path.parent
    if parent.is_dir():
        siblings = [p.name for p in parent.iterdir() if p.is_dir()]
        close = difflib.get_close_matches(request.app_path.name, siblings, n=1)
        if close:
            message += f"; did you mean {str(request.app_path.parent / close[0])!r}?"
    listed = ", ".join(top_level[:30]) + (", ..." if len(top_level) > 30 else "")
    message += f"\nhint: top-level directories of the checkout: {listed or '(none)'}"
    raise bad("app_path", message)


def run_checkout(request: CheckoutRequest, tmp: Path, log: StepLogger) -> str:
    repo, auth = configure_auth(request, tmp, log)
    env = base_env(tmp, repo)
    env.update(auth)
    git = Git(env)
    created = create_dest(request.dest)
    try:
        if request.commit:
            if request.branch:
                log.info(f"commit {request.commit} requested: branch {request.branch} is not used")
            sha = fetch_commit(git, request, repo, log)
        else:
            clone_branch(git, request, repo)
            sha = git.run("rev-parse", "HEAD", cwd=request.dest, what="git rev-parse HEAD").stdout.strip()
        if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", sha):
            raise StepError(f"git rev-parse HEAD returned {sha!r}, not a commit id")
        update_submodules(git, request, log)
        check_app_path(request)
        subject = git.attempt("log", "-1", "--format=%s", cwd=request.dest).stdout.strip()
        log.info(f"HEAD is {sha}: {subject}")
        return sha
    except BaseException:
        clean_dest(request.dest, created)
        raise


def make_temp_dir() -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix="checkout-"))
    except OSError as error:
        raise StepError(f"no writable temp dir ({error}): mount one at /tmp or set TMPDIR") from error


def main(log: StepLogger, argv: Sequence[str] | None = None) -> int:
    opts = CheckoutOptions.parse(PROG, DESCRIPTION, argv)
    started = time.monotonic()
    tmp = make_temp_dir()
    try:
        request = parse_request(opts, base_env(tmp), tmp)
        check_dest(request.dest)
        what = f"commit {request.commit}" if request.commit else f"branch {request.branch}"
        depth = f"depth {request.depth}" if request.depth else "full history"
        log.info(f"checking out {what} of {request.repo.url} ({depth}) into {request.dest}")
        sha = run_checkout(request, tmp, log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    outputs = Outputs()
    outputs.set(contract.OUT_GIT_REVISION, sha[: contract.GIT_REVISION_LENGTH])
    outputs.set(contract.OUT_COMMIT_SHA, sha)
    written = outputs.commit()
    log.info(
        f"done in {time.monotonic() - started:.1f}s: {contract.OUT_GIT_REVISION}={sha[: contract.GIT_REVISION_LENGTH]} "
        f"{contract.OUT_COMMIT_SHA}={sha} (written to {written[contract.OUT_COMMIT_SHA].parent})"
    )
    return contract.EXIT_OK
