"""gitops-publish with real git: a bare GitOps repository served over smart HTTP (basic auth) and SSH (a real sshd)
on 127.0.0.1 by testkit/gitserver.py, and the pull-request routes of GitHub and GitLab served by testkit/forge.py.

The forges themselves cannot run on this machine (no network beyond package registries): testkit/forge.py is a
stand-in implementing only the documented routes the step calls (list, create, update pull/merge requests), with
their token headers and their refusals (401, 422/409). Everything else (git, the server, the hooks) is real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testkit.forge import ForgeServer, PullRecord
from testkit.gitserver import HttpGitServer, SshGitServer, bare_repo_with_tree, clean_git_env, git, ssh_keygen
from testkit.paths import ROOT

FIXTURE_REPO = ROOT / "tests" / "fixtures" / "gitops" / "repo"
SAMPLE_APP = ROOT / "tests" / "fixtures" / "sample-app"
USER, PASSWORD, TOKEN = "gitops-bot", "pw-Zq81-not-in-logs", "tok-Hk29-not-in-logs"
SOURCE_REPO = "https://git.example.com/acme/greeter.git"
COMMIT = "2dd7cb4006cdc9bf9e4913cc2c1c9e2b73df8c11"
DIGEST = "sha256:" + "e3" * 32
IMAGE = f"127.0.0.1:5000/demo-ns-shop-greeter:v1-2dd7cb40@{DIGEST}"
BRANCH = "release/greeter-2dd7cb40"
GREETER = "namespaces/demo-ns/projects/shop/components/greeter"


def populate(work: Path) -> None:
    for source in FIXTURE_REPO.rglob("*"):
        if source.is_file():
            target = work / source.relative_to(FIXTURE_REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


@pytest.fixture
def gitops(tmp_path: Path) -> Path:
    """repos/gitops.git: the fixture GitOps repository on main."""
    root = tmp_path / "repos"
    root.mkdir()
    bare_repo_with_tree(root / "gitops.git", populate)
    return root


def make_cr(tmp_path: Path, component: str = "greeter", image: str = IMAGE) -> Path:
    """The Workload CR as generate-workload-cr writes it (the real step, from the sample app's descriptor)."""
    cr = tmp_path / f"cr-{component}.yaml"
    names = ["-n", "demo-ns", "-p", "shop", "-c", component]
    paths = ["--source-dir", str(SAMPLE_APP), "--output-path", str(cr)]
    result = subprocess.run(
        [sys.executable, "-m", "steps.generate_workload", "--image", image, *names, *paths, "--api-mode", "off"],
        cwd=ROOT,
        env={**os.environ, "PACK_OUTPUTS_DIR": str(tmp_path / "cr-outputs")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert cr.is_file(), result.stderr
    return cr


def write_secret(directory: Path, **keys: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in keys.items():
        (directory / ("known_hosts" if name == "known_hosts" else name.replace("_", "-"))).write_text(value)
    return directory


@dataclass
class Run:
    returncode: int
    stderr: str
    outputs_dir: Path

    def outputs(self) -> dict[str, str]:
        if not self.outputs_dir.exists():
            return {}
        return {path.name: path.read_text() for path in self.outputs_dir.iterdir()}


def publish(tmp_path: Path, secret: Path, **params: str) -> Run:
    """`python -m steps.gitops_publish` with the template's environment variables."""
    env = clean_git_env()
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        env.pop(name)
    outputs = tmp_path / f"outputs-{len(list(tmp_path.glob('outputs-*')))}"
    env.update(
        {
            "PACK_OUTPUTS_DIR": str(outputs),
            "GITOPS_SECRET_DIR": str(secret),
            "NAMESPACE_NAME": "demo-ns",
            "PROJECT_NAME": "shop",
            "COMPONENT_NAME": "greeter",
            "IMAGE": IMAGE,
            "SOURCE_GIT_REPO": SOURCE_REPO,
            "SOURCE_COMMIT_SHA": COMMIT,
        }
    )
    env.update(params)
    result = subprocess.run(
        [sys.executable, "-m", "steps.gitops_publish"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return Run(result.returncode, result.stderr, outputs)


def show(bare: Path, ref: str, path: str) -> str:
    return git("--git-dir", str(bare), "show", f"{ref}:{path}")


def refs(bare: Path) -> dict[str, str]:
    out = git("--git-dir", str(bare), "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def assert_no_secrets(run: Run, *secrets: str) -> None:
    text = run.stderr + "".join(run.outputs().values())
    for secret in secrets:
        assert secret not in text


@pytest.fixture
def http_git(gitops: Path) -> Iterator[HttpGitServer]:
    with HttpGitServer(gitops, USER, PASSWORD) as server:
        yield server


@pytest.fixture
def forge(gitops: Path) -> Iterator[ForgeServer]:
    with ForgeServer(gitops, TOKEN) as server:
        yield server


def http_params(http_git: HttpGitServer, forge: ForgeServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "GITOPS_REPO": http_git.url("gitops.git"),
        "GITOPS_FORGE_API_URL": forge.github_api,
        "GITOPS_FORGE_PROJECT": "acme/gitops",
        "WORKLOAD_CR_FILE": str(make_cr(tmp_path)),
        **extra,
    }


# ------------------------------------------------------------------------------------------------- happy paths


def test_github_pull_request_over_http(
    tmp_path: Path, gitops: Path, http_git: HttpGitServer, forge: ForgeServer
) -> None:
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD, token=TOKEN)
    main_before = refs(gitops / "gitops.git")["refs/heads/main"]
    run = publish(tmp_path, secret, **http_params(http_git, forge, tmp_path))
    assert run.returncode == 0, run.stderr
    bare = gitops / "gitops.git"
    after = refs(bare)
    assert after["refs/heads/main"] == main_before  # pull-request mode never touches the base branch
    outputs = run.outputs()
    assert outputs["gitops-branch"] == BRANCH
    assert outputs["gitops-commit"] == after[f"refs/heads/{BRANCH}"]
    assert outputs["pull-request-url"] == "https://github.example/acme/gitops/pull/1"
    [pull] = forge.pulls
    assert (pull.forge, pull.head, pull.base, pull.head_sha) == ("github", BRANCH, "main", outputs["gitops-commit"])
    assert pull.title == "Release greeter (2dd7cb40)"
    assert DIGEST in pull.body and COMMIT in pull.body
    message = git("--git-dir", str(bare), "log", "-1", "--format=%B", BRANCH)
    for fragment in (SOURCE_REPO, COMMIT, DIGEST, "Release greeter (2dd7cb40)"):
        assert fragment in message
    files = git("--git-dir", str(bare), "diff", "--name-only", "main", BRANCH).splitlines()
    assert files == [
        f"{GREETER}/release-bindings/greeter-dev.yaml",
        f"{GREETER}/releases/greeter-2dd7cb40.yaml",
        f"{GREETER}/workload.yaml",
    ]
    assert "releaseName: greeter-2dd7cb40" in show(bare, BRANCH, f"{GREETER}/release-bindings/greeter-dev.yaml")
    assert f"image: {IMAGE}" in show(bare, BRANCH, f"{GREETER}/workload.yaml")
    assert_no_secrets(run, PASSWORD, TOKEN)


def test_gitlab_merge_request_over_ssh(tmp_path: Path, gitops: Path, forge: ForgeServer) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    public = ssh_keygen(keys / "id_client", "client")
    with SshGitServer(gitops, tmp_path / "sshd", public, allow_push=True) as server:
        secret = write_secret(
            tmp_path / "secret",
            ssh_privatekey=(keys / "id_client").read_text(),
            known_hosts=server.known_hosts,
            token=TOKEN,
        )
        run = publish(
            tmp_path,
            secret,
            GITOPS_REPO=server.url("gitops.git"),
            GITOPS_FORGE="gitlab",
            GITOPS_FORGE_API_URL=forge.gitlab_api,
            GITOPS_FORGE_PROJECT="platform/gitops",
            WORKLOAD_CR_FILE=str(make_cr(tmp_path)),
        )
    assert run.returncode == 0, run.stderr
    assert "auth: SSH" in run.stderr
    [pull] = forge.pulls
    assert (pull.forge, pull.project, pull.head, pull.base) == ("gitlab", "platform/gitops", BRANCH, "main")
    assert run.outputs()["pull-request-url"] == "https://gitlab.example/platform/gitops/-/merge_requests/1"
    assert refs(gitops / "gitops.git")[f"refs/heads/{BRANCH}"] == run.outputs()["gitops-commit"]
    assert_no_secrets(run, TOKEN, (keys / "id_client").read_text().splitlines()[1])


def test_rerun_of_the_same_source_commit_updates_the_same_pull_request(
    tmp_path: Path, gitops: Path, http_git: HttpGitServer, forge: ForgeServer
) -> None:
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD, token=TOKEN)
    first = publish(tmp_path, secret, **http_params(http_git, forge, tmp_path))
    assert first.returncode == 0, first.stderr
    # Same source commit, rebuilt image (another digest): the same branch and pull request, a new tip.
    rebuilt = IMAGE.replace("e3" * 32, "f4" * 32)
    again = tmp_path / "again"
    again.mkdir()
    cr = make_cr(again, image=rebuilt)
    params = {**http_params(http_git, forge, tmp_path), "IMAGE": rebuilt, "WORKLOAD_CR_FILE": str(cr)}
    second = publish(tmp_path, secret, **params)
    assert second.returncode == 0, second.stderr
    assert second.outputs()["gitops-branch"] == BRANCH
    assert second.outputs()["pull-request-url"] == first.outputs()["pull-request-url"]
    assert second.outputs()["gitops-commit"] != first.outputs()["gitops-commit"]
    [pull] = forge.pulls
    assert pull.updates == 1 and pull.head_sha == second.outputs()["gitops-commit"]
    # The same inputs once more: nothing new to push, the pull request is left as it is (updated in place).
    third = publish(tmp_path, secret, **params)
    assert third.returncode == 0, third.stderr
    assert "already holds this change" in third.stderr
    assert third.outputs()["gitops-commit"] == second.outputs()["gitops-commit"]
    assert len(forge.pulls) == 1


def test_direct_push_then_nothing_changed_makes_no_commit(
    tmp_path: Path, gitops: Path, http_git: HttpGitServer, forge: ForgeServer
) -> None:
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD)
    params = http_params(http_git, forge, tmp_path, GITOPS_MODE="direct-push")
    first = publish(tmp_path, secret, **params)
    assert first.returncode == 0, first.stderr
    bare = gitops / "gitops.git"
    main_after_first = refs(bare)["refs/heads/main"]
    assert first.outputs() == {"gitops-commit": main_after_first, "gitops-branch": "main", "pull-request-url": ""}
    second = publish(tmp_path, secret, **params)
    assert second.returncode == 0, second.stderr
    assert "nothing changed" in second.stderr
    assert refs(bare)["refs/heads/main"] == main_after_first
    assert second.outputs()["gitops-commit"] == main_after_first
    assert int(git("--git-dir", str(bare), "rev-list", "--count", "main")) == 2
    assert forge.requests == []


# ------------------------------------------------------------------------------------------------- failure paths


def test_wrong_git_password_fails_without_leaking(
    tmp_path: Path, gitops: Path, http_git: HttpGitServer, forge: ForgeServer
) -> None:
    wrong = "wrong-Pw-7731"
    secret = write_secret(tmp_path / "secret", username=USER, password=wrong, token=TOKEN)
    run = publish(tmp_path, secret, **http_params(http_git, forge, tmp_path))
    assert run.returncode == 1
    assert "git clone of branch main failed" in run.stderr and "credentials" in run.stderr
    assert run.outputs() == {}
    assert forge.requests == []
    assert_no_secrets(run, wrong, TOKEN)


def test_wrong_forge_token_fails_with_a_hint(
    tmp_path: Path, gitops: Path, http_git: HttpGitServer, forge: ForgeServer
) -> None:
    wrong = "tok-wrong-5512"
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD, token=wrong)
    run = publish(tmp_path, secret, **http_params(http_git, forge, tmp_path))
    assert run.returncode == 1
    assert "HTTP 401" in run.stderr and "token" in run.stderr
    assert run.outputs() == {}
    assert_no_secrets(run, wrong, PASSWORD)


def test_protected_branch_rejected_by_a_pre_receive_hook(
    tmp_path: Path, gitops: Path, http_git: HttpGitServer, forge: ForgeServer
) -> None:
    hook = gitops / "gitops.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'GL-HOOK-ERR: main is a protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = refs(gitops / "gitops.git")
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD)
    run = publish(tmp_path, secret, **http_params(http_git, forge, tmp_path, GITOPS_MODE="direct-push"))
    assert run.returncode == 1
    assert "main is a protected branch" in run.stderr
    assert "hint: the server refused the push to main" in run.stderr
    assert "lost a race" not in run.stderr
    assert refs(gitops / "gitops.git") == before
    assert run.outputs() == {}


def test_missing_component_names_it_and_pushes_nothing(
    tmp_path: Path, gitops: Path, http_git: HttpGitServer, forge: ForgeServer
) -> None:
    before = refs(gitops / "gitops.git")
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD, token=TOKEN)
    params = http_params(http_git, forge, tmp_path)
    params.update(COMPONENT_NAME="ghost", WORKLOAD_CR_FILE=str(make_cr(tmp_path, "ghost")))
    run = publish(tmp_path, secret, **params)
    assert run.returncode == 1
    assert "component 'ghost' not found in namespace 'demo-ns'" in run.stderr
    assert "namespaces/demo-ns/projects/shop/components/ghost/component.yaml" in run.stderr
    assert refs(gitops / "gitops.git") == before
    assert forge.requests == []


RACE_HOOK = """#!/bin/sh
# The first push finds that another commit landed on main meanwhile (as a concurrent pipeline's push would).
if [ ! -e "$0.done" ]; then
  touch "$0.done"
  unset GIT_QUARANTINE_PATH
  git update-ref refs/heads/main refs/heads/concurrent
fi
exit 0
"""


def test_non_fast_forward_race_is_redone_on_the_new_tip(
    tmp_path: Path, gitops: Path, http_git: HttpGitServer, forge: ForgeServer
) -> None:
    bare = gitops / "gitops.git"
    work = tmp_path / "other"
    git("clone", "--quiet", str(bare), str(work))
    (work / "CONCURRENT.md").write_text("another pipeline's change\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "concurrent change", cwd=work)
    git("push", "--quiet", "origin", "HEAD:refs/heads/concurrent", cwd=work)
    concurrent = git("rev-parse", "HEAD", cwd=work)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(RACE_HOOK)
    hook.chmod(0o755)
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD)
    run = publish(tmp_path, secret, **http_params(http_git, forge, tmp_path, GITOPS_MODE="direct-push"))
    assert run.returncode == 0, run.stderr
    assert "lost a race" in run.stderr and "(attempt 2)" in run.stderr
    main = refs(bare)["refs/heads/main"]
    assert run.outputs()["gitops-commit"] == main
    assert git("--git-dir", str(bare), "rev-parse", f"{main}^") == concurrent
    assert show(bare, "main", "CONCURRENT.md") == "another pipeline's change"
    assert "releaseName: greeter-2dd7cb40" in show(bare, "main", f"{GREETER}/release-bindings/greeter-dev.yaml")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"SOURCE_COMMIT_SHA": "2dd7cb40"}, "--source-commit (env SOURCE_COMMIT_SHA, parameter commit-sha)"),
        ({"IMAGE": "registry/app:v1"}, "--image (env IMAGE, parameter image): expected a digest-pinned"),
        ({"GITOPS_MODE": "yolo"}, "--gitops-mode (env GITOPS_MODE, parameter gitops-mode)"),
        ({"GITOPS_FORGE": "bitbucket"}, "--forge (env GITOPS_FORGE, parameter gitops-forge)"),
        ({"GITOPS_PATH": "../up"}, "--gitops-path (env GITOPS_PATH, parameter gitops-path)"),
        ({"GITOPS_BRANCH": "bad..name"}, "--gitops-branch (env GITOPS_BRANCH, parameter gitops-branch)"),
        ({"COMPONENT_NAME": "Bad_Name"}, "--component (env COMPONENT_NAME, parameter component-name)"),
        ({"WORKLOAD_CR_FILE": "/nonexistent/cr.yaml"}, "--workload-cr (env WORKLOAD_CR_FILE): cannot read"),
        ({"GITOPS_REPO": "https://user:pw@git.example.com/x.git"}, "credentials must not be embedded"),
    ],
)
def test_bad_input_is_refused_before_any_git_traffic(
    tmp_path: Path, http_git: HttpGitServer, forge: ForgeServer, params: Mapping[str, str], fragment: str
) -> None:
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD, token=TOKEN)
    run = publish(tmp_path, secret, **{**http_params(http_git, forge, tmp_path), **params})
    assert run.returncode == 2, run.stderr
    assert fragment in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert http_git.requests == [] and forge.requests == []
    assert_no_secrets(run, PASSWORD, TOKEN, "pw@")


def test_pull_request_mode_without_a_token_is_refused_before_cloning(
    tmp_path: Path, http_git: HttpGitServer, forge: ForgeServer
) -> None:
    secret = write_secret(tmp_path / "secret", ssh_privatekey="")
    run = publish(tmp_path, secret, **http_params(http_git, forge, tmp_path))
    assert run.returncode == 2
    assert "needs a forge API token" in run.stderr
    assert http_git.requests == []


BRANCH_RACE_HOOK = """#!/bin/sh
# The first push of the release branch finds another run's push of the same branch landed meanwhile.
if [ ! -e "$0.done" ]; then
  touch "$0.done"
  unset GIT_QUARANTINE_PATH
  git update-ref refs/heads/release/greeter-2dd7cb40 refs/heads/concurrent
fi
exit 0
"""


def test_release_branch_race_is_redone_and_the_pull_request_points_at_our_commit(
    tmp_path: Path, gitops: Path, http_git: HttpGitServer, forge: ForgeServer
) -> None:
    bare = gitops / "gitops.git"
    work = tmp_path / "other"
    git("clone", "--quiet", str(bare), str(work))
    (work / "OTHER-RUN.md").write_text("another run of the same commit\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "other run", cwd=work)
    git("push", "--quiet", "origin", "HEAD:refs/heads/concurrent", cwd=work)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(BRANCH_RACE_HOOK)
    hook.chmod(0o755)
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD, token=TOKEN)
    run = publish(tmp_path, secret, **http_params(http_git, forge, tmp_path))
    assert run.returncode == 0, run.stderr
    assert "lost a race" in run.stderr and "(attempt 2)" in run.stderr
    tip = refs(bare)[f"refs/heads/{BRANCH}"]
    assert run.outputs()["gitops-commit"] == tip
    assert git("--git-dir", str(bare), "rev-parse", f"{tip}^") == refs(bare)["refs/heads/main"]
    [pull] = forge.pulls
    assert pull.head_sha == tip


class RacingForge(ForgeServer):
    """Another run opens the pull request right after our first list (the list answers empty once)."""

    raced = False

    def handle(self, method: str, raw_path: str, headers: Any, body: Any) -> tuple[int, Any]:
        if method == "GET" and not self.raced:
            self.raced = True
            kind = "github" if raw_path.startswith("/github/") else "gitlab"
            self.pulls.append(PullRecord(kind, "acme/gitops", 1, BRANCH, "main", "other", "", "0" * 40))
            return 200, []
        return super().handle(method, raw_path, headers, body)


@pytest.mark.parametrize("forge_kind", ["github", "gitlab"])
def test_pull_request_create_race_updates_the_open_one(tmp_path: Path, gitops: Path, forge_kind: str) -> None:
    from steps.common.log import StepLogger
    from steps.gitops_publish import forge as forges

    bare = gitops / "gitops.git"
    git("--git-dir", str(bare), "update-ref", f"refs/heads/{BRANCH}", "refs/heads/main")  # the pushed branch
    with RacingForge(gitops, TOKEN) as server:
        request = forges.ForgeRequest(
            forge=forge_kind,
            api_url=server.github_api if forge_kind == "github" else server.gitlab_api,
            project="acme/gitops",
            token=TOKEN,
            head=BRANCH,
            base="main",
            title="Release greeter (2dd7cb40)",
            body="body",
        )
        pull = forges.Forge(request, StepLogger("test")).upsert()
        assert not pull.created and pull.number == 1
        assert [p.title for p in server.pulls] == ["Release greeter (2dd7cb40)"]
        assert server.pulls[0].updates == 1
        if forge_kind == "github":
            assert [(m, s) for m, _, s in server.requests] == [
                ("GET", 200),
                ("POST", 422),
                ("GET", 200),
                ("PATCH", 200),
            ]
