"""Split a long list of files between this process and forked workers.

Hashing 100,000 small files is per-file system calls and interpreter work, on one core;
threads do not help (the loop holds the GIL between calls). So every k-th file goes to a
forked worker, one per further CPU this process may run on, which sends sizes and hashes
back through a pipe while this process hashes its own share. A worker that fails for any
reason sends nothing usable and this process hashes that share itself: every error is
raised here, with its usual message. Workers never use blake3's thread pool (a forked
child has none of the parent's threads) and leave by `os._exit`, so no atexit handler
(scratch folder removal) and no buffered output of the parent runs twice.
"""

from __future__ import annotations

import os
import signal
import warnings
from array import array
from collections.abc import Callable, Sequence

from envbuild.data.hashing import FileHasher

_PER_WORKER = 2048  # files: below this, a fork and a pipe cost about what they save
_MAX_WORKERS = 8
_HEX = 64  # hex digits of every supported hash
_OK, _FAILED = b"\0", b"\1"

Results = tuple[list[int], list[str]]  # sizes, hex hashes


def hash_split(
    abspaths: Sequence[str], algorithm: str, on_file: Callable[[int], None] | None = None
) -> Results:
    """(sizes, hex hashes) of `abspaths` in order, hashed by up to one process per CPU."""
    hasher = FileHasher(algorithm, threaded=True)
    workers = worker_count(len(abspaths))
    if workers == 1:
        return hasher.hash_all(abspaths, on_file)
    shares = [abspaths[index::workers] for index in range(workers)]
    children: list[tuple[int, int]] = []
    done = False
    try:
        for share in shares[1:]:
            children.append(_start(share, algorithm))
        results = [hasher.hash_all(shares[0], on_file)]
        for (_, read_fd), share in zip(children, shares[1:], strict=True):
            got = _collect(read_fd, len(share))
            if got is None:
                got = hasher.hash_all(share)  # raises the worker's error, with its message
            if on_file is not None:
                for size in got[0]:
                    on_file(size)
            results.append(got)
        done = True
    finally:
        for pid, read_fd in children:
            os.close(read_fd)
            if not done:
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    sizes: list[int] = [0] * len(abspaths)
    hashes: list[str] = [""] * len(abspaths)
    for index, (share_sizes, share_hashes) in enumerate(results):
        sizes[index::workers] = share_sizes
        hashes[index::workers] = share_hashes
    return sizes, hashes


def worker_count(files: int) -> int:
    """How many processes hash `files` files (this one included)."""
    if not hasattr(os, "fork") or files < 2 * _PER_WORKER:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _MAX_WORKERS, files // _PER_WORKER))


def _start(share: Sequence[str], algorithm: str) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12 warns on fork when threads exist (blake3's pool, a test's server);
        # the child below only hashes files and leaves by os._exit, taking no shared lock.
        warnings.filterwarnings("ignore", ".*fork.*", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover (runs in the child; its results are checked in the parent)
        try:
            os.close(read_fd)
            try:
                sizes, hashes = FileHasher(algorithm, threaded=False).hash_all(share)
                payload = _OK + "".join(hashes).encode("ascii") + array("q", sizes).tobytes()
            except BaseException:
                payload = _FAILED
            view = memoryview(payload)
            while view:
                view = view[os.write(write_fd, view):]
        finally:
            os._exit(0)
    os.close(write_fd)
    return pid, read_fd


def _collect(read_fd: int, count: int) -> Results | None:
    """A worker's results, or None when it failed or died."""
    chunks = []
    while chunk := os.read(read_fd, 1 << 20):
        chunks.append(chunk)
    payload = b"".join(chunks)
    if payload[:1] != _OK or len(payload) != 1 + count * (_HEX + 8):
        return None
    text = payload[1 : 1 + count * _HEX].decode("ascii")
    hashes = [text[at : at + _HEX] for at in range(0, count * _HEX, _HEX)]
    sizes = array("q", payload[1 + count * _HEX :]).tolist()
    return sizes, hashes
