"""Make an image's attestations at push, and read them back checked for `image inspect`.

A check regenerates the documents from the local lock and the push record beside it and
compares bytes: they are reproducible, so any changed byte in the registry shows, not only
a digest that does not match its bytes. The builder version, the source commit and the lock
and input hashes (and the SBOM's dataset digests) are the facts the local lock cannot
confirm (an older lock that builds the same image made them); they are taken from the
document being checked, so a change to another target or a dataset never makes an image's
attestations wrong.

Policy at push: an image keeps one SBOM and one provenance. A document already attached
that the check passes is kept, not replaced by one made from the newer lock (so a signature
over it stays valid); only a missing or failing one is attached anew, as the only one of its
kind in the referrers tag's index.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envbuild import __version__
from envbuild.errors import CheckFailed, InputError
from envbuild.image.builders.interface import TargetImage
from envbuild.image.config import MANIFEST
from envbuild.image.registry.distribution import open_registry
from envbuild.image.registry.interface import (
    INDEX_TYPES,
    NotFound,
    Reference,
    Registry,
    parse_reference,
)
from envbuild.lockfile.model import Lock

from . import PROVENANCE_TYPE, SBOM_TYPE, Subject

if TYPE_CHECKING:
    from envbuild.cluster.images import PinnedImage
from .provenance import provenance_bytes, recorded_build, recorded_lock, source_commit
from .referrers import attach, find, read
from .sbom import lock_datasets, recorded_datasets, sbom_bytes

Attacher = Callable[[Registry, Reference, TargetImage], tuple[str, ...]]
KINDS = {"sbom": SBOM_TYPE, "provenance": PROVENANCE_TYPE}


@dataclass(frozen=True, kw_only=True, slots=True)
class Attestation:
    kind: str  # "sbom" | "provenance"
    artifact_type: str
    data: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class Inspected:
    """A checked attached document, and what the reader should know about it."""

    data: bytes
    notes: tuple[str, ...] = ()  # e.g. it was made from an older lock that builds this image


def attestations(lock: Lock, subject: Subject, *, builder_version: str = __version__,
                 commit: str | None) -> tuple[Attestation, ...]:
    """Both documents of one image, in a fixed order."""
    return (Attestation(kind="sbom", artifact_type=SBOM_TYPE, data=sbom_bytes(lock, subject)),
            Attestation(kind="provenance", artifact_type=PROVENANCE_TYPE,
                        data=provenance_bytes(lock, subject, builder_version=builder_version,
                                              commit=commit)))


def attacher(lock: Lock, project_dir: Path, epoch: int) -> Attacher:
    """What push calls per pushed image: see that it has one SBOM and one provenance that
    pass the check (keeping those attached already), return the referrers' manifest
    digests. The source commit is looked up once, here."""
    commit = source_commit(project_dir)

    def attach_all(registry: Registry, repository: Reference,
                   image: TargetImage) -> tuple[str, ...]:
        subject = Subject(target=image.name, digest=image.digest, image_hash=image.image_hash,
                          epoch=epoch)
        descriptor = {"mediaType": MANIFEST, "digest": image.digest,
                      "size": len(image.entry.manifest)}
        # Attaching what is attached already is idempotent; `sole` takes any other document
        # of the kind off the referrers tag's index.
        return tuple(attach(registry, repository, descriptor, a.artifact_type,
                            _kept(registry, repository, lock, subject, a) or a.data, sole=True)
                     for a in attestations(lock, subject, commit=commit))

    return attach_all


def _kept(registry: Registry, repository: Reference, lock: Lock, subject: Subject,
          made: Attestation) -> bytes | None:
    """The attached document of `made`'s kind to keep: `made` itself when attached, else the
    first that passes the check; None when none does."""
    where = f"{repository}@{subject.digest}"
    passing: list[bytes] = []
    for descriptor in find(registry, repository, subject.digest, made.artifact_type):
        try:
            data = read(registry, repository, descriptor, subject.digest, made.artifact_type)
            _check(lock, subject, made.kind, data, where)
        except (CheckFailed, NotFound):  # changed or gone: replaced below
            continue
        passing.append(data)
    return made.data if made.data in passing else next(iter(passing), None)


def pushed_target(lock: Lock, lock_path: Path, target: str | None) -> tuple[str, PinnedImage]:
    """The target (`target`, else the lock's only one) and what `envbuild image --push`
    recorded for it beside the lock; InputError when either is missing."""
    from envbuild.cluster.images import read_record, record_path

    if target is None:
        if len(lock.targets) != 1:
            raise InputError("the lock has several targets; name one with --target T",
                             hint="targets: " + ", ".join(sorted(lock.targets)))
        (target,) = lock.targets
    if target not in lock.targets:
        raise InputError(f'no target "{target}" in the lock',
                         hint="targets: " + ", ".join(sorted(lock.targets)))
    record = read_record(lock_path)
    if target not in record:
        raise InputError(f'target "{target}" has no pushed image recorded in '
                         f"{record_path(lock_path).name}",
                         hint=f"run `envbuild image --push --target {target}` first")
    return target, record[target][0]


def inspect(lock: Lock, lock_path: Path, target: str | None, kind: str) -> Inspected:
    """The `kind` document attached to the target's pushed image, checked (CheckFailed)
    against what the local lock gives for that image."""
    target, pinned = pushed_target(lock, lock_path, target)
    if pinned.image_hash is None:
        raise InputError(f'target "{target}": the push record names no image hash',
                         hint=f"run `envbuild image --push --target {target}` again")
    repository = parse_reference(pinned.ref, what="recorded image")
    registry = open_registry(repository)
    try:
        digest = _image_digest(registry, repository, pinned.digest,
                               lock.targets[target].platform)
        subject = Subject(target=target, digest=digest, image_hash=pinned.image_hash,
                          epoch=pinned.epoch or 0)
        where = f"{pinned.ref}@{digest}"
        found = find(registry, repository, digest, KINDS[kind])
        if not found:
            raise CheckFailed(f"{where}: no {kind} is attached",
                              hint=f"run `envbuild image --push --target {target}`, which "
                                   "attaches it")
        documents = [read(registry, repository, d, digest, KINDS[kind]) for d in found]
    finally:
        registry.close()
    notes = [note for data in documents if (note := _check(lock, subject, kind, data, where))]
    return Inspected(data=documents[0], notes=tuple(dict.fromkeys(notes)))


def _image_digest(registry: Registry, repository: Reference, recorded: str,
                  platform: str) -> str:
    """The target's image manifest digest: the recorded digest, or, when targets that
    differ only in platform went out as one index, the index's entry for this platform
    (attestations are attached to image manifests, not to the index)."""
    fetched = registry.get_manifest(repository.with_digest(recorded))  # checked
    if fetched.media_type not in INDEX_TYPES:
        return recorded
    os_name, _, architecture = platform.partition("/")
    try:
        entries = json.loads(fetched.data)["manifests"]
        matches = [str(m["digest"]) for m in entries
                   if m.get("platform", {}).get("os") == os_name
                   and m.get("platform", {}).get("architecture") == architecture]
    except (ValueError, KeyError, TypeError, AttributeError):
        matches = []
    if len(matches) != 1:
        raise CheckFailed(f"{repository}@{recorded}: the index has no single {platform} "
                          "image", hint="push again: `envbuild image --push`")
    return matches[0]


def _check(lock: Lock, subject: Subject, kind: str, data: bytes, where: str) -> str | None:
    """CheckFailed unless `data` is the `kind` document of `subject` as the lock gives it;
    a note when it was made from an older lock that builds the same image."""
    note = None
    if kind == "sbom":
        try:
            datasets = recorded_datasets(data)
        except ValueError as error:
            raise CheckFailed(f"{where}: the attached SBOM is {error}") from None
        expected = sbom_bytes(lock, subject, datasets=datasets)
        if datasets != lock_datasets(lock):
            note = (f"{where}: the SBOM lists the datasets of an older lock that builds the "
                    f"same {subject.target} image (datasets now: "
                    f"{', '.join(f'{n} {d}' for n, d in sorted(lock_datasets(lock).items())) or 'none'})")
    else:
        try:
            version, commit = recorded_build(data)
            lock_hash, input_hash = recorded_lock(data)
        except ValueError as error:
            raise CheckFailed(f"{where}: the attached provenance is {error}") from None
        expected = provenance_bytes(lock, subject, builder_version=version, commit=commit,
                                    lock_hashes=(lock_hash, input_hash))
        if lock_hash != lock.lock_hash:
            note = (f"{where}: the provenance was made from the lock {lock_hash}, an older "
                    f"lock that builds the same {subject.target} image (the lock is now "
                    f"{lock.lock_hash})")
    if data != expected:
        at = next((i for i, (a, b) in enumerate(zip(data, expected, strict=False)) if a != b),
                  min(len(data), len(expected)))
        raise CheckFailed(f"{where}: the attached {kind} is not what the lock and the push "
                          f"record give (first difference at byte {at})",
                          hint="it was changed in the registry, or the target changed since "
                               "the push; push again (which replaces it) or investigate")
    return note
