"""Validate a Workload CR dict against the target profile's CRD rules, in code (no CRD files in the step image).

The schemas below restate the upstream CRDs (openchoreo.dev_workloads.yaml at v0.17.0 and v1.2.3): types, required
fields, enums, ranges, minLength, maxItems/maxProperties, closed objects, list-type set/map uniqueness, and the CEL
rules (`x-kubernetes-validations`) as Python predicates. tests/test_generate_workload_crd.py checks that this agrees
with the upstream CRDs themselves (jsonschema + CEL through celpy).
Deliberately independent of the tests' CRD oracle (the CRD files read by jsonschema + celpy): two separate readings
must agree, so this module shares no code with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from steps.generate_workload.model import API_VERSION, KIND, PROFILE_017, PROFILE_1X, Profile

Schema = dict[str, Any]
Rule = tuple[Callable[[Any], bool], str]


def _string(min_length: int = 0, enum: tuple[str, ...] | None = None) -> Schema:
    schema: Schema = {"type": "string"}
    if min_length:
        schema["minLength"] = min_length
    if enum is not None:
        schema["enum"] = enum
    return schema


def _object(properties: Mapping[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    return {"type": "object", "properties": dict(properties), "required": required, **extra}


def _port() -> Schema:
    return {"type": "integer", "minimum": 1, "maximum": 65535}


def _nonempty_pairs(value: Mapping[str, str]) -> bool:
    return all(len(key) > 0 and len(item) > 0 for key, item in value.items())


def _not_both(value: Mapping[str, Any]) -> bool:
    return not ("value" in value and "valueFrom" in value)


def _exactly_one(value: Mapping[str, Any]) -> bool:
    return ("value" in value) != ("valueFrom" in value)


def _build(profile: Profile) -> Schema:
    is_017 = profile is PROFILE_017
    ref = _object(
        {
            "name": _string(1 if profile.secret_ref_min_length else 0),
            "key": _string(1 if profile.secret_ref_min_length else 0),
        },
        ("key", "name"),
    )
    value_from_props: dict[str, Schema] = {profile.secret_ref_field: ref}
    if is_017:
        value_from_props["configurationGroupRef"] = _object({"name": _string(), "key": _string()}, ("key", "name"))
    value_from = _object(value_from_props)
    rule: Rule = (
        (_exactly_one, "exactly one of value or valueFrom must be set")
        if profile.value_xor_required
        else (_not_both, "value and valueFrom are mutually exclusive")
    )
    env_item = _object({"key": _string(), "value": _string(), "valueFrom": value_from}, ("key",), rules=(rule,))
    file_item = _object(
        {"key": _string(), "mountPath": _string(), "value": _string(), "valueFrom": value_from},
        ("key", "mountPath"),
        rules=(rule,),
    )
    container = _object(
        {
            "image": _string(1),
            "command": {"type": "array", "items": _string()},
            "args": {"type": "array", "items": _string()},
            "env": {"type": "array", "items": env_item},
            "files": {"type": "array", "items": file_item},
        },
        ("image",),
    )
    endpoint = _object(
        {
            "type": _string(enum=profile.endpoint_types),
            "port": _port(),
            "targetPort": _port(),
            "displayName": _string(),
            "basePath": _string(),
            "visibility": {
                "type": "array",
                "items": _string(enum=profile.endpoint_visibilities),
                "listType": "set",
            },
            "schema": _object({"type": _string(), "content": _string()}),
        },
        ("port", "type"),
    )
    env_bindings = _object({"address": _string(), "host": _string(), "port": _string(), "basePath": _string()})
    connection_props: dict[str, Schema] = {
        "project": _string(),
        "component": _string(1),
        profile.dependency_target_field: _string(1),
        "visibility": _string(enum=profile.dependency_visibilities),
        "envBindings": env_bindings,
    }
    connection_rules: tuple[Rule, ...] = ()
    if is_017:
        connection_props["namespace"] = _string()
        connection_props["environmentMapping"] = {"type": "object", "additionalProperties": _string()}
        connection_rules = (
            (
                lambda v: not v.get("namespace") or bool(v.get("project")),
                "project is required when namespace is set",
            ),
            (
                lambda v: v.get("visibility") == "internal" or not v.get("environmentMapping"),
                "environmentMapping requires internal visibility",
            ),
        )
    connection = _object(
        connection_props,
        ("component", profile.dependency_target_field, "envBindings", "visibility"),
        rules=connection_rules,
    )
    connections: Schema = {"type": "array", "items": connection, "maxItems": 50}
    spec_props: dict[str, Schema] = {
        "owner": _object({"projectName": _string(1), "componentName": _string(1)}, ("componentName", "projectName")),
        "container": container,
        "endpoints": {"type": "object", "additionalProperties": endpoint},
    }
    if is_017:
        spec_props["connections"] = connections
    else:
        bindings = {
            "type": "object",
            "additionalProperties": _string(),
            "maxProperties": 50,
        }
        resource = _object(
            {
                "ref": _string(1),
                "envBindings": {
                    **bindings,
                    "rules": (
                        (
                            _nonempty_pairs,
                            "envBindings keys (output names) and values (env var names) cannot be empty",
                        ),
                    ),
                },
                "fileBindings": {
                    **bindings,
                    "rules": (
                        (
                            _nonempty_pairs,
                            "fileBindings keys (output names) and values (mount paths) cannot be empty",
                        ),
                    ),
                },
            },
            ("ref",),
        )
        spec_props["dependencies"] = _object(
            {
                "endpoints": connections,
                "resources": {
                    "type": "array",
                    "items": resource,
                    "maxItems": 50,
                    "listType": "map",
                    "listMapKey": "ref",
                },
            }
        )
    metadata = _object({"name": _string(1), "namespace": _string()}, ("name",))
    return _object(
        {
            "apiVersion": _string(enum=(API_VERSION,)),
            "kind": _string(enum=(KIND,)),
            "metadata": metadata,
            "spec": _object(spec_props, ("container", "owner")),
        },
        ("apiVersion", "kind", "metadata", "spec"),
    )


SCHEMAS: dict[str, Schema] = {profile.name: _build(profile) for profile in (PROFILE_1X, PROFILE_017)}


def _type_ok(value: Any, expected: str) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return False


def _check(value: Any, schema: Schema, path: str, errors: list[str]) -> None:
    where = path or "<root>"
    expected = schema["type"]
    if not _type_ok(value, expected):
        errors.append(f"{where}: expected {expected}, got {type(value).__name__}")
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} is not one of [{', '.join(schema['enum'])}]")
    if expected == "string" and len(value) < schema.get("minLength", 0):
        errors.append(f"{where}: must not be empty")
    if expected == "integer" and not schema.get("minimum", value) <= value <= schema.get("maximum", value):
        errors.append(f"{where}: must be {schema['minimum']}..{schema['maximum']}, got {value}")
    if expected == "array":
        if len(value) > schema.get("maxItems", len(value)):
            errors.append(f"{where}: at most {schema['maxItems']} items, got {len(value)}")
        if schema.get("listType") == "set" and len({repr(item) for item in value}) != len(value):
            errors.append(f"{where}: duplicate values in a set")
        if schema.get("listType") == "map":
            keys = [item.get(schema["listMapKey"]) for item in value if isinstance(item, dict)]
            if len(set(keys)) != len(keys):
                errors.append(f"{where}: duplicate {schema['listMapKey']} values")
        for index, item in enumerate(value):
            _check(item, schema["items"], f"{path}[{index}]", errors)
    if expected == "object":
        properties: dict[str, Schema] = schema.get("properties", {})
        extra: Schema | None = schema.get("additionalProperties")
        for name in schema.get("required", ()):
            if name not in value:
                errors.append(f"{path + '.' if path else ''}{name}: is required")
        if len(value) > schema.get("maxProperties", len(value)):
            errors.append(f"{where}: at most {schema['maxProperties']} entries, got {len(value)}")
        for name, item in value.items():
            child = f"{path}.{name}" if path else str(name)
            if not isinstance(name, str):
                errors.append(f"{child}: keys must be strings")
            elif name in properties:
                _check(item, properties[name], child, errors)
            elif extra is not None:
                _check(item, extra, child, errors)
            else:
                errors.append(f"{child}: unknown field")
    for predicate, message in schema.get("rules", ()):
        try:
            ok = predicate(value)
        except (AttributeError, TypeError, KeyError):
            ok = False
        if not ok:
            errors.append(f"{where}: {message}")


def validate_cr(cr: Any, profile: Profile) -> list[str]:
    """All the ways `cr` breaks the profile's CRD (empty when valid)."""
    errors: list[str] = []
    _check(cr, SCHEMAS[profile.name], "", errors)
    return errors
