"""The resolver interface: one module per backend (uv, pip-tools)."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

from envbuild.errors import ExternalError, InputError
from envbuild.manifest.model import Index, Target


class ResolverError(ExternalError):
    """The resolver could not run or could not reach an index."""


class ResolutionImpossible(InputError):
    """The requirements cannot be satisfied for a target."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolveRequest:
    target: Target
    requirements: tuple[str, ...]
    indexes: dict[str, Index]  # every index the manifest declares, by name
    exclude_newer: str | None
    allow_sdist: tuple[str, ...]  # normalised names, ("*",) for all
    preferences: dict[str, str]  # name -> version kept from the previous lock
    upgrade: bool
    upgrade_packages: tuple[str, ...]
    workdir: Path  # a private scratch folder for this resolution
    # PEP 508 pins that bound the resolution without adding packages (what conda installs).
    constraints: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """One file a package could be installed from, as the resolver reported it."""

    kind: str  # "wheel" | "sdist"
    file: str
    url: str
    size: int | None
    hash: str | None  # "sha256:<hex>" when the index published one


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolvedPackage:
    name: str
    version: str
    index: str
    index_url: str  # where the resolver found it (for the download-URL memo; never locked)
    dependencies: tuple[str, ...]
    artifact: Candidate  # the one file chosen for the target


@dataclass(frozen=True, kw_only=True, slots=True)
class Resolution:
    packages: tuple[ResolvedPackage, ...]  # sorted by name


class Resolver(abc.ABC):
    name: str

    @abc.abstractmethod
    def resolve(self, request: ResolveRequest) -> Resolution:
        """Resolve one target. Raises ResolutionImpossible or ResolverError."""
