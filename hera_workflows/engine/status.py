"""Argo v4 node status bookkeeping: ids, names, display names, links, progress, the Workflow object.

Mirrors `workflow/controller/operator.go` (initializeNode, executeSteps, executeStepGroup, getOutboundNodes,
processNodeRetries) for the node types the local runner produces: Steps, StepGroup, Pod, Retry.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

_STEPS_OR_DAG_SEPARATOR = re.compile(r"^(\[(\d|,)+\])?\.")

# Node types and phases, as Argo spells them.
STEPS = "Steps"
STEP_GROUP = "StepGroup"
POD = "Pod"
RETRY = "Retry"
SKIPPED = "Skipped"
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
ERROR = "Error"


def fnv32a(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def node_id(workflow_name: str, node_name: str) -> str:
    """`Workflow.NodeID`: the workflow name for the root node, else `<wf>-<fnv32a(node name)>`."""
    if node_name == workflow_name:
        return workflow_name
    return f"{workflow_name}-{fnv32a(node_name)}"


def pod_name(workflow_name: str, template_name: str, node_name: str) -> str:
    """POD_NAMES=v2: `<wf>-<template>-<fnv32a(node name)>`, the prefix cut to keep the name within 253."""
    prefix = f"{workflow_name}-{template_name}"
    if len(prefix) > 242:
        prefix = prefix[:242]
    return f"{prefix}-{fnv32a(node_name)}"


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Node:
    id: str
    name: str
    display_name: str
    type: str
    template_scope: str
    boundary_id: str | None
    started: datetime
    template_name: str | None = None
    template_ref: JSON | None = None
    phase: str = RUNNING
    message: str = ""
    children: list[str] = field(default_factory=list)
    outbound_nodes: list[str] | None = None
    inputs: JSON | None = None
    outputs: JSON | None = None
    finished: datetime | None = None
    retried: bool = False
    # Not part of Argo's status: the node that executed this one (for progress and the summary).
    owner: str | None = None
    seconds: float = 0.0
    template_label: str = ""

    @property
    def fulfilled(self) -> bool:
        return self.phase in (SUCCEEDED, FAILED, ERROR)

    def as_dict(self, progress: str | None) -> JSON:
        out: JSON = {
            "id": self.id,
            "name": self.name,
            "displayName": self.display_name,
            "type": self.type,
        }
        if self.template_name:
            out["templateName"] = self.template_name
        if self.template_ref:
            out["templateRef"] = dict(self.template_ref)
        out["templateScope"] = self.template_scope
        out["phase"] = self.phase
        if self.boundary_id:
            out["boundaryID"] = self.boundary_id
        if self.message:
            out["message"] = self.message
        out["startedAt"] = timestamp(self.started)
        if self.finished is not None:
            out["finishedAt"] = timestamp(self.finished)
        if progress:
            out["progress"] = progress
        if self.children:
            out["children"] = list(self.children)
        if self.outbound_nodes:
            out["outboundNodes"] = list(self.outbound_nodes)
        if self.retried:
            out["nodeFlag"] = {"retried": True}
        elif self.type in (STEP_GROUP, SKIPPED):
            out["nodeFlag"] = {}  # steps.go initializes step groups and skipped steps with an empty &NodeFlag{}
        if self.inputs:
            out["inputs"] = self.inputs
        if self.outputs:
            out["outputs"] = self.outputs
        return out


class NodeTable:
    """All nodes of one run, thread-safe, in creation order."""

    def __init__(self, workflow_name: str) -> None:
        self.workflow_name = workflow_name
        self._nodes: dict[str, Node] = {}
        self._lock = threading.RLock()

    def create(
        self,
        name: str,
        type_: str,
        scope: str,
        boundary_id: str | None,
        *,
        started: datetime,
        template_name: str | None = None,
        template_ref: JSON | None = None,
        owner: str | None = None,
    ) -> Node:
        with self._lock:
            nid = node_id(self.workflow_name, name)
            boundary = self._nodes.get(boundary_id) if boundary_id else None
            if boundary is not None:
                display = name.removeprefix(boundary.name)
                display = _STEPS_OR_DAG_SEPARATOR.sub("", display, count=1)
            else:
                display = name
            node = Node(
                id=nid,
                name=name,
                display_name=display,
                type=type_,
                template_scope=scope,
                boundary_id=boundary_id,
                started=started,
                template_name=template_name,
                template_ref=template_ref,
                owner=owner,
            )
            self._nodes[nid] = node
            return node

    def get(self, nid: str) -> Node:
        with self._lock:
            return self._nodes[nid]

    def by_name(self, name: str) -> Node:
        return self.get(node_id(self.workflow_name, name))

    def add_child(self, parent_id: str, child_id: str) -> None:
        with self._lock:
            parent = self._nodes[parent_id]
            if child_id not in parent.children:
                parent.children.append(child_id)

    def outbound(self, nid: str) -> list[str]:
        """`getOutboundNodes`: a Pod is its own outbound node, a Retry node's is its last child, else recurse."""
        with self._lock:
            node = self._nodes[nid]
            if node.type in (POD, SKIPPED):
                return [nid]
            if node.type == RETRY:
                return [node.children[-1]] if node.children else []
            out: list[str] = []
            for child in node.outbound_nodes or []:
                out.extend(self.outbound(child))
            return out

    def all(self) -> list[Node]:
        with self._lock:
            return list(self._nodes.values())

    def pods_under(self, nid: str) -> list[Node]:
        """Pod nodes executed inside `nid` (by the owner relation), including itself."""
        with self._lock:
            result = [n for n in self._nodes.values() if n.type == POD and self._owned_by(n, nid)]
            return result

    def _owned_by(self, node: Node, ancestor: str) -> bool:
        current: Node | None = node
        while current is not None:
            if current.id == ancestor:
                return True
            current = self._nodes.get(current.owner) if current.owner else None
        return False

    def progress(self, nid: str) -> str:
        pods = self.pods_under(nid)
        done = sum(1 for p in pods if p.phase == SUCCEEDED)
        return f"{done}/{len(pods)}"

    def as_status_nodes(self) -> JSON:
        with self._lock:
            return {n.id: n.as_dict(self.progress(n.id)) for n in self._nodes.values()}


def utcnow() -> datetime:
    return datetime.now(UTC)
