"""YAML as OpenChoreo's Go tools read and write it: go-yaml v2 (go.yaml.in/yaml/v2 v2.4.4) behind sigs.k8s.io/yaml
v1.6.0, the library `occ` reads repository files with (YAML -> JSON) and writes them with (JSON -> YAML).

- `load_go_yaml`: every YAML document of a file, plain scalars resolved with go-yaml v2's rules (`yes`/`on` are
  booleans, `0o17` an integer, timestamps stay strings), then the JSON round trip (integral floats become integers,
  non-string keys become strings).
- `dump_go_yaml`: sigs.k8s.io/yaml's `Marshal` of JSON-shaped data: go-yaml v2's key order (its `keyList`, which
  compares digit runs by value), double quotes for strings that would not read back as strings, literal blocks for
  multi-line strings, lines folded at go-yaml's default width of 80, sequences not indented.

PyYAML's emitter is a port of the same libyaml code go-yaml ports; where PyYAML chooses a scalar style differently
(it falls back to single quotes where libyaml takes double quotes), `GoDumper.choose_scalar_style` has libyaml's
choice. Stdlib + PyYAML only.
"""

from __future__ import annotations

import decimal
import functools
import io
import math
import re
from typing import Any

import yaml

# ------------------------------------------------------------------------------------------------ scalar resolution

_WORDS: dict[str, tuple[str, object]] = {}
for _words, _entry in (
    ("y Y yes Yes YES true True TRUE on On ON", ("bool", True)),
    ("n N no No NO false False FALSE off Off OFF", ("bool", False)),
    ("~ null Null NULL", ("null", None)),
    (".nan .NaN .NAN", ("float", math.nan)),
    (".inf .Inf .INF +.inf +.Inf +.INF", ("float", math.inf)),
    ("-.inf -.Inf -.INF", ("float", -math.inf)),
):
    for _word in _words.split():
        _WORDS[_word] = _entry
_GO_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
# time.Parse layouts go-yaml v2 tries ("2006-1-2T15:4:5.999999999Z07:00", "2006-1-2t...", "2006-1-2 15:4:5.9...",
# "2006-1-2"): a four-digit year and a dash first.
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:(?:[Tt]|[ ]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:[ ]*(?:Z|[-+][0-9]{1,2}(?::?[0-9]{2})?))?)?"
)


def _go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64), then ParseUint(text, 0, 64), as go-yaml v2 does."""
    match = _GO_INT.fullmatch(text)
    if not match:
        return None
    sign, digits = match.groups()
    prefix = digits[:2].lower()
    base = {"0x": 16, "0o": 8, "0b": 2}.get(prefix)
    if base is not None:
        value = int(digits[2:], base)
    elif digits.startswith("0") and len(digits) > 1:
        value = int(digits[1:], 8)
    else:
        value = int(digits)
    value = -value if sign == "-" else value
    if -(2**63) <= value < 2**63 or (not sign and 0 <= value < 2**64):
        return value
    return None


def resolve_plain(text: str) -> tuple[str, object]:
    """(kind, value) of an unquoted scalar as go-yaml v2's `resolve("", text)`; kind is str, bool, null, int,
    float or timestamp (a timestamp decodes into interface{} as its text)."""
    if text == "":
        return "null", None
    if text in _WORDS:
        return _WORDS[text]
    hint = text[0]
    if hint == ".":
        return ("float", float(text)) if _DOT_FLOAT.fullmatch(text) else ("str", text)
    if hint in "+-0123456789":
        if hint.isdigit() and _TIMESTAMP.fullmatch(text):
            return "timestamp", text
        plain = text.replace("_", "")
        as_int = _go_parse_int(plain)
        if as_int is not None:
            return "int", as_int
        if _YAML_FLOAT.fullmatch(plain):
            return "float", float(plain)
    return "str", text


def needs_quotes(text: str) -> bool:
    """go-yaml v2's stringv: a string is written double-quoted unless it reads back as a string unquoted."""
    return resolve_plain(text)[0] != "str" or bool(_BASE60_FLOAT.fullmatch(text))


# ------------------------------------------------------------------------------------------------------- loading


class _GoLoader(yaml.SafeLoader):
    """SafeLoader whose plain scalars go-yaml v2 resolves (quoted and block scalars are strings)."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - every scalar reaches _construct_scalar


def _construct_scalar(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    value = loader.construct_scalar(node)
    if node.style is not None:
        return value
    kind, resolved = resolve_plain(value)
    return value if kind == "timestamp" else resolved


_GoLoader.add_constructor("tag:yaml.org,2002:str", _construct_scalar)
# `<<` merge keys, which go-yaml v2 resolves too (the only implicit tag kept)
_GoLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


class GoYamlError(ValueError):
    """A file Go's decoder would refuse; the message names the line."""


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float):
        return format_go_float(key)
    return str(key)


def jsonify(value: Any) -> Any:
    """The JSON round trip of sigs.k8s.io/yaml: integral floats become integers, keys become strings."""
    if isinstance(value, dict):
        return {_json_key(k): jsonify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonify(v) for v in value]
    if isinstance(value, float) and math.isfinite(value) and value == int(value) and abs(value) < 2**63:
        return int(value)
    return value


def _float64(value: Any) -> Any:
    """A number as encoding/json decodes it into interface{} (float64) and encodes it again: integers beyond
    float64's precision come back as their shortest float64 digits (12345678901234567890 -> 12345678901234567000)."""
    if isinstance(value, dict):
        return {k: _float64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_float64(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        as_float = float(value)
        return as_float if abs(as_float) >= 1e21 else int(decimal.Decimal(repr(as_float)))
    return value


def load_go_yaml_float64(text: str) -> list[Any]:
    """`load_go_yaml` as sigs.k8s.io/yaml.Unmarshal into a map (json.Unmarshal: every number a float64), the way
    occ re-reads an existing ReleaseBinding file."""
    return [_float64(document) for document in load_go_yaml(text)]


def load_go_yaml(text: str) -> list[Any]:
    """Every document of `text` (empty documents dropped), read as occ reads a repository file."""
    try:
        documents = list(yaml.load_all(text, Loader=_GoLoader))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise GoYamlError(f"{where}{getattr(error, 'problem', None) or error}") from None
    return [jsonify(document) for document in documents if document is not None]


# ------------------------------------------------------------------------------------------------------- dumping


def format_go_float(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 64) (shortest digits; exponent form below 1e-4 and from 1e6 on), with
    go-yaml's names for the specials."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    shortest = decimal.Decimal(repr(abs(value))).normalize()
    _, digit_tuple, exponent = shortest.as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(str(d) for d in digit_tuple)
    point = len(digits) + exponent  # digits before the decimal point
    x = point - 1
    if x < -4 or x >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _key_less(a: str, b: str) -> bool:
    """go-yaml v2's keyList.Less for two string keys: letters before other characters, digit runs by value."""
    ar, br = list(a), list(b)
    for i in range(min(len(ar), len(br))):
        if ar[i] == br[i]:
            continue
        al, bl = ar[i].isalpha(), br[i].isalpha()
        if al and bl:
            return ar[i] < br[i]
        if al or bl:
            return bl
        an = bn = 0
        if ar[i] == "0" or br[i] == "0":
            j = i - 1
            while j >= 0 and ar[j].isdecimal():
                if ar[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(ar) and ar[ai].isdecimal():
            an = an * 10 + (ord(ar[ai]) - 48)
            ai += 1
        bi = i
        while bi < len(br) and br[bi].isdecimal():
            bn = bn * 10 + (ord(br[bi]) - 48)
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ar[i] < br[i]
    return len(ar) < len(br)


def _key_cmp(a: str, b: str) -> int:
    return -1 if _key_less(a, b) else (1 if _key_less(b, a) else 0)


def sorted_keys(mapping: dict[str, Any]) -> list[str]:
    return sorted(mapping, key=functools.cmp_to_key(_key_cmp))


_STR = "tag:yaml.org,2002:str"


def _node(data: Any) -> yaml.Node:
    """Every scalar is a str-tagged node whose style is go-yaml's choice (the dumper resolves nothing implicitly,
    so numbers and booleans come out plain, as their text)."""
    if isinstance(data, dict):
        pairs = [(_node(str(key)), _node(data[key])) for key in sorted_keys(data)]
        return yaml.MappingNode("tag:yaml.org,2002:map", pairs, flow_style=False)
    if isinstance(data, list):
        return yaml.SequenceNode("tag:yaml.org,2002:seq", [_node(item) for item in data], flow_style=False)
    if isinstance(data, bool):
        return yaml.ScalarNode(_STR, "true" if data else "false", style=None)
    if isinstance(data, int):
        return yaml.ScalarNode(_STR, str(data), style=None)
    if isinstance(data, float):
        return yaml.ScalarNode(_STR, format_go_float(data), style=None)
    if data is None:
        return yaml.ScalarNode(_STR, "null", style=None)
    if isinstance(data, str):
        if "\n" in data:
            style: str | None = "|"
        elif needs_quotes(data):
            style = '"'
        else:
            style = "plain"
        return yaml.ScalarNode(_STR, data, style=style)
    raise TypeError(f"cannot write a {type(data).__name__} as YAML")


class GoDumper(yaml.SafeDumper):
    """PyYAML's emitter with libyaml's scalar style selection (yaml_emitter_select_scalar_style)."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - plain scalars are never re-tagged

    def choose_scalar_style(self) -> str:
        event = self.event
        assert isinstance(event, yaml.ScalarEvent)
        if self.analysis is None:
            self.analysis = self.analyze_scalar(event.value)
        analysis = self.analysis
        requested = event.style
        style = "" if requested in (None, "plain") else requested
        if self.simple_key_context and analysis.multiline:
            style = '"'
        if style == "":
            if (self.flow_level and not analysis.allow_flow_plain) or (
                not self.flow_level and not analysis.allow_block_plain
            ):
                style = "'"
            if not event.value and (self.flow_level or self.simple_key_context):
                style = "'"
        if style == "'" and not analysis.allow_single_quoted:
            style = '"'
        if style in ("|", ">") and (not analysis.allow_block or self.flow_level or self.simple_key_context):
            style = '"'
        return style


def dump_go_yaml(data: Any) -> str:
    """sigs.k8s.io/yaml.Marshal(data) for JSON-shaped `data`."""
    stream = io.StringIO()
    dumper = GoDumper(stream, default_flow_style=False, allow_unicode=True, width=80, sort_keys=False)
    try:
        dumper.open()
        dumper.serialize(_node(data))
        dumper.close()
    finally:
        dumper.dispose()
    return stream.getvalue()
