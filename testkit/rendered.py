"""Checks on rendered manifests shared by the render and extension tests: the CRD validator as
`kubectl apply --validate=strict` sees a CRD, and the only form a parameter may take in env or argv."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hera_workflows.upstream.kube_apiserver_v1_36 import patch_schema
from testkit.paths import ROOT

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PARAM_REF = re.compile(r"^\{\{inputs\.parameters\.[-a-zA-Z0-9_]+\}\}$")


@cache
def crd_validator(path: Path) -> jsonschema.Draft7Validator:
    crd = yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)
    # As `kubectl apply --validate=strict` sees it: unknown fields rejected, int-or-string, list-type sets.
    schema = patch_schema(copy.deepcopy(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]))
    return jsonschema.Draft7Validator(schema)


def schema_errors(path: Path, document: dict[str, Any]) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in crd_validator(path).iter_errors(document)]


def render_with_setting(out: Path, setting: str, value: str) -> subprocess.CompletedProcess[str]:
    """`python -m hera_workflows render -o out --set setting=value`, as a platform team runs it (never raises)."""
    argv = [sys.executable, "-m", "hera_workflows", "render", "-o", str(out), "--set", f"{setting}={value}"]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def step_template(out: Path, name: str) -> dict[str, Any]:
    """The one template of the rendered step ClusterWorkflowTemplate `templates/steps/<name>.yaml`."""
    document = yaml.load((out / "steps" / f"{name}.yaml").read_text(encoding="utf-8"), Loader=LOADER)
    return dict(document["spec"]["templates"][0])
