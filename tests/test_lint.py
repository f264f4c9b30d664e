"""`python -m hera_workflows lint`: clean on the pack, catches every seeded mistake with file, path and message.

The seeded mistakes (tests/fixtures/lint/seeds.py) are applied to a copy of the rendered templates/ (what ships)
and to a copy of the hand-written fixture pack (tests/fixtures/lint/pack/), so the checks keep working while the
pack is re-rendered and stay tied to its real shape.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hera_workflows import lint
from hera_workflows.lint.schema import CrdSchemas, format_path
from hera_workflows.upstream.kube_apiserver_v1_36 import patch_schema
from testkit.lint_packs import BROKEN, FIXTURE_PACK, PACK_SOURCES
from testkit.paths import ARGO_CRDS, ROOT, TEMPLATES
from tests.fixtures.lint.seeds import SEEDS, PackCopy, Seed


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hera_workflows", "lint", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture(autouse=True)
def _lint_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the patched-CRD disk cache inside the test session."""
    monkeypatch.setenv("PACK_LINT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "lint-cache"))


# -- clean inputs ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", sorted(PACK_SOURCES))
def test_pack_lints_clean(source: str) -> None:
    result = lint.lint_paths([PACK_SOURCES[source]], ARGO_CRDS)
    assert [f.text() for f in result.findings] == []
    assert result.resources >= 6  # step templates, pipeline(s), OpenChoreo runTemplate(s)
    assert result.exit_code(strict=True) == 0


def test_rendered_pack_covers_every_kind_lint_handles() -> None:
    """Guards the test above against passing on an empty or partial templates/ (counts what was linted)."""
    source = PACK_SOURCES.get("rendered", FIXTURE_PACK)
    result = lint.lint_paths([source], ARGO_CRDS)
    files = {Path(f.split(":")[0]).name for f in result.skipped}
    assert "kustomization.yaml" in files
    pack = PackCopy(source, None)
    _, pipeline = pack.pipeline()
    pack.openchoreo_workflow(pipeline["metadata"]["name"])


# -- seeded mistakes ---------------------------------------------------------------------------------------------
def test_at_least_ten_seeded_mistakes() -> None:
    assert len(SEEDS) >= 10
    assert len({s.id for s in SEEDS}) == len(SEEDS)


@pytest.mark.parametrize("source", sorted(PACK_SOURCES))
@pytest.mark.parametrize("seed", SEEDS, ids=[s.id for s in SEEDS])
def test_seeded_mistake_is_caught(seed: Seed, source: str, tmp_path: Path) -> None:
    pack = PackCopy(PACK_SOURCES[source], tmp_path / "pack")
    expect = seed.mutate(pack)
    pack.save()

    result = lint.lint_paths([pack.root], ARGO_CRDS)

    matches = [
        f
        for f in result.findings
        if f.file.endswith(expect.file) and f.path == expect.path and seed.message in f.message
    ]
    assert matches, (
        f"expected {seed.severity} at {expect.file}: {expect.path}: ...{seed.message}...; got:\n"
        + "\n".join(f.text() for f in result.findings)
    )
    finding = matches[0]
    assert finding.severity == seed.severity
    assert finding.line is not None and finding.line > 0
    assert finding.resource  # Kind/name
    text = finding.text()
    assert expect.file in text and f": {expect.path}: " in text and finding.resource in text
    assert result.exit_code(strict=True) == 1
    if seed.severity == "error":
        assert result.exit_code() == 1


# -- file-level mistakes (tests/fixtures/lint/broken) ------------------------------------------------------------
def _findings(path: Path) -> list[lint.Finding]:
    return lint.lint_paths([path], ARGO_CRDS).findings


def test_yaml_syntax_error_names_file_and_line() -> None:
    (finding,) = _findings(BROKEN / "parse-error.yaml")
    assert finding.rule == "parse" and finding.line == 10
    assert "YAML syntax error" in finding.message and "flow sequence" in finding.message


def test_duplicate_yaml_key() -> None:
    (finding,) = _findings(BROKEN / "duplicate-key.yaml")
    assert (finding.line, finding.path) == (12, "spec.templates[0].container.image")
    assert "duplicate key 'image'" in finding.message


def test_multi_document_file_reports_the_right_document_and_line() -> None:
    findings = _findings(BROKEN / "multi-document.yaml")
    assert findings
    assert {f.resource for f in findings} == {"ClusterWorkflowTemplate/second"}
    unknown = next(f for f in findings if "unknown field 'containr'" in f.message)
    assert (unknown.line, unknown.path) == (26, "spec.templates[0].containr")
    assert "did you mean 'container'?" in unknown.message
    assert any("template type unspecified" in f.message for f in findings)


def test_kustomization_naming_a_missing_file() -> None:
    result = lint.lint_paths([BROKEN / "kustomize"], ARGO_CRDS)
    (finding,) = result.findings
    assert (finding.line, finding.path) == (6, "resources[1]")
    assert "'missing.yaml' does not exist" in finding.message
    assert result.resources == 0 and len(result.skipped) == 2  # a kustomization and a ConfigMap: parsed only


# -- schema layer details ----------------------------------------------------------------------------------------
def test_patch_schema_forbids_unknown_fields_and_allows_int_or_string() -> None:
    schema = patch_schema(
        {
            "type": "object",
            "properties": {
                "limit": {"x-kubernetes-int-or-string": True},
                "free": {
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "x-kubernetes-preserve-unknown-fields": True,
                },
                "enum": {"type": "string", "enum": [{"properties": {}}]},
            },
        }
    )
    assert schema["additionalProperties"] is False
    assert schema["properties"]["limit"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert "additionalProperties" not in schema["properties"]["free"]
    assert schema["properties"]["enum"]["enum"] == [{"properties": {}}]  # enum values are data


def test_patch_schema_rejects_duplicate_items_in_list_type_sets() -> None:
    # The API server enforces x-kubernetes-list-type: set (e.g. Argo's restartPolicyRules exitCodes.values).
    schema = patch_schema(
        {"type": "object", "properties": {"values": {"type": "array", "items": {"type": "integer"},
                                                     "x-kubernetes-list-type": "set"}}}
    )  # fmt: skip
    validator = jsonschema.Draft7Validator(schema)
    assert list(validator.iter_errors({"values": [1, 2]})) == []
    assert [e.message for e in validator.iter_errors({"values": [1, 1]})] == ["[1, 1] has non-unique elements"]


def test_format_path() -> None:
    assert format_path(("spec", "templates", 0, "steps", 1, 0, "name")) == "spec.templates[0].steps[1][0].name"
    assert format_path(()) == "(document)"


def test_crd_validators_are_cached() -> None:
    first = CrdSchemas(ARGO_CRDS)
    second = CrdSchemas(ARGO_CRDS)
    api = "argoproj.io/v1alpha1"
    assert first.validator(api, "ClusterWorkflowTemplate") is second.validator(api, "ClusterWorkflowTemplate")
    assert {"ClusterWorkflowTemplate", "WorkflowTemplate", "Workflow"} <= first.kinds()


def test_disk_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crds = tmp_path / "crds"
    crds.mkdir()
    source = ARGO_CRDS / "argoproj.io_workflowtemplates.yaml"
    (crds / source.name).write_bytes(source.read_bytes())
    monkeypatch.setenv("PACK_LINT_CACHE_DIR", str(tmp_path / "cache"))
    from_yaml = CrdSchemas(crds).schemas
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
    CrdSchemas._loaded.clear()
    from_json = CrdSchemas(crds).schemas
    assert from_json == from_yaml


def test_wrong_api_version_for_an_argo_kind(tmp_path: Path) -> None:
    doc = tmp_path / "wt.yaml"
    doc.write_text(
        "apiVersion: argoproj.io/v1beta1\nkind: WorkflowTemplate\nmetadata: {name: x}\n"
        "spec: {templates: [{name: main, container: {image: alpine}}]}\n"
    )
    (finding,) = _findings(doc)
    assert finding.path == "apiVersion" and "expected argoproj.io/v1alpha1" in finding.message


def test_workflow_needs_an_entrypoint_and_resolves_workflow_parameters(tmp_path: Path) -> None:
    doc = tmp_path / "wf.yaml"
    doc.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: demo-}\n"
        "spec:\n  arguments: {parameters: [{name: a, value: '1'}]}\n"
        "  templates:\n  - name: main\n    container: {image: alpine, args: ['{{workflow.parameters.b}}']}\n"
    )
    messages = {(f.path, f.message) for f in _findings(doc)}
    assert ("spec", "spec.entrypoint is required") in messages
    assert any(
        path == "spec.templates[0].container.args[0]" and "workflow parameter 'b' is not declared" in message
        for path, message in messages
    )


def test_dag_rules(tmp_path: Path) -> None:
    doc = tmp_path / "dag.yaml"
    doc.write_text(
        """\
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: dag}
spec:
  entrypoint: main
  templates:
  - name: leaf
    inputs: {parameters: [{name: x}]}
    outputs: {parameters: [{name: y, valueFrom: {path: /tmp/y}}]}
    container: {image: alpine}
  - name: main
    dag:
      tasks:
      - {name: a, template: leaf, arguments: {parameters: [{name: x, value: '1'}]}}
      - {name: b, template: leaf, arguments: {parameters: [{name: x, value: '{{tasks.a.outputs.parameters.y}}'}]}}
      - {name: c, template: leaf, depends: e && a.Succeeded, arguments: {parameters: [{name: x, value: '2'}]}}
      - {name: d, template: leaf, depends: nope, arguments: {parameters: [{name: x, value: '3'}]}}
      - name: e
        template: leaf
        depends: c
        arguments: {parameters: [{name: x, value: '{{tasks.a.outputs.parameters.y}}'}]}
      - name: f
        template: leaf
        depends: a
        arguments: {parameters: [{name: x, value: '{{tasks.a.outputs.parameters.y}}'}]}
"""
    )
    messages = [f"{f.path}: {f.message}" for f in _findings(doc)]
    assert any(
        m.startswith("spec.templates[1].dag.tasks[1].arguments") and "task 'a' is not an ancestor" in m
        for m in messages
    )
    assert not any("dag.tasks[4]" in m or "dag.tasks[5]" in m for m in messages), messages  # a is an ancestor of e, f
    assert any("dependency cycle: c -> e -> c" in m for m in messages), messages
    assert any(
        "spec.templates[1].dag.tasks[3].depends: task 'd' depends on undefined task 'nope'" in m for m in messages
    )


# -- command line ------------------------------------------------------------------------------------------------
def test_cli_clean_exit_zero() -> None:
    proc = run_cli(str(FIXTURE_PACK), "--crd-dir", str(ARGO_CRDS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "0 error(s), 0 warning(s)" in proc.stderr


def test_cli_default_path_is_templates() -> None:
    proc = run_cli("--crd-dir", str(ARGO_CRDS), "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["ok"] is True
    assert payload["files"] == len([*TEMPLATES.rglob("*.yaml"), *TEMPLATES.rglob("*.yml")])


def test_cli_errors_exit_one_with_file_line_resource_path() -> None:
    proc = run_cli(str(BROKEN / "multi-document.yaml"), "--crd-dir", str(ARGO_CRDS))
    assert proc.returncode == 1
    assert (
        "tests/fixtures/lint/broken/multi-document.yaml:26: error: ClusterWorkflowTemplate/second: "
        "spec.templates[0].containr: unknown field 'containr'"
    ) in proc.stdout


def test_cli_json_format(tmp_path: Path) -> None:
    proc = run_cli(str(BROKEN), "--crd-dir", str(ARGO_CRDS), "--format", "json")
    assert proc.returncode == 1
    payload = json.loads(proc.stdout)
    assert payload["ok"] is False and payload["errors"] == len(payload["findings"]) > 0
    first = payload["findings"][0]
    assert set(first) == {"file", "line", "resource", "path", "message", "severity", "rule"}


def test_cli_strict_fails_on_warnings(tmp_path: Path) -> None:
    pack = PackCopy(FIXTURE_PACK, tmp_path / "pack")
    from tests.fixtures.lint.seeds import implicit_contract_warning

    implicit_contract_warning(pack)
    pack.save()
    step_file = str(pack.root / "steps")  # the step template alone: a warning, no pipeline to break
    assert run_cli(step_file, "--crd-dir", str(ARGO_CRDS)).returncode == 0
    strict = run_cli(step_file, "--crd-dir", str(ARGO_CRDS), "--strict")
    assert strict.returncode == 1
    assert ": warning: ClusterWorkflowTemplate/generate-workload: " in strict.stdout


def test_cli_usage_errors_exit_two(tmp_path: Path) -> None:
    missing_crds = run_cli(str(FIXTURE_PACK), "--crd-dir", str(tmp_path / "nope"))
    assert missing_crds.returncode == 2
    assert "manifests/base/crds/full/" in missing_crds.stderr
    missing_path = run_cli(str(tmp_path / "nope.yaml"), "--crd-dir", str(ARGO_CRDS))
    assert missing_path.returncode == 2 and "no such file" in missing_path.stderr


def test_cli_no_schema_runs_semantics_only(tmp_path: Path) -> None:
    proc = run_cli(str(BROKEN / "multi-document.yaml"), "--no-schema", "--crd-dir", str(tmp_path / "absent"))
    assert proc.returncode == 1
    assert "template type unspecified" in proc.stdout and "unknown field" not in proc.stdout


def test_cli_help() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for text in ("--crd-dir", "--format", "--strict", "manifests/base/crds/full/", "Exit status"):
        assert text in proc.stdout


# -- robustness ----------------------------------------------------------------------------------------------------
def _nodes(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _nodes(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _nodes(item, (*path, i))
    return out


def test_lint_never_crashes_on_structurally_broken_documents() -> None:
    """Replace random nodes of the pack's documents by values of the wrong shape: every check must report (the
    schema layer does), none may raise. Deterministic: a fixed random seed."""
    import copy
    import random

    import yaml

    from hera_workflows.lint.semantics import Resource, check

    docs = [
        d
        for path in sorted(FIXTURE_PACK.rglob("*.yaml"))
        for d in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if d and d.get("kind") != "Kustomization"
    ]
    schemas = CrdSchemas(ARGO_CRDS)
    rng = random.Random(20260703)
    wrong: list[object] = [None, 7, "x", [], {}, ["x"], [{"name": 1}], {"name": None}]
    for _ in range(300):
        mutated = copy.deepcopy(docs)
        target = rng.choice(mutated)
        path = rng.choice(_nodes(target)[1:])
        parent = target
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = copy.deepcopy(rng.choice(wrong))
        resources = []
        for doc in mutated:
            if str(doc.get("apiVersion", "")).startswith("argoproj.io/"):
                schemas.validate(doc)
                meta = doc.get("metadata")
                name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
                resources.append(Resource(str(doc.get("kind")), name, doc))
            else:
                run = doc["spec"].get("runTemplate") if isinstance(doc.get("spec"), dict) else None
                if isinstance(run, dict):
                    resources.append(Resource("Workflow", "run", run, prefix=("spec", "runTemplate"), embedded=True))
        check(resources)


def test_crd_validator_list_map_keys_and_blocking_errors() -> None:
    """The API server's create-time rules beside the JSON Schema: list-map keys unique; CEL skipped after a blocking
    (type/required/enum) error and run after any other."""
    from hera_workflows.upstream.kube_apiserver_v1_36 import CEL_SKIPPED, CrdValidator

    item = {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer", "maximum": 9}}}
    validator = CrdValidator(
        {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": item,
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "x-kubernetes-validations": [{"rule": "self.size() < 3", "message": "at most two"}],
                }
            },
        }
    )
    assert validator.errors({"items": [{"name": "a"}, {"name": "b"}]}) == []
    assert validator.errors({"items": [{"name": "a"}, {"name": "a"}]}) == ["items[1]: Duplicate value: {name='a'}"]
    three: list[dict[str, Any]] = [{"name": "a"}, {"name": "b"}, {"name": "c", "size": 10}]
    assert validator.errors({"items": three}) == [
        "items[2].size: 10 is greater than the maximum of 9",
        "items: at most two",
    ]
    three[2]["size"] = "x"
    assert validator.errors({"items": three}) == ["items[2].size: 'x' is not of type 'integer'", CEL_SKIPPED]
