"""`paketo-buildpacks-build`, `gcp-buildpacks-build`, `ballerina-buildpack-build` / `build-image`.

Cloud Native Buildpacks without a daemon and without privileges: the container image is the (digest-pinned)
builder image and runs the lifecycle `creator` directly (argv, no shell), exporting the app image as an OCI
layout directory at /mnt/vol/app-image.tar for publish-image to push (its `--archive` accepts a layout dir).
An init container (the publish-image step image, skopeo argv) copies the run image into an OCI layout on the
workspace, because the lifecycle's layout export reads the run image from the layout directory.

Every lifecycle setting is an environment variable (CNB_*), so the app path parameter reaches the lifecycle as
`CNB_APP_DIR={{inputs.parameters.app-path}}`, relative to the working directory /mnt/vol/source.

These templates can only be rendered and linted on this machine: the builder images are not available offline.
`build-env` is accepted for interface parity with OpenChoreo but not applied yet (the lifecycle reads build-time
env from files under the platform directory, which needs step code to write; see the README).
"""

from __future__ import annotations

from dataclasses import dataclass

from hera.workflows import EmptyDirVolume, Env, Parameter
from hera.workflows import models as m

from hera_workflows import _common as c
from hera_workflows.settings import BuilderImages, Settings
from steps.common import contract

LAYERS_VOLUME = "cnb-layers"
LAYERS_DIR = "/layers"
PLATFORM_VOLUME = "cnb-platform"
PLATFORM_DIR = "/platform"
RUN_IMAGE_LAYOUT = f"{contract.WORKSPACE_DIR}/cnb-run-image"


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
            description='JSON list of {"name","value"} (not applied yet)',
        ),
    ]


def step_template(settings: Settings, build_type: str) -> c.StepTemplate:
    flavor = flavors(settings)[build_type]
    description = (
        f"Build the app at /mnt/vol/source/<app-path> with {flavor.title} ({flavor.images.builder}), "
        "running the CNB lifecycle creator directly (no daemon, no privileges, no shell) and exporting an OCI "
        "layout to /mnt/vol/app-image.tar for publish-image. The caller provides the `workspace` volume (PVC), "
        "mounted at /mnt/vol. Rendered and linted only: the builder images are not available offline."
    )
    fetch_run_image = m.UserContainer(
        name="fetch-run-image",
        image=c.step_image(settings, contract.IMAGE_REPO_PUBLISH),
        image_pull_policy=settings.images.pull_policy,
        command=[
            "skopeo",
            "copy",
            "--retry-times=3",
            f"docker://{flavor.images.run_image}",
            f"oci:{RUN_IMAGE_LAYOUT}",
        ],
        env=[m.EnvVar(name="HOME", value=c.TMP_DIR)],
        volume_mounts=[c.workspace_mount(), m.VolumeMount(name=c.TMP_VOLUME, mount_path=c.TMP_DIR)],
        security_context=c.restricted_security_context(settings),
        resources=c.resources(settings.steps.publish_image).build(),
    )
    env = [
        # every parameter-carrying value is exactly {{inputs.parameters.X}}
        *[
            Env(name=name, value=c.param_ref(param))
            for name, param in (
                ("CNB_APP_DIR", "app-path"),
                ("GIT_REVISION", "git-revision"),
                ("BUILD_ENV", "build-env"),
            )
        ],
        *c.constant_env(
            {
                "CNB_PLATFORM_API": settings.buildpacks.platform_api,
                "CNB_EXPERIMENTAL_MODE": "warn",
                "CNB_USE_LAYOUT": "true",
                "CNB_LAYOUT_DIR": contract.WORKSPACE_DIR,
                "CNB_RUN_IMAGE": RUN_IMAGE_LAYOUT,
                "CNB_LAYERS_DIR": LAYERS_DIR,
                "CNB_PLATFORM_DIR": PLATFORM_DIR,
                "CNB_LOG_LEVEL": "info",
            },
            python=False,
        ),
    ]
    container = c.secure_container(
        c.ContainerSpec(
            template=contract.TEMPLATE_BUILD,
            image=flavor.images.builder,
            command=[settings.buildpacks.lifecycle],
            args=[contract.IMAGE_ARCHIVE],
            working_dir=contract.SOURCE_DIR,
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
            init_containers=[fetch_run_image],
        ),
        settings,
    )
    return c.StepTemplate(cwt=flavor.cwt, template=container, description=description)
