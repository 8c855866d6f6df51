"""A CycloneDX 1.6 SBOM of one target's image, byte-reproducible.

It holds only facts of the image: the target's packages, the base by digest, the target and
image hashes. Not the lock hash nor the datasets (no image holds a dataset): a change to
another target or a dataset leaves the image, and so its SBOM, as they were.

The library stamps a random serial number, random bom-refs and the wall clock by default;
each is set here from the lock and SOURCE_DATE_EPOCH instead, and the JSON is re-serialised
with sorted keys, so the bytes are a function of the lock, the image and the epoch only.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.bom_ref import BomRef
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from envbuild.lockfile.model import Lock

from . import Subject

_ALGORITHMS = {"sha256": HashAlgorithm.SHA_256, "blake3": HashAlgorithm.BLAKE3}


def serial_number(lock: Lock, subject: Subject) -> uuid.UUID:
    """One serial per (target, image): a rebuild of the same image keeps it, whatever else
    of the lock changed."""
    target = lock.targets[subject.target]
    return uuid.uuid5(uuid.NAMESPACE_URL,
                      f"envbuild:{subject.target}:{target.hash}:{subject.image_hash}")


def sbom_bytes(lock: Lock, subject: Subject) -> bytes:
    """The SBOM of `subject`: every locked package of its target, the base by digest."""
    target = lock.targets[subject.target]
    image = Component(type=ComponentType.CONTAINER, name=f"{lock.name}/{subject.target}",
                      version=subject.digest, bom_ref=BomRef("image"),
                      hashes=[_hash(subject.digest)],
                      properties=[Property(name="envbuild:image-hash", value=subject.image_hash),
                                  Property(name="envbuild:target-hash", value=target.hash)])
    bom = Bom(serial_number=serial_number(lock, subject),
              metadata=BomMetaData(timestamp=datetime.fromtimestamp(subject.epoch, tz=UTC),
                                   component=image))
    packages: dict[str, Component] = {}
    for package in target.packages:
        purl = PackageURL(type="pypi", name=package.name, version=package.version)
        packages[package.name] = Component(
            type=ComponentType.LIBRARY, name=package.name, version=package.version,
            purl=purl, bom_ref=BomRef(purl.to_string()),
            hashes=[_hash(package.artifact.hash)],
            properties=[Property(name="envbuild:file", value=package.artifact.file)])
        bom.components.add(packages[package.name])
    # The dependency graph is the lock's: the image holds every package; each package
    # needs the locked packages it names.
    for package in target.packages:
        bom.register_dependency(packages[package.name],
                                [packages[n] for n in package.dependencies if n in packages])
    if target.base is not None and target.base_digest is not None:
        name = target.base.split("@", 1)[0]
        bom.components.add(Component(
            type=ComponentType.CONTAINER, name=name, version=target.base_digest,
            bom_ref=BomRef("base-image"), hashes=[_hash(target.base_digest)],
            properties=[Property(name="envbuild:role", value="base image")]))
    bom.register_dependency(image, list(bom.components))
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _hash(text: str) -> HashType:
    algorithm, _, hexdigest = text.partition(":")
    return HashType(alg=_ALGORITHMS[algorithm], content=hexdigest)
