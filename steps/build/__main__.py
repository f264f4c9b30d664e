"""Entry point: `python -m steps.build` (the build-image container's command)."""

from __future__ import annotations

import sys

from steps.build.main import main
from steps.common.cli import run_step
from steps.common.contract import STEP_BUILD

if __name__ == "__main__":
    sys.exit(run_step(STEP_BUILD, main))
