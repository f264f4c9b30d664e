"""`python -m steps.checkout`: the checkout-source step (the container's entry point)."""

from __future__ import annotations

import sys

from steps.checkout.main import main
from steps.common.cli import run_step
from steps.common.contract import STEP_CHECKOUT

if __name__ == "__main__":
    sys.exit(run_step(STEP_CHECKOUT, main))
