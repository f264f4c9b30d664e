"""`images build --push` pins the pushed step images by digest in a settings file that `render --config` takes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hera_workflows import images
from hera_workflows.pack import render
from hera_workflows.pack.settings import load_settings
from steps.common import contract


def test_settings_file_pins_the_digests(tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    built = images.Built(contract.IMAGE_REPO_BUILD, "r.example.com/ci/build:0.1.0", 1.0, False, digest=digest)
    path = tmp_path / "pack-images.yaml"
    images.write_settings_file(path, "r.example.com/ci/", [built])
    settings = load_settings(path)
    assert settings.images.registry == "r.example.com/ci" and settings.images.digests == {"build": digest}
    files = render.render_files(settings)
    assert f"image: r.example.com/ci/build:{contract.IMAGE_TAG}@{digest}" in files["steps/containerfile-build.yaml"]
    # a later push of another image to the same registry keeps the earlier digest; another registry starts over
    other = "sha256:" + "cd" * 32
    checkout = images.Built(contract.IMAGE_REPO_CHECKOUT, "r.example.com/ci/checkout:0.1.0", 1.0, False, digest=other)
    images.write_settings_file(path, "r.example.com/ci", [checkout])
    assert load_settings(path).images.digests == {"build": digest, "checkout": other}
    images.write_settings_file(path, "mirror.example.com/ci", [checkout])
    assert load_settings(path).images.digests == {"checkout": other}


@pytest.mark.docker
def test_push_prints_digests_and_writes_a_settings_file_render_takes(
    docker_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hera_workflows.cli import main as cli_main
    from testkit.containers import container_registry

    image = images.STEP_IMAGES[contract.IMAGE_REPO_CHECKOUT]
    settings_file = tmp_path / "pushed.yaml"
    with container_registry(tmp_path / "registry") as registry:
        argv = ["images", "build", "--local-base", "--only", image.name, "--push", f"{registry.host}/pack"]
        code = cli_main([*argv, "--settings-file", str(settings_file)])
        out = capsys.readouterr().out
        assert code == 0, out
        digest = next(line for line in out.splitlines() if line.startswith(f"{image.name} ")).split()[-1]
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
        assert registry.manifest_digest(f"pack/{image.name}", contract.IMAGE_TAG) == digest
        assert f"wrote {settings_file}" in out
        written = yaml.safe_load(settings_file.read_text())
        assert written == {
            "images": {"registry": f"{registry.host}/pack", "tag": contract.IMAGE_TAG, "digests": {image.name: digest}}
        }
        out_dir = tmp_path / "templates"
        assert cli_main(["render", "-o", str(out_dir), "--config", str(settings_file)]) == 0
        checkout = (out_dir / "steps" / "checkout-source.yaml").read_text()
        assert f"image: {registry.host}/pack/{image.name}:{contract.IMAGE_TAG}@{digest}" in checkout
    docker_client.images.remove(f"{registry.host}/pack/{image.name}:{contract.IMAGE_TAG}")
