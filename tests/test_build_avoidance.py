"""Build avoidance (issue 14, part 1): steps.build computes a key, finds `build-<key>` in the registry and skips the
build; steps.publish_image tags the recorded manifest registry-side.

Real parts: git repositories made with git, the real buildah 1.28 and skopeo 1.9 run as host processes (as in
tests/test_build.py), real distribution registries on 127.0.0.1. The registry of the hit test logs every request,
so the test counts blob uploads instead of trusting skopeo's output. The one stand-in: the target platform cannot
change on this host, so the platform input is checked on the key document with the platform function replaced.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from steps.build import avoidance
from steps.build.avoidance import Incomplete, external_images, instructions, qualify
from steps.build.main import REACT_DOCKERFILE, plan
from steps.build.options import BuildOptions
from steps.common.log import StepError, StepLogger
from steps.publish_image import retag
from testkit.paths import ROOT
from testkit.registry import REGISTRY_BIN, BaseImage, Registry, free_port, make_busybox_base, remove_storage
from testkit.rendered import render_with_setting, step_template

DOCKERFILE = """\
# syntax is irrelevant here
ARG BASE_IMAGE
ARG UNUSED=default
FROM ${BASE_IMAGE} AS base
ARG GREETING=hello
RUN mkdir -p /out && echo "$GREETING" > /out/greeting && printf '%s' "$APP_MODE" > /out/mode
COPY app.txt /app/app.txt
CMD ["cat", "/app/app.txt"]
"""
IMAGE = "demo-avoid"


# --- a registry that logs every request -------------------------------------------------------------------------


@contextmanager
def logged_registry(workdir: Path) -> Iterator[Registry]:
    """distribution with its access log on, so a test can count the blob uploads a publish made."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    storage = workdir / "data"
    storage.mkdir(exist_ok=True)
    config = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    (workdir / "config.yml").write_text(json.dumps(config))
    log_path = workdir / "registry.log"
    registry = Registry(host=f"127.0.0.1:{port}", storage_dir=storage, extra={"log": str(log_path)})
    env = {key: value for key, value in os.environ.items() if not key.startswith("REGISTRY_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(workdir / "config.yml")], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        try:
            registry.wait_ready(process=process)
            yield registry
        finally:
            process.terminate()
            process.wait(timeout=10)


_REQUEST_RE = re.compile(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (/v2/[^ ]*) HTTP/')


def requests_logged(registry: Registry) -> list[tuple[str, str]]:
    return _REQUEST_RE.findall(Path(registry.extra["log"]).read_text(errors="replace"))


def blob_uploads(requests: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Requests that start or carry a blob upload (POST/PATCH/PUT on .../blobs/uploads/)."""
    return [(method, path) for method, path in requests if "/blobs/uploads/" in path and method != "GET"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with logged_registry(tmp_path_factory.mktemp("logged-registry")) as running:
        yield running


@pytest.fixture(scope="module")
def base(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> BaseImage:
    return make_busybox_base(registry, tmp_path_factory.mktemp("avoid-base"), repo="base/avoid-busybox")


# --- a checkout as checkout-source leaves it --------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env.update({"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


@dataclass
class Checkout:
    root: Path

    @property
    def source(self) -> Path:
        return self.root / "vol" / "source"

    @property
    def app(self) -> Path:
        return self.source / "services" / "api"


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    ws = Checkout(tmp_path)
    ws.app.mkdir(parents=True)
    (ws.app / "Dockerfile").write_text(DOCKERFILE)
    (ws.app / "app.txt").write_text("hello from the app\n")
    (ws.source / "README.md").write_text("outside the context\n")
    git(ws.source, "init", "-q", "-b", "main")
    commit_all(ws.source, "app")
    return ws


@dataclass
class StepRun:
    returncode: int
    log: str
    outputs: Path
    record: dict[str, object] | None

    def output(self, name: str) -> str:
        return (self.outputs / name).read_text()


def run_step(module: str, ws: Checkout, run: str, argv: list[str], env: dict[str, str] | None = None) -> StepRun:
    outputs = ws.root / run / "outputs"
    full_env = {**os.environ, "PACK_OUTPUTS_DIR": str(outputs), "BUILD_ISOLATION": "none", **(env or {})}
    argv = [sys.executable, "-m", module, *argv]
    done = subprocess.run(argv, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300, check=False)
    record_file = ws.root / "vol" / "build-avoidance.json"
    record = json.loads(record_file.read_text()) if record_file.is_file() else None
    return StepRun(done.returncode, done.stderr + done.stdout, outputs, record)


def build_args(base: BaseImage, *extra: tuple[str, str]) -> str:
    return json.dumps([{"name": n, "value": v} for n, v in [("BASE_IMAGE", base.ref), *extra]])


def build_argv(ws: Checkout, registry: Registry, args: str, *extra: str, run: str = "build") -> list[str]:
    return [
        "--image-name", IMAGE, "--image-tag", "v1", "--git-revision", run,
        "--source-dir", str(ws.source), "--archive", str(ws.root / "vol" / "app-image.tar"),
        "--build-avoidance-file", str(ws.root / "vol" / "build-avoidance.json"),
        "--storage-dir", str(ws.root / run / "storage" / "root"),
        "--auth-file", str(ws.root / "no-secret" / ".dockerconfigjson"), "--ca-dir", str(ws.root / "no-ca"),
        "--context", "services/api", "--dockerfile", "services/api/Dockerfile",
        "--tls-verify", registry.tls_verify, "--registry", registry.host, "--build-args", args, *extra,
    ]  # fmt: skip


def publish_argv(ws: Checkout, registry: Registry, run: str, *extra: str) -> list[str]:
    return [
        "--registry", registry.host, "--image-name", IMAGE, "--image-tag", "v1", "--git-revision", run,
        "--archive", str(ws.root / "vol" / "app-image.tar"),
        "--build-avoidance-file", str(ws.root / "vol" / "build-avoidance.json"),
        "--auth-file", str(ws.root / "no-secret" / ".dockerconfigjson"), "--ca-dir", str(ws.root / "no-ca"),
        "--tls-verify", registry.tls_verify, "--retry-delay", "0.1", *extra,
    ]  # fmt: skip


def build_and_publish(
    ws: Checkout, registry: Registry, args: str, run: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[StepRun, StepRun]:
    try:
        built = run_step("steps.build", ws, run, build_argv(ws, registry, args, *extra, run=run), env)
    finally:
        remove_storage(ws.root / run / "storage")  # every run starts on fresh storage, as a new pod does
    assert built.returncode == 0, built.log
    published = run_step("steps.publish_image", ws, run + "-publish", publish_argv(ws, registry, run))
    assert published.returncode == 0, published.log
    return built, published


# --- the Dockerfile reader (no registry) ------------------------------------------------------------------------


def test_instructions_join_continuations_and_skip_comments_and_heredocs() -> None:
    text = "# escape=`\nARG A=1\nRUN echo a `\n  # a comment\n  && echo b\nRUN <<EOF\nFROM not-an-image\nEOF\nFROM x\n"
    found = [(i.line, i.keyword, i.rest) for i in instructions(text)]
    assert found == [(2, "ARG", "A=1"), (3, "RUN", "echo a && echo b"), (6, "RUN", "<<EOF"), (9, "FROM", "x")]
    unterminated = "RUN echo '<<EOF'\nFROM reg.example.com/a:1\n"
    assert [i.keyword for i in instructions(unterminated)] == ["RUN", "FROM"]


def test_external_images_follow_args_overrides_and_stages() -> None:
    text = (
        "ARG REG=reg.example.com\nARG TAG\nARG NAME=${REG}/app\n"
        "FROM ${NAME}:${TAG:-1.0} AS build\nFROM build AS again\nFROM scratch\n"
        "COPY --from=build /a /a\nCOPY --from=0 /b /b\nCOPY --from=reg.example.com/tools:2 /c /c\n"
        "RUN --mount=type=bind,from=reg.example.com/cache:3,target=/x true\n"
        "FROM --platform=$BUILDPLATFORM reg.example.com/base:4\n"
    )
    found = [(i.reference, i.platform) for i in external_images(text, [("TAG", "2.0")], "Dockerfile")]
    arch = avoidance.target_platform()
    assert found == [
        ("reg.example.com/app:2.0", ""),
        ("reg.example.com/tools:2", ""),
        ("reg.example.com/cache:3", ""),
        ("reg.example.com/base:4", arch),
    ]
    assert external_images(text, [], "Dockerfile")[0].reference == "reg.example.com/app:1.0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ARG BASE\nFROM ${BASE}\n", "Dockerfile:2 FROM: ${BASE} has no value"),
        ("FROM $UNDECLARED\n", "${UNDECLARED} has no value"),
        ("FROM reg.example.com/a:1\nADD https://example.com/x.tgz /x\n", "fetches content the key cannot see"),
        ('FROM reg.example.com/a:1\nADD ["local", "git@example.com:a/b.git", "/x"]\n', "ADD git@example.com"),
        ("FROM reg.example.com/a:1\nARG S\nCOPY --from=$S /a /a\n", "names an image through a variable"),
    ],
)
def test_what_the_key_cannot_pin_makes_it_incomplete(text: str, message: str) -> None:
    with pytest.raises(Incomplete, match=re.escape(message)):
        external_images(text, [], "Dockerfile")


def test_short_names_follow_registries_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text('unqualified-search-registries = ["docker.io"]\n')
    (tmp_path / "registries.conf.d").mkdir()
    (tmp_path / "registries.conf.d" / "aliases.conf").write_text('[aliases]\n"centos" = "quay.io/centos/centos"\n')
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    assert qualify("node:20", "w") == "docker.io/library/node:20"
    assert qualify("team/app", "w") == "docker.io/team/app:latest"
    assert qualify("centos:9", "w") == "quay.io/centos/centos:9"
    assert qualify("reg.example.com:5000/a@sha256:" + "1" * 64, "w").endswith("@sha256:" + "1" * 64)
    conf.write_text('unqualified-search-registries = ["quay.io", "docker.io"]\n')
    with pytest.raises(Incomplete, match="search list"):
        qualify("node:20", "w")
    with pytest.raises(Incomplete, match="local image"):
        qualify("oci-archive:/tmp/base.tar", "w")


# --- the key and its lookup (in process, real git, skopeo and registry) -----------------------------------------


def decide(ws: Checkout, registry: Registry, args: str, *extra: str) -> avoidance.Decision:
    opts = BuildOptions.parse("test", "test", build_argv(ws, registry, args, *extra))
    return avoidance.decide(
        plan(opts),
        enabled=opts.avoidance,
        registry=opts.registry,
        enabled_field="build-avoidance",
        registry_field="registry",
        preset_text=None,
        log=StepLogger("build-image"),
    )


@pytest.mark.docker
def test_key_is_stable_and_ignores_what_is_outside_the_context(
    checkout: Checkout, registry: Registry, base: BaseImage
) -> None:
    first = decide(checkout, registry, build_args(base))
    assert first.status == avoidance.STATUS_MISS and first.key
    (checkout.source / "README.md").write_text("changed, but outside the build context\n")
    commit_all(checkout.source, "docs")
    assert decide(checkout, registry, build_args(base)).key == first.key


@pytest.mark.parametrize(
    "change",
    ["context file", "Dockerfile", "build arg", "build env", "dockerignore"],
)
@pytest.mark.docker
def test_each_key_input_changes_the_key(checkout: Checkout, registry: Registry, base: BaseImage, change: str) -> None:
    args, extra = build_args(base), []
    before = decide(checkout, registry, args)
    if change == "context file":
        (checkout.app / "app.txt").write_text("hello, changed\n")
    elif change == "Dockerfile":
        (checkout.app / "Dockerfile").write_text(DOCKERFILE + "ENV EXTRA=1\n")
    elif change == "dockerignore":
        (checkout.app / "Dockerfile.dockerignore").write_text("*.md\n")
    elif change == "build arg":
        args = build_args(base, ("GREETING", "bonjour"))
    else:
        extra = ["--build-env", json.dumps([{"name": "APP_MODE", "value": "debug"}])]
    commit_all(checkout.source, change)
    after = decide(checkout, registry, args, *extra)
    assert after.status == avoidance.STATUS_MISS
    assert before.key and after.key and before.key != after.key


@pytest.mark.docker
def test_target_platform_is_a_key_input(
    checkout: Checkout, registry: Registry, base: BaseImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stand-in: this host runs one architecture, so the platform function is replaced (buildah is not asked)."""
    before = decide(checkout, registry, build_args(base))
    monkeypatch.setattr(avoidance, "target_platform", lambda: "linux/arm64")
    after = decide(checkout, registry, build_args(base))
    assert before.key and after.key and before.key != after.key


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda ws: (ws.app / "app.txt").write_text("not committed\n"), "uncommitted, untracked or ignored files"),
        (lambda ws: (ws.app / "new.txt").write_text("untracked\n"), "services/api/new.txt"),
        (lambda ws: shutil.rmtree(ws.source / ".git"), "git"),
    ],
    ids=["modified", "untracked", "not-a-checkout"],
)
@pytest.mark.docker
def test_a_work_tree_that_is_not_the_commit_makes_the_key_incomplete(
    checkout: Checkout, registry: Registry, base: BaseImage, mutate: object, reason: str
) -> None:
    assert callable(mutate)
    mutate(checkout)
    decision = decide(checkout, registry, build_args(base))
    assert decision.status == avoidance.STATUS_INCOMPLETE and decision.key is None
    assert reason in decision.reason


@pytest.mark.docker
def test_avoidance_off_and_without_a_registry(checkout: Checkout, registry: Registry, base: BaseImage) -> None:
    off = decide(checkout, registry, build_args(base), "--build-avoidance", "false")
    assert (off.status, off.key) == (avoidance.STATUS_OFF, None)
    opts = BuildOptions.parse("test", "test", [*build_argv(checkout, registry, build_args(base)), "--registry", ""])
    no_registry = avoidance.decide(
        plan(opts), enabled="true", registry="", enabled_field="e", registry_field="registry", preset_text=None,
        log=StepLogger("build-image"),
    )  # fmt: skip
    assert no_registry.status == avoidance.STATUS_OFF and "no registry" in no_registry.reason


# --- the steps, end to end ---------------------------------------------------------------------------------------


@pytest.mark.docker
def test_unchanged_inputs_skip_the_build_and_publish_moves_no_layer(
    checkout: Checkout, registry: Registry, base: BaseImage
) -> None:
    args = build_args(base)
    cold_build, cold_publish = build_and_publish(checkout, registry, args, "aaaa0001")
    assert "build avoidance: miss" in cold_build.log and "does not exist" in cold_build.log
    assert "build avoidance: key inputs:" in cold_build.log and "git tree" in cold_build.log
    assert f"base {'services/api/Dockerfile'}:4 FROM: {base.ref} -> {base.digest}" in cold_build.log
    assert cold_build.record is not None and cold_build.record["status"] == "miss"
    digest = cold_publish.output("image-digest")
    key_tag = str(cold_build.record["key_tag"])
    assert registry.manifest_digest(IMAGE, key_tag) == digest
    assert "recorded" in cold_publish.log

    before = len(requests_logged(registry))
    (checkout.root / "vol" / "app-image.tar").unlink()  # a new pod: nothing from the first run on the volume
    warm_build, warm_publish = build_and_publish(checkout, registry, args, "aaaa0002")
    assert f"build avoidance: hit: {registry.host}/{IMAGE}:{key_tag} is {digest}; skipping the build" in warm_build.log
    assert "STEP 1/" not in warm_build.log  # buildah never ran
    assert not (checkout.root / "vol" / "app-image.tar").exists()
    assert warm_build.output("image-digest") == digest
    assert warm_publish.output("image-digest") == digest
    assert warm_publish.output("image") == f"{registry.host}/{IMAGE}:v1-aaaa0002@{digest}"
    assert registry.manifest_digest(IMAGE, "v1-aaaa0002") == digest
    new_requests = requests_logged(registry)[before:]
    assert blob_uploads(new_requests) == [], new_requests  # tagged registry-side: not one blob uploaded
    assert ("PUT", f"/v2/{IMAGE}/manifests/v1-aaaa0002") in new_requests


@pytest.mark.docker
def test_base_image_moved_under_the_same_tag_rebuilds(checkout: Checkout, registry: Registry, tmp_path: Path) -> None:
    moving = make_busybox_base(registry, tmp_path / "b1", repo="base/moving")
    args = build_args(moving)
    first, _ = build_and_publish(checkout, registry, args, "bbbb0001")
    assert first.record is not None and first.record["status"] == "miss"
    # the same tag now names another image (buildah commits a new config: new digest)
    moved = make_busybox_base(registry, tmp_path / "b2", repo="base/moving")
    assert moved.ref == moving.ref and moved.digest != moving.digest
    second, published = build_and_publish(checkout, registry, args, "bbbb0002")
    assert "build avoidance: miss" in second.log and moved.digest in second.log
    assert second.record is not None and second.record["key"] != first.record["key"]
    third, _ = build_and_publish(checkout, registry, args, "bbbb0003")
    assert "build avoidance: hit" in third.log
    assert third.output("image-digest") == published.output("image-digest")


@pytest.mark.docker
def test_avoidance_off_builds_and_records_no_key(checkout: Checkout, registry: Registry, base: BaseImage) -> None:
    args = build_args(base, ("GREETING", "off-test"))
    built, published = build_and_publish(checkout, registry, args, "cccc0001", "--build-avoidance", "false")
    assert "build avoidance: off (build-avoidance=false)" in built.log
    assert built.record is None  # nothing for publish-image to do
    assert "STEP 1/" in built.log and "recorded" not in published.log
    assert not [tag for tag in registry.tags(IMAGE) if tag.startswith("build-") and "off-test" in tag]


@pytest.mark.docker
def test_target_registry_without_pull_credentials_builds_and_says_why(
    checkout: Checkout, auth_registry: Registry, tmp_path: Path
) -> None:
    """The key tag lives in a registry that needs credentials; the build has no pull Secret: the lookup fails,
    the build runs, publish (with its push Secret) records the key; with a pull Secret the next run hits.
    (`FROM scratch`: the build needs no base from the plain HTTP registry while it verifies TLS.)"""
    (checkout.app / "Dockerfile").write_text("FROM scratch\nCOPY app.txt /app.txt\n")
    commit_all(checkout.source, "scratch")
    args = "[]"
    build = build_argv(checkout, auth_registry, args, run="dddd0001")
    built = run_step(
        "steps.build", checkout, "dddd0001",
        [*build, "--ca-dir", str(auth_registry.ca_dir)],
    )  # fmt: skip
    remove_storage(checkout.root / "dddd0001" / "storage")
    assert built.returncode == 0, built.log
    assert "build avoidance: miss (the key tag lookup failed" in built.log and "anonymous" in built.log
    push_secret = auth_registry.write_auth_file(tmp_path / "push-secret")
    publish = publish_argv(checkout, auth_registry, "dddd0001")
    published = run_step(
        "steps.publish_image", checkout, "dddd0001-publish",
        [*publish, "--auth-file", str(push_secret), "--ca-dir", str(auth_registry.ca_dir)],
    )  # fmt: skip
    assert published.returncode == 0, published.log
    assert "recorded" in published.log
    assert auth_registry.password is not None and auth_registry.password not in built.log + published.log

    pull_secret = auth_registry.write_auth_file(tmp_path / "pull-secret")
    again = run_step(
        "steps.build", checkout, "dddd0002",
        [*build_argv(checkout, auth_registry, args, run="dddd0002"), "--ca-dir", str(auth_registry.ca_dir),
         "--auth-file", str(pull_secret)],
    )  # fmt: skip
    remove_storage(checkout.root / "dddd0002" / "storage")
    assert again.returncode == 0, again.log
    assert "build avoidance: hit" in again.log
    assert again.output("image-digest") == published.output("image-digest")


@pytest.mark.docker
def test_private_base_without_pull_credentials_makes_the_key_incomplete(
    checkout: Checkout, auth_registry: Registry, registry: Registry, tmp_path: Path
) -> None:
    """A base in a registry that needs credentials, no pull Secret: the digest cannot be resolved, so the key is
    incomplete (logged) and the build runs, and fails where it always did: pulling the base."""
    private_ref = auth_registry.ref("base/private", "1")
    source = make_busybox_base(registry, tmp_path / "b", repo="base/to-copy")
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", *auth_registry.skopeo_flags("dest-"),
         f"docker://{source.ref}", f"docker://{private_ref}"],
        check=True, capture_output=True,
    )  # fmt: skip
    args = json.dumps([{"name": "BASE_IMAGE", "value": private_ref}])
    built = run_step(
        "steps.build", checkout, "eeee0001",
        [*build_argv(checkout, registry, args, run="eeee0001"), "--ca-dir", str(auth_registry.ca_dir)],
    )  # fmt: skip
    remove_storage(checkout.root / "eeee0001" / "storage")
    assert "build avoidance: incomplete key, building without avoidance" in built.log
    assert f"cannot resolve {private_ref} to a digest" in built.log
    assert built.returncode != 0 and built.record is None  # the build itself needs the credentials too


# --- bad input and the record -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--build-avoidance", "maybe"], "--build-avoidance (env BUILD_AVOIDANCE"),
        (["--registry", "https://registry.example.com"], "has a scheme"),
        (["--registry", "registry"], "not a fully qualified registry host"),
    ],
)
@pytest.mark.docker
def test_bad_avoidance_parameters_exit_2_naming_the_field(
    checkout: Checkout, registry: Registry, extra: list[str], message: str
) -> None:
    argv = [*build_argv(checkout, registry, "[]"), *extra]
    result = run_step("steps.build", checkout, "bad", argv)
    assert result.returncode == 2, result.log
    assert message in result.log
    assert not result.outputs.exists() and result.record is None


def test_publish_reads_only_a_well_formed_record(tmp_path: Path) -> None:
    record = tmp_path / "build-avoidance.json"
    repository = "127.0.0.1:5000/demo"
    assert retag.read_record(record, repository, "f") is None
    record.write_text("{not json")
    with pytest.raises(StepError, match="not readable JSON"):
        retag.read_record(record, repository, "f")
    record.write_text(json.dumps({"version": 1, "status": "hit", "repository": repository, "digest": "sha256:1"}))
    with pytest.raises(StepError, match="a hit without a sha256 digest"):
        retag.read_record(record, repository, "f")
    record.write_text(json.dumps({"version": 1, "status": "miss", "key_tag": "bad tag!", "repository": repository}))
    with pytest.raises(StepError, match="is not a tag"):
        retag.read_record(record, repository, "f")
    digest = "sha256:" + "a" * 64
    record.write_text(
        json.dumps({"version": 1, "status": "hit", "repository": repository, "digest": digest, "key_tag": "build-1"})
    )
    assert retag.read_record(record, repository, "f") == retag.Record("hit", repository, "build-1", digest)


@pytest.mark.docker
def test_a_recorded_manifest_gone_from_the_registry_fails_with_the_way_out(
    checkout: Checkout, registry: Registry
) -> None:
    record = checkout.root / "vol" / "build-avoidance.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    digest = "sha256:" + "b" * 64
    record.write_text(
        json.dumps(
            {"version": 1, "status": "hit", "repository": f"{registry.host}/{IMAGE}", "digest": digest,
             "key_tag": "build-gone", "key": "gone", "reason": "test"}
        )
    )  # fmt: skip
    result = run_step("steps.publish_image", checkout, "gone", publish_argv(checkout, registry, "ffff0001"))
    assert result.returncode == 1, result.log
    assert "build-avoidance=false" in result.log and not result.outputs.exists()


@pytest.mark.docker
def test_react_preset_keys_its_own_dockerfile_and_both_bases(
    checkout: Checkout, registry: Registry, tmp_path: Path
) -> None:
    """The preset's Dockerfile is the step's own text; its two bases (build arguments pointing at this registry
    instead of docker.io, which a test must never contact) are resolved by digest."""
    node = make_busybox_base(registry, tmp_path / "node", repo="base/node", tag="20-alpine")
    nginx = make_busybox_base(registry, tmp_path / "nginx", repo="base/nginx", tag="alpine")
    (checkout.app / "package.json").write_text('{"name": "web", "scripts": {"build": "true"}}\n')
    commit_all(checkout.source, "web app")
    images = [("NODE_IMAGE", f"{registry.host}/base/node"), ("NGINX_IMAGE", nginx.ref)]
    argv = [
        *build_argv(checkout, registry, json.dumps([{"name": n, "value": v} for n, v in images])),
        "--preset", "react", "--node-version", "20",
    ]  # fmt: skip
    opts = BuildOptions.parse("test", "test", argv)
    decision = avoidance.decide(
        plan(opts), enabled="true", registry=registry.host, enabled_field="e", registry_field="r",
        preset_text=REACT_DOCKERFILE, log=StepLogger("build-image"),
    )  # fmt: skip
    assert decision.status == avoidance.STATUS_MISS and decision.key
    p = plan(opts)
    inputs = avoidance.key_inputs(p, REACT_DOCKERFILE, avoidance.RegistryAccess(False, None, None))
    assert [digest for *_, digest in inputs.bases] == [node.digest, nginx.digest]
    assert inputs.preset_sha256 and inputs.git is not None and inputs.git.dockerfile_blob is None
    other_version = [*argv[:-1], "22"]
    opts22 = BuildOptions.parse("test", "test", other_version)
    with pytest.raises(Incomplete, match="base/node:22-alpine"):  # no such base here: cannot be pinned
        avoidance.key_inputs(plan(opts22), REACT_DOCKERFILE, avoidance.RegistryAccess(False, None, None))


def test_the_pack_setting_turns_avoidance_off_in_every_template(tmp_path: Path) -> None:
    """`build.avoidance: false` reaches the pipeline argument and the step default; the pipelines pass the build
    the publish registry (where the key is looked up) and the per-run parameter."""
    import yaml

    for setting, expected in (("true", "true"), ("false", "false")):
        out = tmp_path / setting
        done = render_with_setting(out, "build.avoidance", setting)
        assert done.returncode == 0, done.stderr
        step = step_template(out, "containerfile-build")
        inputs = {p["name"]: p.get("default") for p in step["inputs"]["parameters"]}
        assert (inputs["build-avoidance"], inputs["registry"]) == (expected, "")
        for name in ("dockerfile-builder", "react-builder"):
            pipeline = yaml.safe_load((out / "pipelines" / f"{name}.yaml").read_text())
            arguments = {p["name"]: p.get("value") for p in pipeline["spec"]["arguments"]["parameters"]}
            assert arguments["build-avoidance"] == expected
            steps = [s for group in pipeline["spec"]["templates"][0]["steps"] for s in group]
            build = next(s for s in steps if s["name"] == "build-image")
            passed = {p["name"]: p["value"] for p in build["arguments"]["parameters"]}
            assert passed["registry"] == "{{workflow.parameters.registry}}"
            assert passed["build-avoidance"] == "{{workflow.parameters.build-avoidance}}"


@pytest.mark.docker
@pytest.mark.slow
def test_the_avoidance_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    """`python -m benchmarks --quick --runs 1 --only avoidance` completes with every row measured (figures are
    reported, never asserted: the benchmark itself checks each hit published the cold run's digest)."""
    out = tmp_path / "results.json"
    argv = [sys.executable, "-m", "benchmarks", "--quick", "--runs", "1", "--only", "avoidance", "-o", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {m["name"]: m for m in json.loads(out.read_text())["measurements"]}
    expected = {"avoidance.cold", "avoidance.cold-miss", "avoidance.unchanged", "avoidance.monorepo"}
    assert set(rows) == expected
    assert all(row["status"] == "ok" and row["runs"] == 1 for row in rows.values())
