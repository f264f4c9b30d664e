"""Pack settings for platform teams: a YAML file plus `--set key=value` overrides (dotted keys).

    python -m hera_workflows render --config pack-settings.yaml --set images.registry=registry.example.com/ci \\
        --set steps.build.resources.memory_limit=8Gi --set publish.tls_verify=false

Every model forbids unknown keys, so a typo is an error that names the field and where it came from
(`pack-settings.yaml:12: images.regsitry: unknown setting` or `--set images.regsitry=...: ...`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from steps.common import contract

BuildType = Literal["dockerfile", "paketo-buildpacks", "gcp-buildpacks", "ballerina-buildpack"]
BUILD_TYPES: tuple[BuildType, ...] = ("dockerfile", "paketo-buildpacks", "gcp-buildpacks", "ballerina-buildpack")
StepImage = Literal["checkout", "build", "publish-image", "generate-workload"]
Profile = Literal["openchoreo-1.x", "openchoreo-0.17"]
ApiMode = Literal["off", "workloads", "legacy"]

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$"
_DNS_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DURATION = r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"

Quantity = Annotated[str, Field(pattern=_QUANTITY)]
SecretName = Annotated[str, Field(pattern=_DNS_NAME, max_length=253)]
Seconds = Annotated[int, Field(gt=0)]


class SettingsError(Exception):
    """Invalid settings: the message names each bad field and where it was set."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, str_strip_whitespace=True)


class ResourceSettings(_Model):
    cpu_request: Quantity | None = "100m"
    cpu_limit: Quantity | None = "1"
    memory_request: Quantity | None = "128Mi"
    memory_limit: Quantity | None = "512Mi"
    ephemeral_storage_request: Quantity | None = None
    ephemeral_storage_limit: Quantity | None = None


class StepSettings(_Model):
    resources: ResourceSettings = ResourceSettings()
    active_deadline_seconds: Seconds = 900
    tmp_size_limit: Quantity = "1Gi"


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


class ImageSettings(_Model):
    """Step images: `<registry>/<repository>:<tag>[@<digest>]`."""

    registry: str = contract.IMAGE_REGISTRY
    tag: str = contract.IMAGE_TAG
    tags: dict[StepImage, str] = {}
    digests: dict[StepImage, str] = {}
    pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"

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

    storage_size_limit: Quantity = "10Gi"
    cache_repo: str = ""
    user_namespace: bool = True  # podSpecPatch {"hostUsers": false}
    apparmor_unconfined: bool = False


class BuilderImages(_Model):
    """A CNB builder and its run image, and the builder's CNB_USER_ID/CNB_GROUP_ID.

    The lifecycle switches to CNB_USER_ID/CNB_GROUP_ID (setresuid) unless it already runs as them, so the
    build-image pod runs as exactly that uid/gid: no capability is needed. `uid`/`gid` unset: the pack's
    `security.run_as_user`/`run_as_group` (right only for a builder made for it, like the local test builder)."""

    builder: str
    run_image: str
    uid: Annotated[int, Field(ge=1)] | None = None
    gid: Annotated[int, Field(ge=1)] | None = None
    run_image_tls_verify: bool = True

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

    paketo: BuilderImages = BuilderImages(**_BUILDER_DEFAULTS["paketo"])
    gcp: BuilderImages = BuilderImages(**_BUILDER_DEFAULTS["gcp"])
    ballerina: BuilderImages = BuilderImages(**_BUILDER_DEFAULTS["ballerina"])

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

    platform_api: str = "0.12"
    lifecycle: str = "/cnb/lifecycle/creator"
    # Default of build-image's `cache-image` input: a registry image for the lifecycle's layer cache (one per app;
    # the lifecycle pushes it with its own registry client). Empty: no cache.
    cache_image: str = ""


class PublishSettings(_Model):
    """Where publish-image pushes, and how."""

    registry: str = "ttl.sh/openchoreo-builds"
    tls_verify: bool = True
    push_retries: Annotated[int, Field(ge=1, le=10)] = 3
    retry_limit: Annotated[int, Field(ge=0, le=10)] = 2  # Argo retries on exit code 75 only
    retry_backoff: str = "15s"
    retry_backoff_factor: Annotated[int, Field(ge=1, le=10)] = 2
    retry_backoff_max: str = "2m"


class SecretSettings(_Model):
    """Default Secret NAMES (the Secrets are optional volumes; values never appear in templates)."""

    git: SecretName = "git-secret"
    registry_push: SecretName = "registry-push-secret"
    registry_ca: SecretName = "registry-ca"
    api_ca: SecretName = "api-ca"
    api_client: SecretName = "workload-publisher"


class ApiSettings(_Model):
    """How generate-workload-cr delivers the Workload (OpenChoreo >= 1.0: through the API server)."""

    mode: ApiMode = "off"
    server_url: str = ""
    host_header: str = ""
    oauth_token_url: str = ""
    oauth_host_header: str = ""
    oauth_client_id: str = "openchoreo-workload-publisher-client"
    oauth_scope: str = ""
    tls_verify: bool = True


class OpenChoreoSettings(_Model):
    profile: Profile = "openchoreo-1.x"
    # Render the pipelines with the step templates inlined (template name = step name on every Pod node):
    # needed by OpenChoreo v0.13-v0.15, whose controller matches nodes by templateName only.
    inline_steps: bool = False
    # Step template inputs default to `{{workflow.parameters.X}}` where OpenChoreo's own ClusterWorkflows pass X
    # only as a workflow parameter: the step templates then replace OpenChoreo's one for one under its own
    # ClusterWorkflows. Off: every input is explicit (required inputs have no default).
    step_defaults_from_workflow: bool = False
    cluster_workflows: bool = True  # templates/openchoreo/: ClusterWorkflow (v1.x)
    workflows_v017: bool = True  # templates/openchoreo-0.17/: Workflow (v0.17)
    service_account: SecretName = "workflow-sa"
    workflow_plane: SecretName = "default"
    ttl_after_completion: Annotated[str, Field(pattern=_DURATION)] = "1d"
    v017_namespace: SecretName = "default"
    v017_build_plane: SecretName = "default"
    v017_secret_store: SecretName = "default"


class PipelineSettings(_Model):
    workspace_size: Quantity = "2Gi"
    storage_class: str | None = None
    active_deadline_seconds: Seconds = 7200
    service_account: str = ""  # empty: the submitting Workflow's (OpenChoreo sets workflow-sa)
    build_types: list[BuildType] = list(BUILD_TYPES)
    names: dict[BuildType, Annotated[str, Field(pattern=_DNS_NAME, max_length=63)]] = {}


class SecuritySettings(_Model):
    run_as_user: Annotated[int, Field(ge=1)] = contract.STEP_UID
    run_as_group: Annotated[int, Field(ge=1)] = contract.STEP_GID
    fs_group: Annotated[int, Field(ge=1)] = contract.STEP_GID


class Settings(_Model):
    images: ImageSettings = ImageSettings()
    steps: StepsSettings = StepsSettings()
    build: BuildSettings = BuildSettings()
    buildpacks: BuildpacksSettings = BuildpacksSettings()
    publish: PublishSettings = PublishSettings()
    secrets: SecretSettings = SecretSettings()
    api: ApiSettings = ApiSettings()
    openchoreo: OpenChoreoSettings = OpenChoreoSettings()
    pipelines: PipelineSettings = PipelineSettings()
    security: SecuritySettings = SecuritySettings()
    extensions: list[Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]] = []
    # Free-form settings for extensions, one mapping per extension name (validated by the extension itself).
    extension_settings: dict[str, dict[str, Any]] = {}


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
