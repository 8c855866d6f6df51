"""`envbuild data hash FILE` for one regular file, before click or anything else loads.

The acceptance bar is 0.9x `b3sum` on a 2 GiB file, where hashing takes a few tenths of a
second and click's import alone costs tens of milliseconds. The entry point may call
`try_hash(argv)` first: it answers only the plain form `data hash FILE [--algorithm A]`
for a readable regular file and returns None for anything else (folders, other options,
errors, a file that changed while it was hashed), which then goes through click and the
full implementation as usual. Its digest is the one `envbuild.data.digest.dataset_digest`
defines; a test holds them equal.
This module imports only the standard library and blake3.
"""

from __future__ import annotations

import json
import mmap
import os
import stat
import sys

_ALGORITHMS = ("blake3", "sha256")


def try_hash(argv: list[str]) -> int | None:
    """Print the digest and return 0, or return None when the full command must run."""
    if argv[:2] != ["data", "hash"]:
        return None
    rest = argv[2:]
    algorithm = "blake3"
    if len(rest) == 3 and rest[0] == "--algorithm":
        algorithm, rest = rest[1], rest[2:]
    elif len(rest) == 3 and rest[1] == "--algorithm":
        algorithm, rest = rest[2], rest[:1]
    if len(rest) != 1 or rest[0].startswith("-") or algorithm not in _ALGORITHMS:
        return None
    path = rest[0]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        before = os.fstat(fd)
        size = before.st_size
        if not stat.S_ISREG(before.st_mode) or size == 0:
            return None
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
            hexhash = _hasher(algorithm, threaded=True, data=mapped)
        after = os.fstat(fd)
        if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (size, before.st_mtime_ns, before.st_ctime_ns):
            return None  # written to while mapped: the full command hashes it again, or fails
    except OSError:
        return None
    finally:
        os.close(fd)
    name = os.path.basename(os.path.abspath(path))  # noqa: PTH100, PTH119 (pathlib costs start-up)
    try:
        rows = json.dumps([[name, size, hexhash]], separators=(",", ":"), ensure_ascii=False)
        body = b"envbuild-dataset-v1\n" + rows.encode("utf-8")
    except UnicodeEncodeError:
        return None  # an undecodable name: the full command explains the refusal
    sys.stdout.write(f"{algorithm}:{_hasher(algorithm, threaded=False, data=body)}\n")
    return 0


def _hasher(algorithm: str, *, threaded: bool, data: bytes | mmap.mmap) -> str:
    if algorithm == "blake3":
        from blake3 import blake3

        hasher = blake3(max_threads=blake3.AUTO) if threaded else blake3()
        hasher.update(data)
        return str(hasher.hexdigest())
    import hashlib

    sha = hashlib.sha256()
    sha.update(data)
    return sha.hexdigest()
