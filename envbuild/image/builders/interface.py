"""What an image builder is: a locked target in, an image (and its digest) out.

The native `oci` builder is the default; `docker` (the engine builds a context envbuild
writes) and `nix` (Nix proves the wheels, then `oci`) are modules beside it, each
implementing `Builder`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envbuild.errors import EnvbuildError
from envbuild.image.layers import Layer
from envbuild.image.layout import ImageEntry
from envbuild.image.settings import ImageSettings
from envbuild.image.store import Store
from envbuild.lockfile.model import Lock

Progress = Callable[[str], None]
LARGE_WHEEL_BYTES = 64 << 20  # a wheel this large gets a layer of its own


class BuilderError(EnvbuildError):
    """Base of the errors a builder raises about its own work."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildRequest:
    lock: Lock
    targets: tuple[str, ...]  # names in the lock, sorted
    settings: ImageSettings
    project_dir: Path  # copy entries are relative to it
    output: Path | None  # an OCI image layout folder; None: keep the images in memory only
    urls: dict[str, str]  # index name -> simple-API URL
    offline: bool
    store: Store
    epoch: int  # SOURCE_DATE_EPOCH, else 0
    progress: Progress
    large_wheel_bytes: int = LARGE_WHEEL_BYTES
    # Target name -> the base the manifest names for it now, as written (None: none); the
    # builder refuses a target whose lock pins another (a stale lock).
    bases: dict[str, str | None] = field(default_factory=dict)
    # The manifest's `[run] command` and `[run] env` (what cluster jobs start in the image);
    # an empty command: no [run] section, nothing more to check.
    run_command: tuple[str, ...] = ()
    run_env: tuple[tuple[str, str], ...] = ()
    # Debian archive name -> URL, for targets built from system packages (image/system).
    archives: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetImage:
    name: str
    digest: str  # of the manifest: what a push publishes
    size: int  # manifest + config + layers, compressed
    image_hash: str
    config_digest: str
    layers: tuple[Layer, ...]
    platform: tuple[str, str]  # (os, architecture)
    entry: ImageEntry  # the bytes a layout write or a push needs

    def document(self) -> dict[str, Any]:
        return {"digest": self.digest, "platform": "/".join(self.platform), "size": self.size,
                "image_hash": self.image_hash,
                "config": self.config_digest, "layers": [x.document() for x in self.layers],
                "rebuilt_layers": sum(1 for x in self.layers if not x.reused)}


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildResult:
    output: Path | None
    targets: dict[str, TargetImage]

    def document(self) -> dict[str, Any]:
        return {"output": f"oci:{self.output}" if self.output else None,
                "targets": {n: t.document() for n, t in sorted(self.targets.items())}}


class Builder(abc.ABC):
    name: str

    @abc.abstractmethod
    def build(self, request: BuildRequest) -> BuildResult:
        """Build every requested target; write nothing unless all of them succeed."""

    @abc.abstractmethod
    def planned_hash(self, request: BuildRequest, name: str) -> str:
        """The image hash `build` would give target `name` now, without building a layer
        (`envbuild cluster` compares it with the pushed image's to catch a stale image)."""
