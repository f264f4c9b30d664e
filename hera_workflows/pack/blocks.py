"""Shared Hera helpers for the pack's templates: option tables -> inputs/env, secure defaults, volumes, metadata.

Every step template is built from these helpers so the security defaults, the parameter plumbing (parameters reach
step code only through `env` entries whose value is exactly `{{inputs.parameters.<name>}}`) and the volume naming
are the same everywhere, including in templates that platform teams add through the extension API.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hera.workflows import ClusterWorkflowTemplate, Container, EmptyDirVolume, Env, Parameter, Resources, SecretVolume
from hera.workflows import models as m

from hera_workflows.pack.settings import SecretSettings, Settings, StepSettings
from steps.build.options import CACHE_PUSH_SECRET_DIR, PULL_SECRET_DIR
from steps.common import contract
from steps.common.cli import Option

PART_OF = contract.PACK_NAME
ARGO_MIN_VERSION = ">= 4.0.0"
DESCRIPTION_ANNOTATION = "workflows.argoproj.io/description"
VERSION_ANNOTATION = "workflows.argoproj.io/version"

# Volume names (stable: Hera would otherwise generate uuid names).
TMP_VOLUME = "tmp"
TMP_DIR = "/tmp"

# Input parameters that carry Secret NAMES (never secret values). The Secret is mounted as an optional volume.
PARAM_GIT_SECRET = "git-secret"
PARAM_REGISTRY_PUSH_SECRET = "registry-push-secret"
PARAM_REGISTRY_CA_SECRET = "registry-ca-secret"
PARAM_API_CA_SECRET = "api-ca-secret"
PARAM_API_CLIENT_SECRET = "api-client-secret"
PARAM_REGISTRY_PULL_SECRET = "registry-pull-secret"
PARAM_CACHE_PUSH_SECRET = "cache-push-secret"


def param_ref(name: str) -> str:
    """`{{inputs.parameters.<name>}}`."""
    return "{{inputs.parameters." + name + "}}"


def workflow_param_ref(name: str) -> str:
    """`{{workflow.parameters.<name>}}`."""
    return "{{workflow.parameters." + name + "}}"


def step_output_ref(step: str, output: str) -> str:
    """`{{steps.<step>.outputs.parameters.<output>}}` (written by hand: Hera cannot for templateRef steps)."""
    return "{{steps." + step + ".outputs.parameters." + output + "}}"


@dataclass(frozen=True)
class SecretMount:
    """An optional Secret volume whose secretName comes from an input parameter."""

    volume: str  # volume name
    param: str  # input parameter holding the Secret's name
    default: str  # default Secret name
    mount_path: str
    description: str
    items: tuple[tuple[str, str], ...] = ()  # (key, path) pairs; empty: every key


@dataclass(frozen=True)
class OptionalSecret:
    """A Secret a shipped step template may mount: its volume, where it is mounted, which `settings.secrets` field
    names it by default, and the description of the input parameter that names it."""

    volume: str
    mount_path: str
    default: Callable[[SecretSettings], str]
    description: str

    def mount(self, param: str, settings: Settings) -> SecretMount:
        return SecretMount(self.volume, param, self.default(settings.secrets), self.mount_path, self.description)


# Every optional Secret of the shipped step templates, by the input parameter that names it: one entry per Secret,
# shared by every template that mounts it (build and publish-image both mount the registry CA).
OPTIONAL_SECRETS: Mapping[str, OptionalSecret] = {
    PARAM_GIT_SECRET: OptionalSecret(
        "git-secret", contract.GIT_SECRET_DIR, lambda s: s.git, "name of an optional Secret with git credentials"
    ),
    PARAM_REGISTRY_PULL_SECRET: OptionalSecret(
        "registry-pull-secret",
        PULL_SECRET_DIR,
        lambda s: s.registry_pull,
        "name of an optional dockerconfigjson Secret for private base images and reading the layer cache (give it "
        "pull rights only: the build runs the repository's RUN steps)",
    ),
    PARAM_CACHE_PUSH_SECRET: OptionalSecret(
        "cache-push-secret",
        CACHE_PUSH_SECRET_DIR,
        lambda s: s.cache_push,
        "name of an optional dockerconfigjson Secret that may push the layer cache (opt in: create it only when "
        "the cache repository is writable by builds alone)",
    ),
    PARAM_REGISTRY_PUSH_SECRET: OptionalSecret(
        "registry-push-secret",
        contract.REGISTRY_SECRET_DIR,
        lambda s: s.registry_push,
        "name of an optional Secret (kubernetes.io/dockerconfigjson) with registry credentials",
    ),
    PARAM_REGISTRY_CA_SECRET: OptionalSecret(
        "registry-ca",
        contract.REGISTRY_CA_DIR,
        lambda s: s.registry_ca,
        "name of an optional Secret with CA certificates (*.crt) for the registry",
    ),
    PARAM_API_CLIENT_SECRET: OptionalSecret(
        "api-client-secret",
        contract.API_CLIENT_SECRET_DIR,
        lambda s: s.api_client,
        "name of an optional Secret with the OAuth2 client secret (key client-secret) or a bearer token (key token)",
    ),
    PARAM_API_CA_SECRET: OptionalSecret(
        "api-ca",
        contract.API_CA_DIR,
        lambda s: s.api_ca,
        "name of an optional Secret with the CA bundle (key ca.crt) of the API and token endpoints",
    ),
}


def optional_secrets(settings: Settings, *params: str) -> list[SecretMount]:
    """The mounts of the optional Secrets named by `params` (their input parameters), in that order."""
    return [OPTIONAL_SECRETS[param].mount(param, settings) for param in params]


# Parameters OpenChoreo's own ClusterWorkflows (v1.x) define at workflow level and its shipped step templates read
# as `{{workflow.parameters.X}}` instead of taking them as inputs (§4.3 of the contract study).
OPENCHOREO_WORKFLOW_PARAMETERS = frozenset(
    {
        "git-repo",
        "branch",
        "commit",
        "app-path",
        "git-secret",
        "image-name",
        "image-tag",
        "docker-context",
        "dockerfile-path",
        "build-env",
        "build-args",
        "registry-push-secret",
        "project-name",
        "component-name",
        "namespace-name",
    }
)


def workflow_defaults(settings: Settings, names: Iterable[str]) -> dict[str, str]:
    """With `openchoreo.step_defaults_from_workflow`, input defaults `{{workflow.parameters.X}}` for the inputs
    OpenChoreo's ClusterWorkflows provide only as workflow parameters, so the step templates are drop-in
    replacements under OpenChoreo's own ClusterWorkflows. Off by default (explicit inputs only)."""
    if not settings.openchoreo.step_defaults_from_workflow:
        return {}
    return {name: workflow_param_ref(name) for name in names if name in OPENCHOREO_WORKFLOW_PARAMETERS}


def option_parameters(
    options: Sequence[Option],
    *,
    defaults: Mapping[str, str] | None = None,
    required_defaults: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> tuple[list[Parameter], list[Env]]:
    """Every option with a `param` -> one template input parameter and one env entry.

    The input's default is the option's default (`defaults[param]` from the settings overrides it); a required
    option's input has no default, so Argo refuses to run the template without it (unless `required_defaults`
    gives one: the OpenChoreo drop-in mode). The env value is exactly `{{inputs.parameters.<param>}}`:
    parameters never get interpolated into text. With `settings`, the OpenChoreo drop-in defaults
    (`workflow_defaults`) apply too.
    """
    required_params = {o.param for o in options if o.param and o.required}
    overrides = dict(defaults or {})
    required_overrides = dict(required_defaults or {})
    if settings is not None:
        for name, value in workflow_defaults(settings, [o.param for o in options if o.param]).items():
            (required_overrides if name in required_params else overrides)[name] = value
    unknown = sorted((set(overrides) | set(required_overrides)) - {o.param for o in options if o.param})
    if unknown:
        raise ValueError(f"defaults for unknown parameter(s): {', '.join(unknown)}")
    inputs: list[Parameter] = []
    env: list[Env] = []
    for option in options:
        if option.param is None:
            continue
        if option.required and option.param in required_overrides:
            inputs.append(
                Parameter(name=option.param, default=required_overrides[option.param], description=option.help)
            )
        elif option.required:
            inputs.append(Parameter(name=option.param, description=option.help))
        else:
            default = overrides.get(option.param, option.default)
            inputs.append(
                Parameter(name=option.param, default="" if default is None else default, description=option.help)
            )
        env.append(Env(name=option.env, value=param_ref(option.param)))
    return inputs, env


def secret_parameters_and_volumes(
    mounts: Iterable[SecretMount], settings: Settings | None = None
) -> tuple[list[Parameter], list[SecretVolume]]:
    params: list[Parameter] = []
    volumes: list[SecretVolume] = []
    for mount in mounts:
        default = mount.default
        if settings is not None:
            default = workflow_defaults(settings, [mount.param]).get(mount.param, default)
        params.append(Parameter(name=mount.param, default=default, description=mount.description))
        volumes.append(
            SecretVolume(
                name=mount.volume,
                secret_name=param_ref(mount.param),
                mount_path=mount.mount_path,
                read_only=True,
                optional=True,
                default_mode=0o440,
                items=[m.KeyToPath(key=key, path=path) for key, path in mount.items] or None,
            )
        )
    return params, volumes


def tmp_volume(size_limit: str) -> EmptyDirVolume:
    return EmptyDirVolume(name=TMP_VOLUME, mount_path=TMP_DIR, size_limit=m.Quantity(size_limit))


def workspace_mount() -> m.VolumeMount:
    """The caller-provided workspace volume (a PVC named `workspace`), mounted at /mnt/vol."""
    return m.VolumeMount(name=contract.WORKSPACE_VOLUME, mount_path=contract.WORKSPACE_DIR)


def restricted_security_context(settings: Settings) -> m.SecurityContext:
    """Container securityContext of every step but the build: non-root, no privileges, read-only root."""
    return m.SecurityContext(
        run_as_non_root=True,
        run_as_user=settings.security.run_as_user,
        run_as_group=settings.security.run_as_group,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        capabilities=m.Capabilities(drop=["ALL"]),
        seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
    )


def restricted_pod_security_context(settings: Settings) -> m.PodSecurityContext:
    return m.PodSecurityContext(
        run_as_non_root=True,
        run_as_user=settings.security.run_as_user,
        run_as_group=settings.security.run_as_group,
        fs_group=settings.security.fs_group,
        seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
    )


def build_security_context(settings: Settings) -> m.SecurityContext:
    """buildah: root inside a user namespace (podSpecPatch hostUsers: false), the runtime's default capabilities
    plus SYS_ADMIN, RuntimeDefault seccomp, never `privileged`. allowPrivilegeEscalation cannot be false together
    with SYS_ADMIN (Kubernetes rejects the combination), so it is left unset."""
    if settings.build.isolation == "privileged":
        # OpenChoreo's own templates: privileged (plus hostUsers: false), chosen explicitly by the platform.
        return m.SecurityContext(
            run_as_non_root=False,
            run_as_user=0,
            run_as_group=0,
            privileged=True,
            seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
            app_armor_profile=m.AppArmorProfile(type="Unconfined") if settings.build.apparmor_unconfined else None,
        )
    return m.SecurityContext(
        run_as_non_root=False,
        run_as_user=0,
        run_as_group=0,
        privileged=False,
        read_only_root_filesystem=True,
        capabilities=m.Capabilities(add=["SYS_ADMIN"]),
        seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
        app_armor_profile=m.AppArmorProfile(type="Unconfined") if settings.build.apparmor_unconfined else None,
    )


def build_pod_security_context(settings: Settings) -> m.PodSecurityContext:
    return m.PodSecurityContext(
        fs_group=settings.security.fs_group,
        seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
    )


def user_namespace_patch(settings: Settings) -> str | None:
    """Template-level podSpecPatch for the build: `{"hostUsers": false}` (user namespaces)."""
    if not settings.build.user_namespace:
        return None
    return json.dumps({"hostUsers": False}, sort_keys=True)


def service_account_token(settings: Settings) -> tuple[bool | None, m.ExecutorConfig | None]:
    """(automountServiceAccountToken, executor) of a step template. No step calls the Kubernetes API, so the
    token stays out of the step's containers; Argo then mounts the executor service account's token into its
    own init/wait containers only (it needs one to report outputs)."""
    security = settings.security
    if security.automount_service_account_token:
        return None, None
    return False, m.ExecutorConfig(service_account_name=security.executor_service_account)


def resources(step: StepSettings) -> Resources:
    r = step.resources
    return Resources(
        cpu_request=r.cpu_request,
        cpu_limit=r.cpu_limit,
        memory_request=r.memory_request,
        memory_limit=r.memory_limit,
        ephemeral_request=r.ephemeral_storage_request,
        ephemeral_limit=r.ephemeral_storage_limit,
    )


def step_image(settings: Settings, repository: str) -> str:
    """`<registry>/<repository>:<tag>[@<digest>]` from the settings."""
    images = settings.images
    tags = {str(k): v for k, v in images.tags.items()}
    digests = {str(k): v for k, v in images.digests.items()}
    tag = tags.get(repository, images.tag)
    reference = f"{images.registry.rstrip('/')}/{repository}:{tag}"
    digest = digests.get(repository)
    return f"{reference}@{digest}" if digest else reference


def step_command(repository: str) -> list[str]:
    """`python -m steps.<step>`: the same entry point the image declares."""
    return ["python", "-m", contract.STEP_MODULES[repository]]


def constant_env(extra: Mapping[str, str] | None = None, *, python: bool = True) -> list[Env]:
    """Fixed (parameter-free) environment of every pack step (`python`: a step of this pack's step images)."""
    values = {"HOME": TMP_DIR}
    if python:
        values.update({contract.OUTPUTS_DIR_ENV: contract.OUTPUTS_DIR, "PYTHONDONTWRITEBYTECODE": "1"})
    values.update(extra or {})
    return [Env(name=name, value=value) for name, value in values.items()]


def output_parameters(names: Iterable[str]) -> list[Parameter]:
    return [Parameter(name=name, value_from=m.ValueFrom(path=contract.output_file(name))) for name in names]


def metadata(
    name: str, component: str, description: str, extra_labels: Mapping[str, str] | None = None
) -> dict[str, dict[str, str]]:
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/version": contract.PACK_VERSION,
        "app.kubernetes.io/component": component,
    }
    labels.update(extra_labels or {})
    annotations = {DESCRIPTION_ANNOTATION: description, VERSION_ANNOTATION: ARGO_MIN_VERSION}
    return {"labels": labels, "annotations": annotations}


@dataclass
class ContainerSpec:
    """What a secure pack step container needs; `secure_container` turns it into a Hera Container template.

    Also the extension API's way to build a step template with the pack's defaults (see hera_workflows.pack.model).
    """

    template: str
    image: str
    command: list[str]
    settings: StepSettings
    args: list[str] = field(default_factory=list)
    inputs: list[Parameter] = field(default_factory=list)
    env: list[Env] = field(default_factory=list)
    outputs: list[Parameter] = field(default_factory=list)
    secrets: list[SecretMount] = field(default_factory=list)
    extra_volumes: list[EmptyDirVolume] = field(default_factory=list)
    workspace: bool = True
    working_dir: str | None = None
    init_containers: list[m.UserContainer] = field(default_factory=list)
    retry_strategy: m.RetryStrategy | None = None
    privileged_build: bool = False  # the buildah build: SYS_ADMIN, root in a user namespace


def secure_container(spec: ContainerSpec, settings: Settings) -> Container:
    """A container template with the pack's secure and operable defaults (see CONTRIBUTING/README)."""
    secret_inputs, secret_volumes = secret_parameters_and_volumes(spec.secrets, settings)
    volumes: list[EmptyDirVolume | SecretVolume] = [tmp_volume(spec.settings.tmp_size_limit), *spec.extra_volumes]
    volumes.extend(secret_volumes)
    names = [v.name for v in volumes]
    if len(set(names)) != len(names) or contract.WORKSPACE_VOLUME in names:
        raise ValueError(f"template {spec.template}: duplicate or reserved volume names: {names}")
    if spec.privileged_build:
        security_context = build_security_context(settings)
        pod_security_context = build_pod_security_context(settings)
        pod_spec_patch = user_namespace_patch(settings)
    else:
        security_context = restricted_security_context(settings)
        pod_security_context = restricted_pod_security_context(settings)
        pod_spec_patch = None
    automount, executor = service_account_token(settings)
    return Container(
        name=spec.template,
        image=spec.image,
        image_pull_policy=settings.images.pull_policy,
        command=spec.command,
        args=spec.args or None,
        working_dir=spec.working_dir,
        inputs=[*spec.inputs, *secret_inputs],
        outputs=spec.outputs or None,
        env=spec.env or None,
        volumes=volumes,
        volume_mounts=[workspace_mount()] if spec.workspace else None,
        init_containers=list[Any](spec.init_containers) or None,
        security_context=security_context,
        pod_security_context=pod_security_context,
        pod_spec_patch=pod_spec_patch,
        resources=resources(spec.settings),
        active_deadline_seconds=spec.settings.active_deadline_seconds,
        retry_strategy=spec.retry_strategy,
        automount_service_account_token=automount,
        executor=executor,
    )


@dataclass
class StepTemplate:
    """One step ClusterWorkflowTemplate holding one self-contained template (for `templateRef` use).

    `template` is a Hera template (usually a `Container` from `secure_container`). The caller provides the
    `workspace` volume (a PVC) that the template mounts at /mnt/vol; nothing else is needed from the caller,
    because Argo does not carry spec-level fields (volumes, securityContext, podSpecPatch) through templateRef.
    """

    cwt: str
    template: Container
    description: str
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def template_name(self) -> str:
        name = self.template.name
        if not name:
            raise ValueError(f"{self.cwt}: template has no name")
        return name

    def to_dict(self) -> dict[str, Any]:
        meta = metadata(self.cwt, "step", self.description, self.extra_labels)
        cwt = ClusterWorkflowTemplate(
            name=self.cwt,
            labels=meta["labels"],
            annotations=meta["annotations"],
            templates=[copy.deepcopy(self.template)],
        )
        result: dict[str, Any] = cwt.to_dict()
        return result


def transient_retry_strategy(settings: Settings) -> m.RetryStrategy:
    """Retry only on exit code 75 (a transient failure), as configured by the `publish.retry_*` settings: publish-image
    uses it, and so does any container an extension builds with `Pack.container(retry_on_transient=True)`."""
    publish = settings.publish
    return m.RetryStrategy(
        limit=m.IntOrString(root=publish.retry_limit),
        expression=f"asInt(lastRetry.exitCode) == {contract.EXIT_TRANSIENT}",
        backoff=m.Backoff(
            duration=publish.retry_backoff,
            factor=m.IntOrString(root=publish.retry_backoff_factor),
            max_duration=publish.retry_backoff_max,
        ),
    )
