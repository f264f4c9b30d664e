"""`containerfile-build` / `build-image`: buildah build of a Dockerfile/Containerfile (steps/build).

No `privileged`: root inside a user namespace (podSpecPatch `{"hostUsers": false}`), the runtime's default
capabilities plus SYS_ADMIN, RuntimeDefault seccomp. buildah's storage is an emptyDir.
"""

from __future__ import annotations

from hera.workflows import EmptyDirVolume
from hera.workflows import models as m

from hera_workflows.pack import blocks as c
from hera_workflows.pack.settings import Settings
from steps.build.options import HANDOFF_ENV, OPTIONS
from steps.common import compression, contract

DESCRIPTION = (
    "Build /mnt/vol/source with buildah (Dockerfile/Containerfile; build args and build env as JSON lists of "
    '{"name","value"}; optional registry layer cache) and hand the image to publish-image at '
    "/mnt/vol/app-image.tar (a link to the OCI layout /mnt/vol/app-image.oci, or one OCI archive: setting "
    "build.handoff_format). "
    "Outputs image-digest. Runs without privileged mode: user namespace (hostUsers: false, checked at start) "
    "plus SYS_ADMIN. Holds no push credentials and no service-account token: only an optional pull Secret "
    "(`registry-pull-secret`) and, opted into separately, a Secret that may push the layer cache "
    "(`cache-push-secret`). The caller provides the `workspace` volume (PVC), mounted at /mnt/vol."
)

STORAGE_VOLUME = "buildah-storage"
STORAGE_DIR = next(o.default for o in OPTIONS if o.dest == "storage_dir") or "/var/lib/containers/storage"


def build_secrets(settings: Settings) -> list[c.SecretMount]:
    """The build runs untrusted RUN steps: read-only pull credentials, an opt-in cache-push Secret, the CA."""
    return c.optional_secrets(
        settings, c.PARAM_REGISTRY_PULL_SECRET, c.PARAM_CACHE_PUSH_SECRET, c.PARAM_REGISTRY_CA_SECRET
    )


RUN_VOLUME = "run"  # buildah keeps runtime state in /run/containers and /run/libpod
RUN_DIR = "/run"
VAR_TMP_VOLUME = "var-tmp"
VAR_TMP_DIR = "/var/tmp"


def step_template(settings: Settings) -> c.StepTemplate:
    inputs, env = c.option_parameters(
        OPTIONS,
        settings=settings,
        defaults={
            "tls-verify": str(settings.publish.tls_verify).lower(),
            "cache-repo": settings.build.cache_repo,
            "isolation": settings.build.isolation,
            compression.PARAM: settings.publish.layer_compression,
            "build-avoidance": str(settings.build.avoidance).lower(),
        },
    )
    size = settings.build.storage_size_limit
    container = c.secure_container(
        c.ContainerSpec(
            template=contract.TEMPLATE_BUILD,
            image=c.step_image(settings, contract.IMAGE_REPO_BUILD),
            command=c.step_command(contract.IMAGE_REPO_BUILD),
            settings=settings.steps.build,
            inputs=inputs,
            env=[
                *env,
                *c.constant_env(
                    {
                        "TMPDIR": VAR_TMP_DIR,
                        "BUILDAH_ISOLATION": "chroot",
                        HANDOFF_ENV: settings.build.handoff_format,
                    }
                ),
            ],
            outputs=c.output_parameters([contract.OUT_IMAGE_DIGEST]),
            secrets=build_secrets(settings),
            extra_volumes=[
                EmptyDirVolume(name=STORAGE_VOLUME, mount_path=STORAGE_DIR, size_limit=m.Quantity(size)),
                EmptyDirVolume(name=RUN_VOLUME, mount_path=RUN_DIR, size_limit=m.Quantity("64Mi")),
                EmptyDirVolume(name=VAR_TMP_VOLUME, mount_path=VAR_TMP_DIR, size_limit=m.Quantity(size)),
            ],
            privileged_build=True,
        ),
        settings,
    )
    return c.StepTemplate(cwt=contract.CWT_CONTAINERFILE_BUILD, template=container, description=DESCRIPTION)
