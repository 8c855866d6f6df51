"""The one seam to Debian archives: `InRelease` verified with gpgv, `Packages` indexes checked
against the sizes and sha256 the signed `Release` lists.

Nothing read from an archive is trusted before its check: the `Release` text used is the
one gpgv writes out after verifying the signature (never the file as fetched), and an index
is decompressed and parsed only after its bytes match the signed listing. Parsed indexes are
cached under the envbuild cache, keyed by that sha256 (`envbuild.system.packages`), so a
re-lock against an unchanged archive fetches `InRelease` alone.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import lzma
import os
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from envbuild.errors import CheckFailed, ExternalError, InputError
from envbuild.lockfile.fields import Doc, relative_path
from envbuild.lockfile.model import SystemPackage
from envbuild.manifest.system import SystemSpec
from envbuild.scrub import scrub
from envbuild.system.packages import PackageRecord, cached_index, parse_index, store_index
from envbuild.system.sources import default_archive, unknown_codename

_MAX_RELEASE = 16 << 20
_MAX_INDEX = 512 << 20  # a decompressed Packages file of a whole release is about 50 MB
_TIMEOUT = 60
# Preferred first: the smallest download.
_COMPRESSIONS = ((".xz", lzma.decompress), (".gz", gzip.decompress), ("", lambda data: data))


class ArchiveUnreachable(ExternalError):
    """The archive could not be reached, or answered with an error."""


class PackageGone(ExternalError):
    """A locked package file is no longer in the archive."""


class ArchiveNotTrusted(CheckFailed):
    """The archive's metadata is unsigned, badly signed, or does not match what was signed."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Archive:
    """Where a distribution is fetched from (the URL) and what the lock calls it (the name)."""

    url: str
    name: str
    distribution: str  # "debian:bookworm"
    codename: str
    keyring: Path
    components: tuple[str, ...]

    @property
    def label(self) -> str:
        """How messages name it: the distribution and the (credential-free) URL."""
        return f"{self.distribution} at {scrub(self.url)}"

    def file_url(self, path: str) -> str:
        """The URL of a path inside the archive (a pool path the lock checked component-wise)."""
        return f"{self.url}/{path}"


def archive_of(spec: SystemSpec) -> Archive:
    """The archive `[system]` names, or the one apt uses here for its codename."""
    url = spec.archive_url or default_archive(spec.codename)
    return Archive(url=url.rstrip("/"), name=spec.archive, distribution=spec.distribution,
                   codename=spec.codename, keyring=spec.keyring, components=spec.components)


def archive_for(spec: SystemSpec, name: str) -> Archive:
    """The archive a locked package names (`SystemPackage.archive`), from the manifest's
    [system]; InputError (exit 2) when the manifest names its archive otherwise."""
    if name != spec.archive:
        raise InputError(f'the lock names archive "{name}", the manifest\'s [system] archive is "{spec.archive}"',
                         hint="re-lock with `envbuild lock`")
    return archive_of(spec)


def fetch_package(archive: Archive, package: SystemPackage) -> bytes:
    """A locked .deb, checked against its locked size and sha256. A file the archive no
    longer holds is exit 3 (a stable archive keeps current versions only); other bytes than
    locked are exit 1."""
    relative_path(Doc("lock"), package.path, f"system.{package.name}.path")  # checked again: it joins a URL
    return fetch_deb(archive.file_url(package.path), archive.label, package)


def fetch_deb(url: str, label: str, package: SystemPackage) -> bytes:
    """The bytes at `url` (the package's pool path in an archive, called `label` in messages),
    checked against the lock: the one download of a .deb, for `lock` and for image builds.
    PackageGone (exit 3) on 404/410, ArchiveNotTrusted (exit 1) on other bytes."""
    try:
        data = _get(url, limit=package.size)
    except ArchiveUnreachable as error:
        if "HTTP 404" not in error.message and "HTTP 410" not in error.message:
            raise
        raise PackageGone(f"{label}: {package.name} {package.version} ({package.path}) is no longer "
                          "in the archive",
                          hint="re-lock with `envbuild lock --upgrade`, or point [system] archive at a "
                               "snapshot mirror that still holds it") from None
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if len(data) != package.size or actual != package.hash:
        shown = f"more than {package.size} bytes" if len(data) > package.size else f"{len(data)} bytes, {actual}"
        raise ArchiveNotTrusted(f"{label}: {package.path} does not match the lock (locked "
                                f"{package.size} bytes, {package.hash}; got {shown})",
                                hint="the archive or a mirror on the way serves other bytes than were locked")
    return data


@dataclass(frozen=True, kw_only=True, slots=True)
class Listed:
    size: int
    sha256: str  # hex


class ArchiveSession:
    """One lock run's reads of archives: each `InRelease` verified once, each index read once,
    safe to share between the threads that lock targets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._releases: dict[tuple[str, str], dict[str, Listed]] = {}
        self._indexes: dict[tuple[str, str, str], tuple[PackageRecord, ...]] = {}

    def packages(self, archive: Archive, arch: str) -> tuple[PackageRecord, ...]:
        """Every package the archive's components list for `arch` (with `all` packages)."""
        key = (archive.url, archive.codename, arch)
        with self._lock:
            if key not in self._indexes:
                listing = self._release(archive)
                records: list[PackageRecord] = []
                for component in archive.components:
                    records.extend(_index(archive, listing, component, arch))
                self._indexes[key] = tuple(records)
            return self._indexes[key]

    def _release(self, archive: Archive) -> dict[str, Listed]:
        key = (archive.url, archive.codename)
        if key not in self._releases:
            self._releases[key] = verified_release(archive)
        return self._releases[key]


def verified_release(archive: Archive) -> dict[str, Listed]:
    """The SHA256 listing of the archive's `InRelease`, after gpgv verified its signature."""
    if not archive.keyring.is_file():
        raise InputError(f"{archive.distribution}: keyring {archive.keyring} not found",
                         hint="install debian-archive-keyring, or name the archive's keyring: "
                              "[system] keyring = PATH")
    try:
        data = fetch(archive.file_url(f"dists/{archive.codename}/InRelease"), limit=_MAX_RELEASE)
    except ArchiveUnreachable as error:
        unknown = unknown_codename(archive.codename) if "HTTP 404" in error.message else None
        if unknown is not None:  # a misspelt codename, not an archive that is down
            raise unknown from None
        raise
    text = _gpgv(archive, data)
    fields = _release_fields(text)
    if archive.codename not in (fields.get("codename"), fields.get("suite")):
        raise ArchiveNotTrusted(
            f"{archive.label}: InRelease is signed for {fields.get('codename') or fields.get('suite') or '(none)'}, "
            f"not {archive.codename}", hint="check [system] distribution and archive")
    listing: dict[str, Listed] = {}
    for line in fields.get("sha256", "").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            listing[parts[2]] = Listed(size=int(parts[1]), sha256=parts[0].lower())
    return listing


def _gpgv(archive: Archive, data: bytes) -> str:
    """The signed text of `data`; ArchiveNotTrusted (exit 1) unless a key of the keyring signed
    it and no signature is bad."""
    gpgv = shutil.which("gpgv")
    if gpgv is None:
        raise ExternalError("gpgv is not installed: the archive's signature cannot be checked",
                            hint="install gpgv (scripts/system-deps)")
    with tempfile.TemporaryDirectory(prefix="envbuild-gpgv-") as folder:
        signed, out = Path(folder) / "InRelease", Path(folder) / "Release"
        signed.write_bytes(data)
        run = subprocess.run([gpgv, "--homedir", folder, "--status-fd", "1", "--keyring",
                              str(archive.keyring.resolve()), "--output", str(out), str(signed)],
                             capture_output=True, text=True, timeout=_TIMEOUT, check=False,
                             env={**os.environ, "LC_ALL": "C"})
        status = {line.split()[1] for line in run.stdout.splitlines()
                  if line.startswith("[GNUPG:] ") and len(line.split()) > 1}
        where = f"{archive.label}: dists/{archive.codename}/InRelease"
        if "NEWSIG" not in status:
            raise ArchiveNotTrusted(f"{where} is not signed",
                                    hint="envbuild locks only signed archive metadata; check [system] archive")
        if "BADSIG" in status:
            raise ArchiveNotTrusted(f"{where} has a BAD signature: it was changed after signing",
                                    hint="the archive or a mirror on the way serves tampered metadata")
        if "GOODSIG" not in status or "VALIDSIG" not in status:
            raise ArchiveNotTrusted(f"{where} is not signed by a key of {archive.keyring}",
                                    hint="use the distribution's archive keyring: [system] keyring = PATH")
        return out.read_text(encoding="utf-8", errors="replace")


def _release_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
    return fields


def _index(archive: Archive, listing: dict[str, Listed], component: str, arch: str) -> tuple[PackageRecord, ...]:
    base = f"{component}/binary-{arch}/Packages"
    for suffix, decompress in _COMPRESSIONS:
        listed = listing.get(base + suffix)
        if listed is None:
            continue
        cached = cached_index(listed.sha256)
        if cached is not None:
            return cached
        relpath = f"dists/{archive.codename}/{base}{suffix}"
        # Read one byte past the listed size: a longer index is a mismatch, reported as one.
        data = _get(archive.file_url(relpath), limit=listed.size)
        actual = hashlib.sha256(data).hexdigest()
        if len(data) != listed.size or actual != listed.sha256:
            # Only one byte past the listed size is read: a longer file is "more than" it.
            got = f"more than {listed.size} bytes" if len(data) > listed.size else \
                f"{len(data)} bytes, sha256:{actual}"
            raise ArchiveNotTrusted(
                f"{archive.label}: {relpath} does not match the signed Release (listed {listed.size} bytes, "
                f"sha256:{listed.sha256}; got {got})",
                hint="the archive or a mirror on the way serves a changed index; try again later "
                     "or another mirror")
        try:
            text = decompress(data)
        except (lzma.LZMAError, OSError, EOFError) as error:
            raise ArchiveNotTrusted(f"{archive.label}: {relpath} cannot be decompressed ({error})") from None
        if len(text) > _MAX_INDEX:
            raise ArchiveNotTrusted(f"{archive.label}: {relpath} is larger than {_MAX_INDEX} bytes")
        records = parse_index(text)
        store_index(listed.sha256, records)
        return records
    raise InputError(f"{archive.label}: the signed Release lists no {base} index: the archive has no "
                     f"{arch} packages in {component}",
                     hint="check the target's platform and [system] components")


def fetch(url: str, *, limit: int) -> bytes:
    """GET `url` (at most `limit` bytes); ArchiveUnreachable (exit 3) on any failure."""
    data = _get(url, limit=limit)
    if len(data) > limit:
        raise ArchiveUnreachable(f"{scrub(url)} is larger than {limit} bytes")
    return data


def _get(url: str, *, limit: int) -> bytes:
    """GET at most `limit` + 1 bytes of `url`."""
    request = urllib.request.Request(url, headers={"User-Agent": "envbuild"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            data: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as error:
        error.close()  # it holds the response's socket
        raise ArchiveUnreachable(f"cannot fetch {scrub(url)}: HTTP {error.code} {error.reason}",
                                 hint="check [system] archive and distribution") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise ArchiveUnreachable(f"cannot fetch {scrub(url)}: {reason}",
                                 hint="check the network and [system] archive") from None
    return data
