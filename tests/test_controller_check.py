"""controller-check: OpenChoreo's extraction of `workload-cr` per controller version (v0.15, v0.16, v0.17).

Table tests for every situation of openchoreo-ci-contract.md §1.3 and the extraction conformance cases of §1.8
(re-expressed here), run on hand-written, kubectl-shaped Workflow fixtures (tests/fixtures/controller/) and
mutations of them. The upstream CRDs come through the reference locator (testkit/reference.py); the default
validator (the generate-workload step's own, no files) must reach the same verdict as the CRD on every case.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hera_workflows import controller_check as cc
from testkit.paths import CRDS

FIXTURES = Path(__file__).parent / "fixtures" / "controller"
TEMPLATE_REF = "pipeline-templateref-succeeded.json"
INLINE = "pipeline-inline-succeeded.json"
RETRY_GENERATE = "pipeline-inline-retry-generate.json"
FAILED = "pipeline-templateref-failed.json"
VERSIONS = cc.VERSIONS


def load(name: str) -> dict[str, Any]:
    return cc.load_workflow(FIXTURES / name)


def check(workflow: dict[str, Any], version: str = "0.17", **kw: Any) -> cc.CheckResult:
    return cc.check(workflow, version, CRDS, **kw)


def gen_nodes(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in workflow["status"]["nodes"].values() if n["displayName"].startswith(cc.TASK_NAME)]


def set_cr(workflow: dict[str, Any], text: str | None) -> dict[str, Any]:
    for node in gen_nodes(workflow):
        for param in node["outputs"]["parameters"]:
            if param["name"] == cc.PARAM_NAME:
                if text is None:
                    param.pop("value")
                else:
                    param["value"] = text
    return workflow


def cr_text(workflow: dict[str, Any]) -> str:
    for param in gen_nodes(workflow)[0]["outputs"]["parameters"]:
        if param["name"] == cc.PARAM_NAME:
            return str(param["value"])
    raise AssertionError("no workload-cr")


# --- §1.3, per version ------------------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], dict[str, Any]]


def _drop_generate(wf: dict[str, Any]) -> dict[str, Any]:
    for node in gen_nodes(wf):
        del wf["status"]["nodes"][node["id"]]
    return wf


def _gen_phase(phase: str) -> Mutation:
    def change(wf: dict[str, Any]) -> dict[str, Any]:
        for node in gen_nodes(wf):
            node["phase"] = phase
        return wf

    return change


def _no_outputs(wf: dict[str, Any]) -> dict[str, Any]:
    for node in gen_nodes(wf):
        node.pop("outputs")
    return wf


def _rename_param(wf: dict[str, Any]) -> dict[str, Any]:
    for node in gen_nodes(wf):
        for param in node["outputs"]["parameters"]:
            if param["name"] == cc.PARAM_NAME:
                param["name"] = "workload"
    return wf


def _edit_cr(old: str, new: str) -> Mutation:
    def change(wf: dict[str, Any]) -> dict[str, Any]:
        text = cr_text(wf)
        assert old in text
        return set_cr(wf, text.replace(old, new))

    return change


CASES: list[tuple[str, str, Mutation, dict[str, tuple[str, str | None]]]] = [
    # (id, fixture, mutation, {version: (case, condition status or None)})
    (
        "templateRef pipeline succeeded",
        TEMPLATE_REF,
        lambda w: w,
        {"0.15": (cc.CASE_NO_TASK, None), "0.16": (cc.CASE_APPLIED, "True"), "0.17": (cc.CASE_APPLIED, "True")},
    ),
    ("inline templates succeeded", INLINE, lambda w: w, {v: (cc.CASE_APPLIED, "True") for v in VERSIONS}),
    (
        "retryStrategy on generate-workload-cr",
        RETRY_GENERATE,
        lambda w: w,
        {"0.15": (cc.CASE_APPLIED, "True"), "0.16": (cc.CASE_APPLIED, "True"), "0.17": (cc.CASE_NO_TASK, None)},
    ),
    ("step missing", INLINE, _drop_generate, {v: (cc.CASE_NO_TASK, None) for v in VERSIONS}),
    ("step failed, workflow failed", FAILED, lambda w: w, {v: (cc.CASE_WORKFLOW_FAILED, None) for v in VERSIONS}),
    (
        "workflow Error",
        INLINE,
        lambda w: {**w, "status": {**w["status"], "phase": "Error"}},
        {v: (cc.CASE_WORKFLOW_FAILED, None) for v in VERSIONS},
    ),
    (
        "workflow still running",
        INLINE,
        lambda w: {**w, "status": {**w["status"], "phase": "Running"}},
        {v: (cc.CASE_NOT_COMPLETED, None) for v in VERSIONS},
    ),
    (
        "step node not Succeeded (continueOn)",
        INLINE,
        _gen_phase("Failed"),
        {v: (cc.CASE_NO_CR, "False") for v in VERSIONS},
    ),
    ("step node without outputs", INLINE, _no_outputs, {v: (cc.CASE_NO_CR, "False") for v in VERSIONS}),
    ("no workload-cr parameter", INLINE, _rename_param, {v: (cc.CASE_NO_CR, "False") for v in VERSIONS}),
    ("workload-cr value nil", INLINE, lambda w: set_cr(w, None), {v: (cc.CASE_NO_CR, "False") for v in VERSIONS}),
    ("workload-cr value empty", INLINE, lambda w: set_cr(w, ""), {v: (cc.CASE_NO_CR, "False") for v in VERSIONS}),
    (
        "YAML does not parse",
        INLINE,
        lambda w: set_cr(w, "kind: Workload\nspec: [unclosed\n"),
        {v: (cc.CASE_UNPARSEABLE, None) for v in VERSIONS},
    ),
    (
        "type mismatch: port as a string",
        INLINE,
        _edit_cr("port: 8080", 'port: "8080"'),
        {v: (cc.CASE_UNPARSEABLE, None) for v in VERSIONS},
    ),
    (
        "metadata.name empty",
        INLINE,
        _edit_cr("name: greeter-workload", 'name: ""'),
        {
            "0.15": (cc.CASE_MISSING_NAME, None),
            "0.16": (cc.CASE_MISSING_NAME, None),
            "0.17": (cc.CASE_MISSING_NAME, "False"),
        },
    ),
    (
        "CRD: endpoint type not in the enum",
        INLINE,
        _edit_cr("type: HTTP\n      visibility", "type: HTTPS\n      visibility"),
        {v: (cc.CASE_APPLY_REJECTED, None) for v in VERSIONS},
    ),
    (
        "CRD CEL: env with value and valueFrom",
        INLINE,
        _edit_cr("value: info", "value: info\n      valueFrom: {secretRef: {name: s, key: k}}"),
        {v: (cc.CASE_APPLY_REJECTED, None) for v in VERSIONS},
    ),
    (
        "CRD: owner missing",
        INLINE,
        _edit_cr("  owner:\n    componentName: greeter\n    projectName: demo", ""),
        {v: (cc.CASE_APPLY_REJECTED, None) for v in VERSIONS},
    ),
    (
        "invalid metadata.name",
        INLINE,
        _edit_cr("name: greeter-workload", "name: Greeter_Workload"),
        {v: (cc.CASE_APPLY_REJECTED, None) for v in VERSIONS},
    ),
    ("kind missing", INLINE, _edit_cr("kind: Workload\n", ""), {v: (cc.CASE_APPLY_REJECTED, None) for v in VERSIONS}),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("fixture", "mutation", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_situations_of_the_reference_table(
    fixture: str, mutation: Mutation, expected: dict[str, tuple[str, str | None]], version: str
) -> None:
    result = check(mutation(copy.deepcopy(load(fixture))), version)
    case, status = expected[version]
    assert result.case == case, result.explanation
    if status is None:
        assert result.condition is None
    else:
        assert result.condition is not None and result.condition.status == status
        if status == "True":
            assert result.condition == cc.Condition(
                "True", "WorkloadUpdated", "Workload CR created/updated successfully"
            )
        else:
            assert result.condition == cc.Condition(
                "False", "WorkloadUpdateFailed", "Failed to create/update workload CR"
            )
    assert result.ok == (status == "True")
    assert result.explanation  # our explanation of why


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("fixture", "mutation"), [c[1:3] for c in CASES], ids=[c[0] for c in CASES])
def test_default_step_validator_agrees_with_the_upstream_crd(fixture: str, mutation: Mutation, version: str) -> None:
    workflow = mutation(copy.deepcopy(load(fixture)))
    with_crd = check(workflow, version)
    default = cc.check(copy.deepcopy(workflow), version)  # no --crd-dir: no file is read
    assert (default.case, default.condition) == (with_crd.case, with_crd.condition)
    assert bool(default.validation_errors) == bool(with_crd.validation_errors), (
        default.validation_errors,
        with_crd.validation_errors,
    )
    if default.workload is not None:
        assert default.workload == with_crd.workload
        assert default.crd_used == cc.STEP_VALIDATOR


def test_explanations_name_the_cause() -> None:
    result = check(_no_outputs(load(INLINE)))
    assert "node greeter-run-0c9d8e7f-" in result.explanation[1] and "has no outputs" in result.explanation[1]
    result = check(set_cr(load(INLINE), None))
    assert "has no value (nil)" in result.explanation[1]
    result = check(load(TEMPLATE_REF), "0.15")
    assert any("no templateName: v0.15 matches templateName only" in e for e in result.explanation)
    result = check(load(RETRY_GENERATE), "0.17")
    assert any("Retry" in e and "not Pods" in e for e in result.explanation)
    result = check(_edit_cr("type: HTTP\n      visibility", "type: HTTPS\n      visibility")(load(INLINE)))
    assert any("endpoints.http.type: 'HTTPS' is not one of" in e for e in result.validation_errors)
    assert any("would be rejected" in e for e in result.explanation)
    assert any("ttlAfterCompletion" in e for e in result.explanation)
    result = check(
        _edit_cr("value: info", "value: info\n      valueFrom: {secretRef: {name: s, key: k}}")(load(INLINE))
    )
    assert "spec.container.env[0]: exactly one of value or valueFrom must be set" in result.validation_errors
    result = check(set_cr(load(INLINE), "kind: Workload\nspec: [unclosed\n"))
    assert "requeue" in result.controller_action and "yaml: line" in result.explanation[0]
    result = check(load(FAILED))
    assert any("failed step: build-image (Pod): Error (exit code 1)" in e for e in result.explanation)


def test_namespace_is_overwritten_by_the_run_namespace() -> None:
    wf = load(INLINE)
    assert "namespace: demo-ns" in cr_text(wf)
    result = check(wf)
    assert result.run_namespace == "demo-ns" and result.namespace_source.startswith("label ")
    assert result.workload is not None and result.workload["metadata"]["namespace"] == "demo-ns"
    result = check(wf, run_namespace="team-a")
    assert result.workload is not None and result.workload["metadata"]["namespace"] == "team-a"
    assert any("overwritten" in w for w in result.warnings)
    del wf["metadata"]["labels"]["openchoreo.dev/workflowrun-namespace"]
    result = check(wf)
    assert (result.run_namespace, result.namespace_source) == (
        "demo-ns",
        "Workflow namespace openchoreo-ci-demo-ns minus 'openchoreo-ci-'",
    )


def test_loose_parse_drops_unknown_fields_and_coerces_scalars() -> None:
    text = cr_text(load(INLINE))
    text = text.replace(
        "value: info", "value: 8080\n    - key: DEBUG\n      value: yes\n    - key: RATIO\n      value: 1.10"
    )
    text = (
        text.replace("  container:\n", "  container:\n    ports: [8080]\n")
        + "\n  containers: {main: {image: x}}\nstatus: {}\n"
    )
    result = check(set_cr(load(INLINE), text))
    assert result.case == cc.CASE_APPLIED
    assert result.workload is not None
    env = result.workload["spec"]["container"]["env"]
    assert [e["value"] for e in env] == ["8080", "true", "1.1"]
    assert "ports" not in result.workload["spec"]["container"]
    assert any("spec.container.ports" in w and "spec.containers" in w for w in result.warnings)


def test_json_workload_cr_is_accepted() -> None:
    import yaml

    as_json = json.dumps(yaml.safe_load(cr_text(load(INLINE))))
    result = check(set_cr(load(INLINE), as_json))
    assert result.case == cc.CASE_APPLIED


def test_case_insensitive_keys_as_encoding_json() -> None:
    result = check(_edit_cr("mountPath:", "MountPath:")(load(INLINE)))
    assert result.case == cc.CASE_APPLIED
    assert result.workload is not None
    assert result.workload["spec"]["container"]["files"][0]["mountPath"] == "/etc/greeter"


def test_several_matches_with_different_values_warn_about_random_order() -> None:
    wf = load(RETRY_GENERATE)
    retry = next(n for n in gen_nodes(wf) if n["type"] == "Retry")
    retry["outputs"]["parameters"][0]["value"] = cr_text(wf).replace("greeter-workload", "other-workload")
    result = check(wf, "0.16")
    assert any("at random" in w for w in result.warnings)


def test_crd_used_is_reported_per_version() -> None:
    assert check(load(INLINE), "0.17").crd_used == "openchoreo-v0.17.0/openchoreo.dev_workloads.yaml"
    result = check(load(INLINE), "0.16")
    assert result.crd_used == "openchoreo-v0.17.0/openchoreo.dev_workloads.yaml"
    assert any("v0.16 Workload CRD is not available" in w for w in result.warnings)


# --- §1.8 conformance cases, re-expressed ----------------------------------------------------------------------


def _node(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "my-workflow[0].x", "type": "Pod", "phase": "Succeeded"}
    base.update(fields)
    return base


OUT = {"parameters": [{"name": "workload-cr", "value": "kind: Workload"}]}


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        ({}, ""),
        ({"n1": _node(displayName="generate-workload-cr", outputs=OUT)}, "kind: Workload"),
        ({"n1": _node(name="my-workflow[0].generate-workload-cr", outputs=OUT)}, "kind: Workload"),
        ({"n1": _node(displayName="generate-workload-cr", phase="Failed", outputs=OUT)}, ""),
        ({"n1": _node(displayName="generate-workload-cr")}, ""),
        (
            {
                "n1": _node(
                    displayName="generate-workload-cr", outputs={"parameters": [{"name": "other", "value": "x"}]}
                )
            },
            "",
        ),
        ({"n1": _node(displayName="generate-workload-cr", outputs={"parameters": [{"name": "workload-cr"}]})}, ""),
    ],
    ids=["no nodes", "displayName match", "node-name suffix", "phase Failed", "no outputs", "wrong param", "nil value"],
)
def test_extract_workload_cr_from_run_resource_v017(nodes: dict[str, Any], expected: str) -> None:
    assert cc.extract_workload_cr(nodes, "0.17").value == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [([], False), (["build"], False), (["build", "generate-workload-cr"], True)],
)
def test_has_generate_workload_task(names: list[str], expected: bool) -> None:
    nodes = {f"n{i}": _node(displayName=n, phase="Running") for i, n in enumerate(names)}  # any phase counts
    assert cc.has_generate_workload_task(nodes, "0.17") is expected


def test_has_generate_workload_task_only_counts_pod_nodes() -> None:
    nodes = {"r": _node(displayName="generate-workload-cr", type="Retry")}
    assert not cc.has_generate_workload_task(nodes, "0.17")


def test_task_name_from_node_name() -> None:
    assert cc.name_suffix("workflow-name[0].generate-workload-cr") == "generate-workload-cr"
    assert cc.v017_task_name({"name": "wf[3].generate-workload-cr", "displayName": ""}) == "generate-workload-cr"


def test_resolve_node_template_name_v016() -> None:
    assert cc.resolve_node_template_name({"templateName": "a", "templateRef": {"template": "b"}}) == "a"
    assert cc.resolve_node_template_name({"templateRef": {"template": "b"}, "displayName": "c"}) == "b"
    assert cc.resolve_node_template_name({"displayName": "c"}) == "c"
    assert cc.node_task_name({"templateRef": {"template": "b"}, "displayName": "c"}, "0.15") == ""


def test_floats_in_string_fields_as_sigs_yaml_writes_them() -> None:
    """One emulation (steps/common/sigs_yaml_v1_6.py) for the step and the controller: an overflowing float32 used to
    crash controller-check, and NaN/Inf/-0 got YAML spellings that sigs.k8s.io/yaml only gives to map keys."""
    for written, expected in (("1.0e+39", "+Inf"), ("-.inf", "-Inf"), (".nan", "NaN"), ("-0.0", "-0"), ("1.10", "1.1")):
        result = check(_edit_cr("componentName: greeter", f"componentName: {written}")(load(INLINE)))
        assert result.case == cc.CASE_APPLIED, written
        assert result.workload is not None
        assert result.workload["spec"]["owner"]["componentName"] == expected, written


def test_list_type_set_rejects_duplicates_as_the_api_server_does() -> None:
    """The CRD's `x-kubernetes-list-type: set` (endpoint visibility) is uniqueItems here too."""
    result = check(_edit_cr("      - external", "      - external\n      - external")(load(INLINE)))
    assert result.case == cc.CASE_APPLY_REJECTED
    assert result.validation_errors == [
        "spec.endpoints.http.visibility: ['external', 'external'] has non-unique elements"
    ]


def test_keys_fold_as_go_does() -> None:
    """U+017F (long s) folds onto "s" in encoding/json, so `viſibility` is `visibility`, not a dropped field."""
    result = check(_edit_cr("visibility:", "vi\u017fibility:")(load(INLINE)))
    assert result.case == cc.CASE_APPLIED and not result.warnings
    assert result.workload is not None
    assert result.workload["spec"]["endpoints"]["http"]["visibility"] == ["external"]


# --- input handling and the CLI ------------------------------------------------------------------------------


def test_compressed_and_offloaded_node_status_are_clear_errors(tmp_path: Path) -> None:
    wf = load(INLINE)
    wf["status"].pop("nodes")
    wf["status"]["compressedNodes"] = "H4sIAAAAAAAA/6tWKkktLlGyUlAqS8wpTlWqBQBHyi8TEQAAAA=="
    with pytest.raises(cc.CheckError, match=r"status\.compressedNodes: compressed node status is not supported"):
        check(wf)
    wf["status"].pop("compressedNodes")
    wf["status"]["offloadNodeStatusVersion"] = "fnv:1234"
    with pytest.raises(cc.CheckError, match="offloaded"):
        check(wf)


def test_cli_exit_codes_and_yaml_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    crd = ["--crd-dir", str(CRDS)]
    assert cc.run([str(FIXTURES / INLINE), *crd]) == 0
    out = capsys.readouterr().out
    assert "Condition: WorkloadUpdated=True reason=WorkloadUpdated" in out
    assert "kind: Workload" in out and "CRD: openchoreo-v0.17.0/openchoreo.dev_workloads.yaml: valid" in out
    as_yaml = tmp_path / "wf.yaml"
    as_yaml.write_text(yaml.safe_dump(load(TEMPLATE_REF)))
    assert cc.run([str(as_yaml), "--openchoreo", "0.15", *crd]) == 1
    assert "Condition: none" in capsys.readouterr().out
    assert cc.run([str(FIXTURES / FAILED), "--json", *crd]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["case"] == cc.CASE_WORKFLOW_FAILED and data["condition"] is None
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Workflow\nstatus: [\n")
    assert cc.run([str(broken), *crd]) == 2
    assert f"{broken}:3: not valid YAML" in capsys.readouterr().err
    other = tmp_path / "cm.yaml"
    other.write_text("kind: ConfigMap\n")
    assert cc.run([str(other), *crd]) == 2
    assert "kind: expected Workflow" in capsys.readouterr().err
