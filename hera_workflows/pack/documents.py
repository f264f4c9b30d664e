"""What the pack renders: Kubernetes documents, each written to one file under one output folder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Output folders (relative to the render root). Only STEPS and PIPELINES are in the root kustomization, so
# `kubectl apply -k templates/` needs nothing but Argo Workflows; the OpenChoreo folders are applied on their own.
FOLDER_STEPS = "steps"
FOLDER_PIPELINES = "pipelines"
FOLDER_OPENCHOREO = "openchoreo"
FOLDER_OPENCHOREO_017 = "openchoreo-0.17"
ARGO_FOLDERS = (FOLDER_STEPS, FOLDER_PIPELINES)


@dataclass(frozen=True)
class Resource:
    """One rendered Kubernetes document, written to `<folder>/<name>.yaml`."""

    folder: str
    name: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.name}.yaml"


class PackError(ValueError):
    """An inconsistent pack (e.g. an extension inserted a step after one that does not exist)."""
