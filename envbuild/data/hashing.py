"""Hash local files as fast as the disk allows.

Small files are read whole into one reused buffer; a large file is memory-mapped and fed
to blake3's multithreaded update, which is what `b3sum` does. Nothing here imports more
than hashing needs: `envbuild data hash` of one big file must start in milliseconds.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from envbuild.data.digest import FileEntry, bytes_hasher, new_hasher
from envbuild.data.filters import PathFilter
from envbuild.data.listing import Listing, Shard, paths_digest, shard_slice
from envbuild.data.walk import LocalFile, enumerate_files
from envbuild.errors import InputError

_BUFFER = 1 << 20  # files up to this size take one read
_MMAP_MIN = 16 << 20  # from here on, map the file and let blake3 use every core
_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def hash_file(abspath: str, algorithm: str) -> tuple[int, str]:
    """(size, hex hash) of one file's content."""
    return _FileHasher(algorithm).hash(abspath)


def hash_files(
    files: Sequence[LocalFile],
    algorithm: str,
    *,
    on_file: Callable[[int], None] | None = None,
) -> list[FileEntry]:
    """Hash each file in order; `on_file(size)` is called after each one."""
    hasher = _FileHasher(algorithm)
    entries: list[FileEntry] = []
    append = entries.append
    for path, abspath in files:
        size, hexhash = hasher.hash(abspath)
        append(FileEntry(path=path, size=size, hash=hexhash))
        if on_file is not None:
            on_file(size)
    return entries


class _FileHasher:
    """Hashes files one after another through one reused read buffer."""

    def __init__(self, algorithm: str) -> None:
        self._algorithm = algorithm
        self._small = bytes_hasher(algorithm)
        self._buffer = bytearray(_BUFFER)
        self._view = memoryview(self._buffer)

    def hash(self, abspath: str) -> tuple[int, str]:
        try:
            fd = os.open(abspath, _FLAGS)
            try:
                count = os.readv(fd, [self._buffer])
                if count < _BUFFER:  # a short read of a regular file is its end
                    return count, self._small(self._view[:count])
                return self._large(fd, count)
            finally:
                os.close(fd)
        except PermissionError:
            raise InputError(f"permission denied reading {abspath}", hint="grant read access to it") from None
        except FileNotFoundError:
            raise InputError(f"{abspath} vanished while hashing", hint="run again") from None

    def _large(self, fd: int, count: int) -> tuple[int, str]:
        hasher = new_hasher(self._algorithm, threaded=True)
        if os.fstat(fd).st_size >= _MMAP_MIN:
            with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
                hasher.update(mapped)
                return len(mapped), hasher.hexdigest()
        total = count
        while count:
            hasher.update(self._view[:count])
            count = os.readv(fd, [self._buffer])
            total += count
        return total, hasher.hexdigest()


def hash_local(
    root: Path,
    *,
    algorithm: str,
    include: PathFilter,
    shard: tuple[int, int] | None = None,
    on_file: Callable[[int], None] | None = None,
) -> Listing:
    """The listing of a local file or folder, or of shard `(index, count)` of it."""
    files = enumerate_files(root, include)
    if shard is None:
        entries = hash_files(files, algorithm, on_file=on_file)
        return Listing(algorithm=algorithm, entries=tuple(entries))
    index, count = shard
    part = shard_slice(files, index, count)
    return Listing(
        algorithm=algorithm,
        entries=tuple(hash_files(part, algorithm, on_file=on_file)),
        shard=Shard(
            index=index,
            count=count,
            paths=paths_digest([path for path, _ in files]),
            total_files=len(files),
        ),
    )
