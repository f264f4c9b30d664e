"""Hera code that builds the pack's ClusterWorkflowTemplates, and the pack's command line.

Run `python -m hera_workflows --help`.
"""

from steps.common.contract import PACK_VERSION

__version__ = PACK_VERSION
