"""Unit tests of the local runner's engine: parameters, steps semantics, retries, Argo status shape, and the
errors for unsupported fields.

These tests exercise engine logic only, so Pods go to a FAKE pod executor (`FakePods`) that returns scripted
exit codes and outputs instead of starting containers. Running real containers through podrun is covered by
tests/test_e2e_pipeline.py.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hera_workflows.engine import expr
from hera_workflows.engine.load import Library, Plan, RunnerError, build_plan, load_library
from hera_workflows.engine.report import Reporter, summary_table
from hera_workflows.engine.status import fnv32a, node_id
from hera_workflows.engine.workflow import Engine, Mounts, PodOutcome
from hera_workflows.upstream.argo_v3_6 import parse_duration

FIXTURES = Path(__file__).parent / "fixtures" / "runner"
Script = Callable[[str, dict[str, str], int], PodOutcome]


class FakePods:
    """Fake pod executor (no containers): `script(template_name, variables, attempt)` decides the outcome."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or (lambda name, variables, attempt: PodOutcome("Succeeded", 0, {}))
        self.calls: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.lock = threading.Lock()

    def __call__(
        self,
        template: dict[str, Any],
        variables: dict[str, str],
        mounts: Mounts,
        *,
        name: str,
        on_log: Callable[[str], None],
    ) -> PodOutcome:
        with self.lock:
            attempt = sum(1 for c in self.calls if c[0] == template["name"])
            self.calls.append((str(template["name"]), dict(variables), template))
        on_log(f"running {name}")
        return self.script(str(template["name"]), variables, attempt)


def ci_outputs(name: str, variables: dict[str, str], attempt: int) -> PodOutcome:
    if name == "build":
        return PodOutcome("Succeeded", 0, {"image": "registry.local/org/app:abc123"})
    if name == "publish-image":
        return PodOutcome("Succeeded", 0, {"image-ref": variables["inputs.parameters.image"] + "@sha256:9f2c"})
    if name == "generate-workload-cr":
        return PodOutcome("Succeeded", 0, {"workload-cr": "kind: Workload\n"})
    if name == "echo":
        return PodOutcome("Succeeded", 0, {"out": variables["inputs.parameters.text"].upper()})
    raise AssertionError(name)


def library() -> Library:
    lib = Library()
    for doc in yaml.safe_load_all((FIXTURES / "ci-docker.yaml").read_text()):
        lib.add(doc, "ci-docker.yaml")
    return lib


def run(plan: Plan, pods: FakePods, sleeps: list[float] | None = None) -> dict[str, Any]:
    recorded = sleeps if sleeps is not None else []
    engine = Engine(plan, pods, Mounts(Path("/nonexistent"), {}), Reporter(None), sleep=recorded.append)
    return engine.run()


def nodes_by_name(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in workflow["status"]["nodes"].values()}


# --- ids ----------------------------------------------------------------------------------------------------


def test_node_ids_match_argo_fixtures() -> None:
    # workflow/controller/hooks_test.go (TestWorkflowTemplateRefWithHook, TestTemplateRefWithHook)
    wf = "workflow-template-whalesay-template-hjgcg"
    assert node_id(wf, f"{wf}[0].step-1") == f"{wf}-1408741"
    assert node_id(wf, f"{wf}[0]") == f"{wf}-2088741593"
    assert node_id(wf, f"{wf}[1].step2") == f"{wf}-2492429498"
    assert node_id(wf, wf) == wf
    wf1 = "workflow-template-whalesay-template-1"
    assert node_id(wf1, f"{wf1}[0].step-1[0].step-1") == f"{wf1}-2715724931"
    assert fnv32a("") == 0x811C9DC5


# --- the workflowTemplateRef shape ---------------------------------------------------------------------------


def test_workflow_template_ref_shape_matches_the_reference_status() -> None:
    """The reference's realistic status for snippet 1 (hera-argo-and-peers.md §2a), re-derived by running it."""
    plan = build_plan(
        "openchoreo-ci-docker", {"git-repo": "https://github.com/org/app"}, library(), name="ci-myapp-x7k2p"
    )
    wf = run(plan, FakePods(ci_outputs))
    status = wf["status"]
    assert status["phase"] == "Succeeded"
    assert status["progress"] == "3/3"
    assert wf["metadata"]["labels"]["workflows.argoproj.io/cluster-workflow-template"] == "openchoreo-ci-docker"
    assert wf["metadata"]["labels"]["workflows.argoproj.io/phase"] == "Succeeded"
    assert wf["spec"]["workflowTemplateRef"] == {"name": "openchoreo-ci-docker", "clusterScope": True}
    assert status["storedWorkflowTemplateSpec"]["entrypoint"] == "main"
    n = status["nodes"]
    p = "ci-myapp-x7k2p"
    root = n[p]
    assert (root["type"], root["templateName"], root["templateScope"], root["displayName"]) == (
        "Steps",
        "main",
        "local/",
        p,
    )
    assert root["children"] == [f"{p}-157640698"]
    assert root["outboundNodes"] == [f"{p}-2912353657"]
    g0 = n[f"{p}-157640698"]
    assert (g0["name"], g0["displayName"], g0["type"], g0["boundaryID"]) == (f"{p}[0]", "[0]", "StepGroup", p)
    assert "templateName" not in g0 and g0["templateScope"] == "local/"
    assert g0["children"] == [f"{p}-3240337884"]
    build = n[f"{p}-3240337884"]
    assert (build["name"], build["displayName"], build["type"], build["templateName"]) == (
        f"{p}[0].build",
        "build",
        "Pod",
        "build",
    )
    assert build["children"] == [f"{p}-1164047575"]
    assert build["inputs"]["parameters"] == [{"name": "git-repo", "value": "https://github.com/org/app"}]
    assert build["outputs"] == {
        "parameters": [
            {"name": "image", "valueFrom": {"path": "/tmp/outputs/image"}, "value": "registry.local/org/app:abc123"}
        ],
        "exitCode": "0",
    }
    retry = n[f"{p}-1785444842"]
    assert (retry["type"], retry["displayName"], retry["templateName"]) == ("Retry", "publish-image", "publish-image")
    assert retry["children"] == [f"{p}-3918939921"]
    assert retry["outputs"]["parameters"][0]["value"] == "registry.local/org/app:abc123@sha256:9f2c"
    attempt = n[f"{p}-3918939921"]
    assert (attempt["name"], attempt["displayName"], attempt["type"]) == (
        f"{p}[1].publish-image(0)",
        "publish-image(0)",
        "Pod",
    )
    assert attempt["nodeFlag"] == {"retried": True} and attempt["boundaryID"] == p
    assert attempt["children"] == [f"{p}-1164592028"]  # the next group hangs off the Retry node's last child
    gen = n[f"{p}-2912353657"]
    assert gen["displayName"] == "generate-workload-cr" and "children" not in gen
    assert gen["outputs"]["parameters"][0]["value"] == "kind: Workload\n"
    for node in n.values():
        assert node["phase"] == "Succeeded"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", node["finishedAt"])


def test_parameters_flow_between_steps_and_pods() -> None:
    pods = FakePods(ci_outputs)
    plan = build_plan(
        "openchoreo-ci-docker", {"git-repo": "https://x/app", "image": "override"}, library(), name="wf-1"
    )
    run(plan, pods)
    build_vars = pods.calls[0][1]
    assert build_vars["inputs.parameters.git-repo"] == "https://x/app"
    assert build_vars["workflow.parameters.image"] == "override"  # --param beats the template's default
    assert build_vars["workflow.name"] == "wf-1"
    assert build_vars["pod.name"] == f"wf-1-build-{fnv32a('wf-1[0].build')}"
    publish_vars = pods.calls[1][1]
    assert publish_vars["inputs.parameters.image"] == "registry.local/org/app:abc123"
    assert publish_vars["retries"] == "0"
    gen_vars = pods.calls[2][1]
    assert gen_vars["inputs.parameters.image-ref"] == "registry.local/org/app:abc123@sha256:9f2c"


def test_pod_template_gets_workflow_volumes_and_security_context() -> None:
    lib = library()
    cwt = lib.cluster["openchoreo-ci-docker"]
    cwt["spec"]["volumes"] = [{"name": "shared", "emptyDir": {}}]
    cwt["spec"]["securityContext"] = {"fsGroup": 1000}
    pods = FakePods(ci_outputs)
    run(build_plan("openchoreo-ci-docker", {"git-repo": "g"}, lib), pods)
    template = pods.calls[0][2]
    assert [v["name"] for v in template["volumes"]] == ["tmp", "shared"]
    assert template["securityContext"] == {"fsGroup": 1000}


def test_missing_and_unknown_parameters_fail_before_running() -> None:
    with pytest.raises(RunnerError) as err:
        build_plan("openchoreo-ci-docker", {"gitrepo": "x"}, library())
    text = str(err.value)
    assert "--param gitrepo: not a parameter of this workflow" in text
    assert "spec.arguments.parameters[0] (git-repo): no value; pass --param git-repo=VALUE" in text


def test_enum_is_enforced() -> None:
    lib = library()
    lib.cluster["openchoreo-ci-docker"]["spec"]["arguments"]["parameters"][1]["enum"] = ["a", "b"]
    with pytest.raises(RunnerError, match=r"value 'c' is not one of \['a', 'b'\]"):
        build_plan("openchoreo-ci-docker", {"git-repo": "x", "image": "c"}, lib)


# --- the templateRef shape -----------------------------------------------------------------------------------


def test_template_ref_shape_and_parallel_group() -> None:
    lib = library()
    barrier = threading.Barrier(2, timeout=10)

    def script(name: str, variables: dict[str, str], attempt: int) -> PodOutcome:
        if variables["node.name"].endswith((".a", ".b")):
            barrier.wait()  # both steps of group 0 must be running at the same time
        return ci_outputs(name, variables, attempt)

    plan = build_plan(str(FIXTURES / "composed-workflow.yaml"), {}, lib)
    wf = run(plan, FakePods(script))
    assert wf["status"]["phase"] == "Succeeded"
    assert "workflows.argoproj.io/cluster-workflow-template" not in wf["metadata"].get("labels", {})
    n = nodes_by_name(wf)
    w = "ci-custom-abcde"
    assert n[w]["templateScope"] == f"local/{w}" and n[w]["templateName"] == "main"
    a = n[f"{w}[0].a"]
    assert a["templateRef"] == {"name": "tools", "template": "echo", "clusterScope": True}
    assert "templateName" not in a and a["templateScope"] == f"local/{w}" and a["type"] == "Pod"
    assert n[f"{w}[0]"]["children"] == [a["id"], n[f"{w}[0].b"]["id"]]
    # both Pods of group 0 link to group 1
    assert a["children"] == n[f"{w}[0].b"]["children"] == [n[f"{w}[1]"]["id"]]
    nested = n[f"{w}[1].nested"]
    assert nested["type"] == "Steps" and nested["templateRef"]["template"] == "twice"
    assert nested["templateScope"] == f"local/{w}"
    inner_group = n[f"{w}[1].nested[0]"]
    assert inner_group["templateScope"] == "cluster/tools" and inner_group["boundaryID"] == nested["id"]
    assert inner_group["displayName"] == "[0]"
    first = n[f"{w}[1].nested[0].first"]
    assert (first["templateName"], first["templateScope"], first["displayName"]) == ("echo", "cluster/tools", "first")
    assert first["boundaryID"] == nested["id"]
    assert first["inputs"]["parameters"][0]["value"] == "HI+HELLO-1"
    second = n[f"{w}[1].nested[1].second"]
    assert second["outputs"]["parameters"][0]["value"] == "HI+HELLO-1-2"
    assert nested["outputs"]["parameters"][0]["value"] == "HI+HELLO-1-2"
    assert nested["outboundNodes"] == [second["id"]]
    assert n[w]["outboundNodes"] == [second["id"]]
    assert wf["status"]["progress"] == "4/4"
    assert "cluster/tools/echo" in wf["status"]["storedTemplates"]


# --- failures -----------------------------------------------------------------------------------------------


def test_failing_step_fails_the_workflow_and_later_groups_do_not_run() -> None:
    def script(name: str, variables: dict[str, str], attempt: int) -> PodOutcome:
        if name == "build":
            return PodOutcome("Failed", 1, {}, "")
        return ci_outputs(name, variables, attempt)

    pods = FakePods(script)
    wf = run(build_plan("openchoreo-ci-docker", {"git-repo": "g"}, library(), name="wf-f"), pods)
    assert [c[0] for c in pods.calls] == ["build"]
    n = nodes_by_name(wf)
    build = n["wf-f[0].build"]
    assert build["phase"] == "Failed" and build["message"] == "main: Error (exit code 1)"
    # as real Argo records a failed pod (tests/test_real_argo_differential.py): the declared outputs, no values
    assert build["outputs"] == {
        "exitCode": "1",
        "parameters": [{"name": "image", "valueFrom": {"path": "/tmp/outputs/image"}}],
    }
    assert n["wf-f[0]"]["phase"] == "Failed" and n["wf-f[0]"]["message"] == f"child '{build['id']}' failed"
    assert n["wf-f"]["phase"] == "Failed"
    assert "wf-f[1]" not in n
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == f"child '{build['id']}' failed"
    assert wf["status"]["progress"] == "0/1"
    assert wf["metadata"]["labels"]["workflows.argoproj.io/phase"] == "Failed"


def test_executor_exception_is_an_error_node() -> None:
    def script(name: str, variables: dict[str, str], attempt: int) -> PodOutcome:
        raise OSError("docker: image not found")

    wf = run(build_plan("openchoreo-ci-docker", {"git-repo": "g"}, library(), name="wf-e"), FakePods(script))
    build = nodes_by_name(wf)["wf-e[0].build"]
    assert build["phase"] == "Error" and "image not found" in build["message"]
    assert wf["status"]["phase"] == "Failed"


# --- retries ------------------------------------------------------------------------------------------------


def publish_script(exit_codes: list[int]) -> Script:
    def script(name: str, variables: dict[str, str], attempt: int) -> PodOutcome:
        if name == "publish-image":
            code = exit_codes[attempt]
            if code:
                return PodOutcome("Failed", code, {})
        return ci_outputs(name, variables, attempt)

    return script


def test_retry_on_transient_exit_code_then_success() -> None:
    sleeps: list[float] = []
    pods = FakePods(publish_script([75, 75, 0]))
    wf = run(build_plan("openchoreo-ci-docker", {"git-repo": "g"}, library(), name="wf-r"), pods, sleeps)
    n = nodes_by_name(wf)
    retry = n["wf-r[1].publish-image"]
    assert retry["phase"] == "Succeeded"
    assert [wf["status"]["nodes"][c]["displayName"] for c in retry["children"]] == [
        "publish-image(0)",
        "publish-image(1)",
        "publish-image(2)",
    ]
    assert [wf["status"]["nodes"][c]["phase"] for c in retry["children"]] == ["Failed", "Failed", "Succeeded"]
    assert sleeps == [10.0, 20.0]  # backoff duration * factor^(attempts-1)
    assert [c[1]["retries"] for c in pods.calls if c[0] == "publish-image"] == ["0", "1", "2"]
    # only the last attempt links to the next group
    assert "children" not in n["wf-r[1].publish-image(0)"]
    assert n["wf-r[1].publish-image(2)"]["children"] == [n["wf-r[2]"]["id"]]
    assert wf["status"]["phase"] == "Succeeded"
    assert wf["status"]["progress"] == "3/5"


def test_retry_expression_false_stops_at_once() -> None:
    pods = FakePods(publish_script([1]))
    wf = run(build_plan("openchoreo-ci-docker", {"git-repo": "g"}, library(), name="wf-x"), pods)
    retry = nodes_by_name(wf)["wf-x[1].publish-image"]
    assert retry["phase"] == "Failed" and retry["message"] == "retryStrategy.expression evaluated to false"
    assert len(retry["children"]) == 1
    assert wf["status"]["phase"] == "Failed"


def test_retry_limit_exhausted() -> None:
    sleeps: list[float] = []
    lib = library()
    lib.cluster["openchoreo-ci-docker"]["spec"]["templates"][1]["retryStrategy"]["backoff"] = {"duration": "1s"}
    wf = run(
        build_plan("openchoreo-ci-docker", {"git-repo": "g"}, lib, name="wf-l"),
        FakePods(publish_script([75] * 9)),
        sleeps,
    )
    retry = nodes_by_name(wf)["wf-l[1].publish-image"]
    assert retry["message"] == "No more retries left" and len(retry["children"]) == 4  # limit 3 = 4 attempts
    assert sleeps == [1.0, 1.0, 1.0]


def test_retry_backoff_would_exceed_max_duration() -> None:
    lib = library()
    lib.cluster["openchoreo-ci-docker"]["spec"]["templates"][1]["retryStrategy"]["backoff"] = {
        "duration": "50s",
        "factor": 2,
        "maxDuration": "1m",
    }
    sleeps: list[float] = []
    wf = run(
        build_plan("openchoreo-ci-docker", {"git-repo": "g"}, lib, name="wf-m"),
        FakePods(publish_script([75] * 9)),
        sleeps,
    )
    retry = nodes_by_name(wf)["wf-m[1].publish-image"]
    assert retry["message"] == "Backoff would exceed max duration limit"
    assert sleeps == [50.0] and len(retry["children"]) == 2


@pytest.mark.parametrize(
    ("policy", "phase", "retried"),
    [
        ("OnFailure", "Failed", True),
        ("OnError", "Failed", False),
        ("OnError", "Error", True),
        ("Always", "Error", True),
    ],
)
def test_retry_policies(policy: str, phase: str, retried: bool) -> None:
    lib = library()
    strategy = lib.cluster["openchoreo-ci-docker"]["spec"]["templates"][1]["retryStrategy"]
    strategy.clear()
    strategy.update({"limit": 1, "retryPolicy": policy})

    def script(name: str, variables: dict[str, str], attempt: int) -> PodOutcome:
        if name == "publish-image" and attempt == 0:
            return PodOutcome(phase, 1 if phase == "Failed" else None, {}, "boom")
        return ci_outputs(name, variables, attempt)

    wf = run(build_plan("openchoreo-ci-docker", {"git-repo": "g"}, lib, name="wf-p"), FakePods(script))
    retry = nodes_by_name(wf)["wf-p[1].publish-image"]
    assert len(retry["children"]) == (2 if retried else 1)
    assert wf["status"]["phase"] == ("Succeeded" if retried else "Failed")


def test_expression_subset() -> None:
    scope = {"lastRetry.exitCode": "75", "lastRetry.status": "Failed", "retries": "1", "lastRetry.message": "x"}
    assert expr.evaluate_bool(expr.parse("asInt(lastRetry.exitCode) == 75"), scope)
    assert expr.evaluate_bool(expr.parse('lastRetry.status == "Failed" && asInt(retries) < 2'), scope)
    assert expr.evaluate_bool(expr.parse("asInt(lastRetry.exitCode) in [1, 75] or false"), scope)
    assert not expr.evaluate_bool(expr.parse("!(asInt(lastRetry.exitCode) >= 75)"), scope)
    with pytest.raises(expr.ExpressionError, match=r"function sprig\.trim\(\)|unsupported|not supported"):
        expr.parse("sprig.trim(lastRetry.message) == ''")
    with pytest.raises(expr.ExpressionError, match="unknown variable"):
        expr.parse("workflow.status == 'x'", {"lastRetry.exitCode"})
    assert parse_duration("1m30s") == 90.0 and parse_duration(15) == 15.0
    with pytest.raises(ValueError):
        parse_duration("soon")


# --- unsupported fields, found before running ----------------------------------------------------------------


def mutated(change: Callable[[dict[str, Any]], None]) -> Library:
    lib = library()
    change(lib.cluster["openchoreo-ci-docker"])
    return lib


def t(doc: dict[str, Any], index: int) -> dict[str, Any]:
    template: dict[str, Any] = doc["spec"]["templates"][index]
    return template


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: t(d, 3).update({"dag": {"tasks": []}}), "spec.templates[3]: exactly one template type"),
        (
            lambda d: d["spec"]["templates"].__setitem__(3, {"name": "main", "dag": {"tasks": []}}),
            "ClusterWorkflowTemplate openchoreo-ci-docker: spec.templates[3].dag: not supported by the local runner",
        ),
        (
            lambda d: t(d, 3)["steps"][0][0].update({"when": "true"}),
            "spec.templates[3].steps[0][0].when: not supported",
        ),
        (lambda d: t(d, 3)["steps"][0][0].update({"withItems": [1]}), "steps[0][0].withItems: not supported"),
        (lambda d: t(d, 0).update({"sidecars": []}), "spec.templates[0].sidecars: not supported"),
        (lambda d: d["spec"].update({"onExit": "x"}), "spec.onExit: not supported by the local runner"),
        (lambda d: t(d, 0)["outputs"].update({"artifacts": []}), "spec.templates[0].outputs.artifacts: not supported"),
        (
            lambda d: t(d, 1)["retryStrategy"].update({"expression": "lastRetry.exitCode matches '7.'"}),
            "spec.templates[1].retryStrategy.expression: unexpected 'matches'",
        ),
        (lambda d: t(d, 1)["retryStrategy"].pop("limit"), "retryStrategy.limit: required by the local runner"),
        (
            lambda d: t(d, 0)["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
            "spec.templates[0].volumes[1] (h): volume source ['hostPath'] not supported",
        ),
        (
            lambda d: t(d, 0)["volumes"].append({"name": "s", "secret": {"secretName": "push"}}),
            "secret 'push' is not provided; pass --secret push=DIR",
        ),
        (
            lambda d: t(d, 3)["steps"][0][0]["arguments"]["parameters"][0].update(
                {"value": "{{steps.publish-image.outputs.parameters.image-ref}}"}
            ),
            "failed to resolve {{steps.publish-image.outputs.parameters.image-ref}}",
        ),
        (lambda d: t(d, 0)["container"]["args"].append("{{=sprig.trim('x')}}"), "expression tag {{=sprig.trim('x')}}"),
        (lambda d: t(d, 0)["container"]["args"].append("{{workflow.parameters.nope}}"), "failed to resolve {{workflow"),
        (
            lambda d: t(d, 3)["steps"][0][0]["arguments"].update({"parameters": []}),
            "inputs.parameters.git-repo was not supplied",
        ),
        (
            lambda d: d["spec"]["volumeClaimTemplates"].append({"metadata": {"name": "cache"}}),
            "spec.volumeClaimTemplates[1] (cache): only the 'workspace' claim",
        ),
    ],
)
def test_unsupported_fields_fail_before_running(change: Callable[[dict[str, Any]], None], message: str) -> None:
    pods = FakePods(ci_outputs)
    with pytest.raises(RunnerError) as err:
        plan = build_plan("openchoreo-ci-docker", {"git-repo": "g"}, mutated(change))
        run(plan, pods)
    assert message in str(err.value)
    assert pods.calls == []


def test_template_ref_caller_must_declare_the_workspace_volume(tmp_path: Path) -> None:
    doc: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "compose-"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [
                            {
                                "name": "build",
                                "templateRef": {
                                    "name": "openchoreo-ci-docker",
                                    "template": "build",
                                    "clusterScope": True,
                                },
                                "arguments": {"parameters": [{"name": "git-repo", "value": "g"}]},
                            }
                        ]
                    ],
                }
            ],
        },
    }
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(
        RunnerError, match=r"spec.templates\[0\].container.volumeMounts\[0\]: volume 'workspace' not found"
    ):
        build_plan(str(path), {}, library())
    doc["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "workspace"}}]
    path.write_text(yaml.safe_dump(doc))
    plan = build_plan(str(path), {}, library())
    wf = run(plan, FakePods(ci_outputs))
    assert wf["status"]["phase"] == "Succeeded"
    assert wf["metadata"]["name"].startswith("compose-") and len(wf["metadata"]["name"]) == len("compose-") + 5


def test_unknown_pipeline_names_the_available_ones() -> None:
    with pytest.raises(RunnerError, match=r"no such ClusterWorkflowTemplate.*available: openchoreo-ci-docker, tools"):
        build_plan("nope", {}, library())


def test_summary_table_and_progress_lines() -> None:
    import io

    stream = io.StringIO()
    plan = build_plan("openchoreo-ci-docker", {"git-repo": "g"}, library(), name="wf-s")
    engine = Engine(
        plan, FakePods(publish_script([75, 0])), Mounts(Path("/x"), {}), Reporter(stream), sleep=lambda s: None
    )
    engine.run()
    out = stream.getvalue()
    assert re.search(r"^\[\d\d:\d\d:\d\d\] ▶ build \(build\)$", out, re.M)
    assert re.search(r"^\[\d\d:\d\d:\d\d\] ✔ build \d+\.\ds$", out, re.M)
    assert re.search(r"↻ publish-image failed \(exit 75\); retry 1/3 in 10\.0s", out)
    assert "build │ running wf-s-build-" in out
    table = summary_table(engine.nodes.all())
    lines = table.splitlines()
    assert lines[0].split() == ["STEP", "TEMPLATE", "PHASE", "DURATION", "KEY", "OUTPUTS"]
    assert lines[1].split()[:3] == ["build", "build", "Succeeded"]
    assert "image=registry.local/org/app:abc123" in lines[1]
    assert lines[2].split()[:3] == ["publish-image(0)", "publish-image", "Failed"]
    assert "workload-cr=<15 bytes>" in lines[4]


def test_the_rendered_pack_validates(tmp_path: Path) -> None:
    """Every pipeline in the pack passes the runner's static checks (nothing unsupported is used)."""
    from hera_workflows.pack import render  # the pack's own renderer, into a temp dir (templates/ is not ours)

    out = tmp_path / "templates"
    assert render.main(render_args(out)) == 0
    lib = load_library(out)
    pipelines = [n for n, d in lib.cluster.items() if (d.get("spec") or {}).get("entrypoint")]
    assert pipelines
    required = {
        "component-name": "c",
        "project-name": "p",
        "namespace-name": "n",
        "git-repo": "file:///r",
        "image-name": "n-p-c",
        "gitops-repo": "file:///gitops",  # the GitOps variants
    }
    for name in pipelines:
        declared = {p["name"] for p in lib.cluster[name]["spec"]["arguments"]["parameters"]}
        plan = build_plan(name, {k: v for k, v in required.items() if k in declared}, copy.deepcopy(lib))
        assert plan.exec_spec["entrypoint"]


def render_args(out: Path) -> Any:
    import argparse

    from hera_workflows.pack import render

    parser = argparse.ArgumentParser()
    render.configure(parser)
    return parser.parse_args(["-o", str(out)])
