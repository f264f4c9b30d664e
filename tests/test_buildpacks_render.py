"""The buildpacks step templates as settings shape them (no containers): the builder's uid/gid become the pod's
identity and CNB_USER_ID/CNB_GROUP_ID together, images stay digest-pinned by default, bad settings name the field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from hera_workflows.pack import render
from hera_workflows.pack.settings import SettingsError, load_settings
from hera_workflows.pack.step_templates import buildpacks


def _template(overrides: list[str], build_type: str = "paketo-buildpacks") -> dict[str, Any]:
    """The build-image template of `build_type` as `render` writes it with `overrides`."""
    files = render.render_files(load_settings(None, overrides))
    document = yaml.safe_load(files[f"steps/{buildpacks.flavors(load_settings())[build_type].cwt}.yaml"])
    template: dict[str, Any] = document["spec"]["templates"][0]
    return template


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_builder_uid_and_gid_set_the_pod_identity_and_the_lifecycle_ids_together() -> None:
    tpl = _template(["buildpacks.paketo.uid=2000", "buildpacks.paketo.gid=3000"])
    env = _env(tpl["container"])
    assert (env["CNB_USER_ID"], env["CNB_GROUP_ID"]) == ("2000", "3000")
    for context in (tpl["container"]["securityContext"], tpl["initContainers"][0]["securityContext"]):
        assert (context["runAsUser"], context["runAsGroup"]) == (2000, 3000)
        assert context["capabilities"] == {"drop": ["ALL"]} and context["allowPrivilegeEscalation"] is False
    assert (tpl["securityContext"]["runAsUser"], tpl["securityContext"]["runAsGroup"]) == (2000, 3000)
    # setting one key of a flavor keeps its other defaults (builder and run image)
    assert tpl["container"]["image"].endswith(
        "@sha256:9824e8d6e79f0b01f422dfd4062347a451956a1439cfe7874c42ca88418901dc"
    )


def test_an_unknown_builder_uid_falls_back_to_the_pack_identity() -> None:
    env = _env(
        _template(["security.run_as_user=4242", "security.run_as_group=4343"], "ballerina-buildpack")["container"]
    )
    assert (env["CNB_USER_ID"], env["CNB_GROUP_ID"]) == ("4242", "4343")


def test_defaults_are_digest_pinned_with_the_upstream_builders_ids() -> None:
    for build_type, ids in (("paketo-buildpacks", ("1001", "1000")), ("gcp-buildpacks", ("1000", "1000"))):
        tpl = _template([], build_type)
        env = _env(tpl["container"])
        assert "@sha256:" in tpl["container"]["image"] and "@sha256:" in env["CNB_RUN_IMAGE"]
        assert (env["CNB_USER_ID"], env["CNB_GROUP_ID"]) == ids


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("buildpacks.paketo.uid=0", "buildpacks.paketo.uid: Input should be greater than or equal to 1"),
        ("buildpacks.gcp.run_image=gcr.io/x@sha256:12", "buildpacks.gcp.run_image: Value error, bad digest"),
        ("buildpacks.paketo.builder=docker.io/paketobuildpacks/builder", "pin 'docker.io/paketobuildpacks/builder'"),
    ],
)
def test_bad_builder_settings_name_the_field(override: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(None, [override])
    assert message in str(raised.value)
