"""What the semantic rules look at: the linted resources, resolved templates, the `{{…}}` scope at one place,
and the small readers of Argo documents every rule uses."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hera_workflows.lint.schema import JsonPath
from hera_workflows.upstream import argo_v3_6 as argo
from steps.common import contract

NAME_RE = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
PARAM_NAME_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DEPENDS_TOKEN_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9]*)(?:\.[A-Za-z]+)?")
MAX_TEMPLATE_NAME = 128
MAX_OBJECT_NAME = 63

TEMPLATE_TYPES = (
    "container",
    "containerSet",
    "steps",
    "script",
    "resource",
    "dag",
    "suspend",
    "data",
    "http",
    "plugin",
)
LEAF_TYPES = frozenset(TEMPLATE_TYPES) - {"steps", "dag"}
# Template types that run as one Argo node of type Pod with a main container OpenChoreo can read outputs from.
POD_TYPES = frozenset({"container", "containerSet", "script"})
ARGO_KINDS = frozenset({"ClusterWorkflowTemplate", "WorkflowTemplate", "Workflow", "CronWorkflow"})
GENERATE = contract.STEP_GENERATE_WORKLOAD
# Step arguments may only take their value from these valueFrom sources.
ARGUMENT_VALUE_FROM = frozenset({"default", "configMapKeyRef", "supplied", "event"})
PULL_POLICIES = frozenset({"Always", "IfNotPresent", "Never"})
OUTPUT_VALUE_FROM_SOURCES = ("path", "jqFilter", "jsonPath", "parameter", "expression", "supplied")


@dataclass
class Resource:
    """One Argo object to check. `prefix` is where `doc` sits in its file document (an OpenChoreo runTemplate is an
    embedded Argo Workflow at `spec.runTemplate`); `origin` names the file, for messages about other resources."""

    kind: str
    name: str
    doc: dict[str, Any]
    origin: str = ""
    prefix: JsonPath = ()
    embedded: bool = False
    namespace: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name or '(unnamed)'}"

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.doc.get("spec")
        return spec if isinstance(spec, dict) else {}

    def templates(self) -> list[tuple[int, dict[str, Any]]]:
        templates = self.spec.get("templates")
        if not isinstance(templates, list):
            return []
        return [(i, t) for i, t in enumerate(templates) if isinstance(t, dict)]

    def template(self, name: str) -> tuple[int, dict[str, Any]] | None:
        for i, tmpl in self.templates():
            if tmpl.get("name") == name:
                return i, tmpl
        return None

    def template_names(self) -> list[str]:
        return [str(t.get("name")) for _, t in self.templates()]


@dataclass(frozen=True)
class Callee:
    """A resolved template: which resource owns it, its index there (None for inline) and the template itself."""

    owner: Resource
    index: int | None
    template: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.template.get("name") or "(inline)")

    @property
    def label(self) -> str:
        return f"{self.owner.label} template '{self.name}'"


@dataclass
class Scope:
    """What `{{…}}` may refer to at one place in a template."""

    template: str
    inputs: set[str]
    artifacts: set[str]
    kind: str | None = None  # "steps" | "tasks" | None (leaf)
    visible: dict[str, Callee | None] = field(default_factory=dict)
    all_calls: set[str] = field(default_factory=set)
    items: bool = False
    workflow_params: set[str] | None = None  # None: the caller supplies them (step template)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def template_type(tmpl: dict[str, Any]) -> str | None:
    types = [t for t in TEMPLATE_TYPES if tmpl.get(t) is not None]
    return types[0] if len(types) == 1 else None


def params_of(section: Any, key: str = "parameters") -> list[tuple[int, dict[str, Any]]]:
    return [(i, p) for i, p in enumerate(as_list(as_dict(section).get(key))) if isinstance(p, dict)]


def param_names(section: Any, key: str = "parameters") -> set[str]:
    return {str(p.get("name")) for _, p in params_of(section, key) if p.get("name")}


def strings_in(value: Any, path: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings_in(item, (*path, i))


def tags_in(text: str) -> Iterator[str]:
    return argo.tags_in_text(text)


def call_template_name(call: dict[str, Any]) -> str | None:
    if isinstance(call.get("template"), str):
        return str(call["template"])
    ref = call.get("templateRef")
    if isinstance(ref, dict) and isinstance(ref.get("template"), str):
        return str(ref["template"])
    return None


def dag_dependencies(task: dict[str, Any]) -> list[str]:
    deps = [str(d) for d in as_list(task.get("dependencies"))]
    depends = task.get("depends")
    if isinstance(depends, str):
        deps += [m.group(1) for m in DEPENDS_TOKEN_RE.finditer(depends)]
    return list(dict.fromkeys(deps))


def name_hint(name: str, names: Iterable[str], what: str = "declared", limit: int = 8) -> str:
    """`(did you mean 'x'?)` when a name is close, else the (first few) names there are."""
    choices = sorted(set(names))
    close = difflib.get_close_matches(name, choices, n=1)
    if close:
        return f"(did you mean '{close[0]}'?)"
    if not choices:
        return f"({what}: none)"
    shown = ", ".join(choices[:limit]) + (f", … {len(choices) - limit} more" if len(choices) > limit else "")
    return f"({what}: {shown})"


def calls_of(tmpl: dict[str, Any]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for group in as_list(tmpl.get("steps")):
        calls.extend(s for s in as_list(group) if isinstance(s, dict))
    calls.extend(t for t in as_list(as_dict(tmpl.get("dag")).get("tasks")) if isinstance(t, dict))
    return calls


def containers_of(tmpl: dict[str, Any]) -> list[tuple[JsonPath, Any]]:
    """Every container-like body of a template, with its path inside the template."""
    out: list[tuple[JsonPath, Any]] = [(("container",), tmpl.get("container")), (("script",), tmpl.get("script"))]
    for key in ("initContainers", "sidecars"):
        out += [((key, i), c) for i, c in enumerate(as_list(tmpl.get(key)))]
    out += [
        (("containerSet", "containers", i), c)
        for i, c in enumerate(as_list(as_dict(tmpl.get("containerSet")).get("containers")))
    ]
    return [(p, c) for p, c in out if isinstance(c, dict)]


def mount_names(tmpl: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for _, body in containers_of(tmpl):
        for mount in as_list(as_dict(body).get("volumeMounts")):
            name = as_dict(mount).get("name")
            if isinstance(name, str):
                names.add(name)
    for mount in as_list(as_dict(tmpl.get("containerSet")).get("volumeMounts")):
        if isinstance(as_dict(mount).get("name"), str):
            names.add(str(mount["name"]))
    return names


def is_input_default(path: JsonPath) -> bool:
    """`...inputs.parameters[i].default`: the value applies only when the caller passes no argument."""
    return len(path) >= 4 and path[-1] == "default" and path[-3] == "parameters" and path[-4] == "inputs"


def pod_spec_patch(value: Any) -> dict[str, Any]:
    """A podSpecPatch (JSON or YAML text, or a mapping) as a mapping; {} when absent or not parseable."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value.strip():
        return {}
    import yaml

    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
