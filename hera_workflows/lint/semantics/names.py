"""Names and enums: required, well-formed, unique names of templates, parameters, artifacts; enum values."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from hera_workflows.lint.schema import JsonPath
from hera_workflows.lint.semantics.context import Context
from hera_workflows.lint.semantics.model import (
    Resource,
)


def check_names(
    ctx: Context,
    res: Resource,
    items: Iterable[tuple[int, dict[str, Any]]],
    base: JsonPath,
    what: str,
    *,
    pattern: re.Pattern[str],
    max_len: int | None = None,
) -> None:
    seen: set[str] = set()
    for i, item in items:
        name = item.get("name")
        if not isinstance(name, str) or not name:
            ctx.add(res, (*base, i), f"{what} name is required", "name")
            continue
        if not pattern.match(name):
            ctx.add(res, (*base, i, "name"), f"{what} name '{name}' is invalid: must match {pattern.pattern}", "name")
        elif max_len is not None and len(name) > max_len:
            ctx.add(res, (*base, i, "name"), f"{what} name '{name}' is longer than {max_len} characters", "name")
        if name in seen:
            ctx.add(res, (*base, i, "name"), f"{what} name '{name}' is not unique", "name")
        seen.add(name)


def check_enum(ctx: Context, res: Resource, param: dict[str, Any], path: JsonPath, what: str) -> None:
    enum = param.get("enum")
    if enum is None:
        return
    if isinstance(enum, list) and not enum:
        ctx.add(res, (*path, "enum"), f"{what}: enum must contain at least one value", "arguments")
        return
    value = param.get("value", param.get("default"))
    if isinstance(value, str) and "{{" not in value and isinstance(enum, list) and value not in enum:
        ctx.add(res, (*path, "value"), f"{what}: value {value!r} is not in its enum {enum}", "arguments")
