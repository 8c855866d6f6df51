"""Atomic writes and an inter-process file lock.

A write goes to a temporary file in the destination's folder, is fsynced, then renamed over
the destination: a reader sees the old file or the new one, never a mix, and a run killed
at any point leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from envbuild.errors import EnvbuildError, ExternalError, InputError
from envbuild.scrub import escape


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically (same-folder temp file, fsync, rename).

    An OSError becomes an EnvbuildError naming the file: names reach here from manifests
    (a 300-character dataset name makes ENAMETOOLONG), and that is bad input, not a bug.
    """
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as error:
        raise write_error(path, error) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        _fsync_dir(folder)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(error, OSError):
            raise write_error(path, error) from None
        raise


def write_error(path: Path, error: OSError) -> EnvbuildError:
    """The error to raise when `path` cannot be written: a full or failing disk is external
    (exit 3); anything else (a name too long, no permission, a file where a folder must be)
    is the input's or the user's (exit 2)."""
    reason = escape(error.strerror or str(error))
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
        return ExternalError(f"{escape(str(path))}: cannot write: {reason}")
    return InputError(f"{escape(str(path))}: cannot write: {reason}",
                      hint="check the names in the manifest and the output path")


@contextlib.contextmanager
def exclusive_lock(path: Path, *, folder: bool = False) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created if missing) while in the block.
    `folder`: `path` is a folder, locked as it is, so no lock file is left beside a user's
    files (where it would be committed)."""
    try:
        if folder:
            path.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise write_error(path, error) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
