"""Argo's Steps template as its controller records it: how step groups link into the node graph, which values
the later groups see (`steps.<name>.outputs.parameters.<p>`, `.exitCode`, `.status`), the Steps node's outbound
nodes and its own outputs (`valueFrom.parameter`)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

from hera_workflows.engine.load import JSON, substitute
from hera_workflows.engine.status import Node, NodeTable


@dataclass
class Frame:
    """Variables visible to the steps of one Steps node."""

    values: dict[str, str]


def link_group(nodes: NodeTable, steps_node: Node, previous: Node | None, group: Node) -> None:
    """Link a new step group after the previous one: from the Steps node, the previous (empty) group, or every
    outbound node of the previous group's children."""
    if previous is None:
        nodes.add_child(steps_node.id, group.id)
    elif not previous.children:
        nodes.add_child(previous.id, group.id)
    else:
        for child in previous.children:
            for out in nodes.outbound(child):
                nodes.add_child(out, group.id)


def record_outputs(frame: Frame, steps: Sequence[JSON], children: Sequence[Node]) -> None:
    """What a finished group's steps make visible to the later groups."""
    for step, child in zip(steps, children, strict=True):
        prefix = f"steps.{step['name']}"
        for param in (child.outputs or {}).get("parameters") or []:
            if "value" in param:
                frame.values[f"{prefix}.outputs.parameters.{param['name']}"] = str(param["value"])
        exit_code = (child.outputs or {}).get("exitCode")
        if exit_code is not None:
            frame.values[f"{prefix}.exitCode"] = str(exit_code)
        frame.values[f"{prefix}.status"] = child.phase


def outbound_nodes(nodes: NodeTable, last_group: Node | None) -> list[str]:
    """The Steps node's outbound nodes: those of the last group's children that ran."""
    if last_group is None:
        return []
    existing = {node.id for node in nodes.all()}
    return [out for child in last_group.children if child in existing for out in nodes.outbound(child)]


def template_outputs(template: JSON, frame: Frame, node_name: str) -> list[JSON]:
    """The Steps template's output parameters, `valueFrom.parameter` resolved in the frame."""
    outputs = []
    for param in (template.get("outputs") or {}).get("parameters") or []:
        entry = copy.deepcopy(param)
        source = (param.get("valueFrom") or {}).get("parameter")
        if source is not None:
            entry["value"] = substitute(str(source), frame.values, f"{node_name}: outputs")
        outputs.append(entry)
    return outputs
