"""A base image from a registry, pulled by digest into the cache's blob store.

`host/repo[:tag]@sha256:...`: the manifest (or the index, then the target platform's
manifest), the config and the layers are fetched once, checked against their digests and
kept under `blobs/sha256/` of the cache; later builds, and `--offline` ones, read them
there. `envbuild lock` resolves a base (by tag or by an index's digest) to the manifest
digest for each target's platform (`resolve_platform_digest`) and records it; the builder
pulls exactly that manifest.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envbuild.errors import CheckFailed, ExternalError, InputError
from envbuild.image.base import (
    BaseImage,
    check_platform,
    json_object,
    make_base,
    pick_platform,
)
from envbuild.image.registry.distribution import open_registry
from envbuild.image.registry.interface import (
    INDEX_TYPES,
    NotFound,
    Reference,
    Registry,
    parse_reference,
)
from envbuild.image.store import Store


class BaseMissingOffline(ExternalError):
    """--offline and the base's blobs are not in the cache (exit 3, as for missing wheels)."""


def resolve_platform_digest(reference: str, *, os_name: str, architecture: str) -> str:
    """The manifest digest `reference` gives for one platform now: an index's entry for it,
    or the one manifest, whose config must be for it (BaseError names both platforms).

    For `envbuild lock`. Raises InputError (bad reference, no such tag or platform) or
    RegistryError (exit 3).
    """
    ref = parse_reference(reference, what="[image] base")
    registry = open_registry(ref)
    try:
        digest = ref.digest or registry.manifest_digest(ref)
        if digest is None:
            raise InputError(f"base {reference}: the registry has no such tag",
                             hint="check the name and tag, or pin it by digest")
        top = json_object(reference, _fetch(registry, ref, digest))
        if top.get("mediaType") in INDEX_TYPES or "manifests" in top:
            return str(pick_platform(reference, top, os_name, architecture)["digest"])
        config_digest = str(top.get("config", {}).get("digest", ""))
        with tempfile.TemporaryDirectory(prefix="envbuild-base-") as tmp:
            path = Path(tmp) / "config"
            registry.get_blob(ref.repository, config_digest, path)
            config = json_object(reference, path.read_bytes())
        check_platform(reference, config, os_name, architecture)
        return digest
    finally:
        registry.close()


def _fetch(registry: Registry, ref: Reference, digest: str) -> bytes:
    try:
        return registry.get_manifest(ref.with_digest(digest)).data
    except NotFound:
        raise InputError(f"base {ref}: the registry has no manifest {digest}",
                         hint="check the name and digest") from None


def read_registry_base(reference: str, *, os_name: str, architecture: str, store: Store,
                       offline: bool, pinned: str,
                       progress: Callable[[str], None] = lambda _: None) -> BaseImage:
    """Pull (or read from the cache) the base for one platform: exactly the manifest
    `pinned` (the lock's digest for this platform) names."""
    ref = parse_reference(reference, what="[image] base")
    puller = _Puller(ref, store, offline, progress)
    try:
        manifest_digest, manifest = pinned, puller.manifest(pinned)
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            raise CheckFailed(f"base {reference}: the lock pins {pinned}, an index, not the "
                              f"manifest for {os_name}/{architecture}",
                              hint="re-lock it with `envbuild lock`")
        config_digest = str(manifest.get("config", {}).get("digest", ""))
        config = json_object(reference, puller.blob(config_digest, "config"))
        check_platform(reference, config, os_name, architecture)
        for position, layer in enumerate(manifest.get("layers", [])):
            puller.blob(str(layer.get("digest", "")), f"layer {position}",
                        size=int(layer.get("size", 0)))
        if puller.missing:
            raise BaseMissingOffline(f"--offline: base {reference} is not (all) in the cache "
                                     f"{store.root}: missing " + ", ".join(puller.missing),
                                     hint="run once without --offline")
    finally:
        puller.close()
    return make_base(reference, manifest_digest, manifest, config, store.root / "blobs", store)


class _Puller:
    def __init__(self, ref: Reference, store: Store, offline: bool,
                 progress: Callable[[str], None]) -> None:
        self.ref, self.store, self.offline, self.progress = ref, store, offline, progress
        self.missing: list[str] = []
        self._registry: Registry | None = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = open_registry(self.ref)
        return self._registry

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()

    def manifest(self, digest: str) -> dict[str, Any]:
        path = self.store.blob_path(digest)
        if not path.is_file():
            if self.offline:
                raise BaseMissingOffline(f"--offline: base manifest {digest} of {self.ref} "
                                         f"is not in the cache {self.store.root}",
                                         hint="run once without --offline")
            try:
                fetched = self.registry.get_manifest(self.ref.with_digest(digest))
            except NotFound:
                raise CheckFailed(f"base {self.ref}: the registry has no manifest {digest}",
                                  hint="the pinned digest is wrong (or the image was deleted); "
                                       "fix [image] base or re-lock") from None
            with self.store.temp_file() as tmp:
                tmp.write_bytes(fetched.data)
                self.store.commit(tmp, path)
        else:
            self.store.touch(path)  # used now: `cache prune --older-than` keeps it
        return json_object(str(self.ref), _checked(path.read_bytes(), digest, str(self.ref)))

    def blob(self, digest: str, what: str, size: int = 0) -> bytes:
        path = self.store.blob_path(digest)
        if path.is_file():
            self.store.touch(path)
            return path.read_bytes() if what == "config" else b""
        if self.offline:
            self.missing.append(f"{what} {digest}")
            return b"{}"
        self.progress(f"pulling base {what} {digest[:19]} ({size} bytes)")
        with self.store.temp_file() as tmp:
            self.registry.get_blob(self.ref.repository, digest, tmp)
            self.store.commit(tmp, path)
        return path.read_bytes() if what == "config" else b""


def _checked(data: bytes, digest: str, where: str) -> bytes:
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise CheckFailed(f"base {where}: cached blob {digest} does not match its digest",
                          hint="run `envbuild cache prune --all`")
    return data
