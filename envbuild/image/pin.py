"""A base pinned per platform: resolved to a manifest digest at lock time, built on exactly
that digest later.

Every kind of base goes through here: an `oci:DIR[:TAG]` layout and a
`docker-archive:PATH` tarball (both read offline, so `lock --check` sees one that changed)
and a registry reference by tag or digest (an index gives the entry for the platform; a
single manifest must be for it). What the lock records is the manifest digest for the
target's platform, never an index's: the image's base layers are exactly those of that
manifest. A docker archive holds no manifest: its image ID (config digest) is pinned.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from envbuild.errors import InputError
from envbuild.image.base import BaseImage, locate_layout, read_base
from envbuild.image.config import architecture
from envbuild.image.store import Store
from envbuild.manifest.image import ARCHIVE, base_location


def is_offline_kind(reference: str) -> bool:
    """Whether the base can be resolved without a network (`lock --check` re-reads it)."""
    return reference.startswith(("oci:", ARCHIVE))


def platform_pair(platform: str) -> tuple[str, str]:
    """(os, architecture) of a target platform an image can be built for."""
    try:
        return architecture(platform)
    except KeyError:
        raise InputError(f"{platform}: images are built for linux/amd64 and linux/arm64 only") from None


def resolve_base(reference: str, *, folder: Path, platform: str) -> str:
    """The manifest digest `reference` (as written in the manifest in `folder`) gives for
    `platform` now. Raises InputError (exit 2) for a base without an image for it."""
    os_name, arch = platform_pair(platform)
    location = base_location(reference, folder)
    if location.startswith(ARCHIVE):
        from envbuild.image.archive import image_id

        return image_id(location, os_name=os_name, architecture=arch)
    if is_offline_kind(location):
        return locate_layout(location, os_name, arch)[1]
    from envbuild.image.pull import resolve_platform_digest

    return resolve_platform_digest(reference, os_name=os_name, architecture=arch)


def open_base(reference: str, digest: str, *, folder: Path, platform: str, store: Store,
              offline: bool, progress: Callable[[str], None]) -> BaseImage:
    """The base for `platform` read by the digest the lock pinned (a layout or registry that
    now holds another image for it is refused: exit 1)."""
    os_name, arch = platform_pair(platform)
    location = base_location(reference, folder)
    if location.startswith(ARCHIVE):
        from envbuild.image.archive import read_archive_base

        return read_archive_base(location, os_name=os_name, architecture=arch, store=store,
                                 pinned=digest)
    if is_offline_kind(location):
        return read_base(location, os_name=os_name, architecture=arch, store=store, pinned=digest)
    from envbuild.image.pull import read_registry_base

    return read_registry_base(reference, os_name=os_name, architecture=arch, store=store,
                              offline=offline, pinned=digest, progress=progress)
