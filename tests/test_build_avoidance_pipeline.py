"""Build avoidance through the whole pipeline: `python -m hera_workflows run dockerfile-builder` twice on the same
commit, on the local Docker engine with the pack's step images (built by `images build --local-base`), a git server
and a registry on 127.0.0.1. Each run gets a fresh workspace and fresh buildah storage, as new pods do: the second
run finds `build-<key>`, skips the build and publishes the same digest.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from testkit.gitserver import HttpGitServer
from testkit.registry import BaseImage, Registry
from tests.test_e2e_pipeline import IMAGE_NAME, Run, git_server, run_pipeline, source

pytestmark = [pytest.mark.docker, pytest.mark.slow]
__all__ = ["git_server"]  # the module-scoped fixture, shared with the end-to-end test


def outputs(run: Run, step: str) -> dict[str, str]:
    return {p["name"]: p.get("value", "") for p in run.node(step).get("outputs", {}).get("parameters", [])}


def test_second_run_on_the_same_commit_skips_the_build(
    tmp_path: Path, git_server: tuple[HttpGitServer, Path], busybox_base: BaseImage, plain_registry: Registry
) -> None:
    token = secrets.token_hex(8)  # a tree no other test built, so the first run must miss

    def unique(work: Path) -> None:
        (work / "build-id.txt").write_text(token)

    src = source(git_server, f"avoid-{token}.git", unique)
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()

    first = run_pipeline(tmp_path / "first", src, busybox_base, plain_registry.host)
    assert first.returncode == 0, first.stderr
    assert "build avoidance: miss" in first.stdout and "STEP 1/" in first.stdout
    published = outputs(first, "publish-image")
    digest = published["image-digest"]
    assert outputs(first, "build-image")["image-digest"] == digest

    second = run_pipeline(tmp_path / "second", src, busybox_base, plain_registry.host)
    assert second.returncode == 0, second.stderr
    assert second.workflow["status"]["phase"] == "Succeeded"
    assert "build avoidance: hit" in second.stdout and "skipping the build" in second.stdout
    assert "STEP 1/" not in second.stdout  # buildah never ran
    assert outputs(second, "build-image")["image-digest"] == digest
    assert outputs(second, "publish-image") == published  # same tag (same commit), same digest
    key_tags = [tag for tag in plain_registry.tags(IMAGE_NAME) if tag.startswith("build-")]
    assert any(plain_registry.manifest_digest(IMAGE_NAME, tag) == digest for tag in key_tags)
