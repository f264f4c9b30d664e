"""The checkout step against real git servers on 127.0.0.1 (smart HTTP with basic auth, sshd, file://).

Most tests run `python -m steps.checkout` as a subprocess with parameters in env variables, the way the
rendered template passes them. Nothing is stubbed: real git, real git http-backend, real OpenSSH.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from steps.checkout import askpass
from steps.checkout.inputs import parse_repo_url
from steps.common.log import StepError
from testkit.gitserver import GitRepos, HttpGitServer, SshGitServer, clean_git_env, git, ssh_keygen
from testkit.paths import ROOT

USER = "ci-bot"
PASSWORD = f"pw-{secrets.token_hex(12)}"  # random: any occurrence in logs or processes is a leak


# ------------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> GitRepos:
    return GitRepos.create(tmp_path_factory.mktemp("git") / "repos")


@pytest.fixture(scope="module")
def http_server(repos: GitRepos) -> Iterator[HttpGitServer]:
    with HttpGitServer(repos.root, USER, PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def http_server_v0(repos: GitRepos) -> Iterator[HttpGitServer]:
    """Protocol v0 only: like many servers, it refuses to serve a commit that is not the tip of a ref."""
    with HttpGitServer(repos.root, USER, PASSWORD, protocol_v2=False) as server:
        yield server


@dataclass(frozen=True)
class SshKeys:
    private_key: str
    public_key: str
    other_private_key: str  # not authorized on the server


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SshKeys:
    keys = tmp_path_factory.mktemp("keys")
    public = ssh_keygen(keys / "id_client", "client")
    ssh_keygen(keys / "id_other", "other")
    return SshKeys((keys / "id_client").read_text(), public, (keys / "id_other").read_text())


@pytest.fixture(scope="module")
def ssh_server(repos: GitRepos, ssh_keys: SshKeys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshGitServer]:
    with SshGitServer(repos.root, tmp_path_factory.mktemp("sshd"), ssh_keys.public_key) as server:
        yield server


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    dest: Path
    outputs_dir: Path

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def outputs(self) -> dict[str, str]:
        if not self.outputs_dir.exists():
            return {}
        return {path.name: path.read_text() for path in self.outputs_dir.iterdir()}

    def head(self, repo: Path | None = None) -> str:
        return git("rev-parse", "HEAD", cwd=repo or self.dest)

    def commit_count(self, repo: Path | None = None) -> int:
        return int(git("rev-list", "--count", "HEAD", cwd=repo or self.dest))


def write_secret(directory: Path, **keys: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in keys.items():  # ssh_privatekey -> ssh-privatekey; known_hosts keeps its underscore
        (directory / ("known_hosts" if name == "known_hosts" else name.replace("_", "-"))).write_text(value)
    return directory


def run_step(
    tmp_path: Path, params: Mapping[str, str], args: tuple[str, ...] = (), command: tuple[str, ...] | None = None
) -> Run:
    """`python -m steps.checkout` with the template's env variables (GIT_REPO, GIT_BRANCH, ...)."""
    env = clean_git_env()
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        env.pop(name)
    env.pop("HOME", None)  # the container may have no HOME at all
    env.update(
        {
            "PACK_OUTPUTS_DIR": str(tmp_path / "outputs"),
            "SOURCE_DIR": str(tmp_path / "source"),
            "GIT_SECRET_DIR": str(tmp_path / "no-secret"),
        }
    )
    env.update(params)
    result = subprocess.run(
        [*(command or (sys.executable, "-m", "steps.checkout")), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Run(result.returncode, result.stdout, result.stderr, Path(env["SOURCE_DIR"]), tmp_path / "outputs")


def run_checkout(tmp_path: Path, **params: str) -> Run:
    return run_step(tmp_path, params)


def assert_ok(run: Run, sha: str) -> None:
    assert run.returncode == 0, run.output
    assert run.outputs() == {"git-revision": sha[:8], "commit-sha": sha}  # exact: no trailing newline
    assert run.head() == sha


def assert_failed(run: Run, *fragments: str, code: int | None = None) -> None:
    assert run.returncode != 0, run.output
    if code is not None:
        assert run.returncode == code, run.output
    for fragment in fragments:
        assert fragment in run.stderr, run.output
    assert run.outputs() == {}, "a failed step must not write any output parameter"
    assert not run.dest.exists() or not any(run.dest.iterdir()), "a failed checkout must leave no files behind"


# ---------------------------------------------------------------------------------------- branch and commit


def test_branch_clone_is_shallow_without_submodules(tmp_path: Path, repos: GitRepos) -> None:
    run = run_checkout(tmp_path, GIT_REPO=repos.file_url(), GIT_BRANCH="main")
    assert_ok(run, repos.commits["main"])
    assert run.commit_count() == 1
    assert (run.dest / ".git/shallow").is_file()
    assert (run.dest / "services/api/main.py").read_text() == "print('v2')\n"
    assert list((run.dest / "libs/sub").iterdir()) == [], "submodules are off by default"
    assert "not fetched (submodules=false)" in run.stderr


def test_other_branch_with_depth_2_over_http(tmp_path: Path, repos: GitRepos, http_server: HttpGitServer) -> None:
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD)
    run = run_checkout(
        tmp_path,
        GIT_REPO=http_server.url(),
        GIT_BRANCH="refs/heads/feature/x",
        GIT_DEPTH="2",
        GIT_SECRET_DIR=str(secret),
    )
    assert_ok(run, repos.commits["feature/x"])
    assert run.commit_count() == 2
    assert (run.dest / "feature.txt").exists()


def test_full_history_with_depth_0(tmp_path: Path, repos: GitRepos) -> None:
    run = run_checkout(tmp_path, GIT_REPO=repos.file_url(), GIT_BRANCH="main", GIT_DEPTH="0")
    assert_ok(run, repos.commits["main"])
    assert run.commit_count() == 3
    assert not (run.dest / ".git/shallow").exists()


def test_older_commit_is_fetched_by_id_shallow(tmp_path: Path, repos: GitRepos) -> None:
    first = repos.commits["first"]
    run = run_checkout(tmp_path, GIT_REPO=repos.file_url(), GIT_COMMIT=first.upper(), GIT_BRANCH="main")
    assert_ok(run, first)
    assert run.commit_count() == 1
    assert (run.dest / "services/api/main.py").read_text() == "print('v1')\n"
    assert "refused" not in run.stderr
    assert "branch main is not used" in run.stderr


def test_commit_falls_back_to_full_fetch_when_server_refuses(
    tmp_path: Path, repos: GitRepos, http_server_v0: HttpGitServer
) -> None:
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD)
    second = repos.commits["second"]
    run = run_checkout(tmp_path, GIT_REPO=http_server_v0.url(), GIT_COMMIT=second, GIT_SECRET_DIR=str(secret))
    assert_ok(run, second)
    assert "the server refused to fetch commit" in run.stderr
    assert run.commit_count() == 2  # full history up to the commit


def test_abbreviated_commit(tmp_path: Path, repos: GitRepos) -> None:
    run = run_checkout(tmp_path, GIT_REPO=repos.file_url(), GIT_COMMIT=repos.commits["second"][:10])
    assert_ok(run, repos.commits["second"])
    assert "abbreviated" in run.stderr


def test_unknown_commit_fails_cleanly(tmp_path: Path, repos: GitRepos) -> None:
    run = run_checkout(tmp_path, GIT_REPO=repos.file_url(), GIT_COMMIT="0123456789" * 4)
    assert_failed(run, "--commit (env GIT_COMMIT", "was not found")
    assert not run.dest.exists()


def test_unknown_branch_shows_git_error(tmp_path: Path, repos: GitRepos) -> None:
    run = run_checkout(tmp_path, GIT_REPO=repos.file_url(), GIT_BRANCH="nope")
    assert_failed(run, "git clone of branch nope failed", "Remote branch nope not found", "hint: the branch does not")


# ------------------------------------------------------------------------------------------------ submodules


def test_submodules_recursive_and_shallow_over_http(
    tmp_path: Path, repos: GitRepos, http_server: HttpGitServer
) -> None:
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD)
    run = run_checkout(
        tmp_path, GIT_REPO=http_server.url(), GIT_BRANCH="main", GIT_SUBMODULES="true", GIT_SECRET_DIR=str(secret)
    )
    assert_ok(run, repos.commits["main"])
    submodule = run.dest / "libs/sub"
    assert (submodule / "lib.txt").read_text() == "lib v2\n"
    assert run.head(submodule) == repos.commits["sub"]
    assert run.commit_count(submodule) == 1


def test_submodules_from_a_pinned_commit_over_ssh(
    tmp_path: Path, repos: GitRepos, ssh_server: SshGitServer, ssh_keys: SshKeys
) -> None:
    secret = write_secret(tmp_path / "secret", ssh_privatekey=ssh_keys.private_key)
    run = run_checkout(
        tmp_path,
        GIT_REPO=ssh_server.url(),
        GIT_COMMIT=repos.commits["second"],
        GIT_SUBMODULES="yes",
        GIT_SECRET_DIR=str(secret),
        GIT_SSH_KNOWN_HOSTS=ssh_server.known_hosts,
    )
    assert_ok(run, repos.commits["second"])
    assert (run.dest / "libs/sub/lib.txt").read_text() == "lib v2\n"
    assert "host keys from --known-hosts" in run.stderr


# -------------------------------------------------------------------------------------------------- app path


def test_app_path_present(tmp_path: Path, repos: GitRepos) -> None:
    run = run_checkout(tmp_path, GIT_REPO=repos.file_url(), GIT_BRANCH="main", APP_PATH="/services/api")
    assert_ok(run, repos.commits["main"])


def test_app_path_missing_lists_top_level_dirs(tmp_path: Path, repos: GitRepos) -> None:
    run = run_checkout(tmp_path, GIT_REPO=repos.file_url(), GIT_BRANCH="main", APP_PATH="services/apj")
    assert_failed(
        run,
        "--app-path (env APP_PATH, parameter app-path): 'services/apj' does not exist",
        "did you mean 'services/api'?",
        "top-level directories of the checkout: docs/, libs/, services/",
        code=2,
    )
    assert not run.dest.exists()


def test_app_path_must_stay_inside(tmp_path: Path, repos: GitRepos) -> None:
    run = run_checkout(tmp_path, GIT_REPO=repos.file_url(), GIT_BRANCH="main", APP_PATH="services/../../x")
    assert_failed(run, "--app-path", "'..' is not allowed", code=2)


# ----------------------------------------------------------------------------------------------- basic auth


def test_basic_auth_password_never_leaks(tmp_path: Path, repos: GitRepos, http_server: HttpGitServer) -> None:
    secret = write_secret(tmp_path / "secret", username=f"{USER}\n", password=f"{PASSWORD}\n")
    http_server.snapshots.clear()
    http_server.requests.clear()
    http_server.record_processes = True
    try:
        run = run_checkout(tmp_path, GIT_REPO=http_server.url(), GIT_BRANCH="main", GIT_SECRET_DIR=str(secret))
    finally:
        http_server.record_processes = False
    assert_ok(run, repos.commits["main"])
    statuses = [(status, user) for method, path, status, user in http_server.requests if "app.git" in path]
    assert (401, "") in statuses and (200, USER) in statuses
    assert PASSWORD not in run.output
    assert "basic auth as ci-bot" in run.stderr
    # the snapshots saw git talking to the server (so they could have caught a leak) ...
    assert any(http_server.url() in seen for seen in http_server.snapshots)
    # ... and no process had the password in its argv or environment
    assert not [seen for seen in http_server.snapshots if PASSWORD in seen]
    assert PASSWORD not in (run.dest / ".git/config").read_text()
    leaked = [p for p in run.dest.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert leaked == []


def test_basic_auth_wrong_password(tmp_path: Path, http_server: HttpGitServer) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    secret = write_secret(tmp_path / "secret", username=USER, password=wrong)
    run = run_checkout(tmp_path, GIT_REPO=http_server.url(), GIT_BRANCH="main", GIT_SECRET_DIR=str(secret))
    assert_failed(run, "Authentication failed", "hint: the server wants (other) credentials")
    assert wrong not in run.output


def test_private_repo_without_secret(tmp_path: Path, http_server: HttpGitServer) -> None:
    run = run_checkout(tmp_path, GIT_REPO=http_server.url(), GIT_COMMIT="0123456789" * 4)
    assert_failed(run, "git fetch of commit", "terminal prompts disabled", "hint: the server wants")


# Runs the step in a private mount namespace whose TMPDIR is a noexec tmpfs, like Docker's `--tmpfs /tmp`
# (needs root, as the whole suite does: Docker, apt).
NOEXEC_TMP = (
    "import os, subprocess, sys\n"
    "subprocess.run(['mount', '-t', 'tmpfs', '-o', 'noexec,nosuid,nodev', 'tmpfs', os.environ['TMPDIR']], check=True)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'steps.checkout'])\n"
)


def test_basic_auth_with_a_noexec_temp_dir(tmp_path: Path, repos: GitRepos, http_server: HttpGitServer) -> None:
    secret = write_secret(tmp_path / "secret", username=USER, password=PASSWORD)
    (tmp_path / "tmp").mkdir()
    run = run_step(
        tmp_path,
        {
            "TMPDIR": str(tmp_path / "tmp"),
            "GIT_REPO": http_server.url(),
            "GIT_BRANCH": "main",
            "GIT_SECRET_DIR": str(secret),
        },
        command=("unshare", "--mount", "--propagation", "private", "--", sys.executable, "-c", NOEXEC_TMP),
    )
    assert_ok(run, repos.commits["main"])
    assert "is mounted noexec: the GIT_ASKPASS helper runs from memory" in run.stderr
    assert PASSWORD not in run.output


# ------------------------------------------------------------------------------------------------------- SSH


def test_ssh_with_known_hosts_from_secret(
    tmp_path: Path, repos: GitRepos, ssh_server: SshGitServer, ssh_keys: SshKeys
) -> None:
    # A key without its final newline, as `kubectl create secret --from-literal` stores it.
    secret = write_secret(
        tmp_path / "secret", ssh_privatekey=ssh_keys.private_key.rstrip("\n"), known_hosts=ssh_server.known_hosts
    )
    run = run_checkout(tmp_path, GIT_REPO=ssh_server.url(), GIT_BRANCH="main", GIT_SECRET_DIR=str(secret))
    assert_ok(run, repos.commits["main"])
    assert "host keys from the git secret's known_hosts key" in run.stderr
    key_body = ssh_keys.private_key.splitlines()[1]
    assert key_body not in run.output


def test_ssh_wrong_host_key_is_refused(tmp_path: Path, ssh_server: SshGitServer, ssh_keys: SshKeys) -> None:
    impostor = ssh_keygen(tmp_path / "impostor", "impostor")
    known_hosts = f"[127.0.0.1]:{ssh_server.port} {' '.join(impostor.split()[:2])}\n"
    secret = write_secret(tmp_path / "secret", ssh_privatekey=ssh_keys.private_key, known_hosts=known_hosts)
    run = run_checkout(tmp_path, GIT_REPO=ssh_server.url(), GIT_BRANCH="main", GIT_SECRET_DIR=str(secret))
    assert_failed(run, "Host key verification failed", "hint: the server's SSH host key is not in the known_hosts")


def test_ssh_without_known_hosts_is_a_clear_error(tmp_path: Path, ssh_server: SshGitServer, ssh_keys: SshKeys) -> None:
    secret = write_secret(tmp_path / "secret", ssh_privatekey=ssh_keys.private_key)
    run = run_checkout(tmp_path, GIT_REPO=ssh_server.url(), GIT_BRANCH="main", GIT_SECRET_DIR=str(secret))
    assert_failed(run, "SSH needs the server's host key and none was given", "known_hosts", code=2)
    assert not run.dest.exists()


def test_ssh_unauthorized_key(tmp_path: Path, ssh_server: SshGitServer, ssh_keys: SshKeys) -> None:
    secret = write_secret(
        tmp_path / "secret", ssh_privatekey=ssh_keys.other_private_key, known_hosts=ssh_server.known_hosts
    )
    run = run_checkout(tmp_path, GIT_REPO=ssh_server.url(), GIT_BRANCH="main", GIT_SECRET_DIR=str(secret))
    assert_failed(run, "Permission denied (publickey)", "hint: the SSH key was refused")
    assert ssh_keys.other_private_key.splitlines()[1] not in run.output


OTHER_UID = 54321  # no passwd entry: what a container started with an arbitrary runAsUser gets


def test_ssh_as_a_uid_without_passwd_entry(repos: GitRepos, ssh_server: SshGitServer, ssh_keys: SshKeys) -> None:
    """OpenSSH refuses to run for a uid without a passwd entry; the step gives it one through nss_wrapper.
    Runs the system python as another uid (setpriv; the suite runs as root), with no HOME."""
    assert os.geteuid() == 0, "this test switches uid with setpriv: run the suite as root, as `make test` does"
    with pytest.raises(KeyError):
        pwd.getpwuid(OTHER_UID)
    base = Path(tempfile.mkdtemp(prefix="checkout-uid-"))  # pytest's tmp dirs are private to root
    try:
        base.chmod(0o755)
        work = base / "work"
        work.mkdir()
        secret = write_secret(base / "secret", ssh_privatekey=ssh_keys.private_key, known_hosts=ssh_server.known_hosts)
        for path in (work, secret, *secret.iterdir()):
            os.chown(path, OTHER_UID, OTHER_UID)
        run = run_step(
            work,
            {"GIT_REPO": ssh_server.url(), "GIT_BRANCH": "main", "GIT_SECRET_DIR": str(secret)},
            command=(
                "setpriv",
                f"--reuid={OTHER_UID}",
                f"--regid={OTHER_UID}",
                "--clear-groups",
                "--",
                "/usr/bin/python3",
                "-B",
                "-m",
                "steps.checkout",
            ),
        )
        assert_ok(run, repos.commits["main"])
        assert run.dest.stat().st_uid == OTHER_UID
        assert f"uid {OTHER_UID} has no passwd entry: ssh runs with nss_wrapper" in run.stderr
    finally:
        shutil.rmtree(base)


# ------------------------------------------------------------------------------------------------ bad inputs

UNREACHABLE = "https://127.0.0.1:9/org/app.git"  # never contacted: validation fails first


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"GIT_COMMIT": "abc12z9"}, "--commit (env GIT_COMMIT, parameter commit): expected a commit SHA"),
        ({"GIT_COMMIT": "abc12"}, "--commit (env GIT_COMMIT, parameter commit): expected a commit SHA"),
        ({"GIT_BRANCH": "bad..name"}, "--branch (env GIT_BRANCH, parameter branch): not a valid branch name"),
        ({"GIT_BRANCH": "-x"}, "--branch (env GIT_BRANCH, parameter branch): must not start with '-'"),
        ({"GIT_BRANCH": "@{-1}"}, "--branch (env GIT_BRANCH, parameter branch): must be a plain branch name"),
        ({"GIT_BRANCH": "", "GIT_COMMIT": ""}, "nothing to check out: set --branch (env GIT_BRANCH"),
        (
            {"GIT_REPO": "https://bob:hunter2-secret@127.0.0.1:9/app.git"},
            "--repo (env GIT_REPO, parameter git-repo): credentials must not be embedded in the URL",
        ),
        (
            {"GIT_REPO": "https://ghp_tokenonly1234@127.0.0.1:9/app.git"},
            "--repo (env GIT_REPO, parameter git-repo): credentials must not be embedded in the URL",
        ),
        ({"GIT_REPO": "ftp://127.0.0.1/app.git"}, "--repo (env GIT_REPO, parameter git-repo): unsupported URL"),
        ({"GIT_REPO": "ext::sh -c touch% /tmp/pwned"}, "--repo (env GIT_REPO, parameter git-repo): must not contain"),
        ({"GIT_DEPTH": "-1"}, "--depth (env GIT_DEPTH, parameter depth): expected a whole number"),
        ({"GIT_SUBMODULES": "maybe"}, "--submodules (env GIT_SUBMODULES, parameter submodules): expected true"),
        ({"GIT_REPO": ""}, "missing required parameter(s): --repo (env GIT_REPO, parameter git-repo)"),
    ],
)
def test_bad_input_names_the_field(tmp_path: Path, params: dict[str, str], expected: str) -> None:
    run = run_step(tmp_path, {"GIT_REPO": UNREACHABLE, "GIT_BRANCH": "main", **params})
    assert_failed(run, expected, code=2)
    assert "hunter2-secret" not in run.output and "ghp_tokenonly1234" not in run.output
    assert not run.dest.exists()


def test_non_empty_dest_is_refused_and_left_alone(tmp_path: Path, repos: GitRepos) -> None:
    dest = tmp_path / "source"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine\n")
    run = run_checkout(tmp_path, GIT_REPO=repos.file_url(), GIT_BRANCH="main")
    assert run.returncode == 2, run.output
    assert "--dest (env SOURCE_DIR): " in run.stderr and "is not empty (1 entries: keep.txt)" in run.stderr
    assert run.outputs() == {}
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]


def test_flags_and_existing_empty_dest(tmp_path: Path, repos: GitRepos) -> None:
    dest = tmp_path / "flag-dest"
    dest.mkdir()
    run = run_step(tmp_path, {}, args=("--repo", repos.file_url(), "--branch", "main", "--dest", str(dest)))
    assert run.returncode == 0, run.output
    assert git("rev-parse", "HEAD", cwd=dest) == repos.commits["main"]


# ---------------------------------------------------------------------------------------- in-process units


@pytest.mark.parametrize(
    ("url", "transport", "host"),
    [
        ("https://github.com/org/repo.git", "https", "github.com"),
        ("http://127.0.0.1:8080/repo", "http", "127.0.0.1"),
        ("ssh://git@example.com:2222/org/repo.git", "ssh", "example.com"),
        ("git@github.com:org/repo.git", "ssh", "github.com"),
        ("file:///srv/git/repo.git", "file", ""),
    ],
)
def test_supported_urls(url: str, transport: str, host: str) -> None:
    repo = parse_repo_url(url)
    assert (repo.url, repo.transport, repo.host) == (url, transport, host)


@pytest.mark.parametrize(
    "url",
    [
        "ssh://git:pw@example.com/repo.git",
        "git:secretpw@example.com:org/repo.git",
        "git://example.com/repo.git",
        "/srv/git/repo.git",
        "--upload-pack=touch x",
        "file://otherhost/repo.git",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(StepError) as raised:
        parse_repo_url(url)
    assert "--repo (env GIT_REPO" in str(raised.value)
    assert "secretpw" not in str(raised.value)


def test_https_url_becomes_ssh_for_an_ssh_key() -> None:
    assert parse_repo_url("https://github.com:443/org/repo.git").as_ssh().url == "git@github.com:org/repo.git"


def test_askpass_answers_only_for_the_repository_origin() -> None:
    credentials = {"origin": askpass.origin_of("https://git.example.com/org/r.git"), "username": "u", "password": "p"}
    assert askpass.answer("Username for 'https://git.example.com': ", credentials) == "u"
    assert askpass.answer("Password for 'https://u@git.example.com:443': ", credentials) == "p"
    assert askpass.answer("Password for 'https://u@evil.example.com': ", credentials) is None
    assert askpass.answer("Password for 'http://u@git.example.com': ", credentials) is None
    assert askpass.answer("Passphrase for key: ", credentials) is None
