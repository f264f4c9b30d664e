"""generate-workload-cr against the upstream CRDs and the real sample descriptors.

- every descriptor in ../shared/reference/sample-workloads converts cleanly for both profiles, and the CR validates
  against the upstream Workload CRD of the profile (openchoreo-v1.2.3 / openchoreo-v0.17.0): jsonschema with closed
  objects plus the CRD's CEL rules, evaluated with celpy;
- the step's own in-code validator (steps/generate_workload/validate.py) agrees with the upstream CRD on a set of
  valid and broken CRs, so the CRD restated in code cannot drift silently.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from steps.generate_workload.model import PROFILES
from steps.generate_workload.validate import validate_cr
from testkit.crd_schema import workload_validator
from testkit.generate_workload import IMAGE, P017, P1X, check_result, invoke
from testkit.paths import SAMPLE_WORKLOADS

SAMPLES = sorted(SAMPLE_WORKLOADS.rglob("workload.yaml"))


def test_samples_are_there() -> None:
    assert len(SAMPLES) >= 20


@pytest.mark.parametrize("profile", [P1X, P017])
@pytest.mark.parametrize("descriptor", SAMPLES, ids=lambda p: str(p.parent.relative_to(SAMPLE_WORKLOADS)))
def test_sample_workloads_convert_and_validate(tmp_path: Path, descriptor: Path, profile: str) -> None:
    app_path = str(descriptor.parent.relative_to(SAMPLE_WORKLOADS))
    output = tmp_path / "cr.yaml"
    argv = ["--image", IMAGE, "-n", "default", "-p", "samples", "-c", "svc", "--source-dir", str(SAMPLE_WORKLOADS)]
    code, _out, err = invoke([*argv, "--app-path", app_path, "-o", str(output), "--profile", profile])
    assert code == 0, err
    cr = check_result(code, err, output, profile)
    assert cr is not None
    source = yaml.safe_load(descriptor.read_text())
    spec = cr["spec"]
    assert cr["metadata"]["name"] == "svc-workload"
    assert sorted(spec.get("endpoints", {})) == sorted(e["name"] for e in source.get("endpoints") or [])
    for endpoint in source.get("endpoints") or []:
        produced = spec["endpoints"][endpoint["name"]]
        assert produced["port"] == endpoint["port"] and produced["type"] == endpoint["type"]
        if "schemaFile" in endpoint:
            schema_text = (descriptor.parent / endpoint["schemaFile"]).read_text()
            assert produced["schema"]["content"] == schema_text
            expected_type = "openapi" if profile == P1X else endpoint["type"]
            assert produced["schema"]["type"] == expected_type
    env = {item["name"]: item["value"] for item in (source.get("configurations") or {}).get("env", [])}
    assert {item["key"]: item["value"] for item in spec["container"].get("env", [])} == env
    dependencies = (source.get("dependencies") or {}).get("endpoints", [])
    if profile == P1X:
        assert len(spec.get("dependencies", {}).get("endpoints", [])) == len(dependencies)
    else:
        assert "dependencies" not in spec and "connections" not in spec
    assert validate_cr(cr, PROFILES[profile]) == []


# ---------------------------------------------------------------------------------------------------------------------
# The in-code validator agrees with the upstream CRD

BASE_1X: dict[str, Any] = {
    "apiVersion": "openchoreo.dev/v1alpha1",
    "kind": "Workload",
    "metadata": {"name": "c-workload", "namespace": "ns"},
    "spec": {
        "owner": {"projectName": "p", "componentName": "c"},
        "container": {
            "image": IMAGE,
            "env": [{"key": "A", "value": "1"}, {"key": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
            "files": [{"key": "f", "mountPath": "/m", "value": "x"}],
        },
        "endpoints": {"api": {"port": 80, "type": "HTTP", "visibility": ["external"], "schema": {"type": "openapi"}}},
        "dependencies": {
            "endpoints": [{"component": "db", "name": "tcp", "visibility": "project", "envBindings": {}}],
            "resources": [{"ref": "r", "envBindings": {"a": "B"}, "fileBindings": {"c": "/d"}}],
        },
    },
}

BASE_017: dict[str, Any] = {
    "apiVersion": "openchoreo.dev/v1alpha1",
    "kind": "Workload",
    "metadata": {"name": "c-workload"},
    "spec": {
        "owner": {"projectName": "p", "componentName": "c"},
        "container": {
            "image": IMAGE,
            "env": [{"key": "A", "value": "1"}, {"key": "S", "valueFrom": {"secretRef": {"name": "s", "key": "k"}}}],
            "files": [{"key": "f", "mountPath": "/m", "value": "x"}],
        },
        "endpoints": {"api": {"port": 80, "type": "REST", "visibility": ["internal"], "schema": {"type": "REST"}}},
        "connections": [
            {"component": "db", "endpoint": "tcp", "visibility": "internal", "envBindings": {"address": "X"}}
        ],
    },
}

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def apply(cr: dict[str, Any]) -> None:
        node: Any = cr
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last = parts[-1]
        if value is _DELETE:
            del node[int(last) if isinstance(node, list) else last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return apply


_DELETE = object()

COMMON_MUTATIONS: dict[str, Mutation] = {
    "valid": lambda cr: None,
    "port 0": _set("spec.endpoints.api.port", 0),
    "port 65536": _set("spec.endpoints.api.port", 65536),
    "port as string": _set("spec.endpoints.api.port", "80"),
    "targetPort 70000": _set("spec.endpoints.api.targetPort", 70000),
    "no port": _set("spec.endpoints.api.port", _DELETE),
    "no type": _set("spec.endpoints.api.type", _DELETE),
    "type lowercase": _set("spec.endpoints.api.type", "http"),
    "visibility bogus": _set("spec.endpoints.api.visibility", ["bogus"]),
    "visibility duplicate": _set("spec.endpoints.api.visibility", ["project", "project"]),
    "empty image": _set("spec.container.image", ""),
    "no image": _set("spec.container.image", _DELETE),
    "no owner": _set("spec.owner", _DELETE),
    "empty project": _set("spec.owner.projectName", ""),
    "no container": _set("spec.container", _DELETE),
    "env both": _set("spec.container.env.0.valueFrom", {"x": 1}),
    "env no key": _set("spec.container.env.0.key", _DELETE),
    "env value int": _set("spec.container.env.0.value", 1),
    "file no mountPath": _set("spec.container.files.0.mountPath", _DELETE),
    "unknown spec field": _set("spec.extra", {}),
    "unknown endpoint field": _set("spec.endpoints.api.protocol", "h2"),
    "schema extra": _set("spec.endpoints.api.schema.format", "x"),
    "args": _set("spec.container.args", ["a", "b"]),
    "args not strings": _set("spec.container.args", [1]),
}

MUTATIONS_1X: dict[str, Mutation] = {
    **COMMON_MUTATIONS,
    "REST": _set("spec.endpoints.api.type", "REST"),
    "env key only": _set("spec.container.env.0.value", _DELETE),
    "env both value and secret": _set("spec.container.env.0.valueFrom", {"secretKeyRef": {"name": "s", "key": "k"}}),
    "empty secret name": _set("spec.container.env.1.valueFrom.secretKeyRef.name", ""),
    "secretRef on 1.x": _set("spec.container.env.1.valueFrom", {"secretRef": {"name": "s", "key": "k"}}),
    "dep visibility internal": _set("spec.dependencies.endpoints.0.visibility", "internal"),
    "dep no envBindings": _set("spec.dependencies.endpoints.0.envBindings", _DELETE),
    "dep empty component": _set("spec.dependencies.endpoints.0.component", ""),
    "dep endpoint field": _set("spec.dependencies.endpoints.0.endpoint", "x"),
    "51 deps": _set(
        "spec.dependencies.endpoints",
        [{"component": f"c{i}", "name": "n", "visibility": "project", "envBindings": {}} for i in range(51)],
    ),
    "resource empty binding value": _set("spec.dependencies.resources.0.envBindings", {"a": ""}),
    "resource empty binding key": _set("spec.dependencies.resources.0.fileBindings", {"": "/x"}),
    "resource duplicate ref": _set("spec.dependencies.resources", [{"ref": "r"}, {"ref": "r"}]),
    "resource 51 bindings": _set("spec.dependencies.resources.0.envBindings", {f"k{i}": "V" for i in range(51)}),
    "connections on 1.x": _set("spec.connections", []),
}

MUTATIONS_017: dict[str, Mutation] = {
    **COMMON_MUTATIONS,
    "env key only": _set("spec.container.env.0.value", _DELETE),
    "file key only": _set("spec.container.files.0.value", _DELETE),
    "env both value and secret": _set("spec.container.env.0.valueFrom", {"secretRef": {"name": "s", "key": "k"}}),
    "secretKeyRef on 0.17": _set("spec.container.env.1.valueFrom", {"secretKeyRef": {"name": "s", "key": "k"}}),
    "connection external": _set("spec.connections.0.visibility", "external"),
    "connection no envBindings": _set("spec.connections.0.envBindings", _DELETE),
    "connection name field": _set("spec.connections.0.name", "x"),
    "connection namespace without project": _set("spec.connections.0.namespace", "other"),
    "connection environmentMapping on project visibility": lambda cr: cr["spec"]["connections"][0].update(
        {"visibility": "project", "environmentMapping": {"dev": "prod"}}
    ),
    "51 connections": _set(
        "spec.connections",
        [{"component": f"c{i}", "endpoint": "n", "visibility": "project", "envBindings": {}} for i in range(51)],
    ),
    "dependencies on 0.17": _set("spec.dependencies", {}),
}


@pytest.mark.parametrize(
    ("profile", "name"),
    [(P1X, name) for name in MUTATIONS_1X] + [(P017, name) for name in MUTATIONS_017],
)
def test_in_code_validator_agrees_with_the_upstream_crd(profile: str, name: str) -> None:
    base, mutations = (BASE_1X, MUTATIONS_1X) if profile == P1X else (BASE_017, MUTATIONS_017)
    cr = copy.deepcopy(base)
    mutations[name](cr)
    upstream = workload_validator(profile).errors(cr)
    ours = validate_cr(cr, PROFILES[profile])
    assert bool(upstream) == bool(ours), f"upstream: {upstream}\nours: {ours}"
    if name == "valid":
        assert ours == []


def test_every_create_time_cel_rule_is_exercised() -> None:
    for profile, base, mutations in ((P1X, BASE_1X, MUTATIONS_1X), (P017, BASE_017, MUTATIONS_017)):
        validator = workload_validator(profile)
        for mutation in mutations.values():
            cr = copy.deepcopy(base)
            mutation(cr)
            validator.errors(cr)
        rules: set[str] = set()
        stack: list[Any] = [validator.raw_schema]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                rules.update(v["rule"] for v in node.get("x-kubernetes-validations", ()) if "oldSelf" not in v["rule"])
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        assert rules, profile
        assert rules <= validator.rules_evaluated, rules - validator.rules_evaluated
