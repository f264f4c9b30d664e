"""Example extension: scan the published image with Trivy between publish-image and generate-workload-cr.

    PYTHONPATH=examples python -m hera_workflows render -o my-templates/ --extension image_scan_extension:extend

It adds the step ClusterWorkflowTemplate `image-scan` (template `scan-image`, with the pack's secure defaults:
non-root, drop ALL, RuntimeDefault seccomp, read-only root with /tmp, requests/limits, activeDeadlineSeconds) and
inserts a step `scan-image` after `publish-image` in every pipeline. Settings (all optional):

    extension_settings:
      image_scan:
        image: docker.io/aquasec/trivy:0.58.1      # scanner image (pin by digest in production)
        severity: HIGH,CRITICAL                     # default of the pipeline argument scan-severity
"""

from __future__ import annotations

from typing import Any

from hera.workflows import Parameter

from hera_workflows.extension import (
    Pack,
    PipelineArgument,
    PipelineStep,
    SecretMount,
    StepSettings,
    StepTemplate,
    step_output_ref,
    workflow_param_ref,
)
from steps.common import contract

CWT_NAME = "image-scan"
TEMPLATE_NAME = "scan-image"
STEP_NAME = "scan-image"
DEFAULTS: dict[str, Any] = {"image": "docker.io/aquasec/trivy:0.58.1", "severity": "HIGH,CRITICAL"}
DOCKER_CONFIG_DIR = "/etc/secrets/scan-docker-config"


def extend(pack: Pack) -> None:
    config = {**DEFAULTS, **pack.settings.extension_settings.get("image_scan", {})}
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"extension_settings.image_scan: unknown setting(s) {', '.join(unknown)}")

    template = pack.container(
        template=TEMPLATE_NAME,
        image=str(config["image"]),
        command=["trivy", "image"],
        # the image reference is one whole argv element: nothing is interpolated into text
        args=["--exit-code", "1", "--no-progress", "{{inputs.parameters.image}}"],
        inputs=[
            Parameter(name="image", description="image to scan (repo:tag@sha256:...)"),
            Parameter(name="severity", default=str(config["severity"]), description="severities that fail the scan"),
        ],
        param_env={"TRIVY_SEVERITY": "severity"},
        env={"TRIVY_CACHE_DIR": "/tmp/trivy-cache", "DOCKER_CONFIG": DOCKER_CONFIG_DIR},
        secrets=[
            SecretMount(
                volume="registry-push-secret",
                param="registry-push-secret",
                default=pack.settings.secrets.registry_push,
                mount_path=DOCKER_CONFIG_DIR,
                description="name of an optional dockerconfigjson Secret to pull the image with",
                items=((".dockerconfigjson", "config.json"),),
            )
        ],
        step_settings=StepSettings(active_deadline_seconds=900),
        workspace=False,
    )
    pack.add_step_template(
        StepTemplate(
            cwt=CWT_NAME,
            template=template,
            description="Scan an image for vulnerabilities with Trivy; fails on findings of the given severities.",
            extra_labels={"app.kubernetes.io/managed-by": "image-scan-extension"},
        )
    )
    for pipeline in pack.pipelines.values():
        pipeline.add_argument(
            PipelineArgument("scan-severity", str(config["severity"]), "severities that fail the image scan")
        )
    pack.insert_step(
        PipelineStep(
            STEP_NAME,
            CWT_NAME,
            TEMPLATE_NAME,
            {
                "image": step_output_ref(contract.STEP_PUBLISH, contract.OUT_IMAGE),
                "severity": workflow_param_ref("scan-severity"),
                "registry-push-secret": workflow_param_ref("registry-push-secret"),
            },
        ),
        after=contract.STEP_PUBLISH,
    )
