"""The pack's contract with Argo Workflows and OpenChoreo: every name and path, defined once.

Both sides import this module: the step programs (which read and write these paths) and `hera_workflows`
(which renders them into the ClusterWorkflowTemplates). Nothing here may import anything outside the stdlib.
"""

from __future__ import annotations

from typing import Final

PACK_NAME: Final = "openchoreo-ci-pack"
PACK_VERSION: Final = "0.1.0"

# Workspace layout, identical to OpenChoreo's shipped templates so steps can be swapped one for one.
WORKSPACE_VOLUME: Final = "workspace"
WORKSPACE_DIR: Final = "/mnt/vol"
SOURCE_DIR: Final = "/mnt/vol/source"
IMAGE_ARCHIVE: Final = "/mnt/vol/app-image.tar"
WORKLOAD_CR_FILE: Final = "/mnt/vol/workload-cr.yaml"
# Build avoidance: the build step's decision (key, hit/miss, the recorded manifest) for publish-image.
BUILD_AVOIDANCE_FILE: Final = "/mnt/vol/build-avoidance.json"
WORKLOAD_DESCRIPTOR_NAME: Final = "workload.yaml"
# Buildpacks (CNB lifecycle, OCI layout mode): the layout root on the workspace and the reference the lifecycle
# exports the app image under; the lifecycle writes it to <layout root>/<path derived from the reference>, which
# prepare-buildpacks links IMAGE_ARCHIVE to, so publish-image reads every pipeline's image at IMAGE_ARCHIVE.
CNB_LAYOUT_DIR: Final = "/mnt/vol/cnb-layout"
CNB_OUTPUT_IMAGE: Final = "openchoreo-ci-pack.local/app-image:latest"
BUILDPACKS_PREPARE_MODULE: Final = "steps.publish_image.buildpacks_prepare"

# Output parameter files. Argo reads them after the main container exits and trims one trailing newline;
# steps write values without one.
OUTPUTS_DIR: Final = "/tmp/outputs"
OUTPUTS_DIR_ENV: Final = "PACK_OUTPUTS_DIR"

# Secret mounts (directories). OpenChoreo's names and paths for git and registry credentials.
GIT_SECRET_DIR: Final = "/etc/secrets/git-secret"
REGISTRY_SECRET_DIR: Final = "/etc/secrets/registry-push-secret"
REGISTRY_CA_DIR: Final = "/etc/secrets/registry-ca"
API_CLIENT_SECRET_DIR: Final = "/etc/secrets/workload-publisher"
API_CA_DIR: Final = "/etc/secrets/api-ca"
GITOPS_SECRET_DIR: Final = "/etc/secrets/gitops"  # gitops-publish: git credentials + forge API token

# Pipeline step names. OpenChoreo matches Pod nodes by these names (v0.17: displayName; v0.16: template name).
STEP_CHECKOUT: Final = "checkout-source"
STEP_BUILD: Final = "build-image"
STEP_PUBLISH: Final = "publish-image"
STEP_GENERATE_WORKLOAD: Final = "generate-workload-cr"
PIPELINE_ENTRYPOINT: Final = "build-workflow"

# ClusterWorkflowTemplate name -> template name, as OpenChoreo ships them (v1.x).
CWT_CHECKOUT: Final = "checkout-source"
TEMPLATE_CHECKOUT: Final = "checkout"
CWT_CONTAINERFILE_BUILD: Final = "containerfile-build"
CWT_PAKETO_BUILD: Final = "paketo-buildpacks-build"
CWT_GCP_BUILD: Final = "gcp-buildpacks-build"
CWT_BALLERINA_BUILD: Final = "ballerina-buildpack-build"
TEMPLATE_BUILD: Final = "build-image"
CWT_PUBLISH: Final = "publish-image"
TEMPLATE_PUBLISH: Final = "publish-image"
CWT_GENERATE_WORKLOAD: Final = "generate-workload"
TEMPLATE_GENERATE_WORKLOAD: Final = "generate-workload-cr"
CWT_GITOPS_PUBLISH: Final = "gitops-publish"
TEMPLATE_GITOPS_PUBLISH: Final = "gitops-publish"
STEP_GITOPS_PUBLISH: Final = "gitops-publish"

# Output parameter names.
OUT_GIT_REVISION: Final = "git-revision"
OUT_COMMIT_SHA: Final = "commit-sha"
OUT_IMAGE: Final = "image"
OUT_IMAGE_URL: Final = "image-url"
OUT_IMAGE_DIGEST: Final = "image-digest"
OUT_WORKLOAD_CR: Final = "workload-cr"
# gitops-publish (the GitOps pipelines' last step)
OUT_GITOPS_COMMIT: Final = "gitops-commit"
OUT_GITOPS_BRANCH: Final = "gitops-branch"
OUT_PULL_REQUEST_URL: Final = "pull-request-url"

GIT_REVISION_LENGTH: Final = 8

# The OpenChoreo API group/version of every resource the pack writes or renders (Workload, ClusterWorkflow, ...).
OPENCHOREO_API_VERSION: Final = "openchoreo.dev/v1alpha1"
WORKLOAD_KIND: Final = "Workload"

# Exit codes. 75 (EX_TEMPFAIL) marks a transient failure; the publish template retries on it only.
EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_TRANSIENT: Final = 75

# Size budget of a Workflow object's annotations/outputs (bytes): warn above it.
WORKLOAD_CR_WARN_BYTES: Final = 256 * 1024


def output_file(name: str) -> str:
    """Path of the file an output parameter is read from inside the step container."""
    if name == OUT_WORKLOAD_CR:
        return WORKLOAD_CR_FILE
    return f"{OUTPUTS_DIR}/{name}"


# Step images: `<registry>/<repository>:<tag>`. The templates reference them (hera_workflows) and the image
# builder (hera_workflows/images/__init__.py) builds and tags them under exactly these names. Registry and tag are
# defaults; platform teams override them in the pack settings (`images.registry`, `images.tag`).
IMAGE_REGISTRY: Final = "ghcr.io/openchoreo-ci-pack"
IMAGE_TAG: Final = PACK_VERSION
IMAGE_REPO_CHECKOUT: Final = "checkout"
IMAGE_REPO_BUILD: Final = "build"
IMAGE_REPO_PUBLISH: Final = "publish-image"
IMAGE_REPO_GENERATE_WORKLOAD: Final = "generate-workload"
IMAGE_REPO_GITOPS_PUBLISH: Final = "gitops-publish"
IMAGE_REPOSITORIES: Final = (
    IMAGE_REPO_CHECKOUT,
    IMAGE_REPO_BUILD,
    IMAGE_REPO_PUBLISH,
    IMAGE_REPO_GENERATE_WORKLOAD,
    IMAGE_REPO_GITOPS_PUBLISH,
)
# Python module each image runs (`python -m <module>`), keyed by image repository.
STEP_MODULES: Final = {
    IMAGE_REPO_CHECKOUT: "steps.checkout",
    IMAGE_REPO_BUILD: "steps.build",
    IMAGE_REPO_PUBLISH: "steps.publish_image",
    IMAGE_REPO_GENERATE_WORKLOAD: "steps.generate_workload",
    IMAGE_REPO_GITOPS_PUBLISH: "steps.gitops_publish",
}
# Non-root identity the step containers run as (the build step runs as root inside a user namespace).
STEP_UID: Final = 10001
STEP_GID: Final = 10001
