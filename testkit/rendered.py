"""Checks on rendered manifests shared by the render and extension tests: the CRD validator as
`kubectl apply --validate=strict` sees a CRD, and the only form a parameter may take in env or argv."""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hera_workflows.upstream.kube_apiserver_v1_36 import patch_schema

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
