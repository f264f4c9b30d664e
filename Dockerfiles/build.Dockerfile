# Step image `build`: Builds a Containerfile/Dockerfile with buildah (overlay storage, chroot isolation) into an OCI archive in the workspace (OpenChoreo build-image step).
#
# Built by `python -m hera_workflows images build` (name and tag from steps/common/contract.py), which prepares
# the build context: steps/{__init__.py,common,build} and pydeps/ (requirements/build.txt, installed on
# the host from pinned wheels: no pip and no network in here). BASE_IMAGE is any Debian bookworm image with
# Python 3.11; `--local-base` passes one made from Debian packages that already holds the OS tools.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# OS tools: already in the local base (`images build --local-base`); installed from Debian on an upstream base.
# git and skopeo: build avoidance reads the checkout's tree ids and resolves base images to digests.
RUN if ! command -v buildah >/dev/null 2>&1 || ! command -v git >/dev/null 2>&1 || ! command -v skopeo >/dev/null 2>&1; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends buildah git skopeo ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi

ENV PYTHONPATH=/opt/pack/app:/opt/pack/lib PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LANG=C.UTF-8 HOME=/root
ENV BUILDAH_ISOLATION=chroot STORAGE_DRIVER=overlay
COPY pydeps/ /opt/pack/lib/
RUN python3 -m compileall -q -j0 --invalidation-mode unchecked-hash /opt/pack/lib
COPY steps/ /opt/pack/app/steps/
RUN python3 -m compileall -q -j0 --invalidation-mode unchecked-hash /opt/pack/app

ARG PACK_VERSION=0.1.0
ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="openchoreo-ci-pack/build" \
      org.opencontainers.image.description="Builds a Containerfile/Dockerfile with buildah (overlay storage, chroot isolation) into an OCI archive in the workspace (OpenChoreo build-image step)." \
      org.opencontainers.image.source="https://github.com/openchoreo/openchoreo-ci-pack" \
      org.opencontainers.image.version="${PACK_VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.licenses="Apache-2.0"

USER 0:0
ENTRYPOINT ["python3", "-m", "steps.build"]
