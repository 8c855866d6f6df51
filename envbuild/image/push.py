"""Publishing built images to a registry, asking it each time what it already has.

Each target's image is tagged `lock-<first 12 hex of its image hash>`; targets that differ
only in platform go out together as one OCI image index, tagged `lock-<12 hex of a hash
of their image hashes>` (each image hash covers its target hash). Order: the tag is looked
up first and, when it already names our digest, nothing else happens (no local memo is
trusted); otherwise every blob the registry lacks is uploaded, then the manifests by
digest, and the tag last, so a failed push leaves nothing a client can see by tag.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envbuild.canonical import canonical_bytes
from envbuild.canonical import digest as canonical_digest
from envbuild.errors import CheckFailed, InputError
from envbuild.image.builders.interface import BuildResult, TargetImage
from envbuild.image.config import MANIFEST
from envbuild.image.layout import sha256
from envbuild.image.registry.distribution import open_registry
from envbuild.image.registry.interface import OCI_INDEX, Reference, Registry, parse_reference
from envbuild.image.store import Store
from envbuild.lockfile.model import Lock, LockedTarget

if TYPE_CHECKING:
    from envbuild.supplychain.attest import Attacher


@dataclass(frozen=True, kw_only=True, slots=True)
class Pushed:
    reference: str  # repository:tag
    digest: str  # what the tag names now
    targets: tuple[str, ...]
    uploaded: tuple[str, ...]  # blob digests sent
    present: int  # blobs the registry already had
    unchanged: bool  # the tag already named this digest: nothing was sent
    referrers: tuple[str, ...] = ()  # attestation manifests attached to the images

    def document(self) -> dict[str, object]:
        return {"reference": self.reference, "digest": self.digest,
                "targets": list(self.targets), "uploaded": list(self.uploaded),
                "present": self.present, "unchanged": self.unchanged,
                "referrers": list(self.referrers)}


def tag_for(image_hash: str) -> str:
    return "lock-" + image_hash.split(":", 1)[1][:12]


def repository_ref(text: str) -> Reference:
    ref = parse_reference(text, what="--push repository")
    if ref.tag or ref.digest:
        raise InputError(f'--push "{text}" names a tag or digest; give a repository',
                         hint="tags are chosen by envbuild: lock-<image hash>")
    return ref


def group_by_platform(lock: Lock, names: Sequence[str]) -> list[tuple[str, ...]]:
    """Targets that differ only in platform, together; every other target alone."""
    groups: dict[str, list[str]] = {}
    for name in sorted(names):
        groups.setdefault(canonical_digest(_sameness(lock.targets[name])), []).append(name)
    out: list[tuple[str, ...]] = []
    for members in groups.values():
        platforms = {lock.targets[n].platform for n in members}
        if len(platforms) == len(members):
            out.append(tuple(members))
        else:
            out.extend((n,) for n in members)
    return sorted(out)


def _sameness(t: LockedTarget) -> dict[str, object]:
    return {"python": t.python, "cuda": t.cuda, "gpus": list(t.gpus),
            "requirements": list(t.requirements), "resolver": t.resolver,
            "driver_floor": t.driver_floor}


def push_result(result: BuildResult, lock: Lock, repository: Reference, store: Store,
                progress: Callable[[str], None], *, base: str | None = None,
                attach: Attacher | None = None) -> list[Pushed]:
    """Push every built target; `base` (a registry reference) lends its layers by mount;
    `attach` adds each image's attestations as referrers once the image is up."""
    mount_from = None
    if base is not None and not base.startswith("oci:"):
        base_ref = parse_reference(base)
        if base_ref.registry == repository.registry:
            mount_from = base_ref.repository
    registry = open_registry(repository)
    try:
        pushed = []
        for group in group_by_platform(lock, list(result.targets)):
            images = [result.targets[n] for n in group]
            done = _push_group(registry, repository, images, store, progress, mount_from)
            if attach is not None:
                # Also after an unchanged push: attaching is idempotent and repairs a
                # referrer that went missing.
                referrers = tuple(d for i in images for d in attach(registry, repository, i))
                progress(f"{done.reference}: attestations in place: {len(referrers)} (SBOM and "
                         "provenance per image, attached where missing or changed)")
                done = dataclasses.replace(done, referrers=referrers)
            pushed.append(done)
        return pushed
    finally:
        registry.close()


def index_bytes(images: Sequence[TargetImage]) -> bytes:
    return canonical_bytes({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": MANIFEST, "digest": i.digest, "size": len(i.entry.manifest),
                       "platform": {"os": i.platform[0], "architecture": i.platform[1]}}
                      for i in sorted(images, key=lambda i: i.platform)]})


def _push_group(registry: Registry, repository: Reference, images: list[TargetImage],
                store: Store, progress: Callable[[str], None], mount_from: str | None) -> Pushed:
    if len(images) == 1:
        top, media_type = images[0].entry.manifest, MANIFEST
        tag = tag_for(images[0].image_hash)
    else:
        top, media_type = index_bytes(images), OCI_INDEX
        tag = tag_for(canonical_digest(sorted(i.image_hash for i in images)))
    ref = repository.with_tag(tag)
    names = tuple(i.name for i in images)
    if registry.manifest_digest(ref) == sha256(top):
        progress(f"{ref}: already {sha256(top)}; nothing to push")
        return Pushed(reference=str(ref), digest=sha256(top), targets=names, uploaded=(),
                      present=0, unchanged=True)
    uploaded: list[str] = []
    present = 0
    for image in images:
        blobs: list[tuple[str, Path | bytes, str]] = [
            (image.config_digest, image.entry.config, "config")]
        paths = dict(image.entry.blobs)
        blobs += [(layer.digest, paths[layer.digest], layer.name) for layer in image.layers]
        for digest, source, what in blobs:
            if digest in uploaded:
                continue
            if registry.has_blob(repository.repository, digest):
                present += 1
                continue
            if mount_from and what.startswith("base layer") and \
                    registry.mount_blob(repository.repository, digest, mount_from):
                progress(f"{image.name}: mounted {what} from {mount_from}")
                present += 1
                continue
            progress(f"{image.name}: pushing {what} {digest[:19]}")
            start = time.perf_counter()
            _upload(registry, repository.repository, digest, source, store)
            progress(f"{image.name}: pushed {what} {digest[:19]} in "
                     f"{time.perf_counter() - start:.1f}s")
            uploaded.append(digest)
        if len(images) > 1:
            registry.put_manifest(repository.with_digest(image.digest), MANIFEST,
                                  image.entry.manifest)
    reported = registry.put_manifest(ref, media_type, top)
    if reported != sha256(top):
        raise CheckFailed(f"{ref}: the registry stored digest {reported}, not {sha256(top)}",
                          hint="the registry rewrote the manifest; use another registry")
    progress(f"{ref}: pushed {sha256(top)} ({len(uploaded)} blobs sent, {present} present)")
    return Pushed(reference=str(ref), digest=sha256(top), targets=names,
                  uploaded=tuple(uploaded), present=present, unchanged=False)


def _upload(registry: Registry, repository: str, digest: str, source: Path | bytes,
            store: Store) -> None:
    if isinstance(source, Path):
        registry.put_blob(repository, digest, source)
        return
    with store.temp_file() as tmp:
        tmp.write_bytes(source)
        registry.put_blob(repository, digest, tmp)


def push_layout(folder: Path, ref: Reference, progress: Callable[[str], None] = lambda _: None
                ) -> str:
    """Push the one image of an OCI layout (a base made by scripts/make-base) to `ref`."""
    import json

    index = json.loads((folder / "index.json").read_bytes())
    descriptor = index["manifests"][0]
    blob = folder / "blobs" / "sha256"
    manifest = (blob / descriptor["digest"].split(":")[1]).read_bytes()
    document = json.loads(manifest)
    registry = open_registry(ref)
    try:
        for item in [document["config"], *document["layers"]]:
            if not registry.has_blob(ref.repository, item["digest"]):
                progress(f"pushing {item['digest'][:19]} ({item['size']} bytes)")
                registry.put_blob(ref.repository, item["digest"],
                                  blob / item["digest"].split(":")[1])
        return registry.put_manifest(ref, document.get("mediaType", MANIFEST), manifest)
    finally:
        registry.close()
