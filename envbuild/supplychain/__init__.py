"""Supply-chain attestations of built images: an SBOM and a SLSA provenance statement, both
made only from the lock, the image's digests and SOURCE_DATE_EPOCH (so two builds of one
lock give the same bytes), attached to the image in its registry as OCI 1.1 referrers."""

from __future__ import annotations

from dataclasses import dataclass

SBOM_TYPE = "application/vnd.cyclonedx+json"  # CycloneDX's registered media type
PROVENANCE_TYPE = "application/vnd.in-toto+json"  # an in-toto statement (SLSA's convention)


@dataclass(frozen=True, kw_only=True, slots=True)
class Subject:
    """The image an attestation speaks about: one target's image manifest."""

    target: str
    digest: str  # sha256:<hex> of the image manifest
    image_hash: str
    epoch: int  # SOURCE_DATE_EPOCH the image was built with (0 when unset)
