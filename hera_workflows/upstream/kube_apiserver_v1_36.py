"""How the Kubernetes API server validates a custom resource on create: the CRD's structural `openAPIV3Schema`,
then its `x-kubernetes-validations` CEL rules (k8s.io/apiextensions-apiserver as in kube-apiserver v1.36, the version
the real OpenChoreo tier runs).

The one model of these rules in the project, used by the linter (Argo CRDs), controller-check (the Workload CRD)
and the tests' CRD oracle. As JSON Schema (Draft 7):

- unknown fields are forbidden: `additionalProperties: false` wherever an object lists `properties` and does not set
  `x-kubernetes-preserve-unknown-fields` (the API server prunes them; `kubectl apply --validate=strict` rejects them,
  and we want to hear about them);
- `x-kubernetes-int-or-string: true` becomes `anyOf: [integer, string]`, `nullable: true` adds `null` to the type,
  `x-kubernetes-list-type: set` becomes `uniqueItems: true`;
- `x-kubernetes-list-type: map` lists must not repeat their `x-kubernetes-list-map-keys` (checked beside the schema);
- CEL rules run with `self` bound to the value unless a *blocking* schema error (a wrong type, a missing required
  field, a value outside an enum) makes them unsafe, as `hasBlockingErr` decides; transition rules (`oldSelf`) are
  skipped, as on create.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any, Final

# jsonschema validators whose failure the API server counts as blocking (field.ErrorTypeTypeInvalid, Required,
# NotSupported): the CEL rules are then not evaluated.
_BLOCKING_VALIDATORS: Final = frozenset({"type", "required", "enum"})
_PROGRAMS: dict[str, Any] = {}  # compiled CEL rules, shared by every validator: compiling is the slow part
CEL_SKIPPED: Final = (
    "<root>: some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)


def patch_schema(schema: Any) -> Any:
    """Patch an openAPIV3Schema in place into the JSON Schema described in the module docstring, and return it."""
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


def json_path(parts: Iterator[Any] | Any) -> str:
    """`spec.container.env[0].value` from a jsonschema error path; `<root>` for the object itself."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


class CrdValidator:
    """One CRD version's `openAPIV3Schema` (structure + CEL), validating objects as the API server does on create."""

    def __init__(self, openapi_schema: Mapping[str, Any]) -> None:
        import jsonschema

        self.raw_schema: dict[str, Any] = copy.deepcopy(dict(openapi_schema))
        self.schema: dict[str, Any] = patch_schema(copy.deepcopy(self.raw_schema))
        jsonschema.Draft7Validator.check_schema(self.schema)
        self._validator = jsonschema.Draft7Validator(self.schema)
        self.rules_evaluated: set[str] = set()

    def schema_errors(self, obj: Any) -> tuple[list[str], bool]:
        """The structural errors, sorted by path, and whether any of them blocks the CEL rules."""
        found = sorted(self._validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
        messages = [f"{json_path(error.absolute_path)}: {error.message}" for error in found]
        return messages, any(error.validator in _BLOCKING_VALIDATORS for error in found)

    def errors(self, obj: Any) -> list[str]:
        """Every error the API server would report for this object on create."""
        found, blocking = self.schema_errors(obj)
        found.extend(self._list_map_errors(self.raw_schema, obj, ""))
        if blocking:
            return [*found, CEL_SKIPPED]
        return found + list(self.cel_errors(self.raw_schema, obj, ""))

    @staticmethod
    def _program(rule: str) -> Any:
        if rule not in _PROGRAMS:
            import celpy  # imported on first use: it is slow to import, and render/list never need it

            environment = celpy.Environment()
            _PROGRAMS[rule] = environment.program(environment.compile(rule))
        return _PROGRAMS[rule]

    def cel_errors(self, schema: Mapping[str, Any], value: Any, path: str) -> Iterator[str]:
        """The `x-kubernetes-validations` rules of `schema` and everything below it, on `value` at `path`."""
        import celpy

        if value is None:
            return
        for validation in schema.get("x-kubernetes-validations") or ():
            rule = str(validation.get("rule") or "")
            if "oldSelf" in rule:
                continue  # a transition rule: evaluated on update only
            self.rules_evaluated.add(rule)
            try:
                result = self._program(rule).evaluate({"self": celpy.json_to_cel(value)})  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001 - a broken rule must not hide the other results
                yield f"{path or '<root>'}: CEL rule {rule!r} could not be evaluated: {exc}"
                continue
            if isinstance(result, Exception) or not bool(result):
                yield f"{path or '<root>'}: {validation.get('message') or 'failed rule: ' + rule}"
        for sub in schema.get("allOf") or ():
            yield from self.cel_errors(sub, value, path)
        if isinstance(value, dict):
            properties = schema.get("properties") or {}
            extra = schema.get("additionalProperties")
            for name, item in value.items():
                child = f"{path}.{name}" if path else str(name)
                if name in properties:
                    yield from self.cel_errors(properties[name], item, child)
                elif isinstance(extra, dict):
                    yield from self.cel_errors(extra, item, child)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                yield from self.cel_errors(schema["items"], item, f"{path}[{index}]")

    def _list_map_errors(self, schema: Mapping[str, Any], value: Any, path: str) -> Iterator[str]:
        if schema.get("x-kubernetes-list-type") == "map" and isinstance(value, list):
            names = schema.get("x-kubernetes-list-map-keys") or []
            keys = [tuple(item.get(n) for n in names) if isinstance(item, dict) else (item,) for item in value]
            seen: set[Any] = set()
            for index, key in enumerate(keys):
                if key in seen:
                    shown = ", ".join(f"{n}={k!r}" for n, k in zip(names, key, strict=False))
                    yield f"{path or '<root>'}[{index}]: Duplicate value: {{{shown}}}"
                seen.add(key)
        if isinstance(value, dict):
            properties = schema.get("properties") or {}
            extra = schema.get("additionalProperties")
            for name, item in value.items():
                child = f"{path}.{name}" if path else str(name)
                sub = properties.get(name) if name in properties else (extra if isinstance(extra, dict) else None)
                if sub:
                    yield from self._list_map_errors(sub, item, child)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                yield from self._list_map_errors(schema["items"], item, f"{path}[{index}]")
