"""Lint layer 3: fields newer than the target Argo line.

OpenChoreo v1.2 installs Argo v4.0.x and v0.17 installed v3.6.x, while the structural schemas accept v4.x fields.
An Argo controller drops fields it does not know (its CRD prunes them, or the Go types ignore them), so a template
that sets a v4.1 field on a v4.0 cluster is silently changed. `ADDED` holds, per Argo line, the fields of the
Workflow spec (shared by Workflow, WorkflowTemplate and ClusterWorkflowTemplate) that the line added over the
previous one: facts derived from the *full* CRDs of v3.6.2, v4.0.5 and v4.1.2 by `derive_added` (a field is listed
only when its parent object is described in both versions, so it is new, not merely undescribed before).
tests/test_lint_versions.py re-derives the table from the upstream CRDs and compares.

Paths: `.` between fields, `[]` for a list item, `*` for any key of a map.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

ARGO_LINES: Final = ("3.6", "4.0", "4.1")
# The Argo line each OpenChoreo version installs (its workflow-plane chart: argo-helm 1.0.x = Argo v4.0.x for v1.2;
# Argo v3.6.2 for v0.17).
ARGO_LINE_BY_OPENCHOREO: Final = {"1.x": "4.0", "0.17": "3.6"}

ADDED: Final[Mapping[str, tuple[str, ...]]] = {
    "4.0": (
        "spec.arguments.artifacts[].plugin",
        "spec.hooks.*.arguments.artifacts[].plugin",
        "spec.retryStrategy.backoff.cap",
        "spec.securityContext.seLinuxChangePolicy",
        "spec.securityContext.supplementalGroupsPolicy",
        "spec.synchronization.mutexes[].database",
        "spec.synchronization.semaphores[].database",
        "spec.templateDefaults.annotations",
        "spec.templateDefaults.archiveLocation.plugin",
        "spec.templateDefaults.container.lifecycle.stopSignal",
        "spec.templateDefaults.container.resources.claims[].request",
        "spec.templateDefaults.containerSet.containers[].lifecycle.stopSignal",
        "spec.templateDefaults.containerSet.containers[].resources.claims[].request",
        "spec.templateDefaults.dag.tasks[].arguments.artifacts[].plugin",
        "spec.templateDefaults.dag.tasks[].hooks.*.arguments.artifacts[].plugin",
        "spec.templateDefaults.data.source.artifactPaths.plugin",
        "spec.templateDefaults.initContainers[].lifecycle.stopSignal",
        "spec.templateDefaults.initContainers[].resources.claims[].request",
        "spec.templateDefaults.inputs.artifacts[].plugin",
        "spec.templateDefaults.outputs.artifacts[].plugin",
        "spec.templateDefaults.resource.manifestFrom.artifact.plugin",
        "spec.templateDefaults.retryStrategy.backoff.cap",
        "spec.templateDefaults.script.lifecycle.stopSignal",
        "spec.templateDefaults.script.resources.claims[].request",
        "spec.templateDefaults.securityContext.seLinuxChangePolicy",
        "spec.templateDefaults.securityContext.supplementalGroupsPolicy",
        "spec.templateDefaults.sidecars[].lifecycle.stopSignal",
        "spec.templateDefaults.sidecars[].resources.claims[].request",
        "spec.templateDefaults.synchronization.mutexes[].database",
        "spec.templateDefaults.synchronization.semaphores[].database",
        "spec.templateDefaults.volumes[].image",
        "spec.templates[].annotations",
        "spec.templates[].archiveLocation.plugin",
        "spec.templates[].container.lifecycle.stopSignal",
        "spec.templates[].container.resources.claims[].request",
        "spec.templates[].containerSet.containers[].lifecycle.stopSignal",
        "spec.templates[].containerSet.containers[].resources.claims[].request",
        "spec.templates[].dag.tasks[].arguments.artifacts[].plugin",
        "spec.templates[].dag.tasks[].hooks.*.arguments.artifacts[].plugin",
        "spec.templates[].data.source.artifactPaths.plugin",
        "spec.templates[].initContainers[].lifecycle.stopSignal",
        "spec.templates[].initContainers[].resources.claims[].request",
        "spec.templates[].inputs.artifacts[].plugin",
        "spec.templates[].outputs.artifacts[].plugin",
        "spec.templates[].resource.manifestFrom.artifact.plugin",
        "spec.templates[].retryStrategy.backoff.cap",
        "spec.templates[].script.lifecycle.stopSignal",
        "spec.templates[].script.resources.claims[].request",
        "spec.templates[].securityContext.seLinuxChangePolicy",
        "spec.templates[].securityContext.supplementalGroupsPolicy",
        "spec.templates[].sidecars[].lifecycle.stopSignal",
        "spec.templates[].sidecars[].resources.claims[].request",
        "spec.templates[].synchronization.mutexes[].database",
        "spec.templates[].synchronization.semaphores[].database",
        "spec.templates[].volumes[].image",
        "spec.volumes[].image",
    ),
    "4.1": (
        "spec.arguments.artifacts[].http.saveStreamViaFile",
        "spec.arguments.artifacts[].s3.addressingStyle",
        "spec.executorPlugins",
        "spec.hooks.*.arguments.artifacts[].http.saveStreamViaFile",
        "spec.hooks.*.arguments.artifacts[].s3.addressingStyle",
        "spec.podResources",
        "spec.resourceClaims",
        "spec.templateDefaults.archiveLocation.http.saveStreamViaFile",
        "spec.templateDefaults.archiveLocation.s3.addressingStyle",
        "spec.templateDefaults.container.env[].valueFrom.fileKeyRef",
        "spec.templateDefaults.container.restartPolicyRules",
        "spec.templateDefaults.containerSet.containers[].env[].valueFrom.fileKeyRef",
        "spec.templateDefaults.containerSet.containers[].restartPolicyRules",
        "spec.templateDefaults.dag.tasks[].arguments.artifacts[].http.saveStreamViaFile",
        "spec.templateDefaults.dag.tasks[].arguments.artifacts[].s3.addressingStyle",
        "spec.templateDefaults.dag.tasks[].hooks.*.arguments.artifacts[].http.saveStreamViaFile",
        "spec.templateDefaults.dag.tasks[].hooks.*.arguments.artifacts[].s3.addressingStyle",
        "spec.templateDefaults.data.source.artifactPaths.http.saveStreamViaFile",
        "spec.templateDefaults.data.source.artifactPaths.s3.addressingStyle",
        "spec.templateDefaults.initContainers[].env[].valueFrom.fileKeyRef",
        "spec.templateDefaults.initContainers[].restartPolicyRules",
        "spec.templateDefaults.inputs.artifacts[].http.saveStreamViaFile",
        "spec.templateDefaults.inputs.artifacts[].s3.addressingStyle",
        "spec.templateDefaults.outputs.artifacts[].http.saveStreamViaFile",
        "spec.templateDefaults.outputs.artifacts[].s3.addressingStyle",
        "spec.templateDefaults.pendingTimeout",
        "spec.templateDefaults.podResources",
        "spec.templateDefaults.resource.manifestFrom.artifact.http.saveStreamViaFile",
        "spec.templateDefaults.resource.manifestFrom.artifact.s3.addressingStyle",
        "spec.templateDefaults.resourceClaims",
        "spec.templateDefaults.script.env[].valueFrom.fileKeyRef",
        "spec.templateDefaults.script.restartPolicyRules",
        "spec.templateDefaults.sidecars[].env[].valueFrom.fileKeyRef",
        "spec.templateDefaults.sidecars[].restartPolicyRules",
        "spec.templateDefaults.steps[][].arguments.artifacts[].http.saveStreamViaFile",
        "spec.templateDefaults.steps[][].arguments.artifacts[].s3.addressingStyle",
        "spec.templateDefaults.steps[][].hooks.*.arguments.artifacts[].http.saveStreamViaFile",
        "spec.templateDefaults.steps[][].hooks.*.arguments.artifacts[].s3.addressingStyle",
        "spec.templateDefaults.volumes[].projected.sources[].podCertificate",
        "spec.templates[].archiveLocation.http.saveStreamViaFile",
        "spec.templates[].archiveLocation.s3.addressingStyle",
        "spec.templates[].container.env[].valueFrom.fileKeyRef",
        "spec.templates[].container.restartPolicyRules",
        "spec.templates[].containerSet.containers[].env[].valueFrom.fileKeyRef",
        "spec.templates[].containerSet.containers[].restartPolicyRules",
        "spec.templates[].dag.tasks[].arguments.artifacts[].http.saveStreamViaFile",
        "spec.templates[].dag.tasks[].arguments.artifacts[].s3.addressingStyle",
        "spec.templates[].dag.tasks[].hooks.*.arguments.artifacts[].http.saveStreamViaFile",
        "spec.templates[].dag.tasks[].hooks.*.arguments.artifacts[].s3.addressingStyle",
        "spec.templates[].data.source.artifactPaths.http.saveStreamViaFile",
        "spec.templates[].data.source.artifactPaths.s3.addressingStyle",
        "spec.templates[].initContainers[].env[].valueFrom.fileKeyRef",
        "spec.templates[].initContainers[].restartPolicyRules",
        "spec.templates[].inputs.artifacts[].http.saveStreamViaFile",
        "spec.templates[].inputs.artifacts[].s3.addressingStyle",
        "spec.templates[].outputs.artifacts[].http.saveStreamViaFile",
        "spec.templates[].outputs.artifacts[].s3.addressingStyle",
        "spec.templates[].pendingTimeout",
        "spec.templates[].podResources",
        "spec.templates[].resource.manifestFrom.artifact.http.saveStreamViaFile",
        "spec.templates[].resource.manifestFrom.artifact.s3.addressingStyle",
        "spec.templates[].resourceClaims",
        "spec.templates[].script.env[].valueFrom.fileKeyRef",
        "spec.templates[].script.restartPolicyRules",
        "spec.templates[].sidecars[].env[].valueFrom.fileKeyRef",
        "spec.templates[].sidecars[].restartPolicyRules",
        "spec.templates[].steps[][].arguments.artifacts[].http.saveStreamViaFile",
        "spec.templates[].steps[][].arguments.artifacts[].s3.addressingStyle",
        "spec.templates[].steps[][].hooks.*.arguments.artifacts[].http.saveStreamViaFile",
        "spec.templates[].steps[][].hooks.*.arguments.artifacts[].s3.addressingStyle",
        "spec.templates[].volumes[].projected.sources[].podCertificate",
        "spec.volumes[].projected.sources[].podCertificate",
    ),
}


def _tokens(path: str) -> tuple[str, ...]:
    """`spec.templates[].container.env[].valueFrom` -> ("spec", "templates", "[]", "container", "env", "[]", ...)."""
    out: list[str] = []
    for part in path.split("."):
        out.append(part.replace("[]", ""))
        out += ["[]"] * part.count("[]")
    return tuple(out)


def _trie(target: str) -> dict[str, Any]:
    """Every field added after `target`, as a trie of path tokens; a leaf holds the line under the key "$"."""
    if target not in ARGO_LINES:
        raise ValueError(f"unknown Argo line {target!r} (known: {', '.join(ARGO_LINES)})")
    root: dict[str, Any] = {}
    for line in ARGO_LINES[ARGO_LINES.index(target) + 1 :]:
        for path in ADDED.get(line, ()):
            node = root
            for token in _tokens(path):
                node = node.setdefault(token, {})
            node.setdefault("$", line)
    return root


_TRIES: dict[str, dict[str, Any]] = {}


def newer_fields(doc: Mapping[str, Any], target: str) -> list[tuple[tuple[str | int, ...], str]]:
    """(JSON path, Argo line that added it) for every field of `doc` newer than the `target` Argo line."""
    if target not in _TRIES:
        _TRIES[target] = _trie(target)
    return list(_walk(doc, _TRIES[target], ()))


def _walk(
    value: Any, node: Mapping[str, Any], path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            for child in (node.get(str(key)), node.get("*")):
                if child is None:
                    continue
                if "$" in child:
                    yield (*path, str(key)), str(child["$"])
                else:
                    yield from _walk(sub, child, (*path, str(key)))
    elif isinstance(value, list) and "[]" in node:
        for index, item in enumerate(value):
            yield from _walk(item, node["[]"], (*path, index))


# -- derivation (used by the tests to re-check the table against upstream CRDs) ---------------------------------
def described_objects(schema: Any, path: tuple[str, ...] = ("spec",)) -> dict[tuple[str, ...], set[str]]:
    """Object paths of a CRD's `spec` schema -> the property names described there."""
    out: dict[tuple[str, ...], set[str]] = {}
    stack: list[tuple[Any, tuple[str, ...]]] = [(schema, path)]
    while stack:
        node, where = stack.pop()
        if not isinstance(node, dict):
            continue
        properties = node.get("properties")
        if isinstance(properties, dict) and properties:
            out.setdefault(where, set()).update(properties)
            stack.extend((sub, (*where, name)) for name, sub in properties.items())
        if isinstance(node.get("items"), dict):
            stack.append((node["items"], (*where, "[]")))
        if isinstance(node.get("additionalProperties"), dict):
            stack.append((node["additionalProperties"], (*where, "*")))
    return out


def format_tokens(tokens: tuple[str, ...]) -> str:
    out = ""
    for token in tokens:
        out += token if token == "[]" else (f".{token}" if out else token)
    return out


def derive_added(newer_spec: Any, older_spec: Any) -> list[str]:
    """Fields described in `newer_spec` under a parent that `older_spec` describes without them (sorted)."""
    newer, older = described_objects(newer_spec), described_objects(older_spec)
    added = {(*where, name) for where, names in newer.items() if where in older for name in names - older[where]}
    return sorted(format_tokens(tokens) for tokens in added)
