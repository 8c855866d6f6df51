"""A CycloneDX 1.6 SBOM of one target's image, byte-reproducible.

It holds the target's packages, the base by digest, the target and image hashes, and the
dataset digests of the lock the image was built with. Not the lock hash: a change to another
target leaves the image, and so its SBOM, as they were. A dataset change leaves the image
as it was too, so a check takes the datasets from the SBOM being checked
(`recorded_datasets`) and notes when the lock now names others.

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

from envbuild.canonical import is_hash
from envbuild.lockfile.model import Lock
from envbuild.safepath import component_problem

from . import Subject

_ALGORITHMS = {"sha256": HashAlgorithm.SHA_256, "blake3": HashAlgorithm.BLAKE3}


def serial_number(lock: Lock, subject: Subject) -> uuid.UUID:
    """One serial per (target, image): a rebuild of the same image keeps it, whatever else
    of the lock changed."""
    target = lock.targets[subject.target]
    return uuid.uuid5(uuid.NAMESPACE_URL,
                      f"envbuild:{subject.target}:{target.hash}:{subject.image_hash}")


def sbom_bytes(lock: Lock, subject: Subject, *, datasets: dict[str, str] | None = None) -> bytes:
    """The SBOM of `subject`: every locked package of its target, the base by digest, and
    the datasets (name -> digest; default: the lock's)."""
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
    for name, dataset_digest in sorted((lock_datasets(lock) if datasets is None
                                        else datasets).items()):
        bom.components.add(Component(
            type=ComponentType.DATA, name=name, bom_ref=BomRef(f"dataset:{name}"),
            hashes=[_hash(dataset_digest)],
            properties=[Property(name="envbuild:role", value="dataset")]))
    bom.register_dependency(image, list(bom.components))
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def lock_datasets(lock: Lock) -> dict[str, str]:
    """Dataset name -> digest, as the lock records them."""
    return {name: str(dataset["digest"]) for name, dataset in lock.datasets.items()}


def recorded_datasets(data: bytes) -> dict[str, str]:
    """Dataset name -> digest an SBOM lists (the lock it was made from may be older than the
    local one and build the same image). ValueError when malformed."""
    names = {v.value: k for k, v in _ALGORITHMS.items()}
    found: dict[str, str] = {}
    try:
        for component in json.loads(data).get("components", []):
            roles = [p.get("value") for p in component.get("properties", [])
                     if p.get("name") == "envbuild:role"]
            if roles != ["dataset"]:
                continue
            (hashed,) = component["hashes"]
            digest = f"{names[hashed['alg']]}:{hashed['content']}"
            name = component["name"]
            if not is_hash(digest) or not isinstance(name, str) or component_problem(name):
                raise ValueError(repr(name))
            found[name] = digest
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not an envbuild SBOM (datasets: {error})") from None
    return found


def _hash(text: str) -> HashType:
    algorithm, _, hexdigest = text.partition(":")
    return HashType(alg=_ALGORITHMS[algorithm], content=hexdigest)
