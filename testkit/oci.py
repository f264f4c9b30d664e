"""Read the one image of an OCI layout directory or OCI archive, as build-image hands it to publish-image.

Tests look inside what the build step wrote (index, manifest, config, layer blobs, a file's content) without
knowing which of the two hand-off formats it used: a layout is read in place (through the `app-image.tar` link),
an archive through `tarfile`.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class OciImage:
    """The single image of a layout or archive at `path`."""

    path: Path

    def member(self, name: str) -> bytes:
        """A file of the layout (`index.json`, `blobs/sha256/<hex>`), wherever it is kept."""
        if self.path.is_dir():
            return (self.path / name).read_bytes()
        with tarfile.open(self.path) as tar:
            handle = tar.extractfile(name)
            assert handle is not None, f"{name} is not a file in {self.path}"
            return handle.read()

    def blob(self, digest: str) -> bytes:
        return self.member(f"blobs/sha256/{digest.removeprefix('sha256:')}")

    @property
    def index(self) -> dict[str, Any]:
        return dict(json.loads(self.member("index.json")))

    @property
    def digest(self) -> str:
        """The manifest digest index.json records (exactly one image)."""
        manifests = self.index["manifests"]
        assert len(manifests) == 1, manifests
        return str(manifests[0]["digest"])

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(json.loads(self.blob(self.digest)))

    @property
    def config(self) -> dict[str, Any]:
        return dict(json.loads(self.blob(self.manifest["config"]["digest"])))

    def layers(self) -> list[tuple[str, bytes]]:
        """(media type, blob) of every layer, bottom first."""
        return [(layer["mediaType"], self.blob(layer["digest"])) for layer in self.manifest["layers"]]

    def read_file(self, path: str) -> bytes:
        """A file's content in the image: the topmost layer that has it wins."""
        for _, blob in reversed(self.layers()):
            assert blob[:4] != b"\x28\xb5\x2f\xfd", "zstd layers: decompress them with the zstd tool"
            data = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
            with tarfile.open(fileobj=io.BytesIO(data)) as layer_tar:
                for member in layer_tar:
                    if member.name.removeprefix("./") == path and member.isfile():
                        handle = layer_tar.extractfile(member)
                        assert handle is not None
                        return handle.read()
        raise FileNotFoundError(path)
