"""The manifest, `envbuild.toml`, as frozen data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envbuild.manifest.system import SystemSpec

DEFAULT_INDEX = "default"


@dataclass(frozen=True, kw_only=True, slots=True)
class Index:
    """A named package index. `default` is the one the ordinary clients use by default."""

    name: str
    url: str | None
    # Indexes that publish no upload times cannot be judged by exclude-newer.
    exclude_newer_exempt: bool = False
    # Where a declared index serves a package, other indexes are not consulted for it.
    explicit: bool = True
    kind: str = "pypi"  # "conda": a conda channel (envbuild.manifest.conda), never a PyPI index


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """One hardware target: a platform, optionally a CUDA version and the GPUs it runs on."""

    name: str
    platform: str
    python: str
    glibc: str
    cuda: str | None
    gpus: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]  # (normalised package name, index name), sorted
    dependencies: tuple[str, ...]  # extra requirements of this target
    groups: tuple[str, ...]
    resolver: str
    base: str | None = None  # the target's own image base, as written (over [image] base)
    conda: tuple[str, ...] = ()  # this target's extra conda match specs (normal form)

    @property
    def is_cuda(self) -> bool:
        return self.cuda is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class Manifest:
    path: Path
    name: str
    python: str
    exclude_newer: str | None
    dependencies: tuple[str, ...]
    groups: dict[str, tuple[str, ...]]
    indexes: dict[str, Index]
    targets: dict[str, Target]
    allow_sdist: tuple[str, ...]  # normalised names, or ("*",) for all
    datasets: dict[str, Any] = field(default_factory=dict)  # name -> DatasetSpec
    image_base: str | None = None  # [image] base, as written, when one for every platform
    image_bases: tuple[tuple[str, str], ...] = ()  # [image] base as a table: (platform, reference)
    system: SystemSpec | None = None  # [system]: Debian packages every target locks (issue 11)
    conda_channels: tuple[str, ...] = ()  # [conda] channels: conda index names, by priority
    conda_specs: tuple[str, ...] = ()  # [dependencies] conda (normal form)
    # Rendered `file:line: key: message` lines for what was read but should be rewritten
    # (another spelling of a platform); the CLI prints them, they never enter a hash.
    warnings: tuple[str, ...] = ()

    def base_for(self, target: Target) -> str | None:
        """The base `target` is built on, as written: its own, else [image] base's for its
        platform; None where the manifest names none for it."""
        if target.base is not None:
            return target.base
        return self.image_base if self.image_base is not None else dict(self.image_bases).get(target.platform)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def requirements_for(self, target: Target) -> tuple[str, ...]:
        reqs = list(self.dependencies)
        for group in target.groups:
            reqs.extend(self.groups[group])
        reqs.extend(target.dependencies)
        return tuple(reqs)
