"""Reading a workload.yaml descriptor the way `occ workload create` does, keeping file:line marks.

occ decodes the descriptor with sigs.k8s.io/yaml: YAML 1.1 (go-yaml v2) -> JSON -> encoding/json into Go structs.
That gives these rules, all reproduced here from the YAML node graph (`yaml.compose`, so every value keeps its line):

- keys match the Go field names case-insensitively (`MountPath` == `mountPath`); snake_case does not match;
- unknown keys are ignored (we also warn, naming each with file:line);
- plain scalars resolve as go-yaml v2 does (`yes`/`no`/`on`/`off`/`y`/`n` are booleans, `010` is octal, `0x1F` hex,
  `1_000` is 1000), and a scalar that lands in a string field becomes its Go string form (`8080` -> "8080",
  `true` -> "true", floats through FormatFloat(v, 'g', -1, 32): `1.10` -> "1.1", `1000000.0` -> "1e+06");
- anything else that does not fit the field's type is an error (a string in an int field, a scalar where a list is
  expected, a mapping in a string field).

Deliberately stricter than occ (see README): duplicate keys (also when they differ only in case) are an error, where
occ silently keeps one of them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from steps.common import goyaml_v2
from steps.common.log import StepError
from steps.common.sigs_yaml_v1_6 import fold_key, format_float32

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# Bounds on the work a descriptor can cause (README: "Limits"). A descriptor deeper than MAX_DEPTH collections is
# refused while it is parsed (PyYAML's composer would recurse past the interpreter's limit, libyaml's past the C
# stack). Aliases and `<<` merges let a small text stand for a huge tree: decoding visits every node and merged key
# of the text once for free, and at most MAX_ALIAS_EXPANSION more through aliases and merges.
MAX_DEPTH = 100
MAX_ALIAS_EXPANSION = 50_000
MAX_UNKNOWN_KEY_WARNINGS = 20

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_BINARY_TAG = "tag:yaml.org,2002:binary"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"


# --------------------------------------------------------------------------------------------------------------------
# Locations and errors


@dataclass(frozen=True)
class Mark:
    """A place in a descriptor: the file as shown to the user and a 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class DescriptorError(StepError):
    """Bad input in the descriptor: `<file>:<line>: <field>: <message>`."""

    def __init__(self, mark: Mark | None, path: str, message: str) -> None:
        where = f"{mark}: " if mark else ""
        super().__init__(f"{where}{path}: {message}" if path else f"{where}{message}")
        self.mark = mark
        self.path = path
        self.detail = message


Warn = Callable[[str], None]


# --------------------------------------------------------------------------------------------------------------------
# go-yaml v2 scalar resolution

ScalarKind = Literal["null", "bool", "int", "float", "str"]


def resolve_plain(text: str) -> tuple[ScalarKind, object]:
    """Resolve an unquoted scalar as go-yaml v2 (`resolve()` in resolve.go, emulated once in
    `steps.common.goyaml_v2`) does when decoding into interface{}: a timestamp-like scalar stays its text there
    (go-yaml v2 keeps it a string for backward compatibility), so for the descriptor it is a string."""
    kind, value = goyaml_v2.resolve_plain(text)
    if kind == "timestamp":
        return "str", text
    return cast(ScalarKind, kind), value


def resolve_scalar(node: ScalarNode) -> tuple[ScalarKind, object]:
    """Resolve a scalar node: quoted and block scalars and `!!str` are strings; plain ones follow go-yaml v2.
    (The composer leaves the tag of an untagged plain scalar None: its type is go-yaml's to decide, not PyYAML's.)"""
    if node.style is not None or node.tag in (_STR_TAG, _BINARY_TAG):
        return "str", node.value
    return resolve_plain(node.value)


def _kind_name(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    kind, _ = resolve_scalar(node)  # type: ignore[arg-type]
    return {"null": "null", "bool": "a boolean", "int": "a number", "float": "a number", "str": "a string"}[kind]


# --------------------------------------------------------------------------------------------------------------------
# Parsing: YAML events -> node graph, iteratively, with bounded depth and `<<` merges resolved once per mapping

# libyaml's parser when PyYAML was built with it (go-yaml v2, occ's parser, is a port of libyaml), else PyYAML's.
EVENT_LOADERS: tuple[type[yaml.SafeLoader], ...] = tuple(
    loader for loader in (getattr(yaml, "CSafeLoader", None), yaml.SafeLoader) if loader is not None
)


@dataclass
class _MergeProblem:
    """A `<<` merge that cannot be resolved; raised only if the mapping is decoded (ignored keys stay ignored)."""

    node: Node
    message: str


@dataclass
class _Merged:
    """The key/value pairs a mapping gets from its `<<` merges: each source's own keys, then what the source itself
    merged, first occurrence of a key winning (keys the mapping sets itself are left out)."""

    pairs: list[tuple[Node, Node]] = field(default_factory=list)
    problem: _MergeProblem | None = None


def key_text(node: Node) -> str | None:
    """A mapping key as the decoder compares it (Go string form of a scalar), None for a collection key."""
    if not isinstance(node, ScalarNode):
        return None
    kind, value = resolve_scalar(node)
    if kind == "str":
        return str(value)
    return _scalar_text(kind, value) if kind != "null" else "null"


def _is_merge_key(node: Node) -> bool:
    if not isinstance(node, ScalarNode) or node.style is not None:
        return False
    return node.tag == _MERGE_TAG or (node.tag is None and node.value == "<<")


class _Composer:
    """PyYAML's composer without recursion: depth is bounded (MAX_DEPTH) and every mapping's merges are resolved
    when it ends, from its sources' already resolved pairs, so chains of merged anchors cost linear work."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.anchors: dict[str, Node] = {}
        self.merged: dict[int, _Merged] = {}
        self.nodes = 0  # nodes and merged pairs in the graph: what decoding may visit without aliases
        self.merge_work = 0

    def fail(self, mark: Any, message: str) -> DescriptorError:
        return DescriptorError(Mark(self.file, mark.line + 1 if mark else 1), "", message)

    def compose(self, loader: Any) -> Node:  # a SafeLoader or CSafeLoader; their stubs lack the event API
        stack: list[Node] = []
        pending_keys: list[Node | None] = []
        open_ids: set[int] = set()
        while True:
            event: Any = loader.get_event()
            start: Any = event.start_mark  # libyaml's and PyYAML's marks: both have .line
            end: Any = event.end_mark
            node: Node
            if isinstance(event, AliasEvent):
                if event.anchor not in self.anchors:
                    raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}", start)
                node = self.anchors[event.anchor]
            elif isinstance(event, ScalarEvent):
                style = event.style or None
                tag = event.tag
                if tag is None:  # plain: resolved later, the go-yaml v2 way (resolve_scalar); quoted: a string
                    tag = None if style is None else _STR_TAG
                elif tag == "!":
                    tag = _STR_TAG
                node = ScalarNode(tag, event.value, start, end, style=style)  # type: ignore[arg-type]
                self._anchor(event, node)
                self.nodes += 1
            elif isinstance(event, (SequenceStartEvent, MappingStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    raise self.fail(
                        start,
                        f"nested more than {MAX_DEPTH} levels deep; a workload descriptor needs a handful",
                    )
                is_sequence = isinstance(event, SequenceStartEvent)
                kind = SequenceNode if is_sequence else MappingNode
                tag = event.tag
                if tag is None or tag == "!":
                    tag = _SEQ_TAG if is_sequence else _MAP_TAG
                collection = kind(tag, [], start, None, flow_style=event.flow_style)
                self._anchor(event, collection)
                self.nodes += 1
                stack.append(collection)
                pending_keys.append(None)
                open_ids.add(id(collection))
                continue
            else:  # SequenceEndEvent / MappingEndEvent
                node = stack.pop()
                pending_keys.pop()
                open_ids.discard(id(node))
                node.end_mark = end
                if isinstance(node, MappingNode):
                    self._resolve_merges(node, open_ids)
            if not stack:
                return node
            parent = stack[-1]
            if isinstance(parent, SequenceNode):
                parent.value.append(node)
            elif pending_keys[-1] is None:
                pending_keys[-1] = node
            else:
                parent.value.append((pending_keys[-1], node))
                pending_keys[-1] = None

    def _anchor(self, event: Any, node: Node) -> None:
        anchor = event.anchor
        if anchor is None:
            return
        if anchor in self.anchors:
            raise yaml.composer.ComposerError(
                "found duplicate anchor %r; first occurrence" % anchor,  # noqa: UP031 - PyYAML's message
                self.anchors[anchor].start_mark,
                "second occurrence",
                event.start_mark,
            )
        self.anchors[anchor] = node

    def _resolve_merges(self, node: MappingNode, open_ids: set[int]) -> None:
        merges = [value for key, value in node.value if _is_merge_key(key)]
        if not merges:
            return
        result = _Merged()
        self.merged[id(node)] = result
        seen = {key_text(key) for key, _ in node.value if not _is_merge_key(key)}
        seen.discard(None)
        sources: list[Node] = []
        for merge in merges:
            sources.extend(merge.value if isinstance(merge, SequenceNode) else [merge])
        for source in sources:
            if not isinstance(source, MappingNode):
                result.problem = _MergeProblem(source, "a `<<` merge needs a mapping or a list of mappings")
                return
            if id(source) in open_ids or id(source) == id(node):
                result.problem = _MergeProblem(source, "recursive `<<` merge")
                return
            inner = self.merged.get(id(source))
            if inner is not None and inner.problem is not None:
                result.problem = inner.problem
                return
            own = [(key, value) for key, value in source.value if not _is_merge_key(key)]
            candidates = own + (inner.pairs if inner is not None else [])
            self.merge_work += len(candidates)
            if self.merge_work > MAX_ALIAS_EXPANSION:
                raise self.fail(
                    source.start_mark,
                    f"`<<` merges expand to more than {MAX_ALIAS_EXPANSION} keys "
                    "(anchors that merge anchors multiply); merge fewer or flatter anchors",
                )
            for key, value in candidates:
                text = key_text(key)
                if text is not None:
                    if text in seen:
                        continue
                    seen.add(text)
                result.pairs.append((key, value))
        self.nodes += len(result.pairs)


def _decode_text(raw: bytes, file: str) -> str:
    """Descriptor bytes -> text: UTF-8 (a BOM is skipped), or UTF-16 with a BOM, as go-yaml v2 reads them."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise DescriptorError(Mark(file, 1), "", f"not valid UTF-16 (byte {error.start})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DescriptorError(Mark(file, 1), "", f"not valid UTF-8 (byte {error.start})") from None


@dataclass
class Parsed:
    root: Node | None
    composer: _Composer


def compose_first_document(
    text: str, file: str, warn: Warn, loader_class: type[yaml.SafeLoader] | None = None
) -> Parsed:
    """The first YAML document's node graph (None when the stream has none). Like occ, the rest of the stream is
    not parsed: a second document only gets a warning."""
    composer = _Composer(file)
    loader: Any = (loader_class or EVENT_LOADERS[0])(text)
    try:
        try:
            loader.get_event()  # StreamStartEvent
            if loader.check_event(StreamEndEvent):
                return Parsed(None, composer)
            loader.get_event()  # DocumentStartEvent
            root = composer.compose(loader)
            loader.get_event()  # DocumentEndEvent
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark else 1
            problem = error.problem or error.context or "invalid YAML"
            raise DescriptorError(Mark(file, line), "", f"invalid YAML: {problem}") from None
        except yaml.reader.ReaderError as error:  # a character YAML does not allow
            line = text.count("\n", 0, max(0, error.position)) + 1 if isinstance(error.position, int) else 1
            code = error.character if isinstance(error.character, int) else ord(str(error.character)[:1] or "\0")
            raise DescriptorError(
                Mark(file, line), "", f"invalid YAML: unacceptable character #x{code:04x} ({error.reason})"
            ) from None
        except yaml.YAMLError as error:
            raise DescriptorError(Mark(file, 1), "", f"invalid YAML: {' '.join(str(error).split())}") from None
        try:
            if not loader.check_event(StreamEndEvent):
                line = loader.peek_event().start_mark.line + 1
                if loader.check_event(DocumentStartEvent):
                    loader.get_event()
                    line = loader.peek_event().start_mark.line + 1
                warn(f"{Mark(file, line)}: only the first YAML document is read, as occ does")
        except yaml.YAMLError:
            warn(f"{Mark(file, 1)}: more follows the first YAML document; it is not read (occ reads only the first)")
    finally:
        loader.dispose()
    return Parsed(root, composer)


# --------------------------------------------------------------------------------------------------------------------
# The decoded descriptor (occ's WorkloadDescriptor, with marks)


@dataclass
class Located:
    """A list item that is a plain string, with where it was written."""

    value: str
    mark: Mark


@dataclass
class Entry:
    """Common part of every decoded mapping: where it starts and where each of its fields' values are."""

    mark: Mark
    marks: dict[str, Mark] = field(default_factory=dict)

    def at(self, name: str) -> Mark:
        return self.marks.get(name, self.mark)


@dataclass
class DEndpoint(Entry):
    name: str = ""
    display_name: str = ""
    port: int | None = None
    target_port: int | None = None
    type: str = ""
    base_path: str = ""
    schema_file: str = ""
    context: str = ""
    visibility: list[Located] = field(default_factory=list)


@dataclass
class DEnvBindings(Entry):
    address: str = ""
    host: str = ""
    port: str = ""
    base_path: str = ""


@dataclass
class DEndpointDependency(Entry):
    """`dependencies.endpoints[]` (1.x, target field `name`) or `connections[]` (0.17, target field `endpoint`)."""

    project: str = ""
    component: str = ""
    name: str = ""
    visibility: str = ""
    env_bindings: DEnvBindings | None = None


@dataclass
class DResource(Entry):
    ref: str = ""
    env_bindings: dict[str, Located] | None = None
    file_bindings: dict[str, Located] | None = None


@dataclass
class DSecretKeyRef(Entry):
    name: str = ""
    key: str = ""


@dataclass
class DValueFrom(Entry):
    secret_key_ref: DSecretKeyRef | None = None
    path: str = ""


@dataclass
class DEnvVar(Entry):
    name: str = ""
    value: str = ""
    value_from: DValueFrom | None = None


@dataclass
class DFileVar(Entry):
    name: str = ""
    mount_path: str = ""
    value: str = ""
    value_from: DValueFrom | None = None


@dataclass
class Descriptor:
    """What occ reads from workload.yaml. `connections` is read only by the 0.17 profile, `dependencies` by 1.x."""

    file: str
    mark: Mark
    api_version: str = ""
    metadata_name: str = ""
    endpoints: list[DEndpoint] = field(default_factory=list)
    dependency_endpoints: list[DEndpointDependency] = field(default_factory=list)
    dependency_resources: list[DResource] = field(default_factory=list)
    connections: list[DEndpointDependency] = field(default_factory=list)
    env: list[DEnvVar] = field(default_factory=list)
    files: list[DFileVar] = field(default_factory=list)
    marks: dict[str, Mark] = field(default_factory=dict)

    def at(self, name: str) -> Mark:
        return self.marks.get(name, self.mark)


# --------------------------------------------------------------------------------------------------------------------
# Decoding


def _loose(key: str) -> str:
    return fold_key(key).replace("_", "").replace("-", "")


@functools.lru_cache(maxsize=64)
def _field_maps(known: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """Case-folded and loose (snake/kebab-insensitive) spellings of the known field names -> the canonical name."""
    return {fold_key(name): name for name in known}, {_loose(name): name for name in known}


def _scalar_text(kind: ScalarKind, value: object) -> str:
    """The Go string form of a resolved scalar (what sigs.k8s.io/yaml puts into a string field)."""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "float":
        assert isinstance(value, float)
        return format_float32(value)
    return str(value)


class _Decoder:
    def __init__(self, file: str, warn: Warn, top_level_hints: Mapping[str, str], parsed: Parsed) -> None:
        self.file = file
        self.warn = warn
        self.top_level_hints = top_level_hints
        self.merged = parsed.composer.merged
        # Decoding visits each node of the text once; aliases and merges may add MAX_ALIAS_EXPANSION visits.
        self.budget = parsed.composer.nodes + MAX_ALIAS_EXPANSION
        self.visits = 0
        self.unknown_warned: set[int] = set()
        self.unknown_count = 0

    def mark(self, node: Node) -> Mark:
        return Mark(self.file, node.start_mark.line + 1)

    def fail(self, node: Node, path: str, message: str) -> DescriptorError:
        return DescriptorError(self.mark(node), path, message)

    def visit(self, node: Node, path: str, count: int) -> None:
        self.visits += count
        if self.visits > self.budget:
            raise self.fail(
                node,
                path or "descriptor",
                f"aliases and `<<` merges expand the descriptor by more than {MAX_ALIAS_EXPANSION} nodes; "
                "refusing to decode it (an alias bomb?)",
            )

    # -- structure -------------------------------------------------------------------------------------------------

    def _pairs(self, node: MappingNode, path: str) -> Iterator[tuple[str, Node, Node, bool]]:
        """(key, key node, value node, from a merge) for a mapping, with `<<` merges expanded after own keys."""
        merged = self.merged.get(id(node))
        own = node.value if merged is None else [(k, v) for k, v in node.value if not _is_merge_key(k)]
        self.visit(node, path, len(own) + (len(merged.pairs) if merged is not None else 0))
        for key_node, value_node in own:
            yield self._key(key_node, path), key_node, value_node, False
        if merged is None:
            return
        if merged.problem is not None:
            raise self.fail(merged.problem.node, path, merged.problem.message)
        for key_node, value_node in merged.pairs:
            yield self._key(key_node, path), key_node, value_node, True

    def _key(self, node: Node, path: str) -> str:
        text = key_text(node)
        if text is None:
            raise self.fail(node, path, f"a key must be a string, got {_kind_name(node)}")
        return text

    def fields(self, node: Node, path: str, known: Sequence[str]) -> dict[str, Node] | None:
        """The known fields of a mapping node (canonical name -> value node); None for null. Unknown keys warn."""
        if self.is_null(node):
            return None
        label = path or "descriptor"
        if not isinstance(node, MappingNode):
            raise self.fail(node, label, f"expected a mapping, got {_kind_name(node)}")
        by_fold, by_loose = _field_maps(tuple(known))
        found: dict[str, Node] = {}
        own_keys: dict[str, tuple[str, Node]] = {}
        for key, key_node, value_node, merged in self._pairs(node, label):
            folded = fold_key(key)
            if not merged:
                if folded in own_keys:
                    first, first_node = own_keys[folded]
                    same = "" if first == key else f" (as {first!r}; occ matches keys case-insensitively)"
                    raise self.fail(
                        key_node,
                        self.join(path, key),
                        f"duplicate key, also at line {first_node.start_mark.line + 1}{same}",
                    )
                own_keys[folded] = (key, key_node)
            elif folded in own_keys or (folded in by_fold and by_fold[folded] in found):
                continue  # an explicit key (or an earlier merge source) wins over a merged one
            canonical = by_fold.get(folded)
            if canonical is None:
                if not merged:
                    self._unknown(key_node, path, key, by_loose)
                continue
            found[canonical] = value_node
        return found

    def _unknown(self, key_node: Node, path: str, key: str, by_loose: Mapping[str, str]) -> None:
        if id(key_node) in self.unknown_warned:
            return  # the same key reached again through an alias
        self.unknown_warned.add(id(key_node))
        self.unknown_count += 1
        if self.unknown_count > MAX_UNKNOWN_KEY_WARNINGS:
            return
        where = self.join(path, key)
        hint = self.top_level_hints.get(key, "") if not path else ""
        if not hint and _loose(key) in by_loose:
            hint = f'did you mean "{by_loose[_loose(key)]}"? occ matches keys case-insensitively, not snake_case'
        message = f"{self.mark(key_node)}: {where}: unknown key, ignored as occ does"
        self.warn(f"{message} ({hint})" if hint else message)

    @staticmethod
    def join(path: str, name: str) -> str:
        return f"{path}.{name}" if path else name

    @staticmethod
    def is_null(node: Node) -> bool:
        return isinstance(node, ScalarNode) and resolve_scalar(node)[0] == "null"

    def seq(self, node: Node | None, path: str) -> list[Node]:
        if node is None or self.is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            raise self.fail(node, path, f"expected a list, got {_kind_name(node)}")
        self.visit(node, path, len(node.value))
        return list(node.value)

    # -- scalars ---------------------------------------------------------------------------------------------------

    def string(self, node: Node | None, path: str) -> str:
        """A string field. Scalars of any type are coerced as sigs.k8s.io/yaml does; null is the empty string."""
        if node is None:
            return ""
        if not isinstance(node, ScalarNode):
            raise self.fail(node, path, f"expected a string, got {_kind_name(node)}")
        kind, value = resolve_scalar(node)
        if kind == "null":
            return ""
        return value if isinstance(value, str) else _scalar_text(kind, value)

    def int32(self, node: Node | None, path: str, *, low: int = INT32_MIN, high: int = INT32_MAX) -> int | None:
        """An int32 field (None when absent or null). Strings and booleans fail, as in occ."""
        if node is None:
            return None
        if not isinstance(node, ScalarNode):
            raise self.fail(node, path, f"expected an integer, got {_kind_name(node)}")
        kind, value = resolve_scalar(node)
        if kind == "null":
            return None
        if kind == "int":
            assert isinstance(value, int)
            number = value
        elif kind == "float" and isinstance(value, float) and math.isfinite(value) and value == int(value):
            number = int(value)
        else:
            shown = f" {node.value!r}" if kind in ("str", "float") and len(node.value) <= 40 else ""
            raise self.fail(node, path, f"expected an integer, got {_kind_name(node)}{shown}")
        if not low <= number <= high:
            raise self.fail(node, path, f"must be {low}..{high}, got {number}")
        return number

    def string_list(self, node: Node | None, path: str) -> list[Located]:
        return [
            Located(self.string(item, f"{path}[{i}]"), self.mark(item)) for i, item in enumerate(self.seq(node, path))
        ]

    def string_map(self, node: Node | None, path: str) -> dict[str, Located] | None:
        """A map[string]string: keys verbatim (no case folding), values coerced like string fields."""
        if node is None or self.is_null(node):
            return None
        if not isinstance(node, MappingNode):
            raise self.fail(node, path, f"expected a mapping, got {_kind_name(node)}")
        result: dict[str, Located] = {}
        key_lines: dict[str, int] = {}
        for key, key_node, value_node, merged in self._pairs(node, path):
            if key in result:
                if merged:
                    continue
                raise self.fail(key_node, f"{path}.{key}", f"duplicate key, also at line {key_lines[key]}")
            key_lines[key] = key_node.start_mark.line + 1
            result[key] = Located(self.string(value_node, f"{path}.{key}"), self.mark(value_node))
        return result


def _marks(decoder: _Decoder, found: Mapping[str, Node]) -> dict[str, Mark]:
    return {name: decoder.mark(node) for name, node in found.items()}


def _endpoint(d: _Decoder, node: Node, path: str) -> DEndpoint:
    known = ("name", "displayName", "port", "targetPort", "type", "basePath", "schemaFile", "context", "visibility")
    found = d.fields(node, path, known) or {}
    return DEndpoint(
        mark=d.mark(node),
        marks=_marks(d, found),
        name=d.string(found.get("name"), f"{path}.name"),
        display_name=d.string(found.get("displayName"), f"{path}.displayName"),
        port=d.int32(found.get("port"), f"{path}.port"),
        target_port=d.int32(found.get("targetPort"), f"{path}.targetPort"),
        type=d.string(found.get("type"), f"{path}.type"),
        base_path=d.string(found.get("basePath"), f"{path}.basePath"),
        schema_file=d.string(found.get("schemaFile"), f"{path}.schemaFile"),
        context=d.string(found.get("context"), f"{path}.context"),
        visibility=d.string_list(found.get("visibility"), f"{path}.visibility"),
    )


def _env_bindings(d: _Decoder, node: Node | None, path: str) -> DEnvBindings | None:
    if node is None:
        return None
    found = d.fields(node, path, ("address", "host", "port", "basePath"))
    if found is None:
        return None
    return DEnvBindings(
        mark=d.mark(node),
        marks=_marks(d, found),
        address=d.string(found.get("address"), f"{path}.address"),
        host=d.string(found.get("host"), f"{path}.host"),
        port=d.string(found.get("port"), f"{path}.port"),
        base_path=d.string(found.get("basePath"), f"{path}.basePath"),
    )


def _endpoint_dependency(d: _Decoder, node: Node, path: str, target_field: str) -> DEndpointDependency:
    found = d.fields(node, path, ("project", "component", target_field, "visibility", "envBindings")) or {}
    marks = _marks(d, found)
    if target_field in marks:
        marks["name"] = marks[target_field]
    return DEndpointDependency(
        mark=d.mark(node),
        marks=marks,
        project=d.string(found.get("project"), f"{path}.project"),
        component=d.string(found.get("component"), f"{path}.component"),
        name=d.string(found.get(target_field), f"{path}.{target_field}"),
        visibility=d.string(found.get("visibility"), f"{path}.visibility"),
        env_bindings=_env_bindings(d, found.get("envBindings"), f"{path}.envBindings"),
    )


def _resource(d: _Decoder, node: Node, path: str) -> DResource:
    found = d.fields(node, path, ("ref", "envBindings", "fileBindings")) or {}
    return DResource(
        mark=d.mark(node),
        marks=_marks(d, found),
        ref=d.string(found.get("ref"), f"{path}.ref"),
        env_bindings=d.string_map(found.get("envBindings"), f"{path}.envBindings"),
        file_bindings=d.string_map(found.get("fileBindings"), f"{path}.fileBindings"),
    )


def _value_from(d: _Decoder, node: Node | None, path: str) -> DValueFrom | None:
    if node is None:
        return None
    found = d.fields(node, path, ("secretKeyRef", "path"))
    if found is None:
        return None
    secret: DSecretKeyRef | None = None
    secret_node = found.get("secretKeyRef")
    if secret_node is not None:
        secret_path = f"{path}.secretKeyRef"
        secret_fields = d.fields(secret_node, secret_path, ("name", "key"))
        if secret_fields is not None:
            secret = DSecretKeyRef(
                mark=d.mark(secret_node),
                marks=_marks(d, secret_fields),
                name=d.string(secret_fields.get("name"), f"{secret_path}.name"),
                key=d.string(secret_fields.get("key"), f"{secret_path}.key"),
            )
    return DValueFrom(
        mark=d.mark(node),
        marks=_marks(d, found),
        secret_key_ref=secret,
        path=d.string(found.get("path"), f"{path}.path"),
    )


def _env_var(d: _Decoder, node: Node, path: str) -> DEnvVar:
    found = d.fields(node, path, ("name", "value", "valueFrom")) or {}
    return DEnvVar(
        mark=d.mark(node),
        marks=_marks(d, found),
        name=d.string(found.get("name"), f"{path}.name"),
        value=d.string(found.get("value"), f"{path}.value"),
        value_from=_value_from(d, found.get("valueFrom"), f"{path}.valueFrom"),
    )


def _file_var(d: _Decoder, node: Node, path: str) -> DFileVar:
    found = d.fields(node, path, ("name", "mountPath", "value", "valueFrom")) or {}
    return DFileVar(
        mark=d.mark(node),
        marks=_marks(d, found),
        name=d.string(found.get("name"), f"{path}.name"),
        mount_path=d.string(found.get("mountPath"), f"{path}.mountPath"),
        value=d.string(found.get("value"), f"{path}.value"),
        value_from=_value_from(d, found.get("valueFrom"), f"{path}.valueFrom"),
    )


def parse_descriptor(
    text: str, file: str, *, read_connections: bool, warn: Warn, loader_class: type[yaml.SafeLoader] | None = None
) -> Descriptor:
    """Decode descriptor text. `read_connections` selects the 0.17 shape (top-level `connections`, no
    `dependencies`) instead of the 1.x one. Warnings (unknown keys, extra documents) go to `warn`."""
    parsed = compose_first_document(text, file, warn, loader_class)
    top = Mark(file, 1)
    if parsed.root is None:
        return Descriptor(file=file, mark=top)
    root = parsed.root
    descriptor = _decode(parsed, root, file, read_connections=read_connections, warn=warn)
    return descriptor


def parse_descriptor_bytes(raw: bytes, file: str, *, read_connections: bool, warn: Warn) -> Descriptor:
    """`parse_descriptor` on the file's bytes (UTF-8, or UTF-16 with a byte order mark)."""
    return parse_descriptor(_decode_text(raw, file), file, read_connections=read_connections, warn=warn)


def _decode(parsed: Parsed, root: Node, file: str, *, read_connections: bool, warn: Warn) -> Descriptor:
    top = Mark(file, 1)
    if read_connections:
        hints = {
            "dependencies": "the openchoreo-0.17 profile reads top-level `connections`; "
            "`dependencies` is the 1.x shape",
        }
    else:
        hints = {
            "connections": "0.17-style `connections` is ignored by occ >= 1.0; use dependencies.endpoints",
        }
    hints["container"] = "occ never reads container (image, command, args) from the descriptor"
    d = _Decoder(file, warn, hints, parsed)
    try:
        return _decode_fields(d, root, file, top, read_connections=read_connections)
    finally:
        hidden = d.unknown_count - MAX_UNKNOWN_KEY_WARNINGS
        if hidden > 0:
            warn(f"{file}: {hidden} more unknown key(s) not shown (ignored as occ does)")


def _decode_fields(d: _Decoder, root: Node, file: str, top: Mark, *, read_connections: bool) -> Descriptor:
    top_known = ["apiVersion", "metadata", "endpoints", "configurations"]
    top_known.append("connections" if read_connections else "dependencies")
    found = d.fields(root, "", top_known)
    if found is None:
        return Descriptor(file=file, mark=top)
    descriptor = Descriptor(file=file, mark=d.mark(root), marks=_marks(d, found))
    descriptor.api_version = d.string(found.get("apiVersion"), "apiVersion")
    if "metadata" in found:
        metadata = d.fields(found["metadata"], "metadata", ("name",)) or {}
        descriptor.metadata_name = d.string(metadata.get("name"), "metadata.name")
    descriptor.endpoints = [
        _endpoint(d, item, f"endpoints[{i}]") for i, item in enumerate(d.seq(found.get("endpoints"), "endpoints"))
    ]
    if read_connections:
        descriptor.connections = [
            _endpoint_dependency(d, item, f"connections[{i}]", "endpoint")
            for i, item in enumerate(d.seq(found.get("connections"), "connections"))
        ]
    elif "dependencies" in found:
        deps = d.fields(found["dependencies"], "dependencies", ("endpoints", "resources")) or {}
        descriptor.dependency_endpoints = [
            _endpoint_dependency(d, item, f"dependencies.endpoints[{i}]", "name")
            for i, item in enumerate(d.seq(deps.get("endpoints"), "dependencies.endpoints"))
        ]
        descriptor.dependency_resources = [
            _resource(d, item, f"dependencies.resources[{i}]")
            for i, item in enumerate(d.seq(deps.get("resources"), "dependencies.resources"))
        ]
        for name in ("endpoints", "resources"):
            if name in deps:
                descriptor.marks[f"dependencies.{name}"] = d.mark(deps[name])
    if "configurations" in found:
        config = d.fields(found["configurations"], "configurations", ("env", "files")) or {}
        descriptor.env = [
            _env_var(d, item, f"configurations.env[{i}]")
            for i, item in enumerate(d.seq(config.get("env"), "configurations.env"))
        ]
        descriptor.files = [
            _file_var(d, item, f"configurations.files[{i}]")
            for i, item in enumerate(d.seq(config.get("files"), "configurations.files"))
        ]
    return descriptor
