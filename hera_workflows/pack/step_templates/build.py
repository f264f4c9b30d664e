"""`containerfile-build` / `build-image`: buildah build of a Dockerfile/Containerfile (steps/build).

No `privileged`: root inside a user namespace (podSpecPatch `{"hostUsers": false}`), the runtime's default
capabilities plus SYS_ADMIN, RuntimeDefault seccomp. buildah's storage is an emptyDir.
"""

from __future__ import annotations

from hera.workflows import EmptyDirVolume
from hera.workflows import models as m

from hera_workflows.pack import blocks as c
from hera_workflows.pack.settings import Settings
from steps.build.options import CACHE_PUSH_SECRET_DIR, OPTIONS, PULL_SECRET_DIR
from steps.common import contract

DESCRIPTION = (
    "Build /mnt/vol/source with buildah (Dockerfile/Containerfile; build args and build env as JSON lists of "
    '{"name","value"}; optional registry layer cache) into the OCI archive /mnt/vol/app-image.tar. '
    "Outputs image-digest. Runs without privileged mode: user namespace (hostUsers: false, checked at start) "
    "plus SYS_ADMIN. Holds no push credentials and no service-account token: only an optional pull Secret "
    "(`registry-pull-secret`) and, opted into separately, a Secret that may push the layer cache "
    "(`cache-push-secret`). The caller provides the `workspace` volume (PVC), mounted at /mnt/vol."
)
PARAM_PULL_SECRET = "registry-pull-secret"
PARAM_CACHE_PUSH_SECRET = "cache-push-secret"

STORAGE_VOLUME = "buildah-storage"
STORAGE_DIR = next(o.default for o in OPTIONS if o.dest == "storage_dir") or "/var/lib/containers/storage"


def build_secrets(settings: Settings) -> list[c.SecretMount]:
    """The build runs untrusted RUN steps: read-only pull credentials, an opt-in cache-push Secret, the CA."""
    return [
        c.SecretMount(
            volume="registry-pull-secret",
            param=PARAM_PULL_SECRET,
            default=settings.secrets.registry_pull,
            mount_path=PULL_SECRET_DIR,
            description="name of an optional dockerconfigjson Secret for private base images and reading the "
            "layer cache (give it pull rights only: the build runs the repository's RUN steps)",
        ),
        c.SecretMount(
            volume="cache-push-secret",
            param=PARAM_CACHE_PUSH_SECRET,
            default=settings.secrets.cache_push,
            mount_path=CACHE_PUSH_SECRET_DIR,
            description="name of an optional dockerconfigjson Secret that may push the layer cache (opt in: "
            "create it only when the cache repository is writable by builds alone)",
        ),
        c.SecretMount(
            volume="registry-ca",
            param=c.PARAM_REGISTRY_CA_SECRET,
            default=settings.secrets.registry_ca,
            mount_path=contract.REGISTRY_CA_DIR,
            description="name of an optional Secret with CA certificates (*.crt) for the registry",
        ),
    ]


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
            env=[*env, *c.constant_env({"TMPDIR": VAR_TMP_DIR, "BUILDAH_ISOLATION": "chroot"})],
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
