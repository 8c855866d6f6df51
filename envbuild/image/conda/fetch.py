"""Get each locked conda package into the cache, checked against the lock.

The file is found by the lock's channel name (a `kind = "conda"` index of the manifest),
subdir and file name: `<channel URL>/<subdir>/<file>`, the layout every conda channel
serves. Downloads and cache checks are the wheels' (`envbuild.image.wheels`); the md5 the
lock also records is checked on the way in.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from envbuild.errors import CheckFailed
from envbuild.image.store import Store
from envbuild.image.wheels import Mismatch, MissingOffline, Progress, cached_file, download_checked
from envbuild.lockfile.model import CondaPackage

_PARALLEL = 4


class CondaMismatch(CheckFailed):
    """A downloaded conda package is not the file the lock names."""

    def __init__(self, mismatches: Sequence[Mismatch]) -> None:
        ordered = sorted(mismatches, key=lambda m: (m.package, m.file))
        lines = "\n".join(m.render() for m in ordered)
        super().__init__(f"{len(ordered)} conda package(s) differ from the lock:\n{lines}",
                         hint="the channel now serves different bytes under the locked name; "
                              "nothing was built. Re-lock if the change is expected.")
        self.mismatches = tuple(ordered)


def channel_url(urls: dict[str, str], package: CondaPackage) -> str:
    """Where the channel serves the package's file (the manifest names the channel's URL)."""
    from envbuild.export import index_url_of

    base = index_url_of(urls, package.channel, package.name).rstrip("/")
    return f"{base}/{package.subdir}/{package.file}"


def ensure_conda(store: Store, packages: Sequence[CondaPackage], *, urls: dict[str, str],
                 offline: bool, progress: Progress) -> dict[str, Path]:
    """Every package's file in the cache, by the lock's hash. Raises before anything is used."""
    found: dict[str, Path] = {}
    missing: list[CondaPackage] = []
    for package in packages:
        path = cached_file(store, store.conda_path(package.hash, package.file), size=package.size,
                           hash_=package.hash, what="conda package", warn=progress)
        if path is None:
            missing.append(package)
        else:
            found[package.hash] = path
    if missing and offline:
        names = "\n".join(sorted(f"{p.name}: {p.file} ({p.hash})" for p in missing))
        raise MissingOffline(f"--offline: {len(missing)} conda package(s) are not in the cache "
                             f"{store.root}:\n{names}", hint="run once without --offline")
    wanted = [(p, channel_url(urls, p)) for p in missing]  # every channel known before a download

    def one(job: tuple[CondaPackage, str]) -> tuple[str, Path | Mismatch]:
        package, url = job
        progress(f"downloading {package.file} ({package.size} bytes)")
        return package.hash, download_checked(
            store, url=url, index=package.channel, package=package.name,
            final=store.conda_path(package.hash, package.file), size=package.size,
            hash_=package.hash, md5=package.md5)

    mismatches: list[Mismatch] = []
    with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
        for key, result in pool.map(one, wanted):
            if isinstance(result, Mismatch):
                mismatches.append(result)
            else:
                found[key] = result
    if mismatches:
        raise CondaMismatch(mismatches)
    return found
