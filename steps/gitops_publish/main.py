"""gitops-publish: write the Workload, its ComponentRelease and ReleaseBinding into a GitOps repository exactly as
`occ` v1.2.3's file-system mode writes them, commit, push, and open or update a pull request.

Order of work: validate every input and read the Workload CR and the Secret (nothing touched yet) -> clone the base
branch into a private temp dir -> compute the files (occfs) -> write them, commit -> push (a release branch, or the
base branch in direct-push mode) -> open or update the pull request -> write the output parameters, all or nothing.
A push that loses a race (the branch moved meanwhile) is redone on the new tip: fetch, regenerate, commit, push, at
most `--push-retries` times. Nothing changed -> no commit, no push. The same source commit always gives the same
release name and branch, so a re-run updates the same pull request.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from steps.common import contract, gitcmd
from steps.common.contract import EXIT_USAGE
from steps.common.gitauth import GitSecret, askpass_env, read_secret, ssh_env
from steps.common.gitcmd import Git
from steps.common.giturl import RepoUrl, parse_repo_url
from steps.common.goyaml_v2 import GoYamlError, load_go_yaml
from steps.common.log import StepError, StepLogger, redactor
from steps.common.outputs import Outputs
from steps.gitops_publish import forge as forges
from steps.gitops_publish.occfs import OccError, Plan, Request, plan
from steps.gitops_publish.options import MODES, GitopsPublishOptionName, GitopsPublishOptions

PROG = "python -m steps.gitops_publish"
DESCRIPTION = (
    "Write the Workload, ComponentRelease and ReleaseBinding into a GitOps repository as occ's file-system mode "
    "does, commit, push and open or update a pull request."
)
KEY_TOKEN = "token"
MAX_CR_BYTES = 1024 * 1024
_SHA = re.compile(r"[0-9a-f]{40}")
_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")
_DNS = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def label(dest: GitopsPublishOptionName) -> str:
    return GitopsPublishOptions.label(dest)


def bad(dest: GitopsPublishOptionName, message: str) -> StepError:
    return StepError(f"{label(dest)}: {message}", EXIT_USAGE)


@dataclass(frozen=True)
class Inputs:
    repo: RepoUrl
    base_branch: str
    path_root: PurePosixPath
    mode: str
    forge: str
    forge_api_url: str
    forge_project: str
    request: Request
    image: str
    digest: str
    source_repo: str
    source_commit: str
    workload_cr: dict[str, Any]
    secret_dir: Path
    known_hosts: str
    push_retries: int
    author_name: str
    author_email: str

    @property
    def revision(self) -> str:
        return self.source_commit[: contract.GIT_REVISION_LENGTH]

    @property
    def push_branch(self) -> str:
        if self.mode == "direct-push":
            return self.base_branch
        return f"release/{self.request.component}-{self.revision}"


def _branch(value: str, dest: GitopsPublishOptionName, git_env: dict[str, str], cwd: Path) -> str:
    branch = value.strip().removeprefix("refs/heads/")
    if not branch:
        raise bad(dest, "must not be empty")
    if branch.startswith("-") or "@{" in branch:
        raise bad(dest, f"not a valid branch name: {value!r}")
    git = Git(git_env)
    if git.attempt("check-ref-format", "--branch", branch, cwd=cwd).returncode != 0:
        raise bad(dest, f"not a valid branch name (git check-ref-format --branch refuses it): {value!r}")
    return branch


def _name(value: str, dest: GitopsPublishOptionName) -> str:
    text = value.strip()
    if not _DNS.fullmatch(text) or len(text) > 63:
        raise bad(dest, f"expected a lower-case DNS label (a-z, 0-9, '-'), got {value!r}")
    return text


def _path_root(value: str) -> PurePosixPath:
    text = value.strip().strip("/")
    path = PurePosixPath(text or ".")
    if "\x00" in text or ".." in path.parts or path.parts[:1] == (".git",):
        raise bad("path_root", f"must be a directory inside the repository, got {value!r}")
    return path


def _forge_project(opts: GitopsPublishOptions, repo: RepoUrl, forge: str) -> str:
    project = opts.forge_project.strip().strip("/")
    if not project:
        url = repo.url
        path = url.split(":", 1)[1] if repo.is_ssh and "://" not in url else urlsplit(url).path
        project = path.strip("/").removesuffix(".git")
    if not project or any(ch.isspace() for ch in project):
        raise bad("forge_project", f"cannot tell the forge project from {repo.url!r}: set it")
    if forge == "github" and project.count("/") != 1:
        raise bad("forge_project", f"GitHub needs owner/repo, got {project!r}")
    return project


def _read_cr(path_text: str) -> dict[str, Any]:
    path = Path(path_text)
    try:
        raw = path.read_bytes()[: MAX_CR_BYTES + 1]
    except OSError as error:
        raise bad("workload_cr", f"cannot read {path}: {error.strerror} (did generate-workload-cr run?)") from None
    if len(raw) > MAX_CR_BYTES:
        raise bad("workload_cr", f"{path} is larger than {MAX_CR_BYTES} bytes")
    try:
        documents = load_go_yaml(raw.decode("utf-8"))
    except (GoYamlError, UnicodeDecodeError) as error:
        raise bad("workload_cr", f"{path}: not a YAML document: {error}") from None
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise bad("workload_cr", f"{path}: expected one Workload document")
    cr: dict[str, Any] = documents[0]
    if cr.get("apiVersion") != contract.OPENCHOREO_API_VERSION or cr.get("kind") != contract.WORKLOAD_KIND:
        raise bad(
            "workload_cr",
            f"{path}: expected apiVersion {contract.OPENCHOREO_API_VERSION} kind {contract.WORKLOAD_KIND}, "
            f"got {cr.get('apiVersion')!r} {cr.get('kind')!r}",
        )
    return cr


def parse_inputs(opts: GitopsPublishOptions, git_env: dict[str, str], cwd: Path) -> Inputs:
    repo = parse_repo_url(opts.repo, label("repo"))
    mode = opts.mode.strip()
    if mode not in MODES:
        raise bad("mode", f"expected one of {', '.join(MODES)}, got {opts.mode!r}")
    forge = opts.forge.strip().lower()
    if forge not in forges.FORGES:
        raise bad("forge", f"expected one of {', '.join(forges.FORGES)}, got {opts.forge!r}")
    api_url = opts.forge_api_url.strip() or forges.DEFAULT_API_URLS[forge]
    api_parts = urlsplit(api_url)
    if api_parts.scheme not in ("http", "https") or not api_parts.hostname or "@" in api_parts.netloc:
        raise bad("forge_api_url", f"expected an http(s) URL without credentials, got {api_url!r}")
    commit = opts.source_commit.strip().lower()
    if not _SHA.fullmatch(commit):
        raise bad("source_commit", f"expected a full 40-character commit id, got {opts.source_commit!r}")
    image = opts.image.strip()
    digest_match = _DIGEST.search(image)
    if not digest_match:
        raise bad("image", f"expected a digest-pinned reference (repo:tag@sha256:<64 hex>), got {opts.image!r}")
    source_repo = opts.source_repo.strip()
    if source_repo:
        parse_repo_url(source_repo, label("source_repo"))  # refuses embedded credentials
    retries_text = opts.push_retries.strip()
    if not retries_text.isdigit() or int(retries_text) > 20:
        raise bad("push_retries", f"expected a whole number from 0 to 20, got {opts.push_retries!r}")
    authors: tuple[tuple[GitopsPublishOptionName, str], ...] = (
        ("author_name", opts.author_name),
        ("author_email", opts.author_email),
    )
    for dest, value in authors:
        if not value.strip() or any(ch in value for ch in "<>\n\x00"):
            raise bad(dest, f"must be a non-empty single line without '<' or '>', got {value!r}")
    component = _name(opts.component, "component")
    request = Request(
        namespace=_name(opts.namespace, "namespace"),
        project=_name(opts.project, "project"),
        component=component,
        release_name=f"{component}-{commit[: contract.GIT_REVISION_LENGTH]}",
        target_env=_name(opts.target_env, "target_env") if opts.target_env.strip() else "",
    )
    base_branch = _branch(opts.base_branch, "base_branch", git_env, cwd)
    return Inputs(
        repo=repo,
        base_branch=base_branch,
        path_root=_path_root(opts.path_root),
        mode=mode,
        forge=forge,
        forge_api_url=api_url,
        forge_project=_forge_project(opts, repo, forge) if mode == "pull-request" else "",
        request=request,
        image=image,
        digest=digest_match.group(1),
        source_repo=source_repo,
        source_commit=commit,
        workload_cr=_read_cr(opts.workload_cr),
        secret_dir=Path(opts.secret_dir.strip() or "/nonexistent"),
        known_hosts=opts.known_hosts,
        push_retries=int(retries_text),
        author_name=opts.author_name.strip(),
        author_email=opts.author_email.strip(),
    )


def _api_token(secret_dir: Path, secret: GitSecret) -> str:
    path = secret_dir / KEY_TOKEN
    token = ""
    if path.is_file():
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise StepError(f"--secret-dir (env GITOPS_SECRET_DIR): cannot read key {KEY_TOKEN!r}: {error}") from None
    token = token or (secret.password or "")
    redactor.add(token)
    return token


def configure_auth(inputs: Inputs, tmp: Path, log: StepLogger) -> tuple[RepoUrl, dict[str, str], str]:
    """(URL to use, git environment, forge API token) from the GitOps Secret."""
    secret = read_secret(inputs.secret_dir, log, field="--secret-dir (env GITOPS_SECRET_DIR)")
    token = _api_token(inputs.secret_dir, secret)
    if inputs.mode == "pull-request" and not token:
        raise StepError(
            f"pull-request mode needs a forge API token: put it under key {KEY_TOKEN!r} (or password) of the "
            "GitOps Secret (--secret-dir, env GITOPS_SECRET_DIR)",
            EXIT_USAGE,
        )
    repo = inputs.repo
    if repo.transport == "https" and secret.ssh_private_key and not secret.password:
        repo = repo.as_ssh()
        log.info(f"the GitOps Secret holds an SSH key: using {repo.url}")
    if repo.is_ssh:
        env, source = ssh_env(
            secret,
            inputs.known_hosts,
            tmp,
            log,
            option_label=label("known_hosts"),
            secret_label="the GitOps Secret",
        )
        log.info(f"auth: SSH with {'the Secret key' if secret.ssh_private_key else 'no key'}, host keys from {source}")
        return repo, env, token
    if repo.is_http and secret.password:
        if repo.transport == "http":
            log.warning("sending credentials over plain http://: use https:// outside test set-ups")
        log.info(f"auth: HTTP basic auth as {secret.username or 'git'} (answered by a GIT_ASKPASS helper)")
        return repo, askpass_env(secret, repo.url, tmp, log), token
    return repo, {}, token


# ------------------------------------------------------------------------------------------------------ git work


@dataclass
class Outcome:
    commit: str
    branch: str
    changed: bool
    plan: Plan | None
    attempts: int


class Publisher:
    def __init__(self, inputs: Inputs, repo: RepoUrl, git: Git, workdir: Path, log: StepLogger) -> None:
        self.inputs = inputs
        self.repo = repo
        self.git = git
        self.workdir = workdir
        self.log = log
        self.base_sha = ""  # the base branch's tip the current attempt builds on

    def _run(self, *args: str, what: str) -> str:
        return self.git.run(*args, cwd=self.workdir, what=what).stdout.strip()

    def remote_heads(self) -> dict[str, str]:
        refs = [f"refs/heads/{self.inputs.base_branch}", f"refs/heads/{self.inputs.push_branch}"]
        out = self._run("ls-remote", "origin", *refs, what="git ls-remote")
        heads: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            heads[ref.removeprefix("refs/heads/")] = sha
        return heads

    def clone(self) -> None:
        inputs = self.inputs
        self.git.run(
            "clone",
            "--quiet",
            "--single-branch",
            "--no-tags",
            "--branch",
            inputs.base_branch,
            "--depth",
            "1",
            "--",
            self.repo.url,
            str(self.workdir),
            what=f"git clone of branch {inputs.base_branch}",
        )

    def reset_to(self, sha: str) -> None:
        self._run("fetch", "--quiet", "--no-tags", "--depth", "1", "origin", self.inputs.base_branch, what="git fetch")
        self._run("reset", "--quiet", "--hard", sha, what="git reset")
        self._run("clean", "--quiet", "-fdx", what="git clean")

    def message(self, result: Plan) -> str:
        inputs = self.inputs
        request = inputs.request
        source = inputs.source_repo or "(source repository not given)"
        files = "\n".join(f"- {inputs.path_root / path}" for path in sorted(result.files))
        return (
            f"Release {request.component} ({inputs.revision})\n\n"
            f"Source: {source}\nCommit: {inputs.source_commit}\nImage: {inputs.image}\nDigest: {inputs.digest}\n"
            f"Namespace: {request.namespace}\nProject: {request.project}\nComponent: {request.component}\n"
            f"Release: {result.release_name}\nEnvironment: {result.environment}\n\nFiles:\n{files}\n\n"
            "Generated by openchoreo-ci-pack gitops-publish (occ v1.2.3 file-system layout)\n"
        )

    def apply(self) -> tuple[Plan, bool]:
        """Compute and write the files on the current checkout; whether anything differs from HEAD."""
        inputs = self.inputs
        root = self.workdir / inputs.path_root
        if not root.is_dir():
            raise StepError(
                f"{label('path_root')}: {inputs.path_root} is not a directory on branch {inputs.base_branch}",
                EXIT_USAGE,
            )
        try:
            result = plan(root, inputs.workload_cr, inputs.request)
        except OccError as error:
            raise StepError(f"GitOps repository {inputs.repo.url} ({inputs.base_branch}): {error}") from None
        for note in result.notes:
            self.log.info(note)
        for path, text in result.files.items():
            target = root / path
            if target.is_symlink() or (self.workdir.resolve() not in target.resolve().parents):
                raise StepError(f"{inputs.path_root / path}: refusing to write through a symlink or outside the clone")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        paths = [str(inputs.path_root / path) for path in sorted(result.files)]
        self._run("add", "--", *paths, what="git add")
        changed = self.git.attempt("diff", "--cached", "--quiet", cwd=self.workdir).returncode != 0
        return result, changed

    def commit(self, result: Plan) -> str:
        inputs = self.inputs
        identity = {
            "GIT_AUTHOR_NAME": inputs.author_name,
            "GIT_AUTHOR_EMAIL": inputs.author_email,
            "GIT_COMMITTER_NAME": inputs.author_name,
            "GIT_COMMITTER_EMAIL": inputs.author_email,
        }
        git = Git({**self.git.env, **identity})
        message_file = self.workdir.parent / "commit-message"
        message_file.write_text(self.message(result), encoding="utf-8")
        git.run("commit", "--quiet", "--no-verify", "-F", str(message_file), cwd=self.workdir, what="git commit")
        return self._run("rev-parse", "HEAD", what="git rev-parse")

    def same_as_remote_branch(self, remote_sha: str, local_sha: str) -> bool:
        """Whether the release branch already holds this change (same parent, same tree): nothing to push."""
        fetched = self.git.attempt(
            "fetch",
            "--quiet",
            "--no-tags",
            "--depth",
            "2",
            "origin",
            f"refs/heads/{self.inputs.push_branch}",
            cwd=self.workdir,
        )
        if fetched.returncode != 0:
            return False
        ours = self._run("rev-parse", f"{local_sha}^{{tree}}", f"{local_sha}^", what="git rev-parse")
        theirs = self.git.attempt("rev-parse", f"{remote_sha}^{{tree}}", f"{remote_sha}^", cwd=self.workdir)
        return theirs.returncode == 0 and theirs.stdout.strip() == ours

    def push(self, sha: str, expected: str) -> bool:
        """Push `sha`; False when the push lost a race (the remote branch moved), a StepError for anything else."""
        inputs = self.inputs
        ref = f"refs/heads/{inputs.push_branch}"
        args = ["push", "--porcelain", "origin", f"{sha}:{ref}"]
        if inputs.mode == "pull-request":
            args.insert(1, f"--force-with-lease={ref}:{expected}")
        result = self.git.attempt(*args, cwd=self.workdir)
        if result.returncode == 0:
            return True
        heads = self.remote_heads()
        moved = heads.get(inputs.push_branch, "") != expected
        if inputs.mode == "pull-request":
            moved = moved or heads.get(inputs.base_branch, "") != self.base_sha
        if moved:
            self.log.warning(f"push of {ref} lost a race (the remote moved meanwhile): redoing it on the new tip")
            return False
        hint = (
            f"the server refused the push to {inputs.push_branch} (a protected branch or a hook?): grant the "
            "Secret's identity push rights there, or use --gitops-mode pull-request"
            if inputs.mode == "direct-push"
            else f"the server refused the push of {inputs.push_branch}: check the Secret's write access"
        )
        raise Git.failure(f"git push to {inputs.push_branch}", result, hint)

    def run(self) -> Outcome:
        inputs = self.inputs
        self.clone()
        attempts = 0
        while True:
            attempts += 1
            heads = self.remote_heads()
            self.base_sha = self._run("rev-parse", "HEAD", what="git rev-parse HEAD")
            result, changed = self.apply()
            if not changed:
                self.log.info(f"nothing changed: {inputs.base_branch} already holds these files; no commit, no push")
                return Outcome(self.base_sha, inputs.base_branch, False, result, attempts)
            sha = self.commit(result)
            expected = heads.get(inputs.push_branch, "") if inputs.mode == "pull-request" else self.base_sha
            if inputs.mode == "pull-request" and expected and self.same_as_remote_branch(expected, sha):
                self.log.info(f"{inputs.push_branch} already holds this change at {expected}: nothing to push")
                return Outcome(expected, inputs.push_branch, True, result, attempts)
            if self.push(sha, expected):
                self.log.info(f"pushed {sha} to {inputs.push_branch} (attempt {attempts})")
                return Outcome(sha, inputs.push_branch, True, result, attempts)
            if attempts > inputs.push_retries:
                raise StepError(
                    f"git push to {inputs.push_branch} lost the race {attempts} times (the branch keeps moving); "
                    f"giving up after --push-retries {inputs.push_retries}",
                    contract.EXIT_TRANSIENT,
                )
            base_now = self.remote_heads().get(inputs.base_branch, "")
            if not base_now:
                raise StepError(f"the base branch {inputs.base_branch} disappeared from {inputs.repo.url}")
            self.reset_to(base_now)


def _make_temp_dir() -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix="gitops-"))
    except OSError as error:
        raise StepError(f"no writable temp dir ({error}): mount one at /tmp or set TMPDIR") from error


def _pr_body(inputs: Inputs, outcome: Outcome) -> str:
    result = outcome.plan
    assert result is not None
    request = inputs.request
    rows = "\n".join(f"- `{inputs.path_root / path}`" for path in sorted(result.files))
    return (
        f"Release of **{request.component}** (project {request.project}, namespace {request.namespace}).\n\n"
        f"- Source: {inputs.source_repo or '(not given)'} at `{inputs.source_commit}`\n"
        f"- Image: `{inputs.image}`\n- ComponentRelease: `{result.release_name}`\n"
        f"- ReleaseBinding environment: `{result.environment}`\n\nFiles (as `occ` v1.2.3 writes them):\n{rows}\n\n"
        "Opened by openchoreo-ci-pack gitops-publish; a re-run for the same source commit updates this request.\n"
    )


def main(log: StepLogger, argv: Sequence[str] | None = None) -> int:
    opts = GitopsPublishOptions.parse(PROG, DESCRIPTION, argv)
    started = time.monotonic()
    tmp = _make_temp_dir()
    try:
        inputs = parse_inputs(opts, gitcmd.base_env(tmp), tmp)
        repo, auth, token = configure_auth(inputs, tmp, log)
        env = gitcmd.base_env(tmp, repo.transport)
        env.update(auth)
        git = Git(env)
        log.info(
            f"publishing {inputs.request.component} ({inputs.revision}) to {repo.url} {inputs.base_branch}"
            f"{'/' + str(inputs.path_root) if str(inputs.path_root) != '.' else ''} ({inputs.mode})"
        )
        outcome = Publisher(inputs, repo, git, tmp / "repo", log).run()
        pr_url = ""
        if inputs.mode == "pull-request" and outcome.changed:
            request = forges.ForgeRequest(
                forge=inputs.forge,
                api_url=inputs.forge_api_url,
                project=inputs.forge_project,
                token=token,
                head=outcome.branch,
                base=inputs.base_branch,
                title=f"Release {inputs.request.component} ({inputs.revision})",
                body=_pr_body(inputs, outcome),
            )
            pull = forges.Forge(request, log).upsert()
            pr_url = pull.url
            log.info(f"pull request {'opened' if pull.created else 'updated'}: {pull.url}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    outputs = Outputs()
    outputs.set(contract.OUT_GITOPS_COMMIT, outcome.commit)
    outputs.set(contract.OUT_GITOPS_BRANCH, outcome.branch)
    outputs.set(contract.OUT_PULL_REQUEST_URL, pr_url)
    outputs.commit()
    log.info(
        f"done in {time.monotonic() - started:.1f}s: {contract.OUT_GITOPS_COMMIT}={outcome.commit} "
        f"{contract.OUT_GITOPS_BRANCH}={outcome.branch} {contract.OUT_PULL_REQUEST_URL}={pr_url or '(none)'}"
    )
    return contract.EXIT_OK
