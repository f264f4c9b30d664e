"""Argo Workflows v3.6.2's template tags and durations (unchanged in v4.0.5), used by the linter and the local engine.

- Tags: `util/template` scans with valyala/fasttemplate, so a tag runs from `{{` to the first `}}` after it (across
  lines); a tag starting with `=` is an expression, any other is a simple tag whose name is trimmed of white space.
- Durations: `v1alpha1.ParseStringToDuration`: `strconv.Atoi` seconds, else Go's `time.ParseDuration`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, Final

TAG: Final = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
EXPRESSION_PREFIX: Final = "="


def tag_name(raw: str) -> str:
    """The name a simple tag looks up (`strings.TrimSpace`); an expression tag keeps its `=` prefix."""
    return raw if raw.startswith(EXPRESSION_PREFIX) else raw.strip()


def tags_in_text(text: str) -> Iterator[str]:
    """The names of the tags in one string, in order."""
    for match in TAG.finditer(text):
        yield tag_name(match.group(1))


def tags_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every tag in a nested structure of strings, mappings and lists, with the path of the field holding it."""
    if isinstance(value, str):
        for name in tags_in_text(value):
            yield path, name
    elif isinstance(value, dict):
        for key, sub in value.items():
            yield from tags_in(sub, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from tags_in(sub, f"{path}[{index}]")


def has_tag(text: str) -> bool:
    return TAG.search(text) is not None


def substitute(text: str, replace: Callable[[str], str]) -> str:
    """`text` with each tag replaced by `replace(name)`; `replace` raises (or records) what it cannot resolve."""
    return TAG.sub(lambda match: replace(tag_name(match.group(1))), text)


def spelled(name: str) -> str:
    """A tag as written, for messages and for leaving an unresolved tag in place."""
    return "{{" + name + "}}"


_GO_UNITS_NS: Final = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000, "s": 10**9}
_GO_UNITS_NS_LONG: Final = {**_GO_UNITS_NS, "m": 60 * 10**9, "h": 3600 * 10**9}
_GO_DURATION_PART: Final = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
_MAX_NS: Final = 2**63 - 1


def _go_atoi(text: str) -> int | None:
    """strconv.Atoi: an optional sign and decimal digits, within int64."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    value = int(text)
    return value if -(2**63) <= value <= _MAX_NS else None


def _go_parse_duration_ns(text: str) -> int:
    """time.ParseDuration in nanoseconds: `[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+`, or "0"."""
    rest = text
    negative = rest[:1] == "-"
    if rest[:1] in "+-" and rest:
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"time: invalid duration {text!r}")
    total = 0
    while rest:
        match = _GO_DURATION_PART.match(rest)
        assert match is not None  # every group may be empty
        whole, fraction, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not fraction:
            raise ValueError(f"time: invalid duration {text!r}")
        if not unit:
            raise ValueError(f"time: missing unit in duration {text!r}")
        if unit not in _GO_UNITS_NS_LONG:
            raise ValueError(f"time: unknown unit {unit!r} in duration {text!r}")
        scale = _GO_UNITS_NS_LONG[unit]
        part = int(whole or "0") * scale
        if fraction:
            part += int(fraction) * scale // 10 ** len(fraction)
        total += part
        if total > _MAX_NS + (1 if negative else 0):
            raise ValueError(f"time: invalid duration {text!r}")
        rest = rest[match.end() :]
    return -total if negative else total


def parse_duration(value: Any) -> float:
    """Seconds, as `ParseStringToDuration` reads an int-or-string field (`timeout`, `retryStrategy.backoff.*`,
    `activeDeadlineSeconds`): an integer is seconds, else a Go duration ("90s", "1m30s", "1.5h"). ValueError else."""
    text = str(value)
    seconds = _go_atoi(text)
    if seconds is not None:
        return float(seconds)
    try:
        return _go_parse_duration_ns(text) / 1e9
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a duration (an integer of seconds, or e.g. 10s, 1m30s): {exc}") from None
