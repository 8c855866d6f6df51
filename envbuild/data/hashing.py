"""Hash local files as fast as the disk allows, and never a file that changed meanwhile.

Small files are read whole into one reused buffer; a large file is memory-mapped and fed
to blake3's multithreaded update, which is what `b3sum` does. A long list of files is
split between this process and forked workers (`envbuild.data.workers`), one per CPU.

A file rewritten while it is read (even in place, same size, mtime restored) would give a
hash of neither version. Each file's open descriptor is stat'ed before and after reading;
size, mtime and ctime (which every write and every link change moves) must agree. A file
that changed is hashed once more with the path's stat compared too (its inode: a rename
over it); if it changes again, hashing fails with exit 1 ("changed while hashing: FILE").
Limits: the kernel stamps ctime from a clock that ticks every few milliseconds, so a write
within the tick of the first stat can go unseen; a file truncated while it is mapped kills
the process with SIGBUS (as it does b3sum). Nothing here imports more than hashing needs.
"""

# os.* on str paths: see envbuild/data/walk.py.
# ruff: noqa: PTH116

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from envbuild.data.digest import FileEntry, Hasher, file_entries, new_hasher
from envbuild.data.filters import PathFilter
from envbuild.data.listing import Listing, Shard, paths_digest, shard_slice
from envbuild.data.walk import LocalFile, enumerate_files
from envbuild.errors import CheckFailed, InputError

_BUFFER = 1 << 20  # files up to this size take one read
_MMAP_MIN = 16 << 20  # from here on, map the file and let blake3 use every core
_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)

# Test seam: when set, called with a file's path after its content was read and before
# the second stat, so a test can rewrite the file exactly where a concurrent writer would.
after_read: Callable[[str], None] | None = None


def hash_files(
    files: Sequence[LocalFile],
    algorithm: str,
    *,
    on_file: Callable[[int], None] | None = None,
) -> list[FileEntry]:
    """Hash each file, in order; `on_file(size)` is called once per file (in this
    process's share as it goes, a worker's share when it is collected)."""
    from envbuild.data.workers import hash_split  # here: workers imports FileHasher

    sizes, hashes = hash_split([abspath for _, abspath in files], algorithm, on_file)
    return file_entries([path for path, _ in files], sizes, hashes)


class FileHasher:
    """Hashes files one after another through one reused read buffer."""

    def __init__(self, algorithm: str, *, threaded: bool) -> None:
        self._algorithm = algorithm
        self._threaded = threaded  # False in a forked worker: blake3's pool is the parent's
        self._new = _constructor(algorithm)
        self._buffer = bytearray(_BUFFER)
        self._view = memoryview(self._buffer)

    def hash_all(
        self, abspaths: Sequence[str], on_file: Callable[[int], None] | None = None
    ) -> tuple[list[int], list[str]]:
        """(sizes, hex hashes) of `abspaths`, in order; the hot loop, so written flat."""
        sizes: list[int] = []
        hashes: list[str] = []
        add_size, add_hash = sizes.append, hashes.append
        buffers, view, new, hook = [self._buffer], self._view, self._new, after_read
        fopen, fstat, readv, close = os.open, os.fstat, os.readv, os.close
        for abspath in abspaths:
            try:
                fd = fopen(abspath, _FLAGS)
                try:
                    before = fstat(fd)
                    count = readv(fd, buffers)
                    if count < _BUFFER:  # a short read of a regular file is its end
                        hexhash = new(view[:count]).hexdigest()
                    else:
                        count, hexhash = self._large(fd, count)
                    if hook is not None:
                        hook(abspath)
                    after = fstat(fd)
                finally:
                    close(fd)
            except OSError as error:
                raise _read_error(abspath, error) from None
            if (
                after.st_ctime_ns != before.st_ctime_ns
                or after.st_mtime_ns != before.st_mtime_ns
                or after.st_size != count
                or before.st_size != count
            ):
                count, hexhash = self._again(abspath)
            add_size(count)
            add_hash(hexhash)
            if on_file is not None:
                on_file(count)
        return sizes, hashes

    def _again(self, abspath: str) -> tuple[int, str]:
        """Hash a file that changed while it was read, once, comparing every stat."""
        try:
            path_before = os.stat(abspath)
            fd = os.open(abspath, _FLAGS)
            try:
                before = os.fstat(fd)
                count = os.readv(fd, [self._buffer])
                if count < _BUFFER:
                    hexhash = self._new(self._view[:count]).hexdigest()
                else:
                    count, hexhash = self._large(fd, count)
                if after_read is not None:
                    after_read(abspath)
                after = os.fstat(fd)
            finally:
                os.close(fd)
            path_after = os.stat(abspath)
        except OSError as error:
            raise _read_error(abspath, error) from None
        stats = {_identity(s) for s in (path_before, before, after, path_after)}
        if len(stats) != 1 or before.st_size != count:
            raise CheckFailed(
                f"changed while hashing: {abspath}",
                hint="it was written to twice while envbuild read it; hash it again once "
                "nothing writes to the dataset",
            )
        return count, hexhash

    def _large(self, fd: int, count: int) -> tuple[int, str]:
        hasher = new_hasher(self._algorithm, threaded=self._threaded)
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


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _constructor(algorithm: str) -> Callable[[Any], Hasher]:
    if algorithm == "blake3":
        from blake3 import blake3

        return blake3
    if algorithm == "sha256":
        import hashlib

        return hashlib.sha256
    new_hasher(algorithm)  # raises the ValueError naming the known algorithms
    raise AssertionError(algorithm)


def _read_error(abspath: str, error: OSError) -> InputError:
    if isinstance(error, PermissionError):
        return InputError(f"permission denied reading {abspath}", hint="grant read access to it")
    if isinstance(error, FileNotFoundError):
        return InputError(f"{abspath} vanished while hashing", hint="run again")
    if error.errno == errno.ELOOP:
        return InputError(f"{abspath} is a symlink loop", hint="remove the link or point it at a file")
    return InputError(f"cannot read {abspath}: {error.strerror}", hint="check the file system")


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
