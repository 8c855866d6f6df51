"""Scratch folders and files that never outlive their run for long.

    <cache>/tmp/<prefix>-<host>-<pid>-<start>-<random>

A scratch name says which process made it: a short hash of the host name, the pid, and
that process's start time in clock ticks since boot (from /proc), so a pid reused by a
later process does not keep a dead run's folder alive, and a cache shared between hosts
(an NFS home) never loses a live run's folder to another host. A scratch entry is removed
when its `with` block ends, by an atexit handler when the interpreter exits with it still
open, and otherwise (SIGKILL, a crash, power loss) by the next run that makes a scratch
entry in the same folder, once its owner is gone. Making the first entry in a folder
costs one listing of that folder; nothing here runs for commands that need no scratch.
Standard library only.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from envbuild.paths import cache_dir

_open: set[Path] = set()  # entries of this process still in use, for the atexit handler
_swept: set[Path] = set()  # folders already swept by this process


def owner() -> str:
    """`<host>-<pid>-<start>`: the part of a scratch name that says whose it is."""
    return f"{_host()}-{os.getpid()}-{_start_time(os.getpid())}"


def default_root() -> Path:
    return cache_dir() / "tmp"


@contextlib.contextmanager
def scratch_dir(prefix: str, *, root: Path | None = None) -> Iterator[Path]:
    """A fresh folder `<root>/<prefix>-<owner>-<random>` (root: the cache's tmp/), removed
    with everything in it when the block ends."""
    path = _new(prefix, root)
    path.mkdir()
    try:
        yield path
    finally:
        _remove(path)


@contextlib.contextmanager
def scratch_file(prefix: str, *, root: Path | None = None) -> Iterator[Path]:
    """A fresh empty file named like `scratch_dir`'s folders, removed when the block ends
    unless it was renamed away."""
    path = _new(prefix, root)
    path.touch(exist_ok=False)
    try:
        yield path
    finally:
        _remove(path)


def sweep(folder: Path) -> list[Path]:
    """Remove the scratch entries of `folder` whose owner process, on this host, is gone;
    returns what was removed. Entries of live runs, of other hosts and names that are not
    scratch names stay."""
    removed: list[Path] = []
    try:
        names = [entry.name for entry in folder.iterdir()]
    except OSError:  # no folder yet, or unreadable: nothing of ours is there
        return removed
    for name in names:
        owner = _owner_of(name)
        if owner is not None and owner[0] == _host() and not in_use(name):
            _delete(folder / name)
            removed.append(folder / name)
    return removed


def in_use(name: str) -> bool:
    """Whether the process that made scratch entry `name` may still use it: it runs (the
    very process, not a later one with its pid) or it ran on another host. False for
    names that are not scratch names."""
    owner = _owner_of(name)
    if owner is None:
        return False
    host, pid, start = owner
    return host != _host() or _alive(pid, start)


def _owner_of(name: str) -> tuple[str, int, int] | None:
    parts = name.rsplit("-", 4)
    if len(parts) != 5 or len(parts[1]) != 8 or len(parts[4]) != 8:
        return None
    if not (parts[2].isdigit() and parts[3].isdigit()):
        return None
    return parts[1], int(parts[2]), int(parts[3])


def _new(prefix: str, root: Path | None) -> Path:
    folder = default_root() if root is None else root
    folder.mkdir(parents=True, exist_ok=True)
    if folder not in _swept:
        _swept.add(folder)
        sweep(folder)
    path = folder / f"{prefix}-{owner()}-{secrets.token_hex(4)}"
    _open.add(path)
    return path


def _remove(path: Path) -> None:
    _open.discard(path)
    _delete(path)


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@atexit.register
def _remove_open() -> None:
    for path in list(_open):
        _remove(path)


def _host() -> str:
    return hashlib.sha256(os.uname().nodename.encode()).hexdigest()[:8]


def _start_time(pid: int) -> int:
    """Start time of `pid` in clock ticks since boot; 0 where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return 0
    # Field 22; the command name (field 2) is in parentheses and may hold spaces.
    return int(text.rpartition(b")")[2].split()[19])


def _alive(pid: int, start: int) -> bool:
    if os.path.isdir("/proc/self"):  # noqa: PTH112 (stdlib os calls, as the lines around)
        return os.path.exists(f"/proc/{pid}") and _start_time(pid) == start  # noqa: PTH110
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
