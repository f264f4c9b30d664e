"""Pack settings: YAML file + --set overrides; every error names the field and where it was set."""

from __future__ import annotations

from pathlib import Path

import pytest

from hera_workflows.pack.settings import (
    Settings,
    SettingsError,
    load_settings,
    settings_keys,
    settings_reference,
    settings_reference_markdown,
    settings_reference_text,
)
from steps.common import contract


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pack-settings.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings.images.registry == contract.IMAGE_REGISTRY and settings.images.tag == contract.PACK_VERSION
    assert settings.security.run_as_user == contract.STEP_UID
    assert settings.publish.tls_verify is True and settings.openchoreo.inline_steps is False


def test_file_and_set_overrides_merge(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "images:\n  registry: registry.example.com/ci\n  tag: '1.2.3'\npublish:\n  tls_verify: false\n"
        "extensions: [a.b:c]\n",
    )
    settings = load_settings(
        path,
        [
            "images.tag=2.0.0",
            "steps.build.resources.cpu_limit=1.5",
            "publish.push_retries=5",
            "pipelines.names.dockerfile=docker",
        ],
        extensions=["d:e"],
    )
    assert settings.images.registry == "registry.example.com/ci"
    assert settings.images.tag == "2.0.0"
    assert settings.steps.build.resources.cpu_limit == "1.5"  # a quantity stays text
    assert settings.publish.push_retries == 5 and settings.publish.tls_verify is False
    assert settings.pipelines.names == {"dockerfile": "docker"}
    assert settings.extensions == ["a.b:c", "d:e"]


def test_unknown_key_in_file_names_field_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "images:\n  registry: r.example.com\n  regsitry: typo\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert f"{path}:3: images.regsitry: unknown setting" in str(caught.value)


def test_bad_value_in_file_names_field_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "steps:\n  build:\n    resources:\n      memory_limit: lots\nopenchoreo:\n  profile: v9\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert f"{path}:4: steps.build.resources.memory_limit:" in message
    assert f"{path}:6: openchoreo.profile:" in message and "openchoreo-1.x" in message


def test_set_errors_name_the_override() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(None, ["images.digests.build=sha256:nothex"])
    assert "--set images.digests.build=sha256:nothex: images.digests" in str(caught.value)
    with pytest.raises(SettingsError, match=r"--set publish.tlsverify=false: publish.tlsverify: unknown setting"):
        load_settings(None, ["publish.tlsverify=false"])
    with pytest.raises(SettingsError, match=r"--set publish: expected key=value"):
        load_settings(None, ["publish"])
    with pytest.raises(SettingsError, match=r"--set publish.registry.host=x: publish.registry: Input should be"):
        load_settings(None, ["publish.registry.host=x"])
    with pytest.raises(SettingsError, match=r"--set publish.registry.host=y: publish.registry is not a mapping"):
        load_settings(None, ["publish.registry=x", "publish.registry.host=y"])
    with pytest.raises(SettingsError, match=r"--set secrets.git=Not_A_Name: secrets.git"):
        load_settings(None, ["secrets.git=Not_A_Name"])


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load_settings(tmp_path / "missing.yaml")
    with pytest.raises(SettingsError, match=r"pack-settings.yaml:\d+: not valid YAML"):
        load_settings(_write(tmp_path, "images:\n  - [unclosed\n"))
    with pytest.raises(SettingsError, match=r"pack-settings.yaml:1: the settings file must be a mapping"):
        load_settings(_write(tmp_path, "- a\n- b\n"))
    assert load_settings(_write(tmp_path, "")) == Settings()


def test_validation_rules() -> None:
    with pytest.raises(SettingsError, match=r"images\.registry"):
        load_settings(None, ["images.registry=https://r.example.com"])
    with pytest.raises(SettingsError, match=r"buildpacks\.paketo\.builder"):
        load_settings(None, ["buildpacks.paketo.builder=docker.io/paketobuildpacks/builder"])
    with pytest.raises(SettingsError, match="extensions"):
        load_settings(None, ["extensions=[not-a-spec]"])
    with pytest.raises(SettingsError, match=r"pipelines\.build_types\.0"):
        load_settings(None, ["pipelines.build_types=[kaniko]"])
    with pytest.raises(SettingsError, match=r"steps\.checkout\.active_deadline_seconds"):
        load_settings(None, ["steps.checkout.active_deadline_seconds=0"])


def test_settings_keys_are_listed() -> None:
    keys = settings_keys()
    for key in (
        "images.registry",
        "steps.build.resources.memory_limit",
        "api.oauth_token_url",
        "openchoreo.inline_steps",
    ):
        assert key in keys


def test_example_settings_file_is_valid() -> None:
    from testkit.paths import ROOT

    settings = load_settings(ROOT / "examples" / "pack-settings.yaml")
    assert settings.api.mode == "workloads" and settings.secrets.registry_ca == "corp-ca"


def test_every_setting_has_a_type_default_and_meaning() -> None:
    docs = settings_reference()
    assert [d.key for d in docs] == settings_keys()
    for doc in docs:
        assert doc.type and doc.default and doc.description, doc.key
    by_key = {d.key: d for d in docs}
    assert by_key["api.mode"].type == "auto | workloads | legacy | off" and by_key["api.mode"].default == '"auto"'
    assert by_key["steps.build.resources.cpu_limit"].default == '"4"'  # the parent's default, not the class's
    assert by_key["pipelines.storage_class"].type == "string | null"


def test_render_help_and_readme_reference_come_from_the_descriptions() -> None:
    import subprocess
    import sys

    from testkit.paths import ROOT

    help_text = subprocess.run(
        [sys.executable, "-m", "hera_workflows", "render", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert settings_reference_text() in help_text
    assert '  api.server_url (string; default "http://openchoreo-api.' in help_text
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- settings-reference:start -->\n", "<!-- settings-reference:end -->"
    section = readme[readme.index(start) + len(start) : readme.index(end)]
    assert section == settings_reference_markdown(), "stale: run `python scripts/update_settings_reference.py`"


def test_a_bare_off_means_the_off_mode() -> None:
    # YAML 1.1 reads `off` as false; `--set api.mode=off` and `mode: off` must still select the mode
    assert load_settings(None, ["api.mode=off"]).api.mode == "off"
    assert Settings.model_validate({"api": {"mode": False}}).api.mode == "off"
    with pytest.raises(SettingsError, match=r"api\.mode"):
        load_settings(None, ["api.mode=true"])


def test_defaults_deliver_to_a_default_openchoreo_install() -> None:
    api = Settings().api
    assert api.mode == "auto"
    assert api.server_url == "http://openchoreo-api.openchoreo-control-plane.svc.cluster.local:8080"
    assert api.oauth_token_url == "http://thunder-service.thunder.svc.cluster.local:8090/oauth2/token"
    assert api.oauth_client_id == "openchoreo-workload-publisher-client"
    assert Settings().openchoreo.step_defaults_from_workflow is True
    assert Settings().build.isolation == "user-namespace"
    assert Settings().security.automount_service_account_token is False
