"""`python -m steps.gitops_publish`: the gitops-publish container's entry point."""

from __future__ import annotations

import sys

from steps.common.cli import run_step
from steps.gitops_publish.main import main

if __name__ == "__main__":
    sys.exit(run_step("gitops-publish", main))
