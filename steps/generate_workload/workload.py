"""Descriptor -> Workload model, following `occ workload create` (contract §3.4) for the target profile.

occ's own checks keep occ's exact messages (visibility values, dependency fields, resource bindings, unreadable
schema/config files). Where occ would pass something the target CRD rejects, we fail here instead, naming the field
and file:line (see the README's table of differences). Warnings go to `warn`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from steps.generate_workload import safefs
from steps.generate_workload.descriptor import (
    DEndpoint,
    DEndpointDependency,
    DEnvVar,
    Descriptor,
    DescriptorError,
    DFileVar,
    DResource,
    DValueFrom,
    Located,
    Mark,
)
from steps.generate_workload.model import (
    MAX_BINDINGS,
    MAX_LIST_ITEMS,
    Container,
    Endpoint,
    EndpointDependency,
    EnvBindings,
    EnvVar,
    FileVar,
    Profile,
    ResourceDependency,
    Schema,
    SecretKeyRef,
    Workload,
)

Warn = Callable[[str], None]
PORT_MIN, PORT_MAX = 1, 65535


@dataclass(frozen=True)
class Params:
    namespace: str
    project: str
    component: str
    image: str


@dataclass(frozen=True)
class FileReader:
    """Reads the files a descriptor names (schemaFile, valueFrom.path), relative to the descriptor's directory,
    and only inside `root` (the source checkout): a path that escapes it, also through a symlink, is refused."""

    root: Path
    base_dir: Path
    max_bytes: int

    def display(self, path: str) -> str:
        try:
            return os.path.relpath(path, self.root)
        except ValueError:
            return path

    def read(self, relative: str, mark: Mark, field: str, what: str) -> str:
        # Go's filepath.Join(dir, p) joins and cleans lexically, so an absolute `p` stays under dir.
        joined = os.path.normpath(os.path.join(str(self.base_dir), relative.lstrip("/")))
        root = os.path.normpath(str(self.root))
        shown = f"{relative!r}"
        if "\0" in relative:
            raise DescriptorError(mark, field, f"{shown} contains a NUL character; refusing to read it")
        if os.path.commonpath([root, joined]) != root:
            raise DescriptorError(mark, field, f"{shown} resolves outside the source root; refusing to read it")
        real = os.path.realpath(joined)
        real_root = os.path.realpath(root)
        if os.path.commonpath([real_root, real]) != real_root:
            raise DescriptorError(
                mark, field, f"{shown} is a symlink that leads outside the source root; refusing to read it"
            )
        try:
            data = safefs.read_regular(real, self.max_bytes)
        except safefs.TooLarge as error:
            raise DescriptorError(
                mark, field, f"{what} {self.display(joined)} is {error.size} bytes, above --max-bytes {self.max_bytes}"
            ) from None
        except OSError as error:
            raise DescriptorError(
                mark, field, f"failed to read {what} {self.display(joined)}: {safefs.reason(error)}"
            ) from None
        # Go keeps the bytes; encoding/json turns invalid UTF-8 into U+FFFD when the CR is written.
        return data.decode("utf-8", errors="replace")


def _quote(value: str) -> str:
    """Go's %q for the strings in occ's messages (printable text; escapes like strconv.Quote)."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not char.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _choices(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(values) + "]"


class Converter:
    def __init__(self, descriptor: Descriptor, params: Params, profile: Profile, files: FileReader, warn: Warn):
        self.d = descriptor
        self.params = params
        self.profile = profile
        self.files = files
        self.warn = warn

    # -- endpoints -------------------------------------------------------------------------------------------------

    def endpoints(self) -> dict[str, Endpoint]:
        result: dict[str, Endpoint] = {}
        first_seen: dict[str, tuple[int, Mark]] = {}
        for index, item in enumerate(self.d.endpoints):
            path = f"endpoints[{index}]"
            visibility = self._endpoint_visibility(item, path)
            if not item.name:
                raise DescriptorError(
                    item.at("name"), f"{path}.name", "is required: it becomes the key of spec.endpoints"
                )
            if item.name in first_seen:
                other, mark = first_seen[item.name]
                raise DescriptorError(
                    item.at("name"),
                    f"{path}.name",
                    f"duplicate endpoint name {_quote(item.name)} (also endpoints[{other}] at line {mark.line}); "
                    "occ would silently keep only the last one",
                )
            first_seen[item.name] = (index, item.at("name"))
            endpoint_type = self._endpoint_type(item, path)
            port = self._port(item.port, item.at("port"), f"{path}.port", required=True)
            target_port = self._port(item.target_port, item.at("targetPort"), f"{path}.targetPort", required=False)
            schema: Schema | None = None
            if item.schema_file:
                content = self.files.read(item.schema_file, item.at("schemaFile"), f"{path}.schemaFile", "schema file")
                schema = Schema(type=self.profile.schema_type(endpoint_type), content=content)
            result[item.name] = Endpoint(
                type=endpoint_type,
                port=port,
                target_port=target_port,
                display_name=item.display_name,
                base_path=item.base_path,
                visibility=visibility,
                schema=schema,
            )
        return result

    def _endpoint_visibility(self, item: DEndpoint, path: str) -> list[str]:
        values: list[str] = []
        seen: dict[str, int] = {}
        allowed = self.profile.endpoint_visibilities
        for position, entry in enumerate(item.visibility):
            if entry.value not in allowed:
                raise DescriptorError(
                    entry.mark,
                    f"{path}.visibility[{position}]",
                    f"invalid endpoint visibility {_quote(entry.value)} for endpoint {_quote(item.name)}: "
                    "must be one of [project, namespace, internal, external]",
                )
            if entry.value in seen:
                raise DescriptorError(
                    entry.mark,
                    f"{path}.visibility[{position}]",
                    f"duplicate visibility {_quote(entry.value)} (also visibility[{seen[entry.value]}]): "
                    "the CRD declares this list a set",
                )
            seen[entry.value] = position
            values.append(entry.value)
        return values

    def _endpoint_type(self, item: DEndpoint, path: str) -> str:
        value = item.type
        allowed = self.profile.endpoint_types
        if value == "REST" and "REST" not in allowed:
            self.warn(
                f"{item.at('type')}: {path}.type: REST is not an endpoint type in {self.profile.name} "
                "(removed in OpenChoreo 1.0); using HTTP"
            )
            return "HTTP"
        if value in allowed:
            return value
        if not value:
            raise DescriptorError(item.at("type"), f"{path}.type", f"is required: one of {_choices(allowed)}")
        hint = next((choice for choice in allowed if choice.lower() == value.lower()), None)
        suffix = f' (did you mean "{hint}"? types are case-sensitive)' if hint else ""
        raise DescriptorError(
            item.at("type"),
            f"{path}.type",
            f"{_quote(value)} is not one of {_choices(allowed)} in {self.profile.name}{suffix}",
        )

    @staticmethod
    def _port(value: int | None, mark: Mark, path: str, *, required: bool) -> int:
        if value is None or (value == 0 and not required):
            if required:
                raise DescriptorError(mark, path, f"is required: must be {PORT_MIN}..{PORT_MAX}")
            return 0
        if not PORT_MIN <= value <= PORT_MAX:
            raise DescriptorError(mark, path, f"must be {PORT_MIN}..{PORT_MAX}, got {value}")
        return value

    # -- dependencies ----------------------------------------------------------------------------------------------

    def endpoint_dependencies(self) -> list[EndpointDependency]:
        connections = self.profile.dependencies_field == "connections"
        items = self.d.connections if connections else self.d.dependency_endpoints
        section = "connections" if connections else "dependencies.endpoints"
        label = "connection" if connections else "dependency endpoint"
        target = self.profile.dependency_target_field
        if len(items) > MAX_LIST_ITEMS:
            raise DescriptorError(
                self.d.at(section), section, f"at most {MAX_LIST_ITEMS} entries (CRD maxItems), got {len(items)}"
            )
        result: list[EndpointDependency] = []
        for index, item in enumerate(items):
            result.append(self._endpoint_dependency(item, index, f"{section}[{index}]", label, target))
        return result

    def _endpoint_dependency(
        self, item: DEndpointDependency, index: int, path: str, label: str, target: str
    ) -> EndpointDependency:
        prefix = f"{label}[{index}]"
        if not item.component:
            raise DescriptorError(item.at("component"), f"{path}.component", f"{prefix}: component is required")
        who = f"{prefix} (component {_quote(item.component)})"
        if not item.name:
            raise DescriptorError(item.at("name"), f"{path}.{target}", f"{who}: {target} is required")
        if not item.visibility:
            raise DescriptorError(item.at("visibility"), f"{path}.visibility", f"{who}: visibility is required")
        allowed = self.profile.dependency_visibilities
        if item.visibility not in allowed:
            raise DescriptorError(
                item.at("visibility"),
                f"{path}.visibility",
                f"invalid {label} visibility {_quote(item.visibility)} for component {_quote(item.component)} "
                f"endpoint {_quote(item.name)}: must be one of {_choices(allowed)}",
            )
        bindings = EnvBindings()
        if item.env_bindings is not None:
            source = item.env_bindings
            bindings = EnvBindings(source.address, source.host, source.port, source.base_path)
        return EndpointDependency(
            component=item.component,
            name=item.name,
            visibility=item.visibility,
            project=item.project,
            env_bindings=bindings,
        )

    def resources(self) -> list[ResourceDependency]:
        items = self.d.dependency_resources
        if not self.profile.has_resources:
            return []
        if len(items) > MAX_LIST_ITEMS:
            raise DescriptorError(
                self.d.at("dependencies.resources"),
                "dependencies.resources",
                f"at most {MAX_LIST_ITEMS} entries (CRD maxItems), got {len(items)}",
            )
        result: list[ResourceDependency] = []
        refs: dict[str, int] = {}
        for index, item in enumerate(items):
            result.append(self._resource(item, index, refs))
        return result

    def _resource(self, item: DResource, index: int, refs: dict[str, int]) -> ResourceDependency:
        path = f"dependencies.resources[{index}]"
        if not item.ref:
            raise DescriptorError(item.at("ref"), f"{path}.ref", f"dependency resource[{index}]: ref is required")
        if item.ref in refs:
            raise DescriptorError(
                item.at("ref"),
                f"{path}.ref",
                f"duplicate resource ref {_quote(item.ref)} (also dependency resource[{refs[item.ref]}]): "
                "the CRD keys this list by ref",
            )
        refs[item.ref] = index
        bindings: dict[str, dict[str, str]] = {}
        for name, source, what in (
            ("envBindings", item.env_bindings, "values (env var names)"),
            ("fileBindings", item.file_bindings, "values (mount paths)"),
        ):
            bindings[name] = self._bindings(source, item, index, path, name=name, what=what)
        return ResourceDependency(
            ref=item.ref, env_bindings=bindings["envBindings"], file_bindings=bindings["fileBindings"]
        )

    @staticmethod
    def _bindings(
        source: dict[str, Located] | None, item: DResource, index: int, path: str, *, name: str, what: str
    ) -> dict[str, str]:
        if not source:
            return {}
        for key, entry in source.items():
            if not key or not entry.value:
                raise DescriptorError(
                    entry.mark,
                    f"{path}.{name}",
                    f"dependency resource[{index}] (ref {_quote(item.ref)}): {name} keys (output names) and "
                    f"{what} cannot be empty",
                )
        if len(source) > MAX_BINDINGS:
            raise DescriptorError(
                item.at(name),
                f"{path}.{name}",
                f"at most {MAX_BINDINGS} entries (CRD maxProperties), got {len(source)}",
            )
        return {key: entry.value for key, entry in source.items()}

    # -- configurations --------------------------------------------------------------------------------------------

    def _secret(self, value_from: DValueFrom, path: str) -> SecretKeyRef | None:
        ref = value_from.secret_key_ref
        if ref is None:
            return None
        for name, value in (("name", ref.name), ("key", ref.key)):
            if not value:
                raise DescriptorError(
                    ref.at(name), f"{path}.valueFrom.secretKeyRef.{name}", "is required: must not be empty"
                )
        return SecretKeyRef(name=ref.name, key=ref.key)

    def _xor_required(self, item: DEnvVar | DFileVar, path: str) -> None:
        alternatives = " or valueFrom.path" if isinstance(item, DFileVar) else ""
        if self.profile.value_xor_required:
            raise DescriptorError(
                item.mark,
                path,
                f"needs a non-empty value or valueFrom.secretKeyRef{alternatives}: "
                f"the {self.profile.name} CRD requires exactly one of value or valueFrom",
            )

    def env(self) -> list[EnvVar]:
        result: list[EnvVar] = []
        for index, item in enumerate(self.d.env):
            path = f"configurations.env[{index}]"
            if not item.name:
                self.warn(f'{item.at("name")}: {path}.name: empty; the CR gets key "" (as with occ)')
            value_from = item.value_from
            secret = self._secret(value_from, path) if value_from else None
            if value_from is not None and value_from.path:
                self.warn(
                    f"{value_from.at('path')}: {path}.valueFrom.path: ignored for env vars, as occ does "
                    "(only files read valueFrom.path)"
                )
            if secret is not None:
                if item.value:
                    raise DescriptorError(
                        item.at("value"),
                        path,
                        "both value and valueFrom.secretKeyRef are set; set only one (occ would silently drop value)",
                    )
                result.append(EnvVar(key=item.name, secret=secret))
            elif item.value:
                result.append(EnvVar(key=item.name, value=item.value))
            else:
                self._xor_required(item, path)
                result.append(EnvVar(key=item.name))
        return result

    def files_(self) -> list[FileVar]:
        result: list[FileVar] = []
        for index, item in enumerate(self.d.files):
            path = f"configurations.files[{index}]"
            for name, value in (("name", item.name), ("mountPath", item.mount_path)):
                if not value:
                    self.warn(f"{item.at(name)}: {path}.{name}: empty (occ writes it as is)")
            value_from = item.value_from
            secret = self._secret(value_from, path) if value_from else None
            file_path = value_from.path if value_from else ""
            if item.value and (secret is not None or file_path):
                source = "valueFrom.secretKeyRef" if secret is not None else "valueFrom.path"
                raise DescriptorError(
                    item.at("value"),
                    path,
                    f"both value and {source} are set; set only one (occ would silently drop value)",
                )
            if secret is not None:
                if file_path and value_from is not None:
                    self.warn(
                        f"{value_from.at('path')}: {path}.valueFrom.path: ignored because secretKeyRef is set "
                        "(occ's priority: secretKeyRef > path > value)"
                    )
                result.append(FileVar(key=item.name, mount_path=item.mount_path, secret=secret))
                continue
            if file_path and value_from is not None:
                content = self.files.read(file_path, value_from.at("path"), f"{path}.valueFrom.path", "file")
                if not content:
                    self._xor_required(item, path)
                result.append(FileVar(key=item.name, mount_path=item.mount_path, value=content))
                continue
            if not item.value:
                self._xor_required(item, path)
            result.append(FileVar(key=item.name, mount_path=item.mount_path, value=item.value))
        return result

    # -- the whole workload ----------------------------------------------------------------------------------------

    def convert(self) -> Workload:
        # occ's order: endpoints, then dependencies, then configurations.
        endpoints = self.endpoints()
        dependencies = self.endpoint_dependencies()
        resources = self.resources()
        env = self.env()
        files = self.files_()
        return Workload(
            name=workload_name(self.params.component),
            namespace=self.params.namespace,
            project=self.params.project,
            component=self.params.component,
            container=Container(image=self.params.image, env=env, files=files),
            endpoints=endpoints,
            dependencies=dependencies,
            resources=resources,
        )


def workload_name(component: str) -> str:
    return f"{component}-workload"


def basic_workload(params: Params) -> Workload:
    """occ's CreateBasicWorkload: metadata, owner and container.image only."""
    return Workload(
        name=workload_name(params.component),
        namespace=params.namespace,
        project=params.project,
        component=params.component,
        container=Container(image=params.image),
    )


def convert(descriptor: Descriptor, params: Params, profile: Profile, files: FileReader, warn: Warn) -> Workload:
    return Converter(descriptor, params, profile, files, warn).convert()
