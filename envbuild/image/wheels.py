"""Get each locked wheel into the cache, checked against the lock's size and sha256.

Downloads go through the index seam (`envbuild.indexclient`: URL memo, simple-API lookup,
credentials); this module adds only the streaming download into the cache.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from envbuild.errors import CheckFailed, ExternalError, InputError
from envbuild.image.store import Store
from envbuild.indexclient import IndexUnreachable, UrlMemo, index_request, locate_file
from envbuild.lockfile.model import LockedPackage
from envbuild.scrub import scrub

_CHUNK = 1 << 20
_PARALLEL = 4

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class Mismatch:
    package: str
    file: str
    expected: str
    actual: str

    def render(self) -> str:
        return f"{self.package}: {self.file}: expected {self.expected}, got {self.actual}"


class WheelMismatch(CheckFailed):
    """A downloaded (or cached) wheel is not the file the lock names."""

    def __init__(self, mismatches: Sequence[Mismatch]) -> None:
        ordered = sorted(mismatches, key=lambda m: (m.package, m.file))
        lines = "\n".join(m.render() for m in ordered)
        super().__init__(f"{len(ordered)} wheel(s) differ from the lock:\n{lines}",
                         hint="the index now serves different bytes under the locked name; "
                              "nothing was built. Re-lock if the change is expected.")
        self.mismatches = tuple(ordered)


class MissingOffline(ExternalError):
    """--offline and some wheels are not in the cache."""


def file_digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return "sha256:" + sha.hexdigest(), size


def cached_wheel(store: Store, package: LockedPackage, *,
                 warn: Progress | None = None) -> Path | None:
    """The cached wheel if present and still matching the lock (see `cached_file`)."""
    artifact = package.artifact
    return cached_file(store, store.wheel_path(artifact.hash, artifact.file), size=artifact.size,
                       hash_=artifact.hash, what="wheel", warn=warn)


def cached_file(store: Store, path: Path, *, size: int, hash_: str, what: str,
                warn: Progress | None = None) -> Path | None:
    """A cached download if present and still of the locked size and sha256; a damaged
    entry is dropped, with a warning through `warn` (it is downloaded again: a disk fault
    or a hand that changed the cache should not pass unseen)."""
    if not path.is_file():
        return None
    found_size = path.stat().st_size
    actual = file_digest(path)[0] if found_size == size else None
    if actual != hash_:
        path.unlink(missing_ok=True)
        if warn is not None:
            found = f"{found_size} bytes" if actual is None else actual
            expected = f"{size} bytes" if actual is None else hash_
            warn(f"warning: cached {what} {path.name} is damaged ({found}, locked "
                 f"{expected}); dropped from the cache {store.root}")
        return None
    store.touch(path)
    return path


def ensure_wheels(store: Store, packages: Sequence[LockedPackage], *, urls: dict[str, str],
                  offline: bool, progress: Progress) -> dict[str, Path]:
    """Every package's wheel in the cache, by the lock's hash. Raises before anything is used."""
    for package in packages:
        if package.artifact.kind != "wheel":
            raise InputError(f"{package.name} {package.version} is locked as an sdist; "
                             "images are built from wheels only",
                             hint=f"publish a wheel of {package.name} to an index and re-lock")
    found: dict[str, Path] = {}
    missing: list[LockedPackage] = []
    for package in packages:
        path = cached_wheel(store, package, warn=progress)
        if path is None:
            missing.append(package)
        else:
            found[package.artifact.hash] = path
    if missing and offline:
        names = "\n".join(sorted(f"{p.name}: {p.artifact.file} ({p.artifact.hash})"
                                 for p in missing))
        raise MissingOffline(f"--offline: {len(missing)} wheel(s) are not in the cache "
                             f"{store.root}:\n{names}", hint="run once without --offline")
    memo = UrlMemo(store.root / "urls.json")
    mismatches: list[Mismatch] = []

    def one(package: LockedPackage) -> tuple[str, Path | Mismatch]:
        progress(f"downloading {package.artifact.file} ({package.artifact.size} bytes)")
        return package.artifact.hash, _download(store, package, _url(package, urls, memo))

    with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
        for key, result in pool.map(one, missing):
            if isinstance(result, Mismatch):
                mismatches.append(result)
            else:
                found[key] = result
    memo.save()
    if mismatches:
        raise WheelMismatch(mismatches)
    return found


def _url(package: LockedPackage, urls: dict[str, str], memo: UrlMemo) -> str:
    from envbuild.export import index_url_of

    return locate_file(memo, index_name=package.index, index_url=index_url_of(urls, package.index, package.name),
                       project=package.name, file=package.artifact.file, hash_=package.artifact.hash)


def _download(store: Store, package: LockedPackage, url: str) -> Path | Mismatch:
    artifact = package.artifact
    return download_checked(store, url=url, index=package.index, package=package.name,
                            final=store.wheel_path(artifact.hash, artifact.file),
                            size=artifact.size, hash_=artifact.hash)


def download_checked(store: Store, *, url: str, index: str, package: str, final: Path,
                     size: int, hash_: str, md5: str | None = None) -> Path | Mismatch:
    """Stream `url` into tmp/, hash on the way, and rename it to `final` only when its size
    and sha256 (and md5, when given) are the locked ones."""
    sha = hashlib.sha256()
    md5_hash = hashlib.md5(usedforsecurity=False) if md5 is not None else None
    got = 0
    with store.temp_file() as tmp:
        try:
            with urllib.request.urlopen(index_request(url, index), timeout=60) as response, \
                    tmp.open("wb") as out:
                while chunk := response.read(_CHUNK):
                    sha.update(chunk)
                    if md5_hash is not None:
                        md5_hash.update(chunk)
                    got += len(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, OSError) as error:
            raise IndexUnreachable(f"cannot download {scrub(url)}: {error}",
                                   hint="check the network and the index's credentials") from None
        actual = "sha256:" + sha.hexdigest()
        if got != size or actual != hash_:
            return Mismatch(package=package, file=final.name,
                            expected=f"{hash_} ({size} bytes)", actual=f"{actual} ({got} bytes)")
        if md5_hash is not None and md5_hash.hexdigest() != md5:
            return Mismatch(package=package, file=final.name, expected=f"md5 {md5}",
                            actual=f"md5 {md5_hash.hexdigest()}")
        store.commit(tmp, final)
    return final
