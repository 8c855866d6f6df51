"""What a registry client is, the image reference it takes, and its errors.

One client backend exists (`distribution`, the Distribution API over HTTP, written here);
the seam lets tests and later backends (a daemon's registry cache, an OCI layout on disk)
stand in without touching the pull and push code.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envbuild.errors import CheckFailed, ExternalError, InputError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)

_DOMAIN = re.compile(r"^(?:[a-zA-Z0-9.-]+|\[[0-9a-fA-F:]+\])(?::\d+)?$")
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
                         r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class RegistryError(ExternalError):
    """The registry is unreachable, refuses a request or answers nonsense (exit 3)."""


class RegistryDigestMismatch(CheckFailed):
    """Bytes from the registry do not match the digest they were asked for (exit 1)."""


class NotFound(RegistryError):
    """The registry has no such manifest or blob."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Reference:
    registry: str  # host[:port]
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def plain_http(self) -> bool:
        """Only loopback registries are spoken to without TLS."""
        host = self.registry.rsplit(":", 1)[0] if not self.registry.endswith("]") \
            else self.registry
        return host in ("127.0.0.1", "localhost", "[::1]")

    def with_tag(self, tag: str) -> Reference:
        return Reference(registry=self.registry, repository=self.repository, tag=tag,
                         digest=None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(registry=self.registry, repository=self.repository, tag=self.tag,
                         digest=digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str, *, what: str = "image reference") -> Reference:
    """`host[:port]/path[:tag][@sha256:...]`.

    The registry is always named: envbuild has no implicit default registry, so a short
    name like `python:3.11` is refused rather than silently sent to a public host.
    """
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise InputError(f'{what} "{text}": "{digest}" is not a sha256 digest',
                         hint="write name@sha256:<64 hex>")
    head, _, last = rest.rpartition("/")
    tag = None
    if ":" in last:
        last, _, tag = last.partition(":")
    path = f"{head}/{last}" if head else last
    first, _, remainder = path.partition("/")
    if not (remainder and (("." in first or ":" in first) or first == "localhost")):
        raise InputError(f'{what} "{text}" names no registry',
                         hint="write host[:port]/repository[:tag][@sha256:...] with the registry "
                              "you use (envbuild has no default registry)")
    registry, repository = first, remainder
    if not _DOMAIN.match(registry) or not _REPOSITORY.match(repository) or \
            (tag is not None and not _TAG.match(tag)):
        raise InputError(f'{what} "{text}" is not a valid reference',
                         hint="write host[:port]/repository[:tag][@sha256:...], "
                              "e.g. 127.0.0.1:5000/base/python:3.11@sha256:...")
    return Reference(registry=registry, repository=repository, tag=tag or None,
                     digest=digest or None)


@dataclass(frozen=True, kw_only=True, slots=True)
class Fetched:
    media_type: str
    data: bytes
    digest: str


class Registry(abc.ABC):
    """One registry host, spoken to over the Distribution API."""

    @abc.abstractmethod
    def manifest_digest(self, ref: Reference) -> str | None:
        """HEAD the manifest: its digest, or None when there is none."""

    @abc.abstractmethod
    def get_manifest(self, ref: Reference) -> Fetched:
        """GET the manifest or index (checked against `ref.digest` when given)."""

    @abc.abstractmethod
    def put_manifest(self, ref: Reference, media_type: str, data: bytes) -> str:
        """PUT a manifest under a tag or digest; return the digest the registry reports."""

    @abc.abstractmethod
    def delete_manifest(self, ref: Reference) -> None:
        """DELETE a manifest by digest."""

    @abc.abstractmethod
    def has_blob(self, repository: str, digest: str) -> bool:
        """HEAD a blob."""

    @abc.abstractmethod
    def get_blob(self, repository: str, digest: str, dest: Path) -> None:
        """Download a blob into `dest`, checked against its digest."""

    @abc.abstractmethod
    def mount_blob(self, repository: str, digest: str, source_repository: str) -> bool:
        """Cross-repository mount; False when the registry would rather have an upload."""

    @abc.abstractmethod
    def put_blob(self, repository: str, digest: str, source: Path) -> None:
        """Upload a blob (monolithic, or chunked for large blobs)."""

    @abc.abstractmethod
    def referrers(self, repository: str, digest: str) -> list[dict[str, Any]] | None:
        """The OCI 1.1 referrers API's descriptors of manifests whose subject is `digest`;
        None when the registry has no such API (it answers 404), so callers fall back to the
        referrers tag schema."""

    @abc.abstractmethod
    def close(self) -> None:
        """Drop open connections."""
