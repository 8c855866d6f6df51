"""The one cache folder of image builds: wheels, blobs and the layer index.

    <root>/wheels/sha256/<hex>/<file name>   locked wheels, by content (the name is kept
                                             because installers read tags from it)
    <root>/conda/sha256/<hex>/<file name>    locked conda packages (.conda, .tar.bz2), likewise
    <root>/blobs/sha256/<hex>                compressed layers and base-image blobs
    <root>/layers/<key hex>.json             layer inputs -> the blob built from them
    <root>/tmp/                              partial downloads and builds, renamed into place

Every entry is written under tmp/ and renamed into place, so a killed run leaves no
half-written entry; entries are touched when used, so `prune --older-than` drops unused ones.
What a killed run leaves in tmp/ is removed by the next run (`envbuild.scratch`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from envbuild.canonical import is_hash
from envbuild.fileio import exclusive_lock
from envbuild.paths import cache_dir
from envbuild.safepath import UnsafePath, inside
from envbuild.scratch import scratch_dir, scratch_file
from envbuild.scrub import escape


class Store:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else cache_dir()

    @property
    def tmp(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def wheel_path(self, sha256: str, file: str) -> Path:
        """Where the wheel `file` with this hash lives; the name (from a lock or an index)
        must be one plain file name, so nothing outside the cache is ever read or removed."""
        return inside(self.root, "wheels", "sha256", _hex(sha256), file, what="wheel file name")

    def conda_path(self, sha256: str, file: str) -> Path:
        """Where the locked conda package `file` with this hash lives (as `wheel_path`)."""
        return inside(self.root, "conda", "sha256", _hex(sha256), file,
                      what="conda package file name")

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / _hex(digest)

    def layer_record(self, key: str) -> Path:
        return self.root / "layers" / f"{_hex(key)}.json"

    @contextlib.contextmanager
    def temp_file(self) -> Iterator[Path]:
        """A fresh path under tmp/, removed afterwards unless it was renamed away."""
        with scratch_file("part", root=self.tmp) as path:
            yield path

    @contextlib.contextmanager
    def temp_dir(self) -> Iterator[Path]:
        with scratch_dir("stage", root=self.tmp) as path:
            yield path

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise builds and prunes that share this cache."""
        with exclusive_lock(self.root / "cache.flock"):
            yield

    @staticmethod
    def commit(tmp: Path, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.chmod(0o644)
        tmp.replace(final)

    @staticmethod
    def touch(path: Path) -> None:
        with contextlib.suppress(OSError):
            os.utime(path)


def _hex(digest: str) -> str:
    if not is_hash(digest, algorithms=("sha256",)):
        raise UnsafePath(f'"{escape(digest[:80])}" is not a sha256 digest')
    return digest.partition(":")[2]
