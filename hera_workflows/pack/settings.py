"""Pack settings for platform teams: a YAML file plus `--set key=value` overrides (dotted keys).

    python -m hera_workflows render --config pack-settings.yaml --set images.registry=registry.example.com/ci \\
        --set steps.build.resources.memory_limit=8Gi --set publish.tls_verify=false

Every model forbids unknown keys, so a typo is an error that names the field and where it came from
(`pack-settings.yaml:12: images.regsitry: unknown setting` or `--set images.regsitry=...: ...`).
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from steps.common import contract

BuildType = Literal["dockerfile", "paketo-buildpacks", "gcp-buildpacks", "ballerina-buildpack", "react"]
BUILD_TYPES: tuple[BuildType, ...] = (
    "dockerfile",
    "paketo-buildpacks",
    "gcp-buildpacks",
    "ballerina-buildpack",
    "react",
)
StepImage = Literal["checkout", "build", "publish-image", "generate-workload", "gitops-publish"]
Profile = Literal["openchoreo-1.x", "openchoreo-0.17"]
ApiMode = Literal["auto", "workloads", "legacy", "off"]
BuildIsolation = Literal["user-namespace", "privileged", "none"]
LayerCompression = Literal["gzip", "zstd"]  # steps/common/compression.py LAYER_COMPRESSIONS
HandoffFormat = Literal["oci-layout", "oci-archive"]  # steps/build/options.py HANDOFF_FORMATS

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$"
_DNS_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DURATION = r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"

Quantity = Annotated[str, Field(pattern=_QUANTITY)]
SecretName = Annotated[str, Field(pattern=_DNS_NAME, max_length=253)]
Seconds = Annotated[int, Field(gt=0)]


# Defaults that match a default OpenChoreo v1.2 install (Helm chart `openchoreo-control-plane` in namespace
# openchoreo-control-plane: Service `openchoreo-api`, port 8080; ThunderID in namespace `thunder`: Service
# `thunder-service`, port 8090; the workload-publisher OAuth client the chart's authz values bind).
DEFAULT_PUBLISH_REGISTRY = "ttl.sh/openchoreo-builds"
DEFAULT_API_SERVER_URL = "http://openchoreo-api.openchoreo-control-plane.svc.cluster.local:8080"
DEFAULT_OAUTH_TOKEN_URL = "http://thunder-service.thunder.svc.cluster.local:8090/oauth2/token"
DEFAULT_OAUTH_CLIENT_ID = "openchoreo-workload-publisher-client"
DEFAULT_CLIENT_SECRET_REMOTE_KEY = "workload-publisher-oauth-client-secret"
DEFAULT_API_CA_REMOTE_KEY = "openchoreo-api-ca"


class SettingsError(Exception):
    """Invalid settings: the message names each bad field and where it was set."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, str_strip_whitespace=True)


class ResourceSettings(_Model):
    """Container requests and limits (Kubernetes quantities; null leaves one unset)."""

    cpu_request: Quantity | None = Field(default="100m", description="CPU request")
    cpu_limit: Quantity | None = Field(default="1", description="CPU limit")
    memory_request: Quantity | None = Field(default="128Mi", description="memory request")
    memory_limit: Quantity | None = Field(default="512Mi", description="memory limit")
    ephemeral_storage_request: Quantity | None = Field(default=None, description="ephemeral-storage request")
    ephemeral_storage_limit: Quantity | None = Field(default=None, description="ephemeral-storage limit")


class StepSettings(_Model):
    """Resources and deadline of one step template."""

    resources: ResourceSettings = ResourceSettings()
    active_deadline_seconds: Seconds = Field(default=900, description="activeDeadlineSeconds of the step's Pod")
    tmp_size_limit: Quantity = Field(default="1Gi", description="sizeLimit of the /tmp emptyDir")


def _step(cpu: tuple[str, str], memory: tuple[str, str], deadline: int, tmp: str = "1Gi") -> StepSettings:
    return StepSettings(
        resources=ResourceSettings(
            cpu_request=cpu[0], cpu_limit=cpu[1], memory_request=memory[0], memory_limit=memory[1]
        ),
        active_deadline_seconds=deadline,
        tmp_size_limit=tmp,
    )


class StepsSettings(_Model):
    """Resources and timeouts per step template."""

    checkout: StepSettings = _step(("100m", "1"), ("128Mi", "512Mi"), 900)
    build: StepSettings = _step(("500m", "4"), ("1Gi", "8Gi"), 3600, tmp="2Gi")
    buildpacks: StepSettings = _step(("500m", "4"), ("1Gi", "8Gi"), 3600, tmp="2Gi")
    publish_image: StepSettings = _step(("100m", "1"), ("128Mi", "512Mi"), 1800)
    generate_workload: StepSettings = _step(("50m", "500m"), ("64Mi", "256Mi"), 600)
    gitops_publish: StepSettings = _step(("100m", "1"), ("128Mi", "512Mi"), 900)


class ImageSettings(_Model):
    """Step images: `<registry>/<repository>:<tag>[@<digest>]`."""

    registry: str = Field(default=contract.IMAGE_REGISTRY, description="registry/path the step images are pulled from")
    tag: str = Field(default=contract.IMAGE_TAG, description="tag of every step image")
    tags: dict[StepImage, str] = Field(default={}, description="tag per step image (overrides `tag`)")
    digests: dict[StepImage, str] = Field(
        default={},
        description="digest per step image (`sha256:...`), appended as `@digest`; `images build --push` writes them",
    )
    pull_policy: Literal["IfNotPresent", "Always", "Never"] = Field(
        default="IfNotPresent", description="imagePullPolicy of every step container"
    )

    @field_validator("digests")
    @classmethod
    def _digests(cls, value: dict[str, str]) -> dict[str, str]:
        for repo, digest in value.items():
            if not _DIGEST.match(digest):
                raise ValueError(f"{repo}: expected sha256:<64 hex>, got {digest!r}")
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        if not value or "://" in value or value.endswith("/"):
            raise ValueError("expected host[:port][/path] without scheme or trailing slash")
        return value


class BuildSettings(_Model):
    """Containerfile build (buildah)."""

    storage_size_limit: Quantity = Field(
        default="10Gi", description="sizeLimit of buildah's storage and /var/tmp emptyDirs"
    )
    cache_repo: str = Field(default="", description="default registry repository for the layer cache (empty: no cache)")
    user_namespace: bool = Field(
        default=True, description='render podSpecPatch {"hostUsers": false} (Kubernetes >= 1.33)'
    )
    isolation: BuildIsolation = Field(
        default="user-namespace",
        description="what isolates the build's root: `user-namespace` (the step refuses to run outside one), "
        "`privileged` (OpenChoreo's own fallback: privileged: true, no check) or `none` (no check: trusted "
        "nodes or a sandboxed runtime class such as gVisor/Kata)",
    )
    apparmor_unconfined: bool = Field(
        default=False, description="appArmorProfile Unconfined on the build container (needed on Ubuntu/AppArmor nodes)"
    )
    avoidance: bool = Field(
        default=True,
        description="build avoidance: skip the build when the target repository holds `build-<key>` for the same "
        "inputs (git trees, build args/env, platform, base digests), only when every input can be pinned; "
        "publish-image then tags that manifest registry-side. The pull Secret must be able to read the target "
        "repository. Per run: parameter `build-avoidance`",
    )
    handoff_format: HandoffFormat = Field(
        default="oci-layout",
        description="how build-image hands the image to publish-image on the workspace: `oci-layout` (an OCI layout "
        "directory `app-image.oci`, linked from `app-image.tar`: each layer written once and pushed from where it "
        "lies) or `oci-archive` (one tar file `app-image.tar`, for a platform's own publish step that loads a file "
        "with `podman load`, which names the image from it)",
    )


class BuilderImages(_Model):
    """A CNB builder and its run image, and the builder's CNB_USER_ID/CNB_GROUP_ID.

    The lifecycle switches to CNB_USER_ID/CNB_GROUP_ID (setresuid) unless it already runs as them, so the
    build-image pod runs as exactly that uid/gid: no capability is needed. `uid`/`gid` unset: the pack's
    `security.run_as_user`/`run_as_group` (right only for a builder made for it, like the local test builder)."""

    builder: str = Field(description="builder image, pinned by digest")
    run_image: str = Field(description="run image, pinned by digest")
    uid: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="the builder's CNB_USER_ID (the build-image pod runs as it); unset: security.run_as_user",
    )
    gid: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="the builder's CNB_GROUP_ID; unset: security.run_as_group"
    )
    run_image_tls_verify: bool = Field(default=True, description="verify TLS when copying the run image")

    @field_validator("builder", "run_image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if "@" in value and not _DIGEST.match(value.split("@", 1)[1]):
            raise ValueError(f"bad digest in {value!r}")
        if "@" not in value and ":" not in value.rsplit("/", 1)[-1]:
            raise ValueError(f"pin {value!r} by tag or digest")
        return value


# Per flavor, what the pack ships; a settings file or --set changing one key of a flavor keeps the others.
_BUILDER_DEFAULTS: dict[str, dict[str, Any]] = {
    "paketo": {
        "builder": "docker.io/paketobuildpacks/builder-jammy-full"
        "@sha256:9824e8d6e79f0b01f422dfd4062347a451956a1439cfe7874c42ca88418901dc",
        "run_image": "docker.io/paketobuildpacks/run-jammy-full"
        "@sha256:84a29ab400de17994da1270742de91718658dfbe4713cae9b765f0c9e1062eac",
        "uid": 1001,
        "gid": 1000,
    },
    "gcp": {
        "builder": "gcr.io/buildpacks/builder@sha256:5977b4bd47d3e9ff729eefe9eb99d321d4bba7aa3b14986323133f40b622aef1",
        "run_image": "gcr.io/buildpacks/google-22/run"
        "@sha256:a8ccb6641b4d98b0adf6397f954e7194611d1ae61310f0561f1c00fdf7f9ba96",
        "uid": 1000,
        "gid": 1000,
    },
    "ballerina": {
        "builder": "ghcr.io/openchoreo/buildpack/ballerina"
        "@sha256:4615d47b43885210b2ae9a9b6f327cd8c10165a2d5af8e13dce6fcfefeae8a0d",
        "run_image": "ghcr.io/openchoreo/buildpack/ballerina"
        "@sha256:121499416443e19dcb43a22e7acfa246d29427a978a43b29b5b4e7a8385b222c",
    },
}


class BuildpacksSettings(_Model):
    """Cloud Native Buildpacks builders (lifecycle creator, OCI layout export; no daemon, no privileges).

    Builder and run images are pinned by the digests OpenChoreo pins (samples/getting-started/workflow-templates).
    uid/gid: the builder's CNB_USER_ID/CNB_GROUP_ID (Paketo jammy-full: build uid 1001, gid 1000 in the stack's
    stack.toml; Google: 1000/1000 in its base stack; Ballerina: not known here, set it)."""

    paketo: BuilderImages = Field(
        default=BuilderImages(**_BUILDER_DEFAULTS["paketo"]),
        description="Paketo (paketo-buildpacks-build) builder, run image and uid/gid",
    )
    gcp: BuilderImages = Field(
        default=BuilderImages(**_BUILDER_DEFAULTS["gcp"]),
        description="Google Cloud (gcp-buildpacks-build) builder, run image and uid/gid",
    )
    ballerina: BuilderImages = Field(
        default=BuilderImages(**_BUILDER_DEFAULTS["ballerina"]),
        description="Ballerina (ballerina-buildpack-build) builder, run image and uid/gid",
    )

    @model_validator(mode="before")
    @classmethod
    def _keep_flavor_defaults(cls, data: Any) -> Any:
        """`buildpacks.paketo.uid=...` alone must not drop the flavor's builder and run image."""
        if isinstance(data, dict):
            data = dict(data)
            for flavor, defaults in _BUILDER_DEFAULTS.items():
                if isinstance(data.get(flavor), dict):
                    data[flavor] = {**defaults, **data[flavor]}
        return data

    platform_api: str = Field(default="0.12", description="CNB_PLATFORM_API")
    lifecycle: str = Field(default="/cnb/lifecycle/creator", description="lifecycle binary inside the builder image")
    cache_image: str = Field(
        default="",
        description="default of build-image's `cache-image` input: a registry image for the lifecycle's layer cache "
        "(one per app; the lifecycle pushes it itself); empty: no cache",
    )


class PublishSettings(_Model):
    """Where publish-image pushes, and how."""

    registry: str = Field(
        default=DEFAULT_PUBLISH_REGISTRY,
        description="registry host[:port][/path] app images are pushed to (the default is public and expires "
        "images: set it for any real install)",
    )
    tls_verify: bool = Field(
        default=True, description="verify the registry's TLS certificate (build pulls and publish)"
    )
    push_retries: Annotated[int, Field(ge=0, le=10)] = Field(
        default=3, description="push retries after the first attempt (the publish step's own, before Argo's)"
    )
    retry_limit: Annotated[int, Field(ge=0, le=10)] = Field(
        default=2, description="Argo retries of publish-image, on exit code 75 (transient) only"
    )
    retry_backoff: str = Field(default="15s", description="first Argo retry backoff")
    retry_backoff_factor: Annotated[int, Field(ge=1, le=10)] = Field(default=2, description="Argo retry backoff factor")
    retry_backoff_max: str = Field(default="2m", description="longest Argo retry backoff")
    layer_compression: LayerCompression = Field(
        default="gzip",
        description="compression of the app image's layers (default of the `layer-compression` input of build-image, "
        "which writes them, and publish-image, which pushes them as they are): `zstd` hands off faster but only "
        "containerd >= 1.5 and CRI-O run it (not Docker 20.10's own image store)",
    )


class SecretSettings(_Model):
    """Default Secret NAMES (the Secrets are optional volumes; values never appear in templates)."""

    git: SecretName = Field(default="git-secret", description="git credentials (checkout-source)")
    registry_push: SecretName = Field(
        default="registry-push-secret", description="dockerconfigjson with push rights (publish-image only)"
    )
    registry_pull: SecretName = Field(
        default="registry-pull-secret",
        description="dockerconfigjson for private base images and reading the layer cache (build, read only)",
    )
    cache_push: SecretName = Field(
        default="build-cache-push-secret",
        description="dockerconfigjson that may push the layer cache (build; opt in by creating it)",
    )
    registry_ca: SecretName = Field(default="registry-ca", description="CA certificates (*.crt) of the registry")
    api_ca: SecretName = Field(
        default="api-ca", description="CA bundle (ca.crt) of the OpenChoreo API and token endpoints"
    )
    api_client: SecretName = Field(
        default="workload-publisher", description="OAuth2 client secret (key client-secret) of generate-workload-cr"
    )


class ApiSettings(_Model):
    """How generate-workload-cr delivers the Workload (OpenChoreo >= 1.0: through the API server)."""

    mode: ApiMode = Field(
        default="auto",
        description="`auto`: the openchoreo-1.x profile delivers through the API, openchoreo-0.17 only writes the "
        "output contract; `workloads`/`legacy`: always deliver (route); `off`: write the CR, deliver nothing",
    )
    server_url: str = Field(default=DEFAULT_API_SERVER_URL, description="OpenChoreo API server base URL")
    host_header: str = Field(default="", description="Host header for the API server (empty: from the URL)")
    oauth_token_url: str = Field(
        default=DEFAULT_OAUTH_TOKEN_URL, description="OAuth2 token endpoint (client credentials)"
    )
    oauth_host_header: str = Field(default="", description="Host header for the token endpoint (empty: from the URL)")
    oauth_client_id: str = Field(default=DEFAULT_OAUTH_CLIENT_ID, description="OAuth2 client id")
    oauth_scope: str = Field(default="", description="OAuth2 scope (empty: none)")
    tls_verify: bool = Field(default=True, description="verify the TLS certificates of the API and token endpoints")
    client_secret_remote_key: str = Field(
        default=DEFAULT_CLIENT_SECRET_REMOTE_KEY,
        description="secret-store key of the OAuth2 client secret, copied into each run's namespace by an "
        "ExternalSecret of the ClusterWorkflows",
    )
    client_secret_remote_property: str = Field(
        default="value", description="property of that key (empty: the whole value; v0.17 Workflows never use one)"
    )
    ca_remote_key: str = Field(
        default=DEFAULT_API_CA_REMOTE_KEY,
        description="secret-store key of the API CA bundle for the ExternalSecret (empty: no CA ExternalSecret)",
    )
    ca_remote_property: str = Field(default="value", description="property of that key (empty: the whole value)")

    @field_validator("mode", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false


GitopsMode = Literal["pull-request", "direct-push"]
GitopsForge = Literal["github", "gitlab"]


class GitopsSettings(_Model):
    """GitOps delivery: the `<pipeline>-gitops` pipelines and ClusterWorkflows write the Workload, its
    ComponentRelease and ReleaseBinding into a GitOps repository as `occ` does, and open a pull request."""

    pipelines: bool = Field(default=True, description="render a `<pipeline>-gitops` variant of every pipeline")
    repo_url: str = Field(
        default="", description="default GitOps repository URL (empty: every run must pass gitops-repo)"
    )
    base_branch: str = Field(default="main", description="base branch of the GitOps repository")
    path_root: str = Field(default="", description="directory inside the repository occ's --root-dir points at")
    mode: GitopsMode = Field(
        default="pull-request",
        description="`pull-request`: push release/<component>-<revision> and open/update a pull request; "
        "`direct-push`: commit to the base branch",
    )
    forge: GitopsForge = Field(default="github", description="forge whose REST API opens the pull request")
    forge_api_url: str = Field(
        default="", description="forge API base URL (empty: https://api.github.com or https://gitlab.com/api/v4)"
    )
    forge_project: str = Field(
        default="", description="owner/repo (GitHub) or project path (GitLab); empty: from the repository URL"
    )
    target_env: str = Field(
        default="", description="environment the ReleaseBinding targets (empty: the deployment pipeline's root)"
    )
    secret: SecretName = Field(
        default="gitops-secret",
        description="Secret with the GitOps git credentials (ssh-privatekey + known_hosts, or username + password) "
        "and the forge API token (key token)",
    )
    secret_remote_key: str = Field(
        default="gitops-secret",
        description="secret-store key whose properties become that Secret in each run's namespace (ClusterWorkflows)",
    )


class OpenChoreoSettings(_Model):
    """The OpenChoreo resources (ClusterWorkflows, v0.17 Workflows) and how the steps fit OpenChoreo."""

    profile: Profile = Field(default="openchoreo-1.x", description="default Workload shape of the pipelines")
    inline_steps: bool = Field(
        default=False,
        description="inline the step templates into the pipelines (template name = step name): OpenChoreo "
        "v0.13-v0.15 match nodes by templateName only",
    )
    step_defaults_from_workflow: bool = Field(
        default=True,
        description="step inputs that OpenChoreo's own ClusterWorkflows pass only as workflow parameters default "
        "to `{{workflow.parameters.X}}`, so OpenChoreo's and teams' ClusterWorkflows keep working after the pack "
        "replaces the step templates; false: every input explicit",
    )
    cluster_workflows: bool = Field(default=True, description="render templates/openchoreo/ (ClusterWorkflows, v1.x)")
    workflows_v017: bool = Field(default=True, description="render templates/openchoreo-0.17/ (Workflows, v0.17)")
    service_account: SecretName = Field(default="workflow-sa", description="serviceAccountName of the run's Workflow")
    workflow_plane: SecretName = Field(default="default", description="ClusterWorkflowPlane of the ClusterWorkflows")
    ttl_after_completion: Annotated[str, Field(pattern=_DURATION)] = Field(
        default="1d", description="ttlAfterCompletion of the runs"
    )
    v017_namespace: SecretName = Field(default="default", description="namespace of the v0.17 Workflows")
    v017_build_plane: SecretName = Field(default="default", description="BuildPlane of the v0.17 Workflows")
    v017_secret_store: SecretName = Field(
        default="default", description="ClusterSecretStore of the v0.17 ExternalSecrets"
    )
    executor_token_secret: bool = Field(
        default=True,
        description="add the executor service account's token Secret (`<sa>.service-account-token`) to each "
        "run's resources (false: you create it in every workflow namespace)",
    )


class PipelineSettings(_Model):
    """The pipeline ClusterWorkflowTemplates."""

    workspace_size: Quantity = Field(default="2Gi", description="size of the workspace PVC")
    storage_class: str | None = Field(default=None, description="storageClassName of the workspace PVC (null: default)")
    active_deadline_seconds: Seconds = Field(default=7200, description="activeDeadlineSeconds of the whole pipeline")
    service_account: str = Field(
        default="",
        description="serviceAccountName of the pipeline (empty: the submitting Workflow's; OpenChoreo: workflow-sa)",
    )
    build_types: list[BuildType] = Field(default=list(BUILD_TYPES), description="build types to render pipelines for")
    names: dict[BuildType, Annotated[str, Field(pattern=_DNS_NAME, max_length=63)]] = Field(
        default={}, description="pipeline name per build type"
    )


class SecuritySettings(_Model):
    """Identity of the non-root step containers, and the service-account token."""

    run_as_user: Annotated[int, Field(ge=1)] = Field(default=contract.STEP_UID, description="runAsUser of the steps")
    run_as_group: Annotated[int, Field(ge=1)] = Field(default=contract.STEP_GID, description="runAsGroup of the steps")
    fs_group: Annotated[int, Field(ge=1)] = Field(default=contract.STEP_GID, description="fsGroup of the step Pods")
    automount_service_account_token: bool = Field(
        default=False,
        description="mount the service-account token into the step Pods (no step calls the Kubernetes API; "
        "false renders automountServiceAccountToken: false and the executor service account below)",
    )
    executor_service_account: SecretName = Field(
        default="workflow-sa",
        description="executor.serviceAccountName when the token is not automounted: Argo mounts its token into "
        "its own init/wait containers only (the Secret `<name>.service-account-token` must exist)",
    )


class Settings(_Model):
    images: ImageSettings = ImageSettings()
    steps: StepsSettings = StepsSettings()
    build: BuildSettings = BuildSettings()
    buildpacks: BuildpacksSettings = BuildpacksSettings()
    publish: PublishSettings = PublishSettings()
    secrets: SecretSettings = SecretSettings()
    api: ApiSettings = ApiSettings()
    openchoreo: OpenChoreoSettings = OpenChoreoSettings()
    gitops: GitopsSettings = GitopsSettings()
    pipelines: PipelineSettings = PipelineSettings()
    security: SecuritySettings = SecuritySettings()
    extensions: list[Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]] = Field(
        default=[], description="extension functions `module:function` called before rendering"
    )
    extension_settings: dict[str, dict[str, Any]] = Field(
        default={}, description="free-form settings per extension name (validated by the extension)"
    )


# ---------------------------------------------------------------------------------------------- loading


def _line_map(text: str) -> dict[tuple[str | int, ...], int]:
    """Map every key/item path of a YAML document to its 1-based line."""
    lines: dict[tuple[str | int, ...], int] = {}
    root = yaml.compose(text, Loader=yaml.SafeLoader)

    def walk(node: yaml.Node | None, path: tuple[str | int, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, index)] = item.start_mark.line + 1
                walk(item, (*path, index))

    walk(root, ())
    return lines


def _parse_set(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise SettingsError(f"--set {item}: expected key=value (dotted key, e.g. images.registry=host/path)")
    key, raw = item.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".")]
    if not all(parts):
        raise SettingsError(f"--set {item}: empty key segment in {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise SettingsError(f"--set {item}: value is not valid YAML: {error}") from error
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not re.fullmatch(r"-?\d+", raw.strip()):
        value = raw.strip()  # keep quantities such as 1.5 or 0.5 as text
    return parts, value


def _assign(target: dict[str, Any], parts: Sequence[str], value: Any, origin: str) -> None:
    node = target
    for index, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise SettingsError(f"{origin}: {'.'.join(parts[: index + 1])} is not a mapping")
        node = child
    node[parts[-1]] = value


def _format_errors(
    error: ValidationError,
    *,
    source: str | None,
    lines: Mapping[tuple[str | int, ...], int],
    overrides: Mapping[tuple[str, ...], str],
) -> str:
    messages: list[str] = []
    for item in error.errors():
        loc = tuple(item["loc"])
        dotted = ".".join(str(p) for p in loc) or "(root)"
        where = "settings"
        for key, text in overrides.items():
            if loc[: len(key)] == key or key[: len(loc)] == loc:
                where = f"--set {text}"
                break
        else:
            probe = loc
            while probe and probe not in lines:
                probe = probe[:-1]
            if source is not None:
                where = f"{source}:{lines[probe]}" if probe in lines else source
        message = "unknown setting" if item["type"] == "extra_forbidden" else item["msg"]
        messages.append(f"{where}: {dotted}: {message}")
    return "invalid settings:\n  " + "\n  ".join(messages)


def load_settings(
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    extensions: Sequence[str] = (),
) -> Settings:
    """Settings from an optional YAML file, then `--set` overrides, then extra `--extension`s (appended)."""
    data: dict[str, Any] = {}
    lines: dict[tuple[str | int, ...], int] = {}
    source: str | None = None
    if config is not None:
        path = Path(config)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise SettingsError(f"{path}: cannot read settings file: {error.strerror}") from error
        try:
            loaded = yaml.safe_load(text)
            lines = _line_map(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            at = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            raise SettingsError(f"{at}: not valid YAML: {getattr(error, 'problem', error)}") from error
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"{path}:1: the settings file must be a mapping, got {type(loaded).__name__}")
        data = loaded
    set_keys: dict[tuple[str, ...], str] = {}
    for item in overrides:
        parts, value = _parse_set(item)
        _assign(data, parts, value, f"--set {item}")
        set_keys[tuple(parts)] = item
    if extensions:
        existing = data.get("extensions") or []
        if not isinstance(existing, list):
            existing = [existing]
        data["extensions"] = [*existing, *extensions]
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise SettingsError(_format_errors(error, source=source, lines=lines, overrides=set_keys)) from None


@dataclass(frozen=True)
class SettingDoc:
    """One settings key as `render --help` and the README's settings reference show it."""

    key: str
    type: str
    default: str
    description: str


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " | ".join(str(a) for a in args)
    if origin in (Union, UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " | ".join(names) + (" | null" if type(None) in args else "")
    if origin is Annotated:
        return _type_name(args[0])
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping {_type_name(args[0])} -> {_type_name(args[1])}" if args else "mapping"
    if annotation is str:
        return "string"
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    return getattr(annotation, "__name__", str(annotation))


def _default_text(value: Any) -> str:
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(), sort_keys=True)
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True)


def settings_reference() -> list[SettingDoc]:
    """Every dotted key with its type, default and meaning, from the models' field descriptions (one source)."""
    docs: list[SettingDoc] = []

    def walk(instance: BaseModel, prefix: str) -> None:
        for name, info in type(instance).model_fields.items():
            value = getattr(instance, name)
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(value, f"{prefix}{name}.")
                continue
            docs.append(
                SettingDoc(f"{prefix}{name}", _type_name(annotation), _default_text(value), info.description or "")
            )

    walk(Settings(), "")
    return docs


def settings_reference_text(width: int = 100) -> str:
    """Plain text for `render --help`."""
    lines: list[str] = []
    for doc in settings_reference():
        lines.append(f"  {doc.key} ({doc.type}; default {doc.default})")
        lines.extend(textwrap.wrap(doc.description, width=width, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)


def settings_reference_markdown() -> str:
    """The README's settings reference table."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for doc in settings_reference():
        cells = [f"`{doc.key}`", doc.type, f"`{doc.default}`", doc.description]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def settings_keys() -> list[str]:
    """Every dotted settings key (for `--help` and the docs)."""
    keys: list[str] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name}.")
            else:
                keys.append(f"{prefix}{name}")

    walk(Settings, "")
    return keys
