"""Lint layer 1: structural validation against the Argo Workflows *full* CRD `openAPIV3Schema`.

The full CRDs (argoproj/argo-workflows `manifests/base/crds/full/`, at the tag of the targeted Argo version) carry
the schema the API server enforces on `kubectl apply`. Two patches make it behave like `kubectl apply
--validate=strict` under JSON Schema:

- unknown fields are forbidden: `additionalProperties: false` wherever an object schema lists `properties` and does
  not set `x-kubernetes-preserve-unknown-fields`;
- `x-kubernetes-int-or-string: true` becomes `anyOf: [integer, string]` (JSON Schema has no such type),
  `nullable: true` adds `null` to the type, and `x-kubernetes-list-type: set` becomes `uniqueItems: true`.

`patch_schema` (hera_workflows/upstream/kube_apiserver_v1_36.py) is the project's one model of these structural
rules; controller-check and the tests validate against upstream CRDs through it too.

The patched schema of each CRD is cached in-process (compiled validator) and on disk (JSON, keyed by the CRD file's
sha256), so only the first run pays for parsing the multi-megabyte CRD YAML.

Three sources of the structure, all held as `StructuralSchemas` (by apiVersion and kind):

- `HeraSchemas()`, the default, needs nothing beside the installed package: the JSON schema of Hera's Argo models
  (generated from Argo v4.0.5's swagger), made strict the same way (unknown fields forbidden, `None` not accepted,
  int-or-string and Quantity as the API server types them). Cached on disk keyed by Hera's version.
- `CrdSchemas(DIR)`: the exact upstream CRD files (`--crd-dir`).
- `CrdSchemas.from_cluster()`: the CRDs installed in the current kube context (`kubectl get crd -o json`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from hera_workflows.upstream.kube_apiserver_v1_36 import patch_schema

Severity = Literal["error", "warning"]
PathElem = str | int
JsonPath = tuple[PathElem, ...]

# Bump when the patching below changes, so stale disk caches are ignored.
_PATCH_VERSION = "2"
_HERA_PATCH_VERSION = "1"
ARGO_CRD_NAMES = (
    "clusterworkflowtemplates.argoproj.io",
    "workflowtemplates.argoproj.io",
    "workflows.argoproj.io",
)
KUBECTL_TIMEOUT_SECONDS = 60
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


def _cache_dir() -> Path | None:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured == "":
        return None  # PACK_LINT_CACHE_DIR= (empty) disables the disk cache
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openchoreo-ci-pack" / "lint-crd-schemas"


def _write_cache(cache_file: Path, payload: Any) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=cache_file.parent, suffix=".tmp", delete=False) as tmp:
            json.dump(payload, tmp)
        os.replace(tmp.name, cache_file)
    except OSError:
        pass  # caching is an optimisation only


def _crd_from_document(doc: Any) -> _CrdSchema | None:
    if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
        return None
    spec = doc.get("spec") or {}
    versions: dict[str, dict[str, Any]] = {}
    for version in spec.get("versions") or []:
        schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or None
        if isinstance(schema, dict):
            versions[str(version.get("name"))] = patch_schema(schema)
    return _CrdSchema(str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", "")), versions)


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
    crd = _crd_from_document(yaml.load(data, Loader=loader))  # a safe loader, C or pure Python
    if crd is None:
        return None
    if cache_file is not None:
        _write_cache(cache_file, {"group": crd.group, "kind": crd.kind, "versions": crd.versions})
    return crd


class StructuralSchemas:
    """Patched structural schemas by (apiVersion, kind); validators compiled on first use and kept."""

    _validators: ClassVar[dict[tuple[str, str, str], Any]] = {}

    def __init__(self, schemas: dict[tuple[str, str], dict[str, Any]], source: str, cache_key: str) -> None:
        self.schemas = schemas
        self.source = source  # named in findings: which schema said so
        self._cache_key = cache_key

    def covers(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self.schemas

    def kinds(self) -> set[str]:
        return {kind for _, kind in self.schemas}

    def api_versions(self, kind: str) -> list[str]:
        return sorted(api for api, k in self.schemas if k == kind)

    def validator(self, api_version: str, kind: str) -> Any:
        from jsonschema import Draft202012Validator

        key = (self._cache_key, api_version, kind)
        if key not in StructuralSchemas._validators:
            StructuralSchemas._validators[key] = Draft202012Validator(self.schemas[(api_version, kind)])
        return StructuralSchemas._validators[key]

    def validate(self, doc: Mapping[str, Any]) -> list[Issue]:
        api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
        if not self.covers(api_version, kind):
            return [Issue(("kind",), f"no schema for {api_version} {kind} in {self.source}", "schema")]
        validator = self.validator(api_version, kind)
        issues: list[Issue] = []
        for error in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
            issues.extend(_to_issues(error, kind, self.source))
        return issues


class CrdSchemas(StructuralSchemas):
    """The CRDs of one directory (or of the cluster), by (apiVersion, kind)."""

    _loaded: ClassVar[dict[tuple[Path, float], dict[tuple[str, str], dict[str, Any]]]] = {}

    def __init__(self, crd_dir: Path) -> None:
        self.crd_dir = crd_dir.resolve()
        if not self.crd_dir.is_dir():
            raise CrdError(f"CRD directory {crd_dir} not found; {CRD_SOURCE_HINT}")
        files = sorted(p for p in self.crd_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        stamp = max((p.stat().st_mtime for p in files), default=0.0)
        key = (self.crd_dir, stamp)
        if key not in CrdSchemas._loaded:
            schemas: dict[tuple[str, str], dict[str, Any]] = {}
            for file in files:
                crd = _load_crd_file(file)
                if crd is not None:
                    _add_versions(schemas, crd)
            if not schemas:
                raise CrdError(f"no CustomResourceDefinition with a schema in {crd_dir}; {CRD_SOURCE_HINT}")
            CrdSchemas._loaded[key] = schemas
        super().__init__(CrdSchemas._loaded[key], f"the CRDs in {crd_dir}", f"{self.crd_dir}@{stamp}")

    @staticmethod
    def from_cluster(context: str | None = None, kubectl: str = "kubectl") -> StructuralSchemas:
        """The Argo CRDs installed in the current (or the named) kube context, through `kubectl get crd -o json`."""
        binary = shutil.which(kubectl)
        if binary is None:
            raise CrdError(f"--from-cluster: {kubectl} not found on PATH")
        argv = [binary, *(["--context", context] if context else []), "get", "crd", *ARGO_CRD_NAMES, "-o", "json"]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CrdError(f"--from-cluster: {' '.join(argv[1:])}: {exc}") from exc
        if proc.returncode != 0:
            detail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            raise CrdError(f"--from-cluster: kubectl get crd failed: {detail[0]}")
        try:
            listing = json.loads(proc.stdout)
        except ValueError as exc:
            raise CrdError(f"--from-cluster: kubectl printed no JSON: {exc}") from exc
        items = listing.get("items") if isinstance(listing, dict) and "items" in listing else [listing]
        schemas: dict[tuple[str, str], dict[str, Any]] = {}
        for item in items or []:
            crd = _crd_from_document(item)
            if crd is not None:
                _add_versions(schemas, crd)
        if not schemas:
            raise CrdError("--from-cluster: the cluster returned no Argo CRD with a schema (minimal CRDs?)")
        where = f"context {context}" if context else "the current kube context"
        digest = hashlib.sha256(proc.stdout.encode()).hexdigest()[:16]
        return StructuralSchemas(schemas, f"the CRDs of {where}", f"cluster:{digest}")


def _add_versions(schemas: dict[tuple[str, str], dict[str, Any]], crd: _CrdSchema) -> None:
    for version, schema in crd.versions.items():
        schemas[(f"{crd.group}/{version}", crd.kind)] = schema


# -- the default: Hera's Argo models, made strict ------------------------------------------------------------------
HERA_KINDS = ("ClusterWorkflowTemplate", "WorkflowTemplate", "Workflow")
ARGO_API_VERSION = "argoproj.io/v1alpha1"
_INT_OR_STRING: dict[str, Any] = {"anyOf": [{"type": "integer"}, {"type": "string"}]}


def _strict_hera_schema(node: Any) -> Any:
    """Pydantic's JSON schema of a Hera model -> the API server's view: closed objects, no null for optional
    fields (Hera renders None as absent; the CRD has no nullable fields), int-or-string and Quantity as
    integer-or-string, and no prose (descriptions, titles, defaults) to keep the cached schema small."""
    if isinstance(node, list):
        return [_strict_hera_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    any_of = node.get("anyOf")
    if isinstance(any_of, list) and len(any_of) == 2 and {"type": "null"} in any_of:
        (kept,) = [item for item in any_of if item != {"type": "null"}]
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "default", "title", "description")}
        return _strict_hera_schema({**rest, **kept})
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "description", "default", "examples"):
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):  # maps of names to schemas
            out[key] = {name: _strict_hera_schema(sub) for name, sub in value.items()}
        else:
            out[key] = _strict_hera_schema(value)
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _hera_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hera")
    except PackageNotFoundError:
        return "unknown"


def _build_hera_schemas() -> dict[str, dict[str, Any]]:
    from hera.workflows import models
    from pydantic import TypeAdapter

    out: dict[str, dict[str, Any]] = {}
    for kind in HERA_KINDS:
        raw = TypeAdapter(getattr(models, kind)).json_schema(by_alias=True, mode="validation")
        defs = raw.setdefault("$defs", {})
        defs["IntOrString"] = dict(_INT_OR_STRING)
        defs["Quantity"] = dict(_INT_OR_STRING)  # resource quantities: 1, "500m", "1Gi"
        strict = _strict_hera_schema(raw)
        strict["required"] = sorted({*strict.get("required", []), "apiVersion", "kind", "metadata", "spec"})
        out[kind] = strict
    return out


def hera_schemas() -> StructuralSchemas:
    """The default structure: Hera's Argo models (Argo v4.0.5), strict. Needs nothing beside the package."""
    hera = _hera_version()
    key = f"hera-{hera}-{_HERA_PATCH_VERSION}"
    cached = _HERA_LOADED.get(key)
    if cached is None:
        cache_dir = _cache_dir()
        cache_file = cache_dir / f"{key}.json" if cache_dir else None
        if cache_file is not None and cache_file.is_file():
            try:
                cached = json.loads(cache_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                cached = None
        if not isinstance(cached, dict) or set(cached) != set(HERA_KINDS):
            cached = _build_hera_schemas()
            if cache_file is not None:
                _write_cache(cache_file, cached)
        _HERA_LOADED[key] = cached
    schemas = {(ARGO_API_VERSION, kind): schema for kind, schema in cached.items()}
    return StructuralSchemas(schemas, f"Hera {hera}'s Argo v4.0.5 models (strict)", key)


_HERA_LOADED: dict[str, dict[str, dict[str, Any]]] = {}


def _to_issues(error: Any, kind: str, source: str) -> Iterator[Issue]:
    path: JsonPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list((schema.get("properties") or {}).keys())
        for key in sorted(k for k in error.instance if k not in known):
            hint = difflib.get_close_matches(str(key), known, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            yield Issue(
                (*path, str(key)), f"unknown field '{key}' (not in the {kind} schema of {source}){suggestion}", "schema"
            )
        return
    if error.validator == "anyOf" and schema.get("anyOf") == [{"type": "integer"}, {"type": "string"}]:
        yield Issue(path, f"{error.instance!r} is not an integer or a string (int-or-string)", "schema")
        return
    if error.validator == "required":
        yield Issue(path, f"missing required field: {error.message}", "schema")
        return
    yield Issue(path, error.message, "schema")
