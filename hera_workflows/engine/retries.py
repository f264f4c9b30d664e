"""A template's retryStrategy as Argo's controller applies it (`processNodeRetries`): whether a failed attempt is
retried (retryPolicy, expression, limit) and how long to wait first (backoff duration, factor, cap, maxDuration)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hera_workflows.engine import expr
from hera_workflows.engine.load import substitute
from hera_workflows.engine.status import ERROR, FAILED, Node
from hera_workflows.upstream import argo_v3_6 as argo

_TRANSIENT = re.compile(
    r"(connection reset|connection refused|i/o timeout|TLS handshake timeout|EOF|broken pipe|"
    r"no such host|temporarily unavailable|exceeded quota|etcdserver: leader changed)",
    re.IGNORECASE,
)


def transient(message: str) -> bool:
    """Whether Argo's OnTransientError policy counts `message` as a transient error."""
    return bool(_TRANSIENT.search(message or ""))


@dataclass(frozen=True)
class RetryStrategy:
    """One template's retryStrategy, its `{{…}}` tags resolved."""

    limit: int
    policy: str
    expression: expr.Expression | None
    backoff: Mapping[str, Any]

    @classmethod
    def parse(cls, retry: Mapping[str, Any], variables: Mapping[str, str], where: str) -> RetryStrategy:
        strategy = json.loads(substitute(json.dumps(retry), variables, f"{where}: retryStrategy"))
        return cls(
            limit=int(str(strategy.get("limit"))),
            policy=strategy.get("retryPolicy") or ("Always" if strategy.get("expression") else "OnFailure"),
            expression=expr.parse(str(strategy["expression"])) if strategy.get("expression") else None,
            backoff=strategy.get("backoff") or {},
        )

    def decision(self, parent: Node, child: Node) -> str | None:
        """None to retry, else the Retry node's final message (Argo's processNodeRetries)."""
        retry_failed = self.policy in ("Always", "OnFailure")
        retry_error = self.policy in ("Always", "OnError")
        if self.policy == "OnTransientError":
            retry_failed = retry_error = transient(child.message)
        if (child.phase == FAILED and not retry_failed) or (child.phase == ERROR and not retry_error):
            return child.message or f"retryPolicy {self.policy} does not retry a {child.phase} node"
        if self.expression is not None:
            scope = {
                "retries": str(len(parent.children) - 1),
                "lastRetry.exitCode": str((child.outputs or {}).get("exitCode", "-1")),
                "lastRetry.status": child.phase,
                "lastRetry.duration": str(child.seconds),
                "lastRetry.message": child.message,
            }
            if not expr.evaluate_bool(self.expression, scope):
                return "retryStrategy.expression evaluated to false"
        if len(parent.children) > self.limit:
            return "No more retries left"
        return None

    def delay(self, parent: Node, child: Node, first_started: datetime, now: datetime) -> tuple[float, str | None]:
        """(seconds to wait before the next attempt, None), or (0, the Retry node's final message) when the backoff
        would pass maxDuration."""
        backoff = self.backoff
        if not backoff:
            return 0.0, None
        seconds = argo.parse_duration(backoff.get("duration") or 0)
        factor = backoff.get("factor")
        if factor is not None and int(str(factor)) > 0:
            seconds *= int(str(factor)) ** (len(parent.children) - 1)
        if backoff.get("cap"):
            seconds = min(seconds, argo.parse_duration(backoff["cap"]))
        if backoff.get("maxDuration"):
            deadline = first_started.timestamp() + argo.parse_duration(backoff["maxDuration"])
            finished = (child.finished or now).timestamp()
            if now.timestamp() > deadline:
                return 0.0, "Max duration limit exceeded"
            if finished + seconds > deadline:
                return 0.0, "Backoff would exceed max duration limit"
        return seconds, None
