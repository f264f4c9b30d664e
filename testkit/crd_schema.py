"""Validate objects against an upstream CRD the way the Kubernetes API server would on create: the CRD file read
here, its schema and CEL rules applied by the project's one model of the API server's rules
(`hera_workflows/upstream/kube_apiserver_v1_36.py`), plus the apiVersion/kind/metadata.name checks.

The CRD files come through the reference locator at test time (testkit/reference.py: pinned, checksummed,
../shared or the fetched cache), never copied into the project.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import celpy
import yaml

from hera_workflows.upstream.kube_apiserver_v1_36 import CrdValidator as SchemaValidator
from testkit.paths import OPENCHOREO_017_CRDS, OPENCHOREO_1X_CRDS

# celpy raises the interpreter's recursion limit when its first Environment is made; do that at import time, not in
# the middle of a (hypothesis) test that checks the limit is unchanged afterwards.
_WARM_UP = celpy.Environment()

WORKLOAD_CRDS = {
    "openchoreo-1.x": OPENCHOREO_1X_CRDS / "openchoreo.dev_workloads.yaml",
    "openchoreo-0.17": OPENCHOREO_017_CRDS / "openchoreo.dev_workloads.yaml",
}


class CrdValidator(SchemaValidator):
    """One CRD version's schema + CEL rules, and the identity of the objects it accepts."""

    def __init__(self, crd_file: Path, version: str = "v1alpha1") -> None:
        crd = yaml.safe_load(crd_file.read_text(encoding="utf-8"))
        versions = {entry["name"]: entry for entry in crd["spec"]["versions"]}
        self.kind = crd["spec"]["names"]["kind"]
        self.api_version = f"{crd['spec']['group']}/{version}"
        super().__init__(versions[version]["schema"]["openAPIV3Schema"])

    def errors(self, obj: object) -> list[str]:
        found = super().errors(obj)
        if isinstance(obj, dict):
            if obj.get("apiVersion") != self.api_version:
                found.append(f"apiVersion: expected {self.api_version}, got {obj.get('apiVersion')!r}")
            if obj.get("kind") != self.kind:
                found.append(f"kind: expected {self.kind}, got {obj.get('kind')!r}")
            if not (obj.get("metadata") or {}).get("name"):
                found.append("metadata.name: required")
        return found

    def validate(self, obj: object) -> None:
        problems = self.errors(obj)
        if problems:
            raise AssertionError("CRD validation failed:\n  " + "\n  ".join(problems))


@cache
def workload_validator(profile: str) -> CrdValidator:
    return CrdValidator(WORKLOAD_CRDS[profile])
