"""The lock, `envbuild.lock`, as frozen data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 2  # 2: hashes over the lock's own content (envbuild.lockfile.hashes)


@dataclass(frozen=True, kw_only=True, slots=True)
class Artifact:
    """The one file chosen for a package on a target, found by name in a named index."""

    kind: str  # "wheel" | "sdist"
    file: str
    size: int
    hash: str  # "sha256:<hex>"
    # "index": the index published the hash; "computed": envbuild downloaded and hashed it.
    hash_origin: str = "index"


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedPackage:
    name: str  # normalised
    version: str
    index: str  # index name, "default" for the clients' default index
    dependencies: tuple[str, ...]  # normalised names, sorted
    artifact: Artifact


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedTarget:
    name: str
    hash: str
    input_hash: str
    platform: str
    python: str
    glibc: str
    cuda: str | None
    gpus: tuple[str, ...]
    driver_floor: str | None
    resolver: str
    requirements: tuple[str, ...]
    hardware: tuple[dict[str, Any], ...]  # the hardware-data rows this target consulted
    packages: tuple[LockedPackage, ...]
    # The image base as the manifest names it for this target, and the manifest digest it
    # resolved to for this target's platform at lock time (both or neither).
    base: str | None = None
    base_digest: str | None = None

    def package(self, name: str) -> LockedPackage | None:
        for package in self.packages:
            if package.name == name:
                return package
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Lock:
    version: int
    lock_hash: str
    input_hash: str
    name: str
    python: str
    exclude_newer: str | None
    indexes: dict[str, dict[str, Any]]  # name -> flags (never a URL: a lock names no host)
    targets: dict[str, LockedTarget]
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
