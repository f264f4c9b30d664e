"""The pack model and its CLI commands (render/list --help, list output)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hera.workflows import Parameter

from hera_workflows.cli import main as cli_main
from hera_workflows.pack.blocks import StepTemplate, option_parameters
from hera_workflows.pack.documents import PackError, Resource
from hera_workflows.pack.model import Pack, PipelineArgument, PipelineStep
from hera_workflows.pack.pipelines import default_pack
from hera_workflows.pack.settings import Settings
from steps.common.cli import Option
from testkit.paths import ROOT


@pytest.fixture
def pack() -> Pack:
    return default_pack(Settings())


def test_default_pack(pack: Pack) -> None:
    shipped = [
        "ballerina-buildpack-builder",
        "dockerfile-builder",
        "gcp-buildpacks-builder",
        "paketo-buildpacks-builder",
        "react-builder",
    ]
    assert sorted(pack.pipelines) == sorted([*shipped, *(name + "-gitops" for name in shipped)])
    assert len(pack.step_templates) == 8  # react builds with containerfile-build's preset; + gitops-publish
    pack.validate()


def test_insert_step_errors(pack: Pack) -> None:
    step = PipelineStep("extra", "publish-image", "publish-image")
    with pytest.raises(PackError, match="no step named 'nope'"):
        pack.insert_step(step, after="nope")
    with pytest.raises(PackError, match="exactly one of after= or before="):
        pack.insert_step(step)
    with pytest.raises(PackError, match="no pipeline named 'x'"):
        pack.insert_step(step, after="build-image", pipelines=["x"])
    with pytest.raises(PackError, match="already exists"):
        pack.insert_step(PipelineStep("build-image", "publish-image", "publish-image"), before="publish-image")
    pack.insert_step(step, before="generate-workload-cr", pipelines=["dockerfile-builder"])
    assert pack.pipelines["dockerfile-builder"].step_names()[-2:] == ["extra", "generate-workload-cr"]
    assert "extra" not in pack.pipelines["gcp-buildpacks-builder"].step_names()


def test_validate_catches_inconsistent_steps(pack: Pack) -> None:
    pipeline = pack.pipelines["dockerfile-builder"]
    pipeline.insert_step(PipelineStep("ghost", "no-such-cwt", "x"), after="publish-image")
    with pytest.raises(PackError, match="unknown template 'no-such-cwt'"):
        pack.render()
    pipeline.steps.pop(pipeline.step_names().index("ghost"))
    pipeline.insert_step(PipelineStep("wrong", "publish-image", "push"), after="publish-image")
    with pytest.raises(PackError, match="template is 'publish-image'"):
        pack.render()
    pipeline.step("wrong").template = "publish-image"
    pipeline.step("wrong").arguments = {"no-such-input": "x"}
    with pytest.raises(PackError, match="undeclared input"):
        pack.render()


def test_duplicate_names_are_rejected(pack: Pack) -> None:
    template = pack.step_templates["publish-image"]
    with pytest.raises(PackError, match="already exists"):
        pack.add_step_template(StepTemplate(cwt="publish-image", template=template.template, description="x"))
    with pytest.raises(PackError, match="already exists"):
        pack.pipelines["dockerfile-builder"].add_argument(PipelineArgument("git-repo"))
    with pytest.raises(PackError, match="reserved"):
        pack.add_resource(Resource("steps", "x", {"kind": "ConfigMap"}))


def test_container_helper_applies_secure_defaults(pack: Pack) -> None:
    container = pack.container(
        template="hello",
        image="registry.example.com/hello:1",
        command=["hello"],
        inputs=[Parameter(name="who")],
        param_env={"WHO": "who"},
        outputs=["greeting"],
        retry_on_transient=True,
    )
    (built,) = StepTemplate(cwt="hello", template=container, description="x").to_dict()["spec"]["templates"]
    sc = built["container"]["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert {"name": "WHO", "value": "{{inputs.parameters.who}}"} in built["container"]["env"]
    assert built["outputs"]["parameters"][0]["valueFrom"]["path"] == "/tmp/outputs/greeting"
    assert built["retryStrategy"]["expression"] == "asInt(lastRetry.exitCode) == 75"


def test_option_parameters_rejects_unknown_defaults() -> None:
    options = [Option("a", ("--a",), "A", "a", default="1", param="a")]
    with pytest.raises(ValueError, match="unknown parameter"):
        option_parameters(options, defaults={"b": "x"})


def test_extra_resources_render_into_their_folder(pack: Pack) -> None:
    pack.add_resource(
        Resource(
            "extras", "team-config", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "team-config"}}
        )
    )
    paths = [r.path for r in pack.render()]
    assert "extras/team-config.yaml" in paths


@pytest.mark.parametrize("command", ["render", "list"])
def test_help(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hera_workflows", command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout and "--set" in result.stdout and "--extension" in result.stdout


def test_list_json_and_table(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert cli_main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    publish = next(r for r in rows if r.get("name") == "publish-image")
    (template,) = publish["templates"]
    assert [o["name"] for o in template["outputs"]] == ["image", "image-url", "image-digest"]
    assert {"name": "registry", "default": "ttl.sh/openchoreo-builds"} in template["inputs"]
    pipeline = next(r for r in rows if r.get("name") == "dockerfile-builder" and r["kind"] == "ClusterWorkflowTemplate")
    assert [s["name"] for s in pipeline["templates"][0]["steps"]][-1] == "generate-workload-cr"
    assert cli_main(["list"]) == 0
    table = capsys.readouterr().out
    assert "generate-workload/generate-workload-cr" in table and "outputs:   workload-cr" in table
    assert cli_main(["list", "--set", "nope=1"]) == 2
    assert "nope: unknown setting" in capsys.readouterr().err
