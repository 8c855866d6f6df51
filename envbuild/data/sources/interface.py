"""What every dataset source offers: list its files, stream one, hash many.

A source module implements `Source`; `envbuild.data.sources.open_source` picks it by URL
scheme. All network I/O of a source goes through its module, so tests point a source at a
real local server (nginx, moto) and never at a mock of envbuild.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

from envbuild.data.digest import FileEntry, new_hasher
from envbuild.data.filters import PathFilter
from envbuild.errors import ExternalError


class SourceError(ExternalError):
    """A dataset source failed: unreachable, refused, or not what the lock recorded."""


class TransferInterrupted(SourceError):
    """A transfer broke off part-way; reading again from the received offset may succeed."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceFile:
    """A file a source offers: its place in the dataset, its size, and a change hint."""

    path: str
    size: int
    hint: str  # size and mtime, or ETag: tells that a file may have changed, never that it has


class Source(abc.ABC):
    """One dataset location (a folder, a file, a URL, a bucket prefix)."""

    # Whether hints mean the same on every machine (an ETag does; a local mtime does not),
    # and so may be recorded in the committed listing.
    hints_portable: ClassVar[bool] = True

    def __init__(self, location: str) -> None:
        self.location = location

    @abc.abstractmethod
    def list_files(self, include: PathFilter) -> list[SourceFile]:
        """Every kept file, sorted by path; SourceError when the source cannot be listed."""

    @abc.abstractmethod
    def read(self, path: str, *, offset: int = 0) -> Iterator[bytes]:
        """The file's bytes from `offset` on, in chunks.

        Raises TransferInterrupted when the stream breaks off, SourceError otherwise.
        """

    def hash_files(
        self,
        files: Sequence[SourceFile],
        algorithm: str,
        *,
        jobs: int = 8,
        on_file: Callable[[int], None] | None = None,
    ) -> list[FileEntry]:
        """Hash each file's content by streaming it, `jobs` at a time, in input order."""

        def one(item: SourceFile) -> FileEntry:
            hasher = new_hasher(algorithm)
            size = 0
            for attempt in range(_RETRIES):
                try:
                    for chunk in self.read(item.path, offset=size):
                        hasher.update(chunk)
                        size += len(chunk)
                    break
                except TransferInterrupted:
                    if attempt == _RETRIES - 1:
                        raise
            if size != item.size:
                raise SourceError(
                    f"{self.location}: {item.path} changed while being read ({item.size} bytes listed, {size} read)",
                    hint="run again once the source is stable",
                )
            if on_file is not None:
                on_file(size)
            return FileEntry(path=item.path, size=size, hash=hasher.hexdigest())

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(one, files))


_RETRIES = 5
