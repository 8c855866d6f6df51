"""OCI 1.1 referrers: artifacts attached to an image manifest, pushed and read back.

An attestation goes up as an artifact manifest (an OCI image manifest with `artifactType`,
the empty config and one layer holding the document) whose `subject` is the image manifest.
A registry with the referrers API indexes it by itself; one without (it answers the API with
404, as Debian's docker-registry does) gets the referrers tag schema: the tag
`sha256-<hex of the subject>` holds an image index listing the referrers, updated here.
Updating that tag is read-modify-write: two pushers attaching to one image at once can drop
each other's entry (the OCI spec's known limit of the fallback); a re-push puts it back.
`sole=True` makes the new referrer the only one of its artifact type in that index (a
registry's own referrers API lists every artifact manifest whose subject is the image, and
none can be taken off it short of deleting the manifest).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from envbuild.canonical import canonical_bytes
from envbuild.errors import CheckFailed
from envbuild.image.config import MANIFEST
from envbuild.image.layout import sha256
from envbuild.image.registry.interface import OCI_INDEX, NotFound, Reference, Registry

EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
_DOCUMENT_BYTES = 64 << 20  # an attestation larger than this is refused, not read


def fallback_tag(subject_digest: str) -> str:
    """The referrers tag schema's tag for a subject: `sha256-<hex>`."""
    algorithm, _, hexdigest = subject_digest.partition(":")
    return f"{algorithm}-{hexdigest}"


def artifact_manifest(subject: dict[str, Any], artifact_type: str, payload: bytes) -> bytes:
    """The artifact manifest of `payload`; `subject` is the image's descriptor."""
    return canonical_bytes({
        "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_TYPE, "digest": sha256(EMPTY), "size": len(EMPTY)},
        "layers": [{"mediaType": artifact_type, "digest": sha256(payload),
                    "size": len(payload)}],
        "subject": subject})


def attach(registry: Registry, repository: Reference, subject: dict[str, Any],
           artifact_type: str, payload: bytes, *, sole: bool = False) -> str:
    """Push `payload` as a referrer of `subject` (idempotent); return its manifest digest.
    `sole`: list no other referrer of this artifact type in the referrers tag's index."""
    name = repository.repository
    for blob in (EMPTY, payload):
        if not registry.has_blob(name, sha256(blob)):
            _put_bytes(registry, name, blob)
    manifest = artifact_manifest(subject, artifact_type, payload)
    digest = sha256(manifest)
    if registry.manifest_digest(repository.with_digest(digest)) != digest:
        registry.put_manifest(repository.with_digest(digest), MANIFEST, manifest)
    if registry.referrers(name, subject["digest"]) is None:
        _add_to_fallback(registry, repository, subject["digest"], {
            "mediaType": MANIFEST, "digest": digest, "size": len(manifest),
            "artifactType": artifact_type}, sole=sole)
    return digest


def find(registry: Registry, repository: Reference, subject_digest: str,
         artifact_type: str) -> list[dict[str, Any]]:
    """Descriptors of the referrers of `subject_digest` with this artifact type."""
    listed = registry.referrers(repository.repository, subject_digest)
    if listed is None:
        listed = _fallback_index(registry, repository, subject_digest)
    return sorted((d for d in listed if d.get("artifactType") == artifact_type),
                  key=lambda d: str(d.get("digest")))


def read(registry: Registry, repository: Reference, descriptor: dict[str, Any],
         subject_digest: str, artifact_type: str) -> bytes:
    """The document a referrer holds, every digest on the way checked: the artifact
    manifest against the descriptor, its subject against the image, the layer's bytes
    against the layer's digest and size (CheckFailed, exit 1, on any difference)."""
    ref = repository.with_digest(str(descriptor.get("digest")))
    fetched = registry.get_manifest(ref)  # checked against ref.digest
    try:
        manifest = json.loads(fetched.data)
        subject, layers = manifest["subject"]["digest"], manifest["layers"]
        (layer,) = layers
        digest, size = str(layer["digest"]), int(layer["size"])
    except (ValueError, KeyError, TypeError) as error:
        raise CheckFailed(f"{ref}: not an artifact manifest with one layer ({error})") from None
    if subject != subject_digest or manifest.get("artifactType") != artifact_type:
        raise CheckFailed(f"{ref}: its subject is {subject}, not the image {subject_digest}"
                          if subject != subject_digest else
                          f"{ref}: its artifactType is not {artifact_type}")
    if not 0 <= size <= _DOCUMENT_BYTES:
        raise CheckFailed(f"{ref}: its document's size {size} is out of bounds")
    with tempfile.TemporaryDirectory(prefix="envbuild-referrer-") as folder:
        path = Path(folder) / "document"
        registry.get_blob(repository.repository, digest, path)  # checked against its digest
        data = path.read_bytes()
    if len(data) != size:
        raise CheckFailed(f"{ref}: its document has {len(data)} bytes, the manifest says {size}")
    return data


def _fallback_index(registry: Registry, repository: Reference,
                    subject_digest: str) -> list[dict[str, Any]]:
    try:
        fetched = registry.get_manifest(repository.with_tag(fallback_tag(subject_digest)))
    except NotFound:
        return []
    try:
        manifests = json.loads(fetched.data)["manifests"]
    except (ValueError, KeyError, TypeError):
        manifests = None
    if fetched.media_type != OCI_INDEX or not isinstance(manifests, list) or \
            not all(isinstance(m, dict) for m in manifests):
        raise CheckFailed(f"{repository}:{fallback_tag(subject_digest)} is not an OCI image "
                          "index of referrers")
    return manifests


def _add_to_fallback(registry: Registry, repository: Reference, subject_digest: str,
                     descriptor: dict[str, Any], *, sole: bool) -> None:
    listed = _fallback_index(registry, repository, subject_digest)
    kept = [d for d in listed if d.get("digest") != descriptor["digest"] and
            not (sole and d.get("artifactType") == descriptor["artifactType"])]
    if len(kept) + 1 == len(listed) and \
            any(d.get("digest") == descriptor["digest"] for d in listed):
        return  # listed already, and nothing to take off
    index = canonical_bytes({"schemaVersion": 2, "mediaType": OCI_INDEX,
                             "manifests": sorted([*kept, descriptor],
                                                 key=lambda d: str(d.get("digest")))})
    registry.put_manifest(repository.with_tag(fallback_tag(subject_digest)), OCI_INDEX, index)


def _put_bytes(registry: Registry, repository: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="envbuild-referrer-") as folder:
        path = Path(folder) / "blob"
        path.write_bytes(data)
        registry.put_blob(repository, sha256(data), path)
