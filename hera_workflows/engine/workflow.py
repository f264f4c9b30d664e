"""Execute a validated Plan with Argo's steps semantics; every Pod goes to a `PodExecutor`.

Steps groups run in order; the steps of one group run in parallel (threads); a failed step fails its group, its
Steps node and the workflow, and later groups do not run. Parameters flow as in Argo: workflow arguments, input
parameters (argument > default), step outputs after their group. retryStrategy follows `processNodeRetries`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from hera_workflows.engine.load import JSON, Plan, RunnerError, Scope, pod_template, substitute
from hera_workflows.engine.report import Reporter
from hera_workflows.engine.retries import RetryStrategy
from hera_workflows.engine.status import (
    ERROR,
    FAILED,
    POD,
    RETRY,
    SKIPPED,
    STEP_GROUP,
    STEPS,
    SUCCEEDED,
    Node,
    NodeTable,
    node_id,
    pod_name,
    timestamp,
    utcnow,
)
from hera_workflows.engine.steps import Frame, link_group, outbound_nodes, record_outputs, template_outputs


@dataclass
class PodOutcome:
    """What one Pod produced."""

    phase: str  # Succeeded | Failed | Error
    exit_code: int | None
    outputs: dict[str, str] = field(default_factory=dict)  # output parameter name -> value
    message: str = ""


@dataclass(frozen=True)
class Mounts:
    """Host directories behind the pod volumes."""

    workspace: Path
    secrets: Mapping[str, Path]


class PodExecutor(Protocol):
    def __call__(
        self,
        template: JSON,
        variables: dict[str, str],
        mounts: Mounts,
        *,
        name: str,
        on_log: Callable[[str], None],
    ) -> PodOutcome: ...


@dataclass(frozen=True)
class _Call:
    """One template call: the node it makes (name, place in the graph, how it names its template) and what runs."""

    node_name: str
    template: JSON
    callee: Scope  # where the template's own references resolve
    caller: Scope  # where the call is
    inputs: list[JSON]
    template_name: str | None
    template_ref: JSON | None
    label: str
    boundary_id: str | None
    owner: str | None


class Engine:
    def __init__(
        self,
        plan: Plan,
        executor: PodExecutor,
        mounts: Mounts,
        reporter: Reporter | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.plan = plan
        self.executor = executor
        self.mounts = mounts
        self.reporter = reporter or Reporter(None)
        self.sleep = sleep
        self.now = now
        self.nodes = NodeTable(plan.name)
        self.globals = plan.global_variables()
        self.started: datetime | None = None
        self.finished: datetime | None = None
        self.stored_templates: dict[str, JSON] = {}

    # -- public ---------------------------------------------------------------------------------------------

    def run(self) -> JSON:
        self.started = self.now()
        self.globals["workflow.creationTimestamp"] = timestamp(self.started)
        spec = self.plan.exec_spec
        args = [
            {"name": k, "value": v} for k, v in self.plan.parameters.items()
        ]  # the entrypoint's inputs come from the workflow arguments
        try:
            root = self._execute(
                self.plan.name,
                {"template": spec["entrypoint"]},
                self.plan.root_scope,
                args,
                boundary_id=None,
                owner=None,
            )
        finally:
            self.finished = self.now()
        self.reporter.summary(self.nodes.all())
        return self.workflow_object(root)

    def workflow_object(self, root: Node) -> JSON:
        workflow = copy.deepcopy(self.plan.workflow)
        meta = workflow.setdefault("metadata", {})
        meta.setdefault("uid", self.plan.uid)
        meta["creationTimestamp"] = timestamp(self.started or self.now())
        labels = meta.setdefault("labels", {})
        labels.update(self.plan.labels)
        labels["workflows.argoproj.io/phase"] = root.phase
        labels["workflows.argoproj.io/completed"] = "true"
        status: JSON = {
            "phase": root.phase,
            "startedAt": timestamp(self.started or self.now()),
            "finishedAt": timestamp(self.finished or self.now()),
            "progress": self.nodes.progress(root.id),
        }
        if root.phase != SUCCEEDED and root.message:
            status["message"] = root.message
        status["nodes"] = self.nodes.as_status_nodes()
        status["conditions"] = [
            {"type": "PodRunning", "status": "False"},
            {"type": "Completed", "status": "True"},
        ]
        if self.stored_templates:
            status["storedTemplates"] = self.stored_templates
        if self.plan.template_ref_name:
            status["storedWorkflowTemplateSpec"] = self.plan.exec_spec
        workflow["status"] = status
        return workflow

    # -- templates ------------------------------------------------------------------------------------------

    def _execute(
        self,
        node_name: str,
        holder: Mapping[str, Any],
        scope: Scope,
        args: list[JSON],
        *,
        boundary_id: str | None,
        owner: str | None,
    ) -> Node:
        ref = holder.get("templateRef")
        try:
            callee_scope, template, _ = self.plan.resolve(holder, scope)
            inputs = self._inputs(template, args, node_name)
        except RunnerError as exc:
            # Argo's initializeNodeOrMarkError: a Skipped node in phase Error carrying the message.
            node = self.nodes.create(
                node_name,
                SKIPPED,
                scope.scope,
                boundary_id,
                started=self.now(),
                template_name=None if ref else str(holder.get("template")),
                template_ref=dict(ref) if ref else None,
                owner=owner,
            )
            self._finish(node, ERROR, str(exc))
            self.reporter.step_finished(node)
            return node
        if ref:
            key = f"{callee_scope.scope}/{template.get('name')}"
            self.stored_templates.setdefault(key, copy.deepcopy(template))
        call = _Call(
            node_name=node_name,
            template=template,
            callee=callee_scope,
            caller=scope,
            inputs=inputs,
            template_name=None if ref else str(holder.get("template")),
            template_ref={k: ref[k] for k in ("name", "template", "clusterScope") if k in ref} if ref else None,
            label=f"{ref.get('name')}/{ref.get('template')}" if ref else str(holder.get("template")),
            boundary_id=boundary_id,
            owner=owner,
        )
        retry = template.get("retryStrategy")
        if retry is not None:
            return self._execute_with_retries(call, retry)
        return self._execute_once(call, retries=None)

    def _inputs(self, template: Mapping[str, Any], args: list[JSON], node_name: str) -> list[JSON]:
        """Argo's ProcessArgs for parameters: default first, the argument overrides; a missing one fails."""
        supplied = {str(a.get("name")): a.get("value") for a in args}
        resolved: list[JSON] = []
        for param in (template.get("inputs") or {}).get("parameters") or []:
            entry = copy.deepcopy(param)
            name = str(param.get("name"))
            value = entry.get("value")
            if value is None and entry.get("default") is not None:
                value = entry["default"]
            if name in supplied and supplied[name] is not None:
                value = supplied[name]
            if value is None:
                raise RunnerError(f"{node_name}: inputs.parameters.{name} was not supplied")
            text = substitute(_scalar(value), self.globals, f"{node_name}: inputs.parameters.{name}")
            enum = param.get("enum")
            if enum and text not in [_scalar(e) for e in enum]:
                raise RunnerError(f"{node_name}: inputs.parameters.{name}: {text!r} is not one of {enum}")
            entry["value"] = text
            resolved.append(entry)
        return resolved

    def _new_node(self, call: _Call, type_: str) -> Node:
        node = self.nodes.create(
            call.node_name,
            type_,
            call.caller.scope,
            call.boundary_id,
            started=self.now(),
            template_name=call.template_name,
            template_ref=call.template_ref,
            owner=call.owner,
        )
        node.template_label = call.label
        if call.inputs:
            node.inputs = {"parameters": call.inputs}
        return node

    def _execute_once(self, call: _Call, *, retries: int | None) -> Node:
        type_ = POD if "container" in call.template else STEPS
        node = self._new_node(call, type_)
        node.retried = retries is not None
        if type_ == POD:
            self._run_pod(node, call.template, call.inputs, retries)
        else:
            self._run_steps(node, call.template, call.callee, call.inputs)
        return node

    def _finish(self, node: Node, phase: str, message: str = "") -> None:
        node.phase = phase
        node.message = message
        node.finished = self.now()
        node.seconds = max(0.0, (node.finished - node.started).total_seconds())

    # -- Pods -----------------------------------------------------------------------------------------------

    def _run_pod(self, node: Node, template: JSON, inputs: list[JSON], retries: int | None) -> None:
        ref_template = node.template_ref.get("template") if node.template_ref else node.template_name
        pname = pod_name(self.plan.name, str(ref_template), node.name)
        variables = dict(self.globals)
        variables.update({f"inputs.parameters.{p['name']}": str(p["value"]) for p in inputs})
        variables["pod.name"] = pname
        variables["node.name"] = node.name
        if retries is not None:
            variables["retries"] = str(retries)
        pod_template = self._pod_template(template)
        self.reporter.step_started(node, retries)
        started = time.monotonic()
        try:
            outcome = self.executor(
                pod_template,
                variables,
                self.mounts,
                name=pname,
                on_log=lambda line: self.reporter.log(node, line),
            )
        except RunnerError:
            raise
        except Exception as exc:  # noqa: BLE001 - an engine/infrastructure failure is the node's Error phase
            outcome = PodOutcome(ERROR, None, {}, f"{type(exc).__name__}: {exc}")
        node.outputs = pod_outputs(template, outcome)
        message = outcome.message
        if outcome.phase == FAILED and not message:
            message = f"main: Error (exit code {outcome.exit_code})"  # as Argo v4 words it
        self._finish(node, outcome.phase, message if outcome.phase != SUCCEEDED else "")
        node.seconds = time.monotonic() - started
        self.reporter.step_finished(node)

    def _pod_template(self, template: JSON) -> JSON:
        return pod_template(template, self.plan.exec_spec)

    # -- Steps ----------------------------------------------------------------------------------------------

    def _run_steps(self, node: Node, template: JSON, scope: Scope, inputs: list[JSON]) -> None:
        frame = Frame(dict(self.globals))
        frame.values.update({f"inputs.parameters.{p['name']}": str(p["value"]) for p in inputs})
        parallelism = template.get("parallelism") or self.plan.exec_spec.get("parallelism")
        last_group: Node | None = None
        failed_message = ""
        for index, group in enumerate(template.get("steps") or []):
            sg = self.nodes.create(
                f"{node.name}[{index}]", STEP_GROUP, scope.scope, node.id, started=self.now(), owner=node.id
            )
            link_group(self.nodes, node, last_group, sg)
            last_group = sg
            calls = []
            for step in group:
                where = f"{node.name}[{index}].{step.get('name')}"
                args = [
                    {"name": p.get("name"), "value": substitute(_scalar(p.get("value")), frame.values, where)}
                    for p in (step.get("arguments") or {}).get("parameters") or []
                ]
                calls.append((f"{sg.name}.{step['name']}", step, args))
            for child_name, _, _ in calls:  # children in step order, as Argo links them
                self.nodes.add_child(sg.id, node_id(self.plan.name, child_name))
            children = self._run_group(calls, scope, node.id, sg.id, parallelism)
            failed = [c for c in children if c.phase != SUCCEEDED]
            if failed:
                failed_message = f"child '{failed[0].id}' failed"
                self._finish(sg, FAILED, failed_message)
                break
            self._finish(sg, SUCCEEDED)
            record_outputs(frame, [step for _, step, _ in calls], children)
        node.outbound_nodes = outbound_nodes(self.nodes, last_group) or None
        if failed_message:
            self._finish(node, FAILED, failed_message)
            return
        outputs = template_outputs(template, frame, node.name)
        if outputs:
            node.outputs = {"parameters": outputs}
        self._finish(node, SUCCEEDED)

    def _run_group(
        self, calls: list[tuple[str, JSON, list[JSON]]], scope: Scope, boundary: str, owner: str, parallelism: Any
    ) -> list[Node]:
        def one(call: tuple[str, JSON, list[JSON]]) -> Node:
            name, step, args = call
            return self._execute(name, step, scope, args, boundary_id=boundary, owner=owner)

        if len(calls) == 1:
            return [one(calls[0])]
        workers = int(parallelism) if parallelism else len(calls)
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="step") as pool:
            return list(pool.map(one, calls))

    # -- retries --------------------------------------------------------------------------------------------

    def _execute_with_retries(self, call: _Call, retry: Mapping[str, Any]) -> Node:
        variables = dict(self.globals)
        variables.update({f"inputs.parameters.{p['name']}": str(p["value"]) for p in call.inputs})
        strategy = RetryStrategy.parse(retry, variables, call.node_name)
        parent = self._new_node(call, RETRY)
        first_started: datetime | None = None
        while True:
            attempt = len(parent.children)
            child = self._execute_once(
                dataclasses.replace(call, node_name=f"{call.node_name}({attempt})", owner=parent.id), retries=attempt
            )
            self.nodes.add_child(parent.id, child.id)
            first_started = first_started or child.started
            if child.phase == SUCCEEDED:
                parent.outputs = copy.deepcopy(child.outputs)
                self._finish(parent, SUCCEEDED)
                return parent
            decision = strategy.decision(parent, child)
            if decision is None:
                delay, decision = strategy.delay(parent, child, first_started, self.now())
            if decision is not None:
                self._finish(parent, child.phase, decision)
                return parent
            self.reporter.retrying(child, len(parent.children), strategy.limit, delay)
            if delay > 0:
                self.sleep(delay)


def pod_outputs(template: JSON, outcome: PodOutcome) -> JSON | None:
    """A Pod node's outputs as Argo records them: the declared output parameters and the exit code.

    argoexec's wait container reports every declared output parameter once the main container has run, even when it
    failed, with the values it read before the first file it could not read (SaveParameters stops there); a pod that
    never ran reports none."""
    outputs: JSON = {}
    params = []
    reported = outcome.phase == SUCCEEDED or outcome.exit_code is not None
    unread = False
    for param in (template.get("outputs") or {}).get("parameters") or []:
        entry = copy.deepcopy(param)
        if param.get("name") in outcome.outputs and not unread:
            entry["value"] = outcome.outputs[str(param.get("name"))]
            params.append(entry)
        elif reported:
            unread = True
            params.append(entry)
    if params:
        outputs["parameters"] = params
    if outcome.exit_code is not None:
        outputs["exitCode"] = str(outcome.exit_code)
    return outputs or None


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)
