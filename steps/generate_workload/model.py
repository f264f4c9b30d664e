"""The typed Workload model and the two target profiles. Data flows one way: descriptor -> this model -> CR dict.

A `Workload` holds what `occ workload create` puts into the CR; `to_cr()` renders it in the shape of the target
OpenChoreo version (`Profile`). Field omission follows the Go `omitempty` tags, so the CR has the same keys occ writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from steps.common import contract

API_VERSION = contract.OPENCHOREO_API_VERSION
KIND = contract.WORKLOAD_KIND
MAX_LIST_ITEMS = 50
MAX_BINDINGS = 50


@dataclass(frozen=True)
class Profile:
    """One targeted OpenChoreo version: the shape of the Workload CR and the CRD rules that apply to it."""

    name: str
    crd_version: str
    endpoint_types: tuple[str, ...]
    endpoint_visibilities: tuple[str, ...]
    dependency_visibilities: tuple[str, ...]
    secret_ref_field: str  # the CR's env/file valueFrom key
    dependencies_field: str  # "dependencies" (dependencies.endpoints) or "connections" (top level)
    dependency_target_field: str  # "name" (1.x) or "endpoint" (0.17)
    value_xor_required: bool  # CEL: exactly one of value/valueFrom (0.17) instead of "not both" (1.x)
    derive_schema_type: bool  # schema.type from the protocol (occ >= 1.2) or the endpoint type verbatim
    has_resources: bool
    secret_ref_min_length: bool

    def schema_type(self, endpoint_type: str) -> str:
        if not self.derive_schema_type:
            return endpoint_type
        return {"HTTP": "openapi", "gRPC": "proto", "GraphQL": "graphql"}.get(endpoint_type, "")


PROFILE_1X = Profile(
    name="openchoreo-1.x",
    crd_version="v1.2.3",
    endpoint_types=("HTTP", "gRPC", "GraphQL", "Websocket", "TCP", "UDP"),
    endpoint_visibilities=("project", "namespace", "internal", "external"),
    dependency_visibilities=("project", "namespace"),
    secret_ref_field="secretKeyRef",
    dependencies_field="dependencies",
    dependency_target_field="name",
    value_xor_required=False,
    derive_schema_type=True,
    has_resources=True,
    secret_ref_min_length=True,
)

PROFILE_017 = Profile(
    name="openchoreo-0.17",
    crd_version="v0.17.0",
    endpoint_types=("HTTP", "REST", "gRPC", "GraphQL", "Websocket", "TCP", "UDP"),
    endpoint_visibilities=("project", "namespace", "internal", "external"),
    dependency_visibilities=("project", "namespace", "internal"),
    secret_ref_field="secretRef",
    dependencies_field="connections",
    dependency_target_field="endpoint",
    value_xor_required=True,
    derive_schema_type=False,
    has_resources=False,
    secret_ref_min_length=False,
)

PROFILES: dict[str, Profile] = {profile.name: profile for profile in (PROFILE_1X, PROFILE_017)}


@dataclass(frozen=True)
class SecretKeyRef:
    name: str
    key: str

    def to_cr(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key}


def _value_or_secret(value: str, secret: SecretKeyRef | None, profile: Profile) -> dict[str, Any]:
    """occ's priority: a secret reference wins, else a non-empty value, else neither (Go `omitempty`)."""
    if secret is not None:
        return {"valueFrom": {profile.secret_ref_field: secret.to_cr()}}
    return {"value": value} if value else {}


@dataclass
class EnvVar:
    key: str
    value: str = ""
    secret: SecretKeyRef | None = None

    def to_cr(self, profile: Profile) -> dict[str, Any]:
        return {"key": self.key, **_value_or_secret(self.value, self.secret, profile)}


@dataclass
class FileVar:
    key: str
    mount_path: str
    value: str = ""
    secret: SecretKeyRef | None = None

    def to_cr(self, profile: Profile) -> dict[str, Any]:
        return {"key": self.key, "mountPath": self.mount_path, **_value_or_secret(self.value, self.secret, profile)}


@dataclass
class Schema:
    type: str
    content: str

    def to_cr(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.type:
            out["type"] = self.type
        if self.content:
            out["content"] = self.content
        return out


@dataclass
class Endpoint:
    type: str
    port: int
    target_port: int = 0
    display_name: str = ""
    base_path: str = ""
    visibility: list[str] = field(default_factory=list)
    schema: Schema | None = None

    def to_cr(self) -> dict[str, Any]:
        out: dict[str, Any] = {"port": self.port, "type": self.type}
        if self.target_port:
            out["targetPort"] = self.target_port
        if self.display_name:
            out["displayName"] = self.display_name
        if self.base_path:
            out["basePath"] = self.base_path
        if self.visibility:
            out["visibility"] = list(self.visibility)
        if self.schema is not None:
            out["schema"] = self.schema.to_cr()
        return out


@dataclass
class EnvBindings:
    address: str = ""
    host: str = ""
    port: str = ""
    base_path: str = ""

    def to_cr(self) -> dict[str, Any]:
        pairs = (("address", self.address), ("host", self.host), ("port", self.port), ("basePath", self.base_path))
        return {name: value for name, value in pairs if value}


@dataclass
class EndpointDependency:
    """A consumed endpoint of another component: `dependencies.endpoints[]` (1.x) or `connections[]` (0.17)."""

    component: str
    name: str
    visibility: str
    project: str = ""
    env_bindings: EnvBindings = field(default_factory=EnvBindings)

    def to_cr(self, profile: Profile) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.project:
            out["project"] = self.project
        out["component"] = self.component
        out[profile.dependency_target_field] = self.name
        out["visibility"] = self.visibility
        out["envBindings"] = self.env_bindings.to_cr()  # always written: the Go field has no omitempty
        return out


@dataclass
class ResourceDependency:
    ref: str
    env_bindings: dict[str, str] = field(default_factory=dict)
    file_bindings: dict[str, str] = field(default_factory=dict)

    def to_cr(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ref": self.ref}
        if self.env_bindings:
            out["envBindings"] = dict(self.env_bindings)
        if self.file_bindings:
            out["fileBindings"] = dict(self.file_bindings)
        return out


@dataclass
class Container:
    image: str
    env: list[EnvVar] = field(default_factory=list)
    files: list[FileVar] = field(default_factory=list)

    def to_cr(self, profile: Profile) -> dict[str, Any]:
        out: dict[str, Any] = {"image": self.image}
        if self.env:
            out["env"] = [item.to_cr(profile) for item in self.env]
        if self.files:
            out["files"] = [item.to_cr(profile) for item in self.files]
        return out


@dataclass
class Workload:
    name: str
    namespace: str
    project: str
    component: str
    container: Container
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    dependencies: list[EndpointDependency] = field(default_factory=list)
    resources: list[ResourceDependency] = field(default_factory=list)

    def to_cr(self, profile: Profile) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "owner": {"projectName": self.project, "componentName": self.component},
            "container": self.container.to_cr(profile),
        }
        if self.endpoints:
            spec["endpoints"] = {name: endpoint.to_cr() for name, endpoint in self.endpoints.items()}
        dependencies = [item.to_cr(profile) for item in self.dependencies]
        if profile.dependencies_field == "connections":
            if dependencies:
                spec["connections"] = dependencies
        else:
            block: dict[str, Any] = {}
            if dependencies:
                block["endpoints"] = dependencies
            if self.resources and profile.has_resources:
                block["resources"] = [item.to_cr() for item in self.resources]
            if block:
                spec["dependencies"] = block
        metadata: dict[str, Any] = {"name": self.name}
        if self.namespace:
            metadata["namespace"] = self.namespace
        return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}

    def summary(self) -> str:
        def count(n: int, noun: str) -> str:
            return f"{n} {noun}{'' if n == 1 else 's'}"

        parts = [
            count(len(self.endpoints), "endpoint"),
            count(len(self.container.env), "env var"),
            count(len(self.container.files), "file"),
            count(len(self.dependencies), "endpoint dependency"),
        ]
        if self.resources:
            parts.append(count(len(self.resources), "resource dependency"))
        return ", ".join(parts).replace("dependencys", "dependencies")
