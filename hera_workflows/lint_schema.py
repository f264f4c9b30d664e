"""Lint layer 1: structural validation against the Argo Workflows *full* CRD `openAPIV3Schema`.

The full CRDs (argoproj/argo-workflows `manifests/base/crds/full/`, at the tag of the targeted Argo version) carry
the schema the API server enforces on `kubectl apply`. Two patches make it behave like `kubectl apply
--validate=strict` under JSON Schema:

- unknown fields are forbidden: `additionalProperties: false` wherever an object schema lists `properties` and does
  not set `x-kubernetes-preserve-unknown-fields`;
- `x-kubernetes-int-or-string: true` becomes `anyOf: [integer, string]` (JSON Schema has no such type),
  `nullable: true` adds `null` to the type, and `x-kubernetes-list-type: set` becomes `uniqueItems: true`.

`patch_schema` is the project's one model of these structural rules; the tests validate against upstream CRDs
through it too.

The patched schema of each CRD is cached in-process (compiled validator) and on disk (JSON, keyed by the CRD file's
sha256), so only the first run pays for parsing the multi-megabyte CRD YAML.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

Severity = Literal["error", "warning"]
PathElem = str | int
JsonPath = tuple[PathElem, ...]

# Bump when the patching below changes, so stale disk caches are ignored.
_PATCH_VERSION = "2"
CRD_DIR_ENV = "PACK_ARGO_CRD_DIR"
CACHE_DIR_ENV = "PACK_LINT_CACHE_DIR"
CRD_SOURCE_HINT = (
    "get them from argoproj/argo-workflows manifests/base/crds/full/ at the tag of your Argo version "
    "(e.g. v4.1.2) and pass --crd-dir"
)


@dataclass(frozen=True)
class Issue:
    """One finding inside one document: where (JSON path from the document root), what, how bad, which rule."""

    path: JsonPath
    message: str
    rule: str
    severity: Severity = "error"


def format_path(path: JsonPath) -> str:
    """`("spec", "templates", 0, "container")` -> `spec.templates[0].container`."""
    out = ""
    for elem in path:
        if isinstance(elem, int):
            out += f"[{elem}]"
        else:
            out += f".{elem}" if out else str(elem)
    return out or "(document)"


class CrdError(RuntimeError):
    """The CRD directory is missing or holds no usable CRD."""


@dataclass(frozen=True)
class _CrdSchema:
    group: str
    kind: str
    versions: dict[str, dict[str, Any]]  # version -> patched openAPIV3Schema


def patch_schema(schema: Any) -> Any:
    """Patch an openAPIV3Schema in place (see the module docstring) and return it."""
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        if node.get("x-kubernetes-int-or-string"):
            node.pop("type", None)
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        elif node.get("nullable") and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        if node.get("x-kubernetes-list-type") == "set":
            node["uniqueItems"] = True
        if (
            "properties" in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in node
        ):
            node["additionalProperties"] = False
        for key, value in node.items():
            if key == "enum":  # enum values are data, not schemas
                continue
            if key == "properties" and isinstance(value, dict):
                stack.extend(value.values())
            elif isinstance(value, dict | list):
                stack.append(value)
    return schema


def _cache_dir() -> Path | None:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured == "":
        return None  # PACK_LINT_CACHE_DIR= (empty) disables the disk cache
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openchoreo-ci-pack" / "lint-crd-schemas"


def _load_crd_file(path: Path) -> _CrdSchema | None:
    data = path.read_bytes()
    digest = hashlib.sha256(data + _PATCH_VERSION.encode()).hexdigest()
    cache_dir = _cache_dir()
    cache_file = cache_dir / f"{digest}.json" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        try:
            cached = json.loads(cache_file.read_text(encoding="utf-8"))
            return _CrdSchema(cached["group"], cached["kind"], cached["versions"])
        except (OSError, ValueError, KeyError):
            pass  # a corrupt cache entry is rebuilt below
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = yaml.load(data, Loader=loader)  # a safe loader, C or pure Python
    if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
        return None
    spec = doc.get("spec") or {}
    versions: dict[str, dict[str, Any]] = {}
    for version in spec.get("versions") or []:
        schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or None
        if isinstance(schema, dict):
            versions[str(version.get("name"))] = patch_schema(schema)
    crd = _CrdSchema(str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", "")), versions)
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=cache_file.parent, suffix=".tmp", delete=False) as tmp:
                json.dump({"group": crd.group, "kind": crd.kind, "versions": crd.versions}, tmp)
            os.replace(tmp.name, cache_file)
        except OSError:
            pass  # caching is an optimisation only
    return crd


class CrdSchemas:
    """The CRDs of one directory, by (apiVersion, kind); validators compiled on first use and kept."""

    _loaded: ClassVar[dict[tuple[Path, float], dict[tuple[str, str], dict[str, Any]]]] = {}
    _validators: ClassVar[dict[tuple[Path, float, str, str], Any]] = {}

    def __init__(self, crd_dir: Path) -> None:
        self.crd_dir = crd_dir.resolve()
        if not self.crd_dir.is_dir():
            raise CrdError(f"CRD directory {crd_dir} not found; {CRD_SOURCE_HINT}")
        files = sorted(p for p in self.crd_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        stamp = max((p.stat().st_mtime for p in files), default=0.0)
        self._key = (self.crd_dir, stamp)
        if self._key not in CrdSchemas._loaded:
            schemas: dict[tuple[str, str], dict[str, Any]] = {}
            for file in files:
                crd = _load_crd_file(file)
                if crd is None:
                    continue
                for version, schema in crd.versions.items():
                    schemas[(f"{crd.group}/{version}", crd.kind)] = schema
            if not schemas:
                raise CrdError(f"no CustomResourceDefinition with a schema in {crd_dir}; {CRD_SOURCE_HINT}")
            CrdSchemas._loaded[self._key] = schemas
        self.schemas = CrdSchemas._loaded[self._key]

    def covers(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self.schemas

    def kinds(self) -> set[str]:
        return {kind for _, kind in self.schemas}

    def api_versions(self, kind: str) -> list[str]:
        return sorted(api for api, k in self.schemas if k == kind)

    def validator(self, api_version: str, kind: str) -> Any:
        from jsonschema import Draft7Validator

        key = (*self._key, api_version, kind)
        if key not in CrdSchemas._validators:
            CrdSchemas._validators[key] = Draft7Validator(self.schemas[(api_version, kind)])
        return CrdSchemas._validators[key]

    def validate(self, doc: Mapping[str, Any]) -> list[Issue]:
        api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
        if not self.covers(api_version, kind):
            return [Issue(("kind",), f"no CRD for {api_version} {kind} in {self.crd_dir}", "schema")]
        validator = self.validator(api_version, kind)
        issues: list[Issue] = []
        for error in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
            issues.extend(_to_issues(error, kind))
        return issues


def _to_issues(error: Any, kind: str) -> Iterator[Issue]:
    path: JsonPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list((schema.get("properties") or {}).keys())
        for key in sorted(k for k in error.instance if k not in known):
            hint = difflib.get_close_matches(str(key), known, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            yield Issue(
                (*path, str(key)), f"unknown field '{key}' (not in the {kind} CRD schema){suggestion}", "schema"
            )
        return
    if error.validator == "anyOf" and schema.get("anyOf") == [{"type": "integer"}, {"type": "string"}]:
        yield Issue(path, f"{error.instance!r} is not an integer or a string (int-or-string)", "schema")
        return
    if error.validator == "required":
        yield Issue(path, f"missing required field: {error.message}", "schema")
        return
    yield Issue(path, error.message, "schema")
