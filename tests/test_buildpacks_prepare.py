"""prepare-buildpacks (steps/publish_image/buildpacks_prepare.py) without containers: the layout paths the
lifecycle derives from image references, build-env -> <platform>/env/<NAME>, and bad input failing before any
side effect. The same program runs for real in tests/test_buildpacks_containers.py (init container of the
rendered build-image template, then the real lifecycle reads and writes those paths)."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest

from steps.common import contract
from steps.common.log import StepError, StepLogger
from steps.publish_image import buildpacks_prepare as prep
from testkit.registry import free_port

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        # Docker Hub defaults as go-containerregistry applies them (index.docker.io, library/, latest)
        ("busybox", "index.docker.io/library/busybox/latest"),
        ("docker.io/paketobuildpacks/run:0.1.130", "index.docker.io/paketobuildpacks/run/0.1.130"),
        (f"docker.io/paketobuildpacks/run@{DIGEST}", f"index.docker.io/paketobuildpacks/run/sha256/{'ab' * 32}"),
        (f"gcr.io/buildpacks/google-22/run:v1@{DIGEST}", f"gcr.io/buildpacks/google-22/run/sha256/{'ab' * 32}"),
        ("127.0.0.1:5000/cnb/run:1", "127.0.0.1:5000/cnb/run/1"),
        ("localhost/app", "localhost/app/latest"),
        ("openchoreo-ci-pack.local/app-image:latest", "openchoreo-ci-pack.local/app-image/latest"),
    ],
)  # fmt: skip
def test_layout_path_follows_the_lifecycle(reference: str, expected: str) -> None:
    assert prep.layout_path(reference, "f") == PurePosixPath(expected)


@pytest.mark.parametrize("reference", ["/mnt/vol/app-image.tar", "Upper/case:1", "x@sha256:12", "repo:bad tag"])
def test_layout_path_rejects_what_is_not_a_reference(reference: str) -> None:
    with pytest.raises(StepError, match="f: "):
        prep.layout_path(reference, "f")


def _argv(tmp_path: Path, **over: str) -> list[str]:
    source = tmp_path / "source"
    (source / "svc").mkdir(parents=True, exist_ok=True)
    values = {
        "--app-path": "/svc",
        "--build-env": json.dumps([{"name": "BP_GREETING", "value": "hi there"}, {"name": "N", "value": 3}]),
        "--run-image": "127.0.0.1:1/cnb/run:1",
        "--output-image": "openchoreo-ci-pack.local/app-image:latest",
        "--layout-dir": str(tmp_path / "layout"),
        "--platform-dir": str(tmp_path / "platform"),
        "--source-dir": str(source),
        "--archive": str(tmp_path / "app-image.tar"),
        **over,
    }
    return [part for key, value in values.items() for part in (key, value)]


def test_plan_strips_the_leading_slash_and_reads_build_env(tmp_path: Path) -> None:
    plan = prep.plan(prep.PrepareOptions.parse(prep.PROG, prep.DESCRIPTION, _argv(tmp_path), {}))
    assert plan.app_dir == (tmp_path / "source" / "svc").resolve()
    assert plan.build_env == [("BP_GREETING", "hi there"), ("N", "3")]
    assert plan.app_image_dir == tmp_path / "layout" / "openchoreo-ci-pack.local" / "app-image" / "latest"
    prep.write_platform_env(plan, StepLogger("t"))
    assert (tmp_path / "platform" / "env" / "BP_GREETING").read_text() == "hi there"
    prep.link_archive(plan, StepLogger("t"))
    assert (tmp_path / "app-image.tar").resolve() == plan.app_image_dir.resolve()


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"--app-path": "../../etc"}, "--app-path (env APP_PATH): '../../etc' is outside the source root"),
        ({"--app-path": "missing"}, "is not a directory in the checked-out source"),
        ({"--build-env": "{"}, "--build-env (env BUILD_ENV): not valid JSON"),
        ({"--build-env": '[{"name": "A-B", "value": "x"}]'}, "--build-env (env BUILD_ENV)[0].name: 'A-B'"),
        ({"--build-env": '[{"name": "A", "value": true}]'}, "[0].value: expected a string"),
        ({"--build-env": '[{"name": "A"}, {"name": "A"}]'}, "[1].name: 'A' is given twice"),
        ({"--run-image": "/tmp/run"}, "--run-image (env CNB_RUN_IMAGE): '/tmp/run' is not an image reference"),
    ],
)
def test_bad_input_fails_before_any_side_effect(tmp_path: Path, over: dict[str, str], message: str) -> None:
    argv = _argv(tmp_path, **over)
    with pytest.raises(StepError) as raised:
        prep.main(StepLogger("t"), argv)
    assert message in str(raised.value)
    assert not (tmp_path / "platform").exists() and not (tmp_path / "layout").exists()
    assert not (tmp_path / "app-image.tar").exists()


def test_an_unreachable_run_image_is_a_transient_failure_that_leaves_no_partial_layout(tmp_path: Path) -> None:
    """Real skopeo against a port nothing listens on: exit 75 (publish-like transient), the field named."""
    dead = f"127.0.0.1:{free_port()}"
    argv = _argv(tmp_path, **{"--run-image": f"{dead}/cnb/run:1", "--tls-verify": "false", "--retries": "1"})
    with pytest.raises(StepError) as raised:
        prep.main(StepLogger("t"), argv)
    assert raised.value.exit_code == contract.EXIT_TRANSIENT
    assert f"--run-image (env CNB_RUN_IMAGE): cannot copy {dead}/cnb/run:1" in str(raised.value)
    layout = tmp_path / "layout"
    assert not (layout / dead / "cnb" / "run" / "1").exists()
    assert not [p for p in layout.iterdir() if p.name.startswith(".run-image-")]  # the scratch copy is gone
    assert not (tmp_path / "app-image.tar").exists()  # the link is made only after the run image is in place
