# Step image `gitops-publish`: Writes the Workload, ComponentRelease and ReleaseBinding into a GitOps repository and opens a pull request.
#
# Built by `python -m hera_workflows images build` (name and tag from steps/common/contract.py), which prepares
# the build context: steps/{__init__.py,common,gitops_publish} and pydeps/ (requirements/gitops-publish.txt, installed on
# the host from pinned wheels: no pip and no network in here). BASE_IMAGE is any Debian bookworm image with
# Python 3.11; `--local-base` passes one made from Debian packages that already holds the OS tools.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# OS tools: already in the local base (`images build --local-base`); installed from Debian on an upstream base.
RUN if ! command -v git >/dev/null 2>&1 || ! command -v ssh >/dev/null 2>&1; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git openssh-client ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi
# The non-root identity the template runs the step as (runAsUser/runAsGroup 10001).
RUN echo 'pack:x:10001:10001:openchoreo-ci-pack:/home/pack:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'pack:x:10001:' >> /etc/group \
 && mkdir -p /home/pack && chown 10001:10001 /home/pack && chmod 0750 /home/pack

ENV PYTHONPATH=/opt/pack/app:/opt/pack/lib PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LANG=C.UTF-8 HOME=/home/pack
COPY pydeps/ /opt/pack/lib/
RUN python3 -m compileall -q -j0 --invalidation-mode unchecked-hash /opt/pack/lib
COPY steps/ /opt/pack/app/steps/
RUN python3 -m compileall -q -j0 --invalidation-mode unchecked-hash /opt/pack/app

ARG PACK_VERSION=0.1.0
ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="openchoreo-ci-pack/gitops-publish" \
      org.opencontainers.image.description="Writes the Workload, ComponentRelease and ReleaseBinding into a GitOps repository and opens a pull request." \
      org.opencontainers.image.source="https://github.com/openchoreo/openchoreo-ci-pack" \
      org.opencontainers.image.version="${PACK_VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.licenses="Apache-2.0"

USER 10001:10001
ENTRYPOINT ["python3", "-m", "steps.gitops_publish"]
