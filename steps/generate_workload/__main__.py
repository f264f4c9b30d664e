"""`python -m steps.generate_workload`: the generate-workload-cr container's entry point."""

from __future__ import annotations

import sys

from steps.generate_workload.main import main

if __name__ == "__main__":
    sys.exit(main())
