"""Validate objects against an upstream CRD the way the Kubernetes API server would on create.

- the CRD's openAPIV3Schema through jsonschema, patched by `hera_workflows.lint_schema.patch_schema`: closed objects
  (the API server prunes unknown fields; we want to hear about them instead), `x-kubernetes-list-type: set` ->
  uniqueItems; `x-kubernetes-list-type: map` -> unique list-map keys (checked below);
- every `x-kubernetes-validations` CEL rule, evaluated with celpy (cel-python) with `self` bound to the value.
  Transition rules (those that use `oldSelf`) are skipped: on create the API server skips them too.

The CRD files come through the reference locator at test time (testkit/reference.py: pinned, checksummed,
../shared or the fetched cache), never copied into the project.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml

from hera_workflows.lint_schema import patch_schema
from testkit.paths import OPENCHOREO_017_CRDS, OPENCHOREO_1X_CRDS

# celpy raises the interpreter's recursion limit when its first Environment is made; do that at import time, not in
# the middle of a (hypothesis) test that checks the limit is unchanged afterwards.
_WARM_UP = celpy.Environment()

WORKLOAD_CRDS = {
    "openchoreo-1.x": OPENCHOREO_1X_CRDS / "openchoreo.dev_workloads.yaml",
    "openchoreo-0.17": OPENCHOREO_017_CRDS / "openchoreo.dev_workloads.yaml",
}


class CrdValidator:
    """One CRD version's schema + CEL rules."""

    def __init__(self, crd_file: Path, version: str = "v1alpha1") -> None:
        crd = yaml.safe_load(crd_file.read_text(encoding="utf-8"))
        versions = {entry["name"]: entry for entry in crd["spec"]["versions"]}
        self.kind = crd["spec"]["names"]["kind"]
        self.api_version = f"{crd['spec']['group']}/{version}"
        self.raw_schema: dict[str, Any] = versions[version]["schema"]["openAPIV3Schema"]
        self.schema = patch_schema(copy.deepcopy(self.raw_schema))
        jsonschema.Draft7Validator.check_schema(self.schema)
        self._validator = jsonschema.Draft7Validator(self.schema)
        self._cel = celpy.Environment()
        self._programs: dict[str, Any] = {}
        self.rules_evaluated: set[str] = set()

    def _program(self, rule: str) -> Any:
        if rule not in self._programs:
            self._programs[rule] = self._cel.program(self._cel.compile(rule))
        return self._programs[rule]

    def _cel_errors(self, schema: dict[str, Any], value: Any, path: str) -> Iterator[str]:
        for validation in schema.get("x-kubernetes-validations", ()):
            rule = validation["rule"]
            if "oldSelf" in rule:
                continue
            result = self._program(rule).evaluate({"self": celpy.json_to_cel(value)})  # type: ignore[attr-defined]
            self.rules_evaluated.add(rule)
            if isinstance(result, Exception) or not bool(result):
                yield f"{path or '<root>'}: CEL {rule!r}: {validation.get('message', 'failed')}"
        if schema.get("x-kubernetes-list-type") == "map" and isinstance(value, list):
            keys = [tuple(item.get(key) for key in schema["x-kubernetes-list-map-keys"]) for item in value]
            if len(set(keys)) != len(keys):
                yield f"{path}: duplicate list-map keys {keys}"
        for sub in schema.get("allOf", ()):
            yield from self._cel_errors(sub, value, path)
        if isinstance(value, dict):
            properties = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for name, item in value.items():
                child = f"{path}.{name}" if path else name
                if name in properties:
                    yield from self._cel_errors(properties[name], item, child)
                elif isinstance(extra, dict):
                    yield from self._cel_errors(extra, item, child)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                yield from self._cel_errors(schema["items"], item, f"{path}[{index}]")

    def errors(self, obj: Any) -> list[str]:
        found = [
            f"{'.'.join(str(part) for part in error.absolute_path) or '<root>'}: {error.message}"
            for error in self._validator.iter_errors(obj)
        ]
        if isinstance(obj, dict):
            if obj.get("apiVersion") != self.api_version:
                found.append(f"apiVersion: expected {self.api_version}, got {obj.get('apiVersion')!r}")
            if obj.get("kind") != self.kind:
                found.append(f"kind: expected {self.kind}, got {obj.get('kind')!r}")
            if not (obj.get("metadata") or {}).get("name"):
                found.append("metadata.name: required")
        if not found:  # CEL rules run on schema-valid objects only, as in the API server
            found.extend(self._cel_errors(self.raw_schema, obj, ""))
        return found

    def validate(self, obj: Any) -> None:
        problems = self.errors(obj)
        if problems:
            raise AssertionError("CRD validation failed:\n  " + "\n  ".join(problems))


@cache
def workload_validator(profile: str) -> CrdValidator:
    return CrdValidator(WORKLOAD_CRDS[profile])
