"""`paketo-buildpacks-build`, `gcp-buildpacks-build`, `ballerina-buildpack-build` / `build-image`.

Cloud Native Buildpacks without a daemon and without privileges: the main container is the (digest-pinned)
builder image running the lifecycle `creator` directly (argv, no shell) in OCI-layout mode. What the lifecycle
source (v0.20.4) settles, and how the template meets it:

* the lifecycle derives layout paths from image references (`<CNB_LAYOUT_DIR>/<registry>/<repo>/<tag|sha256/hex>`)
  and rejects a path as a reference, so the app image is exported as contract.CNB_OUTPUT_IMAGE and the run image
  is looked up under its own reference. The init container `prepare-buildpacks` (publish-image image, python +
  skopeo) copies the run image there, writes `build-env` as `<platform>/env/<NAME>` files (where the lifecycle
  reads build-time env), and links /mnt/vol/app-image.tar to the app image's layout path, so publish-image pushes
  it as it pushes every pipeline's image;
* the app directory /mnt/vol/source/<app-path> is mounted at /workspace (workspace subPath
  `source/<app-path>`; a leading slash only doubles a separator, as OpenChoreo's "$WORKDIR/$APP_PATH" does;
  prepare-buildpacks first checks it exists inside the source), so `CNB_APP_DIR=/workspace` is a constant and the
  app sits at /workspace in the image as with `pack build`;
* analyzer, restorer, exporter and creator call setresgid/setresuid to the builder's CNB_USER_ID/CNB_GROUP_ID
  unless they already run as them (priv.RunAs; detector and builder refuse root), and a non-root process gets no
  effective SETUID/SETGID even when they are added, so the pod runs as the builder's uid/gid (settings
  `buildpacks.<flavor>.uid/gid`) with all capabilities dropped (evidence: tests/test_buildpacks_containers.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hera.workflows import EmptyDirVolume, Env, Parameter
from hera.workflows import models as m

from hera_workflows.pack import blocks as c
from hera_workflows.pack.settings import BuilderImages, Settings
from steps.common import contract

LAYERS_VOLUME = "cnb-layers"
LAYERS_DIR = "/layers"
PLATFORM_VOLUME = "cnb-platform"
PLATFORM_DIR = "/platform"
PREPARE_CONTAINER = "prepare-buildpacks"
# The optional registry Secret (.dockerconfigjson) as a Docker config directory: the lifecycle's registry client
# reads $DOCKER_CONFIG/config.json (cache image, run image), prepare-buildpacks gives it to skopeo (run image).
REGISTRY_AUTH_VOLUME = "registry-auth"
REGISTRY_AUTH_DIR = "/etc/secrets/cnb-docker-config"
# The app directory, /mnt/vol/source/<app-path> mounted here (a subPath of the workspace): CNB_APP_DIR is then a
# constant (parameters reach containers only as exact values), and the app lives at /workspace in the image, as
# `pack build` puts it (the lifecycle keeps CNB_APP_DIR's path in the exported image).
APP_DIR = "/workspace"


@dataclass(frozen=True)
class Flavor:
    cwt: str
    title: str
    images: BuilderImages


def flavors(settings: Settings) -> dict[str, Flavor]:
    bp = settings.buildpacks
    return {
        "paketo-buildpacks": Flavor(contract.CWT_PAKETO_BUILD, "Paketo Buildpacks (builder-jammy-full)", bp.paketo),
        "gcp-buildpacks": Flavor(contract.CWT_GCP_BUILD, "Google Cloud Buildpacks", bp.gcp),
        "ballerina-buildpack": Flavor(contract.CWT_BALLERINA_BUILD, "the Ballerina buildpack", bp.ballerina),
    }


def _inputs(settings: Settings) -> list[Parameter]:
    wf = c.workflow_defaults(settings, ["app-path", "build-env"])
    return [
        Parameter(name="git-revision", description="short commit (from checkout-source)"),
        Parameter(
            name="app-path",
            default=wf.get("app-path", "."),
            description="application directory, relative to the source root",
        ),
        Parameter(
            name="build-env",
            default=wf.get("build-env", "[]"),
            description='JSON list of {"name","value"}: build-time env for the buildpacks (<platform>/env/<NAME>)',
        ),
        Parameter(
            name="cache-image",
            default=settings.buildpacks.cache_image,
            description="registry image holding the lifecycle's layer cache for this app (empty: no cache)",
        ),
    ]


def build_identity(settings: Settings, images: BuilderImages) -> tuple[int, int]:
    """The uid/gid the build-image pod runs as: the builder's CNB_USER_ID/CNB_GROUP_ID."""
    uid = images.uid if images.uid is not None else settings.security.run_as_user
    gid = images.gid if images.gid is not None else settings.security.run_as_group
    return uid, gid


def step_template(settings: Settings, build_type: str) -> c.StepTemplate:
    flavor = flavors(settings)[build_type]
    uid, gid = build_identity(settings, flavor.images)
    description = (
        f"Build the app at /mnt/vol/source/<app-path> with {flavor.title} ({flavor.images.builder}), "
        "running the CNB lifecycle creator directly (no daemon, no privileges, no shell) in OCI-layout mode; "
        "the image is handed to publish-image at /mnt/vol/app-image.tar (an OCI layout). build-env reaches the "
        f"buildpacks as <platform>/env/<NAME>. Runs as the builder's CNB_USER_ID/CNB_GROUP_ID ({uid}:{gid}). "
        "The caller provides the `workspace` volume (PVC), mounted at /mnt/vol."
    )
    identity = {"run_as_user": uid, "run_as_group": gid}
    registry_auth = c.SecretMount(
        volume=REGISTRY_AUTH_VOLUME,
        param=c.PARAM_REGISTRY_PUSH_SECRET,
        default=settings.secrets.registry_push,
        mount_path=REGISTRY_AUTH_DIR,
        description="name of an optional Secret (kubernetes.io/dockerconfigjson) for the run and cache images",
        items=((".dockerconfigjson", "config.json"),),
    )
    prepare = m.UserContainer(
        name=PREPARE_CONTAINER,
        image=c.step_image(settings, contract.IMAGE_REPO_PUBLISH),
        image_pull_policy=settings.images.pull_policy,
        command=["python", "-m", contract.BUILDPACKS_PREPARE_MODULE],
        env=[
            m.EnvVar(name="APP_PATH", value=c.param_ref("app-path")),
            m.EnvVar(name="BUILD_ENV", value=c.param_ref("build-env")),
            m.EnvVar(name="CNB_RUN_IMAGE", value=flavor.images.run_image),
            m.EnvVar(name="CNB_OUTPUT_IMAGE", value=contract.CNB_OUTPUT_IMAGE),
            m.EnvVar(name="CNB_LAYOUT_DIR", value=contract.CNB_LAYOUT_DIR),
            m.EnvVar(name="CNB_PLATFORM_DIR", value=PLATFORM_DIR),
            m.EnvVar(name="RUN_IMAGE_TLS_VERIFY", value=str(flavor.images.run_image_tls_verify).lower()),
            m.EnvVar(name="REGISTRY_AUTH_FILE", value=f"{REGISTRY_AUTH_DIR}/config.json"),
            *[m.EnvVar(name=e.name, value=e.value) for e in c.constant_env()],
        ],
        volume_mounts=[
            c.workspace_mount(),
            m.VolumeMount(name=c.TMP_VOLUME, mount_path=c.TMP_DIR),
            m.VolumeMount(name=PLATFORM_VOLUME, mount_path=PLATFORM_DIR),
            m.VolumeMount(name=REGISTRY_AUTH_VOLUME, mount_path=REGISTRY_AUTH_DIR, read_only=True),
        ],
        security_context=c.restricted_security_context(settings).model_copy(update=identity),
        resources=c.resources(settings.steps.publish_image).build(),
    )
    env = [
        Env(name="CNB_APP_DIR", value=APP_DIR),
        Env(name="GIT_REVISION", value=c.param_ref("git-revision")),
        # the lifecycle restores cached layers from this image and exports the new cache to it (empty: none)
        Env(name="CNB_CACHE_IMAGE", value=c.param_ref("cache-image")),
        *c.constant_env(
            {
                "CNB_PLATFORM_API": settings.buildpacks.platform_api,
                "CNB_EXPERIMENTAL_MODE": "warn",  # OCI layout export is experimental in the lifecycle
                "CNB_USE_LAYOUT": "true",
                "CNB_LAYOUT_DIR": contract.CNB_LAYOUT_DIR,
                "CNB_RUN_IMAGE": flavor.images.run_image,
                "CNB_LAYERS_DIR": LAYERS_DIR,
                "CNB_PLATFORM_DIR": PLATFORM_DIR,
                "CNB_USER_ID": str(uid),
                "CNB_GROUP_ID": str(gid),
                "CNB_LOG_LEVEL": "info",
                "DOCKER_CONFIG": REGISTRY_AUTH_DIR,
            },
            python=False,
        ),
    ]
    container = c.secure_container(
        c.ContainerSpec(
            template=contract.TEMPLATE_BUILD,
            image=flavor.images.builder,
            command=[settings.buildpacks.lifecycle],
            args=[contract.CNB_OUTPUT_IMAGE],
            working_dir=APP_DIR,
            settings=settings.steps.buildpacks,
            inputs=_inputs(settings),
            env=env,
            extra_volumes=[
                EmptyDirVolume(
                    name=LAYERS_VOLUME,
                    mount_path=LAYERS_DIR,
                    size_limit=m.Quantity(settings.build.storage_size_limit),
                ),
                EmptyDirVolume(name=PLATFORM_VOLUME, mount_path=PLATFORM_DIR, size_limit=m.Quantity("64Mi")),
            ],
            init_containers=[prepare],
            secrets=[registry_auth],
        ),
        settings,
    )
    # `source/` + app-path: a leading slash only doubles a separator (OpenChoreo joins "$WORKDIR/$APP_PATH");
    # prepare-buildpacks has already checked that it is a directory inside the source.
    app_mount = m.VolumeMount(
        name=contract.WORKSPACE_VOLUME,
        mount_path=APP_DIR,
        sub_path=f"{Path(contract.SOURCE_DIR).relative_to(contract.WORKSPACE_DIR)}/{c.param_ref('app-path')}",
    )
    container.volume_mounts = [*(container.volume_mounts or []), app_mount]
    if container.security_context is not None:
        container.security_context = container.security_context.model_copy(update=identity)
    if container.pod_security_context is not None:
        container.pod_security_context = container.pod_security_context.model_copy(update=identity)
    return c.StepTemplate(cwt=flavor.cwt, template=container, description=description)
