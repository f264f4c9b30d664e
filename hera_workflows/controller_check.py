"""`python -m hera_workflows controller-check WORKFLOW`: read an Argo Workflow as OpenChoreo's controller does.

OpenChoreo v0.15 to v0.17 extracted the `workload-cr` output parameter of the `generate-workload-cr` step from the
finished Argo Workflow and server-side applied it as a `Workload` (v1.0 removed that; the step calls the API since).
This command re-implements that extraction for one controller version, from the Workflow object alone:

- which node is matched (v0.15: `templateName`; v0.16: `templateName` -> `templateRef.template` -> `displayName`;
  v0.17: `displayName`, or the suffix of the node name), the `hasGenerateWorkloadTask` gate (Pod nodes only), the
  `Succeeded` phase and the first `workload-cr` parameter with a non-nil value;
- the loose parse of `sigs.k8s.io/yaml` (YAML or JSON, unknown fields dropped, scalars coerced into string fields,
  other type mismatches fail), the v0.17 check of `metadata.name`, the namespace overwritten by the run's namespace;
- the CRD validation the API server would apply (OpenAPI schema + CEL rules), whose failure makes the apply fail and
  the controller requeue, with no condition.

It reports the `WorkloadUpdated` condition the controller would set (or none), with the situation of the reference
table that applies, and prints the CR as it would be applied. Exit code 0 only when `WorkloadUpdated=True`.

Validation: by default with the generate-workload step's own validator (`steps.generate_workload.validate`, the
v0.17.0 Workload CRD's schema and CEL rules restated in code and checked against the upstream CRD by the tests), so
nothing beside the installed package is needed; `--crd-dir DIR` validates against the upstream CRD file instead.
Only the v0.17.0 and v1.2.3 Workload CRDs exist as references: v0.17 uses v0.17.0; v0.15 and v0.16 also use v0.17.0,
the closest one (v0.16 already required `spec.container`; v0.15 also accepted `spec.containers`, which this check
then reports as an unknown field dropped). The report names the schema used.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from hera_workflows.upstream.kube_apiserver_v1_36 import CrdValidator
from steps.common import contract
from steps.common.sigs_yaml_v1_6 import fold_key, format_float32
from steps.generate_workload.model import PROFILE_017
from steps.generate_workload.validate import SCHEMAS as STEP_SCHEMAS
from steps.generate_workload.validate import validate_cr

VERSIONS: Final = ("0.15", "0.16", "0.17")
DEFAULT_VERSION: Final = "0.17"
TASK_NAME: Final = contract.STEP_GENERATE_WORKLOAD  # generateWorkloadTaskName
PARAM_NAME: Final = contract.OUT_WORKLOAD_CR  # workloadCRParamName
CONDITION_TYPE: Final = "WorkloadUpdated"
WORKLOAD_API_VERSION: Final = contract.OPENCHOREO_API_VERSION
WORKLOAD_KIND: Final = contract.WORKLOAD_KIND
CRD_FILE: Final = "openchoreo.dev_workloads.yaml"
CRD_DIR_BY_VERSION: Final = {"0.15": "openchoreo-v0.17.0", "0.16": "openchoreo-v0.17.0", "0.17": "openchoreo-v0.17.0"}

# Case ids: one per row of the reference table (openchoreo-ci-contract.md §1.3), plus "not completed yet".
CASE_APPLIED: Final = "applied"
CASE_NOT_COMPLETED: Final = "workflow-not-completed"
CASE_WORKFLOW_FAILED: Final = "workflow-failed"
CASE_NO_TASK: Final = "no-generate-task"
CASE_NO_CR: Final = "no-workload-cr"
CASE_UNPARSEABLE: Final = "unparseable"
CASE_MISSING_NAME: Final = "missing-name"
CASE_APPLY_REJECTED: Final = "apply-rejected"

CASE_TITLES: Final = {
    CASE_APPLIED: "Argo workflow Succeeded; a Pod node named generate-workload-cr is Succeeded "
    "with a valid workload-cr",
    CASE_NOT_COMPLETED: "Argo workflow not completed yet",
    CASE_WORKFLOW_FAILED: "The step failed (so the Argo workflow failed)",
    CASE_NO_TASK: "No generate-workload-cr Pod task in the run (step missing)",
    CASE_NO_CR: "The workflow succeeded but the step node is not Succeeded, or has no outputs, "
    "or no workload-cr param, or its value is nil",
    CASE_UNPARSEABLE: "The YAML does not parse",
    CASE_MISSING_NAME: "It parses but metadata.name is empty",
    CASE_APPLY_REJECTED: "Apply rejected (CRD validation, spec.owner is immutable, RBAC...)",
}

MESSAGE_TRUE: Final = "Workload CR created/updated successfully"
MESSAGE_FALSE: Final = "Failed to create/update workload CR"

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_TTL_CAVEAT = (
    "If the WorkflowRun has ttlAfterCompletion (every sample Workflow sets 1d), the requeue is never retried: "
    "checkTTLExpiration returns early until the TTL expires and the run is deleted without a WorkloadUpdated condition."
)


class CheckError(Exception):
    """Bad input (unreadable file, not a Workflow, compressed/offloaded node status, missing CRD)."""


@dataclass(frozen=True)
class Condition:
    status: str
    reason: str
    message: str
    type: str = CONDITION_TYPE

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "status": self.status, "reason": self.reason, "message": self.message}


CONDITION_TRUE: Final = Condition("True", "WorkloadUpdated", MESSAGE_TRUE)
CONDITION_FALSE: Final = Condition("False", "WorkloadUpdateFailed", MESSAGE_FALSE)


@dataclass
class CheckResult:
    version: str
    workflow_name: str
    workflow_phase: str
    case: str
    condition: Condition | None
    explanation: list[str] = field(default_factory=list)
    controller_action: str = ""
    run_namespace: str = ""
    namespace_source: str = ""
    matched_node: str | None = None
    workload: dict[str, Any] | None = None
    crd_used: str | None = None
    validation_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.condition is not None and self.condition.status == "True"

    def as_dict(self) -> dict[str, Any]:
        return {
            "openchoreo": self.version,
            "workflow": self.workflow_name,
            "workflowPhase": self.workflow_phase,
            "case": self.case,
            "situation": CASE_TITLES[self.case],
            "condition": self.condition.as_dict() if self.condition else None,
            "explanation": self.explanation,
            "controllerAction": self.controller_action,
            "runNamespace": self.run_namespace,
            "runNamespaceSource": self.namespace_source,
            "matchedNode": self.matched_node,
            "crd": self.crd_used,
            "validationErrors": self.validation_errors,
            "warnings": self.warnings,
            "workload": self.workload,
        }


# ---------------------------------------------------------------------------------------------------------------
# Loading the Workflow


def load_workflow(path: Path) -> dict[str, Any]:
    """A Workflow from JSON or YAML (`kubectl get wf NAME -o json|yaml`, or `run -o`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CheckError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        doc: Any = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise CheckError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise CheckError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    if isinstance(doc, dict) and doc.get("kind") == "List":
        items = [i for i in doc.get("items") or [] if isinstance(i, dict) and i.get("kind") == "Workflow"]
        if len(items) != 1:
            raise CheckError(f"{path}: a List with {len(items)} Workflows; save exactly one (kubectl get wf NAME)")
        doc = items[0]
    if not isinstance(doc, dict) or doc.get("kind") != "Workflow":
        kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        raise CheckError(f"{path}: kind: expected Workflow (argoproj.io/v1alpha1), got {kind!r}")
    return doc


def _nodes(workflow: Mapping[str, Any], source: str) -> dict[str, dict[str, Any]]:
    status = workflow.get("status") or {}
    nodes = status.get("nodes")
    if not nodes and status.get("compressedNodes"):
        raise CheckError(
            f"{source}: status.compressedNodes: compressed node status is not supported. Save the Workflow with "
            "`argo get NAME -o json` (which decompresses it). Note: OpenChoreo's controller reads status.nodes only, "
            "so on a cluster it would see no nodes here and set no WorkloadUpdated condition."
        )
    if not nodes and status.get("offloadNodeStatusVersion"):
        raise CheckError(
            f"{source}: status.offloadNodeStatusVersion: the node status is offloaded to the database and not in "
            "this object; save it with `argo get NAME -o json`. OpenChoreo's controller reads status.nodes only "
            "and would see no nodes."
        )
    if nodes is None:
        return {}
    if not isinstance(nodes, dict):
        raise CheckError(f"{source}: status.nodes: expected a map of node id -> node status")
    return {str(k): v for k, v in nodes.items() if isinstance(v, dict)}


# ---------------------------------------------------------------------------------------------------------------
# Node matching, per controller version


def name_suffix(node_name: str) -> str:
    """The part of the node name after its last '.', as v0.17's task naming does."""
    return node_name.rsplit(".", 1)[-1]


def v017_task_name(node: Mapping[str, Any]) -> str:
    display = str(node.get("displayName") or "")
    return display or name_suffix(str(node.get("name") or ""))


def resolve_node_template_name(node: Mapping[str, Any]) -> str:
    """v0.16 `resolveNodeTemplateName`: TemplateName, else TemplateRef.Template, else DisplayName."""
    if node.get("templateName"):
        return str(node["templateName"])
    ref = node.get("templateRef") or {}
    if isinstance(ref, dict) and ref.get("template"):
        return str(ref["template"])
    return str(node.get("displayName") or "")


def node_task_name(node: Mapping[str, Any], version: str) -> str:
    """The name the given controller version compares with `generate-workload-cr`."""
    if version == "0.15":
        return str(node.get("templateName") or "")
    if version == "0.16":
        return resolve_node_template_name(node)
    return v017_task_name(node)


def _match_rule(version: str) -> str:
    return {
        "0.15": "node.templateName",
        "0.16": "resolveNodeTemplateName (templateName -> templateRef.template -> displayName)",
        "0.17": "node.displayName (or the node name's suffix after the last '.')",
    }[version]


def has_generate_workload_task(nodes: Mapping[str, Mapping[str, Any]], version: str) -> bool:
    """The gate: status.tasks holds only Pod nodes; any phase counts."""
    return any(n.get("type") == "Pod" and node_task_name(n, version) == TASK_NAME for n in nodes.values())


@dataclass
class Extraction:
    value: str  # "" when nothing was found, as the controller's string result
    node_id: str | None
    reason: str  # why nothing was found, or how it was found
    candidates: dict[str, str] = field(default_factory=dict)  # node id -> value, every Succeeded match


def _param_value(value: Any) -> str:
    # Argo's AnyString accepts JSON strings, numbers and booleans.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def extract_workload_cr(nodes: Mapping[str, Mapping[str, Any]], version: str) -> Extraction:
    """`extractWorkloadCRFromRunResource`: any node type; name match + Succeeded; first non-nil workload-cr."""
    matches = {nid: n for nid, n in sorted(nodes.items()) if node_task_name(n, version) == TASK_NAME}
    if not matches:
        return Extraction("", None, f"no node has the task name {TASK_NAME!r} (matched by {_match_rule(version)})")
    succeeded = {nid: n for nid, n in matches.items() if n.get("phase") == "Succeeded"}
    if not succeeded:
        phases = ", ".join(f"{nid} is {n.get('phase') or 'without phase'}" for nid, n in matches.items())
        return Extraction("", None, f"no matching node is Succeeded ({phases})")
    candidates: dict[str, str] = {}
    problems: list[str] = []
    for nid, node in succeeded.items():
        outputs = node.get("outputs")
        if not isinstance(outputs, dict):
            problems.append(f"node {nid} has no outputs")
            continue
        params = [p for p in outputs.get("parameters") or [] if isinstance(p, dict)]
        named = [p for p in params if p.get("name") == PARAM_NAME]
        if not named:
            problems.append(f"node {nid} has no output parameter {PARAM_NAME!r}")
            continue
        with_value = [p for p in named if p.get("value") is not None]
        if not with_value:
            problems.append(f"node {nid}: output parameter {PARAM_NAME!r} has no value (nil)")
            continue
        candidates[nid] = _param_value(with_value[0]["value"])
    if not candidates:
        return Extraction("", None, "; ".join(problems))
    first_id, first_value = next(iter(candidates.items()))
    reason = f"node {first_id}"
    if not first_value:
        reason = f"node {first_id}: output parameter {PARAM_NAME!r} is empty"
    return Extraction(first_value, first_id, reason, candidates)


# ---------------------------------------------------------------------------------------------------------------
# sigs.k8s.io/yaml decoding into the typed Workload, driven by the CRD schema (which mirrors the Go types)


class DecodeError(Exception):
    """What `yaml.Unmarshal` into v1alpha1.Workload would return: the controller requeues."""


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if kind == "integer":
        return str(schema.get("format") or "int64")
    if kind == "object":
        return "map" if "additionalProperties" in schema else "struct"
    if kind == "array":
        return "slice"
    return str(kind or "any")


class _Decoder:
    def __init__(self) -> None:
        self.dropped: list[str] = []

    def decode(self, value: Any, schema: Mapping[str, Any], path: str) -> Any:
        if value is None:
            return None  # JSON null leaves the Go field at its zero value (omitted on marshal)
        if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
            return value
        kind = schema.get("type")
        if kind == "string":
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, int):
                return str(value)
            if isinstance(value, float):
                return format_float32(value)
            if isinstance(value, str):
                return value
            raise self._mismatch(value, schema, path)
        if kind == "integer":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise self._mismatch(value, schema, path)
        if kind == "number":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
            raise self._mismatch(value, schema, path)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            raise self._mismatch(value, schema, path)
        if kind == "array":
            if not isinstance(value, list):
                raise self._mismatch(value, schema, path)
            items = schema.get("items") or {}
            return [self.decode(v, items, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "object":
            if not isinstance(value, dict):
                raise self._mismatch(value, schema, path)
            props: Mapping[str, Any] = schema.get("properties") or {}
            additional = schema.get("additionalProperties")
            if not props and isinstance(additional, dict):
                return {str(k): self.decode(v, additional, f"{path}.{k}") for k, v in value.items()}
            if not props:
                return value
            return self._decode_struct(value, props, path)
        return value

    def _decode_struct(self, value: Mapping[Any, Any], props: Mapping[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        folded = {fold_key(k): k for k in props}
        for key, sub in value.items():
            key_text = str(key)
            # encoding/json: an exact match first, else a case-insensitive one.
            target = key_text if key_text in props else folded.get(fold_key(key_text))
            where = f"{path}.{key_text}" if path else key_text
            if target is None:
                self.dropped.append(where)
                continue
            decoded = self.decode(sub, props[target], f"{path}.{target}" if path else target)
            if decoded is not None:
                out[target] = decoded
        return out

    @staticmethod
    def _mismatch(value: Any, schema: Mapping[str, Any], path: str) -> DecodeError:
        return DecodeError(
            f"error unmarshaling JSON: json: cannot unmarshal {_json_kind(value)} into Go struct field "
            f"{path} of type {_go_type(schema)}"
        )


_OBJECT_META_KEYS: Final = {
    "name": "string",
    "generateName": "string",
    "namespace": "string",
    "labels": "map",
    "annotations": "map",
    "finalizers": "list",
}


def parse_workload(text: str, schema: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Parse `workload-cr` as `sigs.k8s.io/yaml.Unmarshal(data, &v1alpha1.Workload{})` would.

    Returns the object as the controller would marshal it into the apply patch, and the fields it dropped.
    """
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise DecodeError(f"error converting YAML to JSON: yaml: {line}{getattr(exc, 'problem', None) or exc}") from exc
    doc = docs[0] if docs else None  # yaml.v2 decodes the first document only
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise DecodeError(
            f"error unmarshaling JSON: json: cannot unmarshal {_json_kind(doc)} into Go value of type v1alpha1.Workload"
        )
    decoder = _Decoder()
    top_props = dict(schema.get("properties") or {})
    top_props.pop("metadata", None)
    top_props.pop("status", None)  # the status subresource is not written by an apply of the main resource
    meta_raw = None
    rest: dict[Any, Any] = {}
    for key, value in doc.items():
        if fold_key(str(key)) == fold_key("metadata"):
            meta_raw = value
        elif fold_key(str(key)) == fold_key("status"):
            decoder.dropped.append(f"{key} (status is not applied)")
        else:
            rest[key] = value
    out = decoder._decode_struct(rest, top_props, "")
    metadata: dict[str, Any] = {}
    if meta_raw is not None:
        if not isinstance(meta_raw, dict):
            raise DecodeError(
                f"error unmarshaling JSON: json: cannot unmarshal {_json_kind(meta_raw)} into Go struct field "
                "Workload.metadata of type v1.ObjectMeta"
            )
        for key, value in meta_raw.items():
            kind = _OBJECT_META_KEYS.get(str(key))
            if kind is None:
                decoder.dropped.append(f"metadata.{key} (not set by the controller's apply)")
                continue
            if value is None:
                continue
            if kind == "string":
                metadata[str(key)] = decoder.decode(value, {"type": "string"}, f"metadata.{key}")
            elif kind == "map":
                metadata[str(key)] = decoder.decode(
                    value, {"type": "object", "additionalProperties": {"type": "string"}}, f"metadata.{key}"
                )
            else:
                metadata[str(key)] = decoder.decode(
                    value, {"type": "array", "items": {"type": "string"}}, f"metadata.{key}"
                )
    ordered: dict[str, Any] = {}
    for key in ("apiVersion", "kind"):
        if key in out:
            ordered[key] = out.pop(key)
    ordered["metadata"] = metadata
    ordered.update(out)
    return ordered, decoder.dropped


# ---------------------------------------------------------------------------------------------------------------
# CRD validation (what the API server checks on the apply)


STEP_VALIDATOR: Final = "step validator (steps.generate_workload.validate, the v0.17.0 Workload CRD's rules)"


def find_crd(crd_dir: Path, version: str) -> Path:
    sub = CRD_DIR_BY_VERSION[version]
    for candidate in (crd_dir / sub / CRD_FILE, crd_dir / CRD_FILE):
        if candidate.is_file():
            return candidate
    raise CheckError(f"--crd-dir {crd_dir}: neither {sub}/{CRD_FILE} nor {CRD_FILE} found")


def load_crd_schema(path: Path) -> dict[str, Any]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(d, dict)]
    except (OSError, yaml.YAMLError) as exc:
        raise CheckError(f"{path}: cannot read the CRD: {exc}") from exc
    for doc in docs:
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        for version in (doc.get("spec") or {}).get("versions") or []:
            if version.get("name") == "v1alpha1":
                schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or {}
                if isinstance(schema, dict):
                    return schema
    raise CheckError(f"{path}: no v1alpha1 openAPIV3Schema in this CRD")


def _object_errors(workload: Mapping[str, Any]) -> list[str]:
    """apiVersion/kind and metadata.name checks, common to both validators."""
    errors: list[str] = []
    if workload.get("apiVersion") != WORKLOAD_API_VERSION or workload.get("kind") != WORKLOAD_KIND:
        errors.append(
            f"apiVersion/kind: must be {WORKLOAD_API_VERSION} / {WORKLOAD_KIND}, got "
            f"{workload.get('apiVersion')!r} / {workload.get('kind')!r} (the apply patch would be rejected; "
            "inferred from the reference, not tested against an API server)"
        )
    name = str((workload.get("metadata") or {}).get("name") or "")
    if name and (len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name)):
        errors.append(f"metadata.name: {name!r} is not a valid DNS-1123 subdomain (lowercase, '-', '.', max 253)")
    return errors


def validate_with_step(workload: Mapping[str, Any]) -> list[str]:
    """The step's own validator (v0.17 profile) on the object as the controller would apply it."""
    errors = _object_errors(workload)
    body = {k: v for k, v in workload.items() if k not in ("apiVersion", "kind", "metadata")}
    name = str((workload.get("metadata") or {}).get("name") or "")
    cr = {"apiVersion": WORKLOAD_API_VERSION, "kind": WORKLOAD_KIND, "metadata": {"name": name}, **body}
    return errors + validate_cr(cr, PROFILE_017)


def validate_workload(workload: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Errors the API server would return for this object (create; transition rules skipped)."""
    body = {k: v for k, v in workload.items() if k not in ("apiVersion", "kind", "metadata")}
    body_schema = dict(schema)
    body_schema["properties"] = {
        k: v for k, v in (schema.get("properties") or {}).items() if k not in ("apiVersion", "kind", "metadata")
    }
    return _object_errors(workload) + CrdValidator(body_schema).errors(body)


# ---------------------------------------------------------------------------------------------------------------
# The check


def _run_namespace(workflow: Mapping[str, Any], version: str, override: str | None) -> tuple[str, str]:
    if override:
        return override, "--run-namespace"
    labels = (workflow.get("metadata") or {}).get("labels") or {}
    keys = ["openchoreo.dev/workflowrun-namespace", "openchoreo.dev/componentworkflowrun-namespace"]
    if version != "0.17":
        keys.reverse()
    for key in keys:
        if labels.get(key):
            return str(labels[key]), f"label {key}"
    namespace = str((workflow.get("metadata") or {}).get("namespace") or "")
    if namespace.startswith("openchoreo-ci-"):
        return namespace.removeprefix("openchoreo-ci-"), f"Workflow namespace {namespace} minus 'openchoreo-ci-'"
    return "default", "default (no run namespace label; pass --run-namespace)"


def _decided_by_phase(result: CheckResult, workflow: Mapping[str, Any], nodes: Mapping[str, Any], phase: str) -> bool:
    """A Workflow that has not succeeded: nothing is extracted (§1.3 rows 1-2). True when that decides the case."""
    if phase in ("Failed", "Error"):
        result.case = CASE_WORKFLOW_FAILED
        result.controller_action = "stop"
        failed = [
            f"{n.get('displayName') or n.get('name')} ({n.get('type')}): {n.get('message') or n.get('phase')}"
            for _, n in sorted(nodes.items())
            if n.get("type") == "Pod" and n.get("phase") in ("Failed", "Error")
        ]
        result.explanation = [
            f"The Argo Workflow is {phase}: WorkflowFailed=True, WorkflowCompleted=True/WorkflowFailed. "
            "isWorkflowSucceeded is false, so no Workload is created and no WorkloadUpdated condition is set.",
            *(f"failed step: {f}" for f in failed),
        ]
        message = (workflow.get("status") or {}).get("message")
        if message:
            result.explanation.append(f"workflow message: {message}")
        return True
    if phase != "Succeeded":
        result.controller_action = "requeue"
        result.explanation = [
            f"The Argo Workflow phase is {phase or 'not set'}: the controller syncs status.tasks and requeues "
            "(every 20s while Running); the extraction runs only once the workflow has completed."
        ]
        return True
    return False


def _decided_without_task(result: CheckResult, nodes: Mapping[str, Any], version: str) -> bool:
    """hasGenerateWorkloadTask: no generate-workload-cr Pod node, no Workload. True when that decides the case."""
    if not has_generate_workload_task(nodes, version):
        result.case = CASE_NO_TASK
        result.controller_action = "stop"
        pods = sorted(node_task_name(n, version) or "(empty)" for n in nodes.values() if n.get("type") == "Pod")
        named = [
            f"{nid} (type {n.get('type')})"
            for nid, n in sorted(nodes.items())
            if n.get("type") != "Pod" and node_task_name(n, version) == TASK_NAME
        ]
        result.explanation = [
            f"hasGenerateWorkloadTask is false: no Pod node whose task name ({_match_rule(version)}) is "
            f"{TASK_NAME!r}. Task names of the Pod nodes: {', '.join(pods) or 'none'}.",
            "Since v0.15 (PR #1936) the step is optional: no Workload, no WorkloadUpdated condition.",
        ]
        if named:
            result.explanation.append(
                f"Matching nodes exist but are not Pods: {', '.join(named)} (e.g. a Retry node: its Pod attempts "
                "are named '<step>(N)', or a nested steps template)."
            )
        if version == "0.15" and any(
            (n.get("templateRef") or {}).get("template") == TASK_NAME for n in nodes.values() if n.get("type") == "Pod"
        ):
            result.explanation.append(
                "The step runs through templateRef, so its node has no templateName: v0.15 matches templateName only."
            )
        return True
    return False


def _extracted_cr(result: CheckResult, nodes: Mapping[str, Any], version: str) -> str | None:
    """The workload-cr output the controller picks; None (the case decided) when there is none."""
    extraction = extract_workload_cr(nodes, version)
    result.matched_node = extraction.node_id
    if len(set(extraction.candidates.values())) > 1:
        result.warnings.append(
            "several Succeeded nodes match with different workload-cr values "
            f"({', '.join(extraction.candidates)}); the controller iterates a Go map, so it picks one at random. "
            f"This check uses {extraction.node_id}."
        )
    if not extraction.value:
        result.case = CASE_NO_CR
        result.condition = CONDITION_FALSE
        result.controller_action = "stop (no requeue)"
        result.explanation = [
            f'createWorkloadFromWorkflowRun: "no workload CR found in run resource {result.workflow_name!r} outputs".',
            f"Why: {extraction.reason}.",
        ]
        return None
    return extraction.value


def _target_schema(result: CheckResult, version: str, crd_dir: Path | None) -> Mapping[str, Any]:
    """The Workload schema to decode and validate against: the CRD in crd_dir, else the step's own."""
    schema: Mapping[str, Any]
    if crd_dir is not None:
        crd_path = find_crd(crd_dir, version)
        schema = load_crd_schema(crd_path)
        result.crd_used = f"{crd_path.parent.name}/{crd_path.name}"
    else:
        schema = STEP_SCHEMAS[PROFILE_017.name]
        result.crd_used = STEP_VALIDATOR
    if version != "0.17":
        result.warnings.append(
            f"CRD: the v{version} Workload CRD is not available; validated against {result.crd_used}, the closest "
            "one (v0.16: spec.container required as in v0.17; v0.15 also accepted spec.containers). "
            "Only the v0.17.0 and v1.2.3 CRDs are available."
        )
    return schema


def _decoded_workload(result: CheckResult, value: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """yaml.Unmarshal into the typed Workload, namespace overwritten; None (the case decided) when it fails."""
    try:
        workload, dropped = parse_workload(value, schema)
    except DecodeError as exc:
        result.case = CASE_UNPARSEABLE
        result.controller_action = "requeue (with backoff)"
        result.explanation = [
            f"yaml.Unmarshal into v1alpha1.Workload fails: {exc}",
            "The controller requeues with backoff and sets no condition.",
            _TTL_CAVEAT,
        ]
        return None
    if dropped:
        result.warnings.append(
            f"fields dropped by the loose parse (unknown to the Workload type): {', '.join(dropped)}"
        )

    original_ns = workload["metadata"].get("namespace")
    workload["metadata"]["namespace"] = result.run_namespace
    result.workload = workload
    if original_ns and original_ns != result.run_namespace:
        result.warnings.append(
            f"metadata.namespace {original_ns!r} is overwritten with the run's namespace {result.run_namespace!r}"
        )
    return workload


def _decided_without_name(result: CheckResult, workload: Mapping[str, Any], version: str) -> bool:
    """A Workload without metadata.name: v0.17 rejects it, earlier versions fail in the apply."""
    name = str(workload["metadata"].get("name") or "")
    if not name:
        result.case = CASE_MISSING_NAME
        if version == "0.17":
            result.condition = CONDITION_FALSE
            result.controller_action = "stop (no requeue)"
            result.explanation = [
                f'"workload CR from run {result.workflow_name!r} missing metadata.name": v0.17 rejects it '
                "before the apply."
            ]
        else:
            result.controller_action = "requeue"
            result.explanation = [
                f"v{version} has no metadata.name check: the server-side apply of an object without a name fails, "
                "the controller requeues and sets no condition.",
                _TTL_CAVEAT,
            ]
        return True
    return False


def _decide_apply(
    result: CheckResult, workload: dict[str, Any], schema: Mapping[str, Any], *, with_crd: bool, manager: str
) -> None:
    """The server-side apply: rejected by the API server (requeue), or applied (WorkloadUpdated=True)."""
    result.validation_errors = validate_workload(workload, schema) if with_crd else validate_with_step(workload)
    if result.validation_errors:
        result.case = CASE_APPLY_REJECTED
        result.controller_action = "requeue"
        result.explanation = [
            f"The server-side apply (field manager {manager}, force ownership) would be rejected by the API server "
            f"({result.crd_used}); the controller treats an apply error as retryable: requeue, no condition.",
            _TTL_CAVEAT,
        ]
        return

    result.case = CASE_APPLIED
    result.condition = CONDITION_TRUE
    result.controller_action = "done (later reconciles return at once)"
    result.explanation = [
        f"Server-side apply of Workload {result.run_namespace}/{workload['metadata']['name']} "
        f"(field manager {manager}, force ownership): created or updated.",
        "On an update, spec.owner must be unchanged (CEL 'spec.owner is immutable'); otherwise the apply is "
        "rejected and retried.",
    ]


def check(
    workflow: Mapping[str, Any],
    version: str = DEFAULT_VERSION,
    crd_dir: Path | None = None,
    run_namespace: str | None = None,
    source: str = "<workflow>",
) -> CheckResult:
    """The controller's verdict on `workflow` at OpenChoreo `version`: one stage per decision it makes, in order."""
    if version not in VERSIONS:
        raise CheckError(f"--openchoreo: expected one of {', '.join(VERSIONS)}, got {version!r}")
    nodes = _nodes(workflow, source)
    meta = workflow.get("metadata") or {}
    phase = str((workflow.get("status") or {}).get("phase") or "")
    result = CheckResult(
        version=version,
        workflow_name=str(meta.get("name") or ""),
        workflow_phase=phase or "(none)",
        case=CASE_NOT_COMPLETED,
        condition=None,
    )
    result.run_namespace, result.namespace_source = _run_namespace(workflow, version, run_namespace)

    if _decided_by_phase(result, workflow, nodes, phase) or _decided_without_task(result, nodes, version):
        return result
    value = _extracted_cr(result, nodes, version)
    if value is None:
        return result
    schema = _target_schema(result, version, crd_dir)
    workload = _decoded_workload(result, value, schema)
    if workload is None or _decided_without_name(result, workload, version):
        return result
    manager = "workflowrun-controller" if version == "0.17" else "componentworkflowrun-controller"
    _decide_apply(result, workload, schema, with_crd=crd_dir is not None, manager=manager)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Output and CLI


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (schema content, file values) as literal blocks, as a person would write them."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def format_report(result: CheckResult) -> str:
    lines = [
        f"OpenChoreo v{result.version} controller on Workflow {result.workflow_name} (phase {result.workflow_phase})",
        f"Run namespace: {result.run_namespace} (from {result.namespace_source})",
        f"Case: [{result.case}] {CASE_TITLES[result.case]}",
    ]
    if result.matched_node:
        lines.append(f"Node: {result.matched_node}")
    if result.condition:
        c = result.condition
        lines.append(f"Condition: {c.type}={c.status} reason={c.reason} message={c.message!r}")
    else:
        lines.append(f"Condition: none ({CONDITION_TYPE} is not set)")
    lines.append(f"Controller: {result.controller_action}")
    lines.extend(f"  {e}" for e in result.explanation)
    for warning in result.warnings:
        lines.append(f"Warning: {warning}")
    if result.crd_used:
        status = "valid" if not result.validation_errors else f"{len(result.validation_errors)} error(s)"
        lines.append(f"CRD: {result.crd_used}: {status}")
        lines.extend(f"  {e}" for e in result.validation_errors)
    if result.workload is not None:
        lines.append("Workload CR (as the controller would apply it):")
        lines.append(
            yaml.dump(result.workload, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False).rstrip()
        )
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workflow", metavar="WORKFLOW", help="Workflow JSON or YAML (kubectl get wf NAME -o json)")
    parser.add_argument("--openchoreo", choices=VERSIONS, default=DEFAULT_VERSION, help="controller version")
    parser.add_argument(
        "--crd-dir",
        type=Path,
        default=None,
        help="validate against the upstream Workload CRD in DIR (or DIR/openchoreo-v0.17.0/) instead of the step's "
        "own validator",
    )
    parser.add_argument("--run-namespace", default=None, help="the WorkflowRun's namespace (default: from labels)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def main(args: argparse.Namespace) -> int:
    path = Path(args.workflow)
    try:
        workflow = load_workflow(path)
        result = check(workflow, args.openchoreo, args.crd_dir, args.run_namespace, source=str(path))
    except CheckError as exc:
        print(f"controller-check: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict(), indent=2) if args.json else format_report(result))
    return 0 if result.ok else 1


def run(argv: Sequence[str]) -> int:
    """Entry for tests: parse `argv` as the sub-command's arguments."""
    parser = argparse.ArgumentParser(prog="controller-check")
    configure(parser)
    return main(parser.parse_args(list(argv)))
