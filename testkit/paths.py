"""Where the project lives, and where the tests read upstream reference files (through testkit/reference.py).

Every upstream directory comes from the one locator (`testkit.reference`): pinned versions and sha256
checksums, found in `$PACK_SHARED_DIR`/`../shared` or in the cache that `python -m testkit.reference fetch`
fills.
"""

from __future__ import annotations

from pathlib import Path

from testkit import reference

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
ARGO_CRDS = reference.ARGO_V4_1_2_CRDS.path()
ARGO_V4_0_CRDS = reference.ARGO_V4_0_5_CRDS.path()
ARGO_V3_6_CRDS = reference.ARGO_V3_6_2_CRDS.path()
OPENCHOREO_017_CRDS = reference.OPENCHOREO_V0_17_0_CRDS.path()
OPENCHOREO_1X_CRDS = reference.OPENCHOREO_V1_2_3_CRDS.path()
# controller-check's --crd-dir layout: <dir>/openchoreo-v0.17.0/openchoreo.dev_workloads.yaml
CRDS = OPENCHOREO_017_CRDS.parent
SAMPLE_WORKLOADS = reference.SAMPLE_WORKLOADS.path()
OPENCHOREO_1X_SAMPLES = reference.OPENCHOREO_V1_2_3_SAMPLES.path()
