"""Where the project and the read-only upstream reference material live."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PACK_SHARED_DIR", ROOT.parent / "shared")).resolve()
REFERENCE = SHARED / "reference"
CRDS = REFERENCE / "crds"
ARGO_CRDS = CRDS / "argo-v4.1.2"
OPENCHOREO_017_CRDS = CRDS / "openchoreo-v0.17.0"
OPENCHOREO_1X_CRDS = CRDS / "openchoreo-v1.2.3"
SAMPLE_WORKLOADS = REFERENCE / "sample-workloads"
TEMPLATES = ROOT / "templates"
