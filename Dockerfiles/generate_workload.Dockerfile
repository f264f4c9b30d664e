# Step image `generate-workload`: Generates the OpenChoreo Workload CR from the workload descriptor and the published image (OpenChoreo generate-workload-cr step).
#
# Built by `python -m hera_workflows images build` (name and tag from steps/common/contract.py), which prepares
# the build context: steps/{__init__.py,common,generate_workload} and pydeps/ (requirements/generate-workload.txt, installed on
# the host from pinned wheels: no pip and no network in here). BASE_IMAGE is any Debian bookworm image with
# Python 3.11; `--local-base` passes one made from Debian packages that already holds the OS tools.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

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
LABEL org.opencontainers.image.title="openchoreo-ci-pack/generate-workload" \
      org.opencontainers.image.description="Generates the OpenChoreo Workload CR from the workload descriptor and the published image (OpenChoreo generate-workload-cr step)." \
      org.opencontainers.image.source="https://github.com/openchoreo/openchoreo-ci-pack" \
      org.opencontainers.image.version="${PACK_VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.licenses="Apache-2.0"

USER 10001:10001
ENTRYPOINT ["python3", "-m", "steps.generate_workload"]
