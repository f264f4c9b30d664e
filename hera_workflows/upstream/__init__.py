"""Upstream behaviour the pack emulates, one module per behaviour, each named after what it copies and its version.

Go/Kubernetes behaviour that a step image needs too lives in `steps/common/` (e.g. `sigs_yaml_v1_6`), since step
code never imports this package.
"""
