"""Load platform-team extensions: `module.path:function`, each called as `function(pack)` before rendering.

    python -m hera_workflows render --extension my_pkg.ci:extend        # or settings: extensions: [my_pkg.ci:extend]

An extension receives the `hera_workflows.pack.model.Pack` model and may add step ClusterWorkflowTemplates
(`pack.add_step_template`, `pack.container` for the secure defaults), insert steps into the pipelines
(`pack.insert_step(PipelineStep(...), after="publish-image")`), add pipeline arguments or other documents.
See examples/image_scan_extension for a complete one.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence

from hera_workflows.pack.blocks import SecretMount, StepTemplate, step_output_ref, workflow_param_ref
from hera_workflows.pack.documents import PackError, Resource
from hera_workflows.pack.model import Extension, Pack, PipelineArgument, PipelineStep
from hera_workflows.pack.settings import StepSettings

# The public API for extensions: import these from `hera_workflows.extension`.
__all__ = [
    "ExtensionError",
    "Pack",
    "PipelineArgument",
    "PipelineStep",
    "Resource",
    "SecretMount",
    "StepSettings",
    "StepTemplate",
    "load_extension",
    "step_output_ref",
    "workflow_param_ref",
]

_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<attr>[A-Za-z_]\w*)$")


class ExtensionError(Exception):
    """An extension could not be loaded or failed; the message names it."""


def load_extension(spec: str) -> Extension:
    match = _SPEC.match(spec)
    if match is None:
        raise ExtensionError(f"extension {spec!r}: expected module.path:function")
    try:
        module = importlib.import_module(match["module"])
    except ImportError as error:
        raise ExtensionError(
            f"extension {spec}: cannot import {match['module']}: {error} (is it on PYTHONPATH?)"
        ) from error
    function = getattr(module, match["attr"], None)
    if not callable(function):
        raise ExtensionError(f"extension {spec}: {match['module']} has no callable {match['attr']!r}")
    extension: Extension = function
    return extension


def apply_extensions(pack: Pack, specs: Sequence[str]) -> None:
    for spec in dict.fromkeys(specs):  # each once, in order
        extension = load_extension(spec)
        try:
            extension(pack)
        except (PackError, ValueError, TypeError, KeyError) as error:
            raise ExtensionError(f"extension {spec} failed: {error}") from error
