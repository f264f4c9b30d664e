"""Layer compression of the hand-off: the formats the build step writes and the publish step pushes.

gzip is what every runtime pulls. zstd needs containerd >= 1.5 or CRI-O (and Docker >= 23 with the containerd
image store for `docker pull`); see README "Layer compression". Both steps share these names so one pack
setting (`publish.layer_compression`) means the same thing to both.
"""

from __future__ import annotations

from typing import Final

from steps.common.contract import EXIT_USAGE
from steps.common.log import StepError

GZIP: Final = "gzip"
ZSTD: Final = "zstd"
LAYER_COMPRESSIONS: Final = (GZIP, ZSTD)
ENV: Final = "LAYER_COMPRESSION"
PARAM: Final = "layer-compression"

# The OCI layer media types per format (what the manifest of a pushed image lists).
MEDIA_TYPES: Final = {
    GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
    ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd",
}


def layer_compression(value: str, field: str) -> str:
    """The validated format name; a clear error naming the field otherwise."""
    name = value.strip().lower()
    if name not in LAYER_COMPRESSIONS:
        raise StepError(f"{field}: {value!r} is not one of {', '.join(LAYER_COMPRESSIONS)}", EXIT_USAGE)
    return name
