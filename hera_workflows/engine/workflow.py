"""Execute a validated Plan with Argo's steps semantics; every Pod goes to a `PodExecutor`.

Steps groups run in order; the steps of one group run in parallel (threads); a failed step fails its group, its
Steps node and the workflow, and later groups do not run. Parameters flow as in Argo: workflow arguments, input
parameters (argument > default), step outputs after their group. retryStrategy follows `processNodeRetries`.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from hera_workflows.engine import expr
from hera_workflows.engine.load import JSON, Plan, RunnerError, Scope, pod_template
from hera_workflows.engine.report import Reporter
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
from hera_workflows.upstream import argo_v3_6 as argo


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


@dataclass
class _Frame:
    """Variables visible to the steps of one Steps node."""

    values: dict[str, str]


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
        template_name = None if ref else str(holder.get("template"))
        template_ref = {k: ref[k] for k in ("name", "template", "clusterScope") if k in ref} if ref else None
        label = f"{ref.get('name')}/{ref.get('template')}" if ref else str(holder.get("template"))
        retry = template.get("retryStrategy")
        if retry is not None:
            return self._execute_with_retries(
                node_name,
                template,
                callee_scope,
                scope,
                inputs,
                retry=retry,
                template_name=template_name,
                template_ref=template_ref,
                label=label,
                boundary_id=boundary_id,
                owner=owner,
            )
        return self._execute_once(
            node_name,
            template,
            callee_scope,
            scope,
            inputs,
            template_name=template_name,
            template_ref=template_ref,
            label=label,
            boundary_id=boundary_id,
            owner=owner,
            retries=None,
        )

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
            text = self._substitute(_scalar(value), self.globals, f"{node_name}: inputs.parameters.{name}")
            enum = param.get("enum")
            if enum and text not in [_scalar(e) for e in enum]:
                raise RunnerError(f"{node_name}: inputs.parameters.{name}: {text!r} is not one of {enum}")
            entry["value"] = text
            resolved.append(entry)
        return resolved

    def _new_node(
        self,
        node_name: str,
        type_: str,
        caller: Scope,
        *,
        template_name: str | None,
        template_ref: JSON | None,
        boundary_id: str | None,
        owner: str | None,
        inputs: list[JSON],
        label: str,
    ) -> Node:
        node = self.nodes.create(
            node_name,
            type_,
            caller.scope,
            boundary_id,
            started=self.now(),
            template_name=template_name,
            template_ref=template_ref,
            owner=owner,
        )
        node.template_label = label
        if inputs:
            node.inputs = {"parameters": inputs}
        return node

    def _execute_once(
        self,
        node_name: str,
        template: JSON,
        callee: Scope,
        caller: Scope,
        inputs: list[JSON],
        *,
        template_name: str | None,
        template_ref: JSON | None,
        label: str,
        boundary_id: str | None,
        owner: str | None,
        retries: int | None,
    ) -> Node:
        type_ = POD if "container" in template else STEPS
        node = self._new_node(
            node_name,
            type_,
            caller,
            template_name=template_name,
            template_ref=template_ref,
            boundary_id=boundary_id,
            owner=owner,
            inputs=inputs,
            label=label,
        )
        node.retried = retries is not None
        if type_ == POD:
            self._run_pod(node, template, inputs, retries)
        else:
            self._run_steps(node, template, callee, inputs)
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
        outputs: JSON = {}
        params = []
        # argoexec's wait container reports every declared output parameter once the main container has run, even
        # when it failed, with the values it read before the first file it could not read (SaveParameters stops
        # there); a pod that never ran reports none.
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
        node.outputs = outputs or None
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
        frame = _Frame(dict(self.globals))
        frame.values.update({f"inputs.parameters.{p['name']}": str(p["value"]) for p in inputs})
        groups = template.get("steps") or []
        parallelism = template.get("parallelism") or self.plan.exec_spec.get("parallelism")
        last_group: Node | None = None
        failed_message = ""
        for index, group in enumerate(groups):
            sg = self.nodes.create(
                f"{node.name}[{index}]", STEP_GROUP, scope.scope, node.id, started=self.now(), owner=node.id
            )
            if last_group is None:
                self.nodes.add_child(node.id, sg.id)
            elif not last_group.children:
                self.nodes.add_child(last_group.id, sg.id)
            else:
                for previous in last_group.children:
                    for out in self.nodes.outbound(previous):
                        self.nodes.add_child(out, sg.id)
            last_group = sg
            calls = []
            for step in group:
                where = f"{node.name}[{index}].{step.get('name')}"
                args = [
                    {"name": p.get("name"), "value": self._substitute(_scalar(p.get("value")), frame.values, where)}
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
            for (_, step, _), child in zip(calls, children, strict=True):
                prefix = f"steps.{step['name']}"
                for param in (child.outputs or {}).get("parameters") or []:
                    if "value" in param:
                        frame.values[f"{prefix}.outputs.parameters.{param['name']}"] = str(param["value"])
                exit_code = (child.outputs or {}).get("exitCode")
                if exit_code is not None:
                    frame.values[f"{prefix}.exitCode"] = str(exit_code)
                frame.values[f"{prefix}.status"] = child.phase
        outbound: list[str] = []
        if last_group is not None:
            existing = {n.id for n in self.nodes.all()}
            for child_id in last_group.children:
                if child_id in existing:
                    outbound.extend(self.nodes.outbound(child_id))
        node.outbound_nodes = outbound or None
        if failed_message:
            self._finish(node, FAILED, failed_message)
            return
        outputs = []
        for param in (template.get("outputs") or {}).get("parameters") or []:
            entry = copy.deepcopy(param)
            source = (param.get("valueFrom") or {}).get("parameter")
            if source is not None:
                entry["value"] = self._substitute(str(source), frame.values, f"{node.name}: outputs")
            outputs.append(entry)
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

    def _execute_with_retries(
        self,
        node_name: str,
        template: JSON,
        callee: Scope,
        caller: Scope,
        inputs: list[JSON],
        *,
        retry: Mapping[str, Any],
        template_name: str | None,
        template_ref: JSON | None,
        label: str,
        boundary_id: str | None,
        owner: str | None,
    ) -> Node:
        variables = dict(self.globals)
        variables.update({f"inputs.parameters.{p['name']}": str(p["value"]) for p in inputs})
        strategy = json.loads(self._substitute(json.dumps(retry), variables, f"{node_name}: retryStrategy"))
        limit = int(str(strategy.get("limit")))
        policy = strategy.get("retryPolicy") or ("Always" if strategy.get("expression") else "OnFailure")
        expression = expr.parse(str(strategy["expression"])) if strategy.get("expression") else None
        backoff = strategy.get("backoff") or {}
        parent = self._new_node(
            node_name,
            RETRY,
            caller,
            template_name=template_name,
            template_ref=template_ref,
            boundary_id=boundary_id,
            owner=owner,
            inputs=inputs,
            label=label,
        )
        first_started: datetime | None = None
        while True:
            attempt = len(parent.children)
            child = self._execute_once(
                f"{node_name}({attempt})",
                template,
                callee,
                caller,
                inputs,
                template_name=template_name,
                template_ref=template_ref,
                label=label,
                boundary_id=boundary_id,
                owner=parent.id,
                retries=attempt,
            )
            self.nodes.add_child(parent.id, child.id)
            first_started = first_started or child.started
            if child.phase == SUCCEEDED:
                parent.outputs = copy.deepcopy(child.outputs)
                self._finish(parent, SUCCEEDED)
                return parent
            decision = self._retry_decision(parent, child, policy, expression, limit)
            if decision is not None:
                self._finish(parent, child.phase, decision)
                return parent
            delay = 0.0
            if backoff:
                delay = argo.parse_duration(backoff.get("duration") or 0)
                factor = backoff.get("factor")
                if factor is not None and int(str(factor)) > 0:
                    delay *= int(str(factor)) ** (len(parent.children) - 1)
                if backoff.get("cap"):
                    delay = min(delay, argo.parse_duration(backoff["cap"]))
                if backoff.get("maxDuration"):
                    deadline = first_started.timestamp() + argo.parse_duration(backoff["maxDuration"])
                    finished = (child.finished or self.now()).timestamp()
                    if self.now().timestamp() > deadline:
                        self._finish(parent, child.phase, "Max duration limit exceeded")
                        return parent
                    if finished + delay > deadline:
                        self._finish(parent, child.phase, "Backoff would exceed max duration limit")
                        return parent
            self.reporter.retrying(child, len(parent.children), limit, delay)
            if delay > 0:
                self.sleep(delay)

    def _retry_decision(
        self, parent: Node, child: Node, policy: str, expression: expr.Expression | None, limit: int
    ) -> str | None:
        """None to retry, else the Retry node's final message (Argo's processNodeRetries)."""
        retry_failed = policy in ("Always", "OnFailure")
        retry_error = policy in ("Always", "OnError")
        if policy == "OnTransientError":
            retry_failed = retry_error = _transient(child.message)
        if (child.phase == FAILED and not retry_failed) or (child.phase == ERROR and not retry_error):
            return child.message or f"retryPolicy {policy} does not retry a {child.phase} node"
        if expression is not None:
            scope = {
                "retries": str(len(parent.children) - 1),
                "lastRetry.exitCode": str((child.outputs or {}).get("exitCode", "-1")),
                "lastRetry.status": child.phase,
                "lastRetry.duration": str(child.seconds),
                "lastRetry.message": child.message,
            }
            if not expr.evaluate_bool(expression, scope):
                return "retryStrategy.expression evaluated to false"
        if len(parent.children) > limit:
            return "No more retries left"
        return None

    # -- substitution ---------------------------------------------------------------------------------------

    @staticmethod
    def _substitute(text: str, values: Mapping[str, str], where: str) -> str:
        def repl(key: str) -> str:
            if key not in values:
                raise RunnerError(f"{where}: failed to resolve {argo.spelled(key)}")
            return values[key]

        return argo.substitute(text, repl)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


_TRANSIENT = re.compile(
    r"(connection reset|connection refused|i/o timeout|TLS handshake timeout|EOF|broken pipe|"
    r"no such host|temporarily unavailable|exceeded quota|etcdserver: leader changed)",
    re.IGNORECASE,
)


def _transient(message: str) -> bool:
    return bool(_TRANSIENT.search(message or ""))
