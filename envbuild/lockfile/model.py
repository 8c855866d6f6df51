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
class SystemPackage:
    """One Debian binary package of a target's system set (issue 11), found by name in a
    named archive: the archive's URL never enters the lock, so a lock works through a mirror."""

    name: str
    version: str
    architecture: str  # "amd64" | "arm64" | "all"
    archive: str  # the archive's name, "default" for the one apt uses
    path: str  # the pool path inside the archive ("pool/main/g/git/git_..._amd64.deb")
    size: int
    hash: str  # "sha256:<hex>"
    dependencies: tuple[str, ...] = ()  # names of the locked packages it needs, sorted


@dataclass(frozen=True, kw_only=True, slots=True)
class CondaPackage:
    """One conda package of a target (issue 12), found by name in a named channel."""

    name: str
    version: str
    build: str
    subdir: str  # "linux-64" | "linux-aarch64" | "osx-arm64" | "osx-64" | "noarch"
    channel: str  # the [indexes] name of a kind = "conda" index, never its URL
    file: str  # "<name>-<version>-<build>.conda" or ".tar.bz2"
    size: int
    hash: str  # "sha256:<hex>"
    md5: str  # hex, as conda's explicit files and conda-lock want it
    dependencies: tuple[str, ...] = ()  # the package's match specs, as recorded in repodata


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
    # "debian:bookworm" where the target locks system packages (issue 11); base = "system"
    # then means the image is built from `system` alone, with no base_digest.
    system_distribution: str | None = None
    system: tuple[SystemPackage, ...] = ()
    conda: tuple[CondaPackage, ...] = ()  # issue 12
    conda_channels: tuple[str, ...] = ()  # the conda channel names it was solved from, by priority
    conda_requirements: tuple[str, ...] = ()  # its conda match specs, normal form, sorted

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
