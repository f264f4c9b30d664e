import sys

from hera_workflows.cli import main

sys.exit(main())
