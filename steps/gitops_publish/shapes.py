"""What a trip through OpenChoreo's Go types (api/v1alpha1 at v1.2.3) does to a resource: `occ` decodes every file it
builds a release from into these structs (k8s.io/apimachinery's FromUnstructured) and encodes the result back
(ToUnstructured), so unknown fields disappear, missing non-omitempty fields appear with their zero value, and empty
omitempty fields are dropped. Each struct is listed here by its JSON field names and `omitempty` flags (facts read
from the upstream types; no code copied). `RAW` fields (runtime.RawExtension) keep any JSON value as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ShapeError(ValueError):
    """A value Go's decoder refuses (a string where a number belongs, ...); `path` names where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


STRING, INT, BOOL, RAW = "string", "int", "bool", "raw"


@dataclass(frozen=True)
class F:
    """One struct field: JSON name ("" = inlined struct), type, omitempty. Types: STRING, INT, BOOL, RAW, a struct
    name, `*X` (pointer), `[]X` (slice), `map:X` (map of string to X)."""

    name: str
    type: str
    omitempty: bool = False


def _o(name: str, type_: str) -> F:
    return F(name, type_, True)


STRUCTS: dict[str, tuple[F, ...]] = {
    # Workload
    "Workload": (
        F("apiVersion", STRING),
        F("kind", STRING),
        F("metadata", "ObjectMetaNameNamespace"),
        F("spec", "WorkloadSpec"),
    ),
    "ObjectMetaNameNamespace": (F("name", STRING), _o("namespace", STRING)),
    "WorkloadSpec": (F("owner", "WorkloadOwner"), F("", "WorkloadTemplateSpec")),
    "WorkloadOwner": (F("projectName", STRING), F("componentName", STRING)),
    "WorkloadTemplateSpec": (
        F("container", "Container"),
        _o("endpoints", "map:WorkloadEndpoint"),
        _o("dependencies", "*WorkloadDependencies"),
    ),
    "Container": (
        F("image", STRING),
        _o("command", "[]string"),
        _o("args", "[]string"),
        _o("env", "[]EnvVar"),
        _o("files", "[]FileVar"),
    ),
    "EnvVar": (F("key", STRING), _o("value", STRING), _o("valueFrom", "*EnvVarValueFrom")),
    "EnvVarValueFrom": (_o("secretKeyRef", "*SecretKeyRef"),),
    "SecretKeyRef": (F("name", STRING), F("key", STRING)),
    "FileVar": (F("key", STRING), F("mountPath", STRING), _o("value", STRING), _o("valueFrom", "*EnvVarValueFrom")),
    "WorkloadEndpoint": (
        _o("visibility", "[]string"),
        F("type", STRING),
        F("port", INT),
        _o("targetPort", INT),
        _o("displayName", STRING),
        _o("basePath", STRING),
        _o("schema", "*Schema"),
    ),
    "Schema": (_o("type", STRING), _o("content", STRING)),
    "WorkloadDependencies": (_o("endpoints", "[]WorkloadConnection"), _o("resources", "[]WorkloadResourceDependency")),
    "WorkloadConnection": (
        _o("project", STRING),
        F("component", STRING),
        F("name", STRING),
        F("visibility", STRING),
        F("envBindings", "ConnectionEnvBindings"),
    ),
    "ConnectionEnvBindings": (_o("address", STRING), _o("host", STRING), _o("port", STRING), _o("basePath", STRING)),
    "WorkloadResourceDependency": (F("ref", STRING), _o("envBindings", "map:string"), _o("fileBindings", "map:string")),
    # Component
    "ComponentSpec": (
        F("owner", "ComponentOwner"),
        F("componentType", "ComponentTypeRef"),
        _o("autoDeploy", BOOL),
        _o("autoBuild", "*bool"),
        _o("parameters", RAW),
        _o("traits", "[]ComponentTrait"),
        _o("workflow", "*ComponentWorkflowConfig"),
    ),
    "ComponentOwner": (F("projectName", STRING),),
    "ComponentTypeRef": (_o("kind", STRING), F("name", STRING)),
    "ComponentTrait": (_o("kind", STRING), F("name", STRING), F("instanceName", STRING), _o("parameters", RAW)),
    "ComponentWorkflowConfig": (_o("kind", STRING), F("name", STRING), _o("parameters", RAW)),
    # ComponentType / ClusterComponentType
    "ComponentTypeSpec": (
        F("workloadType", STRING),
        _o("allowedWorkflows", "[]WorkflowRef"),
        _o("parameters", "*SchemaSection"),
        _o("environmentConfigs", "*SchemaSection"),
        _o("traits", "[]ComponentTypeTrait"),
        _o("allowedTraits", "[]TraitRef"),
        _o("validations", "[]ValidationRule"),
        _o("preRenderValidations", "[]ValidationRule"),
        _o("postRenderValidations", "[]PostRenderValidation"),
        F("resources", "[]ResourceTemplate"),
    ),
    "ClusterComponentTypeSpec": (
        F("workloadType", STRING),
        _o("allowedWorkflows", "[]ClusterWorkflowRef"),
        _o("parameters", "*SchemaSection"),
        _o("environmentConfigs", "*SchemaSection"),
        _o("traits", "[]ComponentTypeTrait"),
        _o("allowedTraits", "[]ClusterTraitRef"),
        _o("validations", "[]ValidationRule"),
        _o("preRenderValidations", "[]ValidationRule"),
        _o("postRenderValidations", "[]PostRenderValidation"),
        F("resources", "[]ResourceTemplate"),
    ),
    "WorkflowRef": (_o("kind", STRING), F("name", STRING)),
    "ClusterWorkflowRef": (F("kind", STRING), F("name", STRING)),
    "SchemaSection": (_o("openAPIV3Schema", RAW),),
    "ComponentTypeTrait": (
        _o("kind", STRING),
        F("name", STRING),
        F("instanceName", STRING),
        _o("parameters", RAW),
        _o("environmentConfigs", RAW),
    ),
    "TraitRef": (_o("kind", STRING), F("name", STRING)),
    "ClusterTraitRef": (F("kind", STRING), F("name", STRING)),
    "ValidationRule": (F("rule", STRING), F("message", STRING)),
    "PostRenderValidation": (
        _o("when", STRING),
        _o("forEach", STRING),
        _o("var", STRING),
        F("target", "PostRenderTarget"),
        _o("targetPlane", STRING),
        F("rule", STRING),
        F("message", STRING),
    ),
    "PostRenderTarget": (F("", "PatchTarget"), _o("mustMatch", "*bool")),
    "ResourceTemplate": (
        F("id", STRING),
        _o("targetPlane", STRING),
        _o("includeWhen", STRING),
        _o("forEach", STRING),
        _o("var", STRING),
        F("template", RAW),
    ),
    # Trait / ClusterTrait
    "TraitSpec": (
        _o("parameters", "*SchemaSection"),
        _o("environmentConfigs", "*SchemaSection"),
        _o("validations", "[]ValidationRule"),
        _o("preRenderValidations", "[]ValidationRule"),
        _o("postRenderValidations", "[]PostRenderValidation"),
        _o("creates", "[]TraitCreate"),
        _o("patches", "[]TraitPatch"),
        _o("removes", "[]TraitRemove"),
    ),
    "TraitCreate": (
        _o("targetPlane", STRING),
        _o("includeWhen", STRING),
        _o("forEach", STRING),
        _o("var", STRING),
        F("template", RAW),
    ),
    "TraitPatch": (
        _o("forEach", STRING),
        _o("var", STRING),
        F("target", "PatchTarget"),
        _o("targetPlane", STRING),
        F("operations", "[]JSONPatchOperation"),
    ),
    "PatchTarget": (F("group", STRING), F("version", STRING), F("kind", STRING), _o("where", STRING)),
    "JSONPatchOperation": (F("op", STRING), F("path", STRING), _o("value", RAW)),
    "TraitRemove": (_o("forEach", STRING), _o("var", STRING), F("target", "PatchTarget"), _o("targetPlane", STRING)),
}

_MISSING = object()


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "slice"
    if isinstance(value, dict):
        return "map"
    return "null"


def _empty(value: Any) -> bool:
    """isEmpty of ToUnstructured: "", 0, false, nil, and zero-length slices and maps."""
    if value is None:
        return True
    if isinstance(value, (str, list, dict)):
        return len(value) == 0
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value == 0
    return False


def convert(value: Any, type_: str, path: str) -> Any:
    """FromUnstructured into `type_`, then ToUnstructured. `value` is JSON-shaped; _MISSING or None is Go's zero."""
    absent = value is _MISSING or value is None
    if type_ == STRING:
        if absent:
            return ""
        if not isinstance(value, str):
            raise ShapeError(path, f"expected a string, got {_type_name(value)}")
        return value
    if type_ == INT:
        if absent:
            return 0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ShapeError(path, f"expected an integer, got {_type_name(value)}")
        return int(value)
    if type_ == BOOL:
        if absent:
            return False
        if not isinstance(value, bool):
            raise ShapeError(path, f"expected true or false, got {_type_name(value)}")
        return value
    if type_ == RAW:
        return None if absent else value
    if type_.startswith("*"):
        return None if absent else convert(value, type_[1:], path)
    if type_.startswith("[]"):
        if absent:
            return None
        if not isinstance(value, list):
            raise ShapeError(path, f"expected a list, got {_type_name(value)}")
        return [convert(item, type_[2:], f"{path}[{index}]") for index, item in enumerate(value)]
    if type_.startswith("map:"):
        if absent:
            return None
        if not isinstance(value, dict):
            raise ShapeError(path, f"expected a mapping, got {_type_name(value)}")
        return {key: convert(item, type_[4:], f"{path}.{key}") for key, item in value.items()}
    return convert_struct(value, type_, path)


def convert_struct(value: Any, struct: str, path: str) -> dict[str, Any]:
    if value is _MISSING or value is None:
        source: Mapping[str, Any] = {}
    elif isinstance(value, dict):
        source = value
    else:
        raise ShapeError(path, f"expected a mapping, got {_type_name(value)}")
    out: dict[str, Any] = {}
    for field in STRUCTS[struct]:
        if field.name == "":
            out.update(convert_struct(source, field.type, path))
            continue
        converted = convert(source.get(field.name, _MISSING), field.type, f"{path}.{field.name}")
        pointer = field.type.startswith("*") or field.type == RAW  # only nil is empty
        if field.omitempty and (converted is None if pointer else _empty(converted)):
            continue
        out[field.name] = converted
    return out
