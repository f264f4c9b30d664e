"""Entry point: `python -m steps.publish_image` (the publish-image container's command)."""

from __future__ import annotations

import sys

from steps.common.cli import run_step
from steps.common.contract import STEP_PUBLISH
from steps.publish_image.main import main

if __name__ == "__main__":
    sys.exit(run_step(STEP_PUBLISH, main))
