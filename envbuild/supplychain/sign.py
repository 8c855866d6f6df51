"""Sign a pushed image and its attestations with an ed25519 key; verify that signature.

What is signed is an in-toto statement whose subject is the image manifest digest and whose
predicate lists the artifact manifest digests of the SBOM and provenance attached to it (an
artifact manifest names its document by digest, so one changed byte anywhere changes a
listed digest). It goes up wrapped in DSSE (securesystemslib) as one more OCI referrer of
the image. Only digests are ever signed: a tag can move after signing, a digest cannot.
ed25519 signatures are deterministic, so signing again with the same key attaches nothing new.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError

# The package re-exports these without __all__, which mypy strict reads as private.
from securesystemslib.signer import CryptoSigner, SSlibKey  # type: ignore[attr-defined]

from envbuild.canonical import canonical_bytes
from envbuild.errors import CheckFailed, InputError
from envbuild.image.config import MANIFEST
from envbuild.image.registry.distribution import open_registry
from envbuild.image.registry.interface import (
    INDEX_TYPES,
    NotFound,
    Reference,
    Registry,
    parse_reference,
)
from envbuild.inputfiles import read_input_bytes
from envbuild.lockfile.model import Lock
from envbuild.scrub import escape

from . import PROVENANCE_TYPE, SBOM_TYPE
from .referrers import attach, find, read

SIGNATURE_TYPE = "application/vnd.dsse.envelope.v1+json"  # in-toto's DSSE media type
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://envbuild.dev/signed-image/v1"
KINDS_BY_TYPE = {SBOM_TYPE: "sbom", PROVENANCE_TYPE: "provenance"}
_KEY_BYTES = 16 << 10  # a PEM ed25519 key is ~120 bytes; anything near this is not one


@dataclass(frozen=True, kw_only=True, slots=True)
class Signed:
    """What one signature covers: the image and its attestations, by digest."""

    image: str  # sha256:<hex> of the image manifest
    attestations: tuple[tuple[str, str], ...]  # (artifact type, artifact manifest digest)
    keyid: str
    signature: str = ""  # the signature referrer's manifest digest ("" before attaching)


def generate_key(path: Path) -> str:
    """Write a new ed25519 private key to `path` (0600, PEM PKCS#8, never overwritten) and
    its public key to `path`.pub; return the key id. No key material is returned."""
    if not path.parent.is_dir():
        # Not made here: a key's folder wants the owner's choice of place and mode.
        raise InputError(f"{escape(str(path))}: the folder {escape(str(path.parent))} does "
                         "not exist", hint=f"create it first (mkdir -m 700 -p "
                                           f"{escape(str(path.parent))}), or name a file in "
                                           "an existing folder")
    signer = CryptoSigner.generate_ed25519()
    public = Path(f"{path}.pub")
    for target in (path, public):
        if target.exists() or target.is_symlink():
            raise InputError(f"{escape(str(target))} exists; refusing to overwrite a key",
                             hint="name a new file, or remove the old key first")
    _write(path, signer.private_bytes, 0o600)
    _write(public, _public_pem(signer.public_key), 0o644)
    return signer.public_key.keyid


def load_signer(path: Path) -> CryptoSigner:
    """The signer of an ed25519 private key file (InputError, exit 2, for anything else)."""
    data = read_input_bytes(path, what="private key file", limit=_KEY_BYTES)
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:  # a wrong format or an encrypted key
        raise InputError(f"{escape(str(path))}: not an unencrypted PEM private key "
                         f"({type(error).__name__})",
                         hint="make one with `envbuild image sign --generate-key FILE`") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise InputError(f"{escape(str(path))}: not an ed25519 private key",
                         hint="make one with `envbuild image sign --generate-key FILE`")
    return CryptoSigner(private)


def load_public_key(path: Path) -> SSlibKey:
    """The ed25519 public key in a PEM file (InputError, exit 2, for anything else)."""
    data = read_input_bytes(path, what="public key file", limit=_KEY_BYTES)
    try:
        public = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise InputError(f"{escape(str(path))}: not a PEM public key",
                         hint="give the FILE.pub written by `envbuild image sign "
                              "--generate-key FILE`") from None
    if not isinstance(public, Ed25519PublicKey):
        raise InputError(f"{escape(str(path))}: not an ed25519 public key")
    return SSlibKey.from_crypto(public)


def statement(repository: Reference, image: str,
              attestations: tuple[tuple[str, str], ...]) -> bytes:
    """The signed in-toto statement (canonical JSON: one image, one key, the same bytes)."""
    return canonical_bytes({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"{repository.registry}/{repository.repository}",
                     "digest": {"sha256": image.removeprefix("sha256:")}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"attestations": [{"artifactType": kind, "digest": digest}
                                       for kind, digest in attestations]}})


def sign(registry: Registry, repository: Reference, image: str, size: int,
         signer: CryptoSigner) -> Signed:
    """Sign the image `image` (a manifest digest, `size` bytes) and the SBOM and provenance
    attached to it now; attach the envelope as a referrer."""
    where = f"{repository.registry}/{repository.repository}@{image}"
    attested = _attached(registry, repository, image, where)
    for artifact_type, digest in attested:  # each one's digest chain is checked before signing
        read(registry, repository, {"digest": digest}, image, artifact_type)
    envelope = Envelope(payload=statement(repository, image, attested),
                        payload_type=PAYLOAD_TYPE, signatures={})
    envelope.sign(signer)
    subject = {"mediaType": MANIFEST, "digest": image, "size": size}
    digest = attach(registry, repository, subject, SIGNATURE_TYPE,
                    canonical_bytes(envelope.to_dict()))
    return Signed(image=image, attestations=attested, keyid=signer.public_key.keyid,
                  signature=digest)


def verify(registry: Registry, repository: Reference, image: str, key: SSlibKey) -> Signed:
    """Check that a signature by `key` attached to `image` covers this image and exactly the
    SBOM and provenance attached to it now (CheckFailed, exit 1, naming the difference)."""
    where = f"{repository.registry}/{repository.repository}@{image}"
    found = find(registry, repository, image, SIGNATURE_TYPE)
    if not found:
        raise CheckFailed(f"{where}: no signature is attached",
                          hint="sign it: `envbuild image sign --key FILE REF@sha256:...`")
    valid = [(str(d.get("digest")), payload) for d in found
             if (payload := _payload(read(registry, repository, d, image, SIGNATURE_TYPE),
                                     key)) is not None]
    if not valid:
        raise CheckFailed(f"{where}: no attached signature is valid for the key "
                          f"{key.keyid[:16]}",
                          hint="it was signed with another key, or a signature changed")
    parsed = [(signature, *_parse(payload, where)) for signature, payload in valid]
    # One key may have signed earlier states too: any one that covers the image passes.
    mine = [(signature, signed) for signature, signed_image, signed in parsed
            if signed_image == image]
    if not mine:
        raise CheckFailed(f"{where}: the signature is for the image {parsed[0][1]}, "
                          f"not {image}", hint="the image manifest is not the one signed")
    attached = _attached(registry, repository, image, where)
    failures: list[CheckFailed] = []
    for signature, signed in mine:
        try:
            _covers(signed, attached, where)
        except CheckFailed as failure:
            failures.append(failure)
            continue
        for artifact_type, digest in attached:  # the documents' bytes against their digests
            read(registry, repository, {"digest": digest}, image, artifact_type)
        return Signed(image=image, attestations=signed, keyid=key.keyid, signature=signature)
    raise failures[0]


def _covers(signed: tuple[tuple[str, str], ...], attached: tuple[tuple[str, str], ...],
            where: str) -> None:
    """CheckFailed naming the first difference between the signed and the attached
    attestations."""
    for artifact_type in (SBOM_TYPE, PROVENANCE_TYPE):
        now = [d for t, d in attached if t == artifact_type]
        then = [d for t, d in signed if t == artifact_type]
        if now != then:
            raise CheckFailed(f"{where}: the attached {KINDS_BY_TYPE[artifact_type]} is not "
                              f"the signed one (signed {', '.join(then) or 'none'}, attached "
                              f"{', '.join(now) or 'none'})",
                              hint="it was changed in the registry after signing")


def _attached(registry: Registry, repository: Reference, image: str,
              where: str) -> tuple[tuple[str, str], ...]:
    attested: list[tuple[str, str]] = []
    for artifact_type in (SBOM_TYPE, PROVENANCE_TYPE):
        digests = [str(d.get("digest")) for d in find(registry, repository, image,
                                                       artifact_type)]
        if not digests:
            raise CheckFailed(f"{where}: no {KINDS_BY_TYPE[artifact_type]} is attached",
                              hint="`envbuild image --push` attaches the SBOM and provenance")
        attested += [(artifact_type, digest) for digest in digests]
    return tuple(attested)


def _payload(data: bytes, key: SSlibKey) -> bytes | None:
    """The envelope's payload when `key` signed it, else None."""
    try:
        envelope = Envelope.from_dict(json.loads(data))
        envelope.verify([key], 1)
    except (ValueError, KeyError, TypeError, AttributeError, VerificationError):
        return None
    if envelope.payload_type != PAYLOAD_TYPE:
        return None
    return envelope.payload


def _parse(payload: bytes, where: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The image digest and attestations a validly signed statement names."""
    try:
        document: Any = json.loads(payload)
        if document["_type"] != STATEMENT_TYPE or document["predicateType"] != PREDICATE_TYPE:
            raise ValueError("not an envbuild signed-image statement")
        (subject,) = document["subject"]
        image = "sha256:" + str(subject["digest"]["sha256"])
        listed = tuple((str(a["artifactType"]), str(a["digest"]))
                       for a in document["predicate"]["attestations"])
    except (ValueError, KeyError, TypeError) as error:
        raise CheckFailed(f"{where}: the signed statement is malformed ({error})") from None
    return image, listed


def _public_pem(key: SSlibKey) -> bytes:
    raw = bytes.fromhex(key.keyval["public"])
    return Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _write(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: never follow or replace something that appeared since the check above.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as error:
        raise InputError(f"{escape(str(path))}: cannot create ({error.strerror})") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)



def sign_reference(ref: Reference, signer: CryptoSigner) -> Signed:
    """Sign the image manifest `ref` pins by digest (a tag alone is refused: exit 2)."""
    if ref.digest is None:
        raise InputError(f"{ref}: refusing to sign a tag, which can move after signing",
                         hint="name the image by digest (REF@sha256:...), or sign the pushed "
                              "image of a target with --target T")
    registry = open_registry(ref)
    try:
        data = _image_manifest(registry, ref, "sign each target with --target T, or one "
                                              "platform's image by digest:")
        return sign(registry, ref, ref.digest, len(data), signer)
    finally:
        registry.close()


def verify_reference(ref: Reference, key: SSlibKey) -> Signed:
    """Verify the image `ref` names; a tag is resolved to its digest once, here."""
    registry = open_registry(ref)
    try:
        digest = ref.digest or registry.manifest_digest(ref)
        if digest is None:
            raise InputError(f"{ref}: no such image in the registry", hint=_NO_SUCH)
        pinned = ref.with_digest(digest)
        _image_manifest(registry, pinned, "verify each platform's image by digest:")
        return verify(registry, pinned, digest, key)
    finally:
        registry.close()


_NO_SUCH = ("check the repository, tag and digest; `envbuild image --push` prints each "
            "pushed image's digest")


def _image_manifest(registry: Registry, ref: Reference, what_instead: str) -> bytes:
    """The bytes of the image manifest `ref` pins (checked against its digest); InputError
    (exit 2) when the registry has none, or it is an index, whose platforms' manifests carry
    the attestations and signatures: they are named in the hint."""
    try:
        fetched = registry.get_manifest(ref)
    except NotFound:
        raise InputError(f"{ref}: no such image in the registry", hint=_NO_SUCH) from None
    if fetched.media_type not in INDEX_TYPES:
        return fetched.data
    try:
        entries = [(m.get("platform") or {}, str(m["digest"]))
                   for m in json.loads(fetched.data)["manifests"]]
        listed = ", ".join(f"{p.get('os', '?')}/{p.get('architecture', '?')} "
                           f"{ref.registry}/{ref.repository}@{digest}" for p, digest in entries)
    except (ValueError, KeyError, TypeError, AttributeError):
        listed = "(its manifest list is unreadable)"
    raise InputError(f"{ref} is an image index; the SBOM, provenance and signature hang on "
                     "each platform's image manifest",
                     hint=f"{what_instead} {listed}")


def recorded_image(lock: Lock, lock_path: Path, target: str | None) -> Reference:
    """The image manifest `envbuild image --push` recorded for `target`, pinned by digest
    (for targets pushed as one index: this platform's entry)."""
    from .attest import _image_digest, pushed_target

    target, pinned = pushed_target(lock, lock_path, target)
    repository = parse_reference(pinned.ref, what="recorded image")
    registry = open_registry(repository)
    try:
        digest = _image_digest(registry, repository, pinned.digest,
                               lock.targets[target].platform)
    finally:
        registry.close()
    return Reference(registry=repository.registry, repository=repository.repository,
                     tag=None, digest=digest)
