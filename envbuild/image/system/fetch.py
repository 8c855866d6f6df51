"""Get each locked `.deb` into the cache, checked against the lock's size and sha256.

    <cache>/debs/sha256/<hex>.deb

The lock names a package by archive name and pool path, never by URL: the URL of each
archive name comes with the build request (the manifest's `[system] archive`, else the
machine's apt sources). A download (`envbuild.system.archive.fetch_deb`, the one that `lock` uses too) is checked
before it is written into the cache; a cached file is re-hashed before use.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from envbuild.canonical import is_hash
from envbuild.errors import CheckFailed, ExternalError, InputError
from envbuild.image.store import Store
from envbuild.image.wheels import file_digest
from envbuild.lockfile.model import SystemPackage
from envbuild.safepath import inside
from envbuild.scrub import escape
from envbuild.system.archive import ArchiveNotTrusted, fetch_deb

_PARALLEL = 4
_SHOWN = 10  # missing packages listed by name

Progress = Callable[[str], None]


class DebMismatch(CheckFailed):
    """A downloaded `.deb` is not the file the lock names."""


def deb_path(store: Store, package: SystemPackage) -> Path:
    """Where the package's `.deb` lives in the cache (by its locked sha256)."""
    if not is_hash(package.hash, algorithms=("sha256",)):
        raise InputError(f'system package {escape(package.name)}: "{escape(package.hash)}" '
                         "is not a sha256 hash")
    return inside(store.root, "debs", "sha256", package.hash.partition(":")[2] + ".deb",
                  what="system package hash")


def package_url(archives: Mapping[str, str], package: SystemPackage) -> str:
    """The package's URL: its archive's URL joined with its pool path."""
    url = archives.get(package.archive)
    if url is None:
        raise InputError(f'system package {escape(package.name)}: archive "{escape(package.archive)}" '
                         "has no URL", hint="name it in the manifest's [system] archive, or "
                                            "add it to the machine's apt sources")
    parts = package.path.split("/")
    if package.path.startswith("/") or any(p in ("", ".", "..") for p in parts) \
            or escape(package.path) != package.path or not package.path.endswith(".deb"):
        raise InputError(f'system package {escape(package.name)}: pool path '
                         f'"{escape(package.path)}" is not a relative path to a .deb')
    return url.rstrip("/") + "/" + urllib.parse.quote(package.path)


def ensure_debs(store: Store, packages: Sequence[SystemPackage], *,
                archives: Mapping[str, str], offline: bool,
                progress: Progress) -> dict[str, Path]:
    """Every package's `.deb` in the cache, by its locked hash. Raises before any is used:
    DebMismatch (exit 1) listing every file that differs from the lock."""
    found: dict[str, Path] = {}
    missing: list[SystemPackage] = []
    for package in packages:
        path = deb_path(store, package)
        if path.is_file() and file_digest(path) == (package.hash, package.size):
            store.touch(path)
            found[package.hash] = path
        else:
            path.unlink(missing_ok=True)
            missing.append(package)
    if missing and offline:
        # A first build offline misses the whole set (a hundred packages): the first few say enough.
        shown = sorted(f"{p.name} {p.version} ({p.hash})" for p in missing)
        more = [f"and {len(shown) - _SHOWN} more"] if len(shown) > _SHOWN else []
        names = "\n".join(shown[:_SHOWN] + more)
        raise ExternalError(f"--offline: {len(missing)} system package(s) are not in the cache "
                            f"{store.root}:\n{names}", hint="run once without --offline")
    urls = {p.hash: package_url(archives, p) for p in missing}  # every bad value, before I/O

    def one(package: SystemPackage) -> tuple[SystemPackage, Path | str]:
        progress(f"downloading {package.name} {package.version} ({package.size} bytes)")
        return package, _download(store, package, urls[package.hash])

    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
        for package, result in pool.map(one, missing):
            if isinstance(result, Path):
                found[package.hash] = result
            else:
                problems.append(f"{package.name} {package.version}: {result}")
    if problems:
        lines = "\n".join(sorted(problems))
        raise DebMismatch(f"{len(problems)} system package(s) differ from the lock:\n{lines}",
                          hint="the archive now serves different bytes under the locked path; "
                               "nothing was built. Re-lock if the change is expected.")
    return found


def _download(store: Store, package: SystemPackage, url: str) -> Path | str:
    """The cached file, or what is wrong with the downloaded one (the lock side's one checked
    download; a file the archive no longer holds is exit 3 there)."""
    try:
        data = fetch_deb(url, package.archive, package)
    except ArchiveNotTrusted as error:
        return error.message
    final = deb_path(store, package)
    with store.temp_file() as tmp:
        tmp.write_bytes(data)
        store.commit(tmp, final)
    return final
