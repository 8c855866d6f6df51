"""A memo that lets a no-op `lock` and `lock --check` answer without parsing anything.

Whether a lock matches its manifest is a pure function of the manifest's bytes, the lock's
bytes, envbuild's version, its hardware data, the `index.json` of each `oci:` base layout
the lock pins (every image a layout holds is named from there by digest) and the size,
mtime and inode of each `docker-archive:` base (too large to hash on every run). After a
full check finds the lock current, the digest of these is remembered in the cache; the next
run that sees the same answers "current" by reading and hashing a few files. Any
difference, or no memo, falls back to the full check, so the memo can make envbuild faster
but never change an answer. This module imports only the standard library (and envbuild's small input guards): it runs
before anything else is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from envbuild import __version__
from envbuild.errors import InputError
from envbuild.inputfiles import read_input_bytes
from envbuild.paths import cache_dir


def _memo_path(lock_path: Path) -> Path:
    name = hashlib.sha256(str(lock_path.resolve()).encode()).hexdigest()[:32]
    return cache_dir() / "fastpath" / f"{name}.json"


def listings_dir(lock_path: Path) -> Path:
    """Where the datasets' per-file listings of a lock live (see envbuild.data.lockstate)."""
    return lock_path.parent / f"{lock_path.name}.d" / "datasets"


def has_datasets(lock_path: Path) -> bool:
    """Whether the lock pins datasets: then `lock` must look at the data every time."""
    try:
        return listings_dir(lock_path).is_dir()
    except OSError:  # a `--lock` name too long: the lock itself is refused right after
        return False


_FILE_BASE = re.compile(rb'^base = "((?:oci|docker-archive):[^"\\\n]*)"$', re.M)


def _base_indexes(lock: bytes, manifest_dir: Path) -> list[bytes] | None:
    """Each `oci:` base the lock pins and its layout's index.json, each `docker-archive:`
    base and its file's stat; None (check in full) for a base written with TOML escapes,
    which only the full reader reads right."""
    parts: list[bytes] = []
    found = _FILE_BASE.findall(lock)
    if len(found) != lock.count(b'\nbase = "oci:') + lock.count(b'\nbase = "docker-archive:'):
        return None
    for reference in sorted(set(found)):
        if reference.startswith(b"docker-archive:"):
            st = (manifest_dir / reference.decode()[15:]).stat()
            parts += [reference, f"{st.st_size} {st.st_mtime_ns} {st.st_ino}".encode()]
            continue
        rest = reference.decode()[4:]
        folder = manifest_dir / rest
        head, sep, tail = rest.rpartition(":")
        if sep and "/" not in tail and (manifest_dir / head).is_dir():  # oci:DIR:TAG
            folder = manifest_dir / head
        parts += [reference, read_input_bytes(folder / "index.json", what="base index")]
    return parts


def key_of(manifest: bytes | None, lock: bytes | None, lock_path: Path, *,
           manifest_dir: Path) -> str | None:
    """The memo key of a manifest's and a lock's bytes (and the lock's dataset listings and
    base layouts), under this envbuild and its hardware data."""
    if manifest is None or lock is None:
        return None
    try:
        bases = _base_indexes(lock, manifest_dir)
        if bases is None:
            return None
        parts = [manifest, lock, (Path(__file__).parent.parent / "hardware" / "hardware.toml").read_bytes(),
                 *bases]
        folder = listings_dir(lock_path)
        if folder.is_dir():
            from envbuild.data.listing import MAX_LISTING_BYTES

            for listing in sorted(folder.iterdir()):
                parts += [listing.name.encode(),
                          read_input_bytes(listing, what="listing", limit=MAX_LISTING_BYTES)]
    except (OSError, InputError):  # the full check names what is wrong with the file
        return None
    sha = hashlib.sha256(__version__.encode())
    for part in parts:
        sha.update(b"\0" + hashlib.sha256(part).digest())
    return sha.hexdigest()


def _key(manifest_path: Path, lock_path: Path) -> str | None:
    try:
        # Bounded reads: `-f /dev/zero` or a FIFO must reach the full check, which refuses it.
        return key_of(read_input_bytes(manifest_path, what="manifest"),
                      read_input_bytes(lock_path, what="lock"), lock_path,
                      manifest_dir=manifest_path.parent)
    except InputError:
        return None


def current_lock_hash(manifest_path: Path, lock_path: Path) -> str | None:
    """The lock's hash if the memo proves the lock current; None means: check in full."""
    key = _key(manifest_path, lock_path)
    if key is None:
        return None
    try:
        memo = json.loads(_memo_path(lock_path).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(memo, dict) and memo.get("key") == key and isinstance(memo.get("lock_hash"), str):
        return str(memo["lock_hash"])
    return None


def snapshot(manifest_path: Path, lock_path: Path) -> str | None:
    """The memo key of the files as they are now (take it before and after a full check)."""
    return _key(manifest_path, lock_path)


def remember_current(before: str | None, manifest_path: Path, lock_path: Path, lock_hash: str) -> None:
    """Record that the lock is current, if neither file changed since `before` was taken.

    Best effort: a cache folder that cannot be written is skipped.
    """
    key = _key(manifest_path, lock_path)
    if key is None or key != before:
        return
    path = _memo_path(lock_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "lock_hash": lock_hash}))
        tmp.replace(path)
    except OSError:
        pass
