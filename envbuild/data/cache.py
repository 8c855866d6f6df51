"""Machine-local state: the content-addressed blob cache and the stat-hint cache.

Blobs live at `blobs/<algorithm>/<hh>/<hex>` and appear there only after their content
hashed to their name. Partial downloads live in `partial/` until then, so an interrupted
pull resumes where it stopped. Hints (size, mtime, ctime, inode per local file) let a
re-lock skip re-reading unchanged files; they are never the identity of a file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from envbuild.fileio import exclusive_lock, write_atomic
from envbuild.paths import cache_dir


class BlobCache:
    """Files by content hash; nothing is visible under its hash until verified."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def blob(self, algorithm: str, hexhash: str) -> Path:
        return self.root / "blobs" / algorithm / hexhash[:2] / hexhash

    def partial(self, algorithm: str, hexhash: str) -> Path:
        return self.root / "partial" / f"{algorithm}-{hexhash}.part"

    def commit(self, partial: Path, algorithm: str, hexhash: str) -> Path:
        """Move a verified partial file to its blob name (fsync first, then rename)."""
        target = self.blob(algorithm, hexhash)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        partial.chmod(0o444)
        partial.replace(target)
        return target

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise pulls that share this cache."""
        with exclusive_lock(self.root / "lock"):
            yield


@dataclass(frozen=True, kw_only=True, slots=True)
class Hints:
    """What the last lock of a local dataset saw on this machine: per file (in the same
    order) its path, change hint and hash, and the digest they gave."""

    digest: str
    paths: list[str]
    hints: list[str]
    hashes: list[str]


def load_hints(location: str, algorithm: str) -> Hints | None:
    """The hints recorded by the last lock of this local dataset, if any."""
    try:
        raw = json.loads(_hints_path(location, algorithm).read_bytes())
        hints = Hints(digest=raw["digest"], paths=raw["paths"], hints=raw["hints"], hashes=raw["hashes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    lists = (hints.paths, hints.hints, hints.hashes)
    if raw.get("location") != location or not all(isinstance(x, list) for x in lists):
        return None
    if not len(hints.paths) == len(hints.hints) == len(hints.hashes):
        return None
    return hints


def save_hints(location: str, algorithm: str, hints: Hints) -> None:
    document = {
        "digest": hints.digest,
        "hashes": hints.hashes,
        "hints": hints.hints,
        "location": location,
        "paths": hints.paths,
    }
    # Hints only save time: an unwritable cache must not fail a lock.
    with contextlib.suppress(OSError):
        write_atomic(_hints_path(location, algorithm), json.dumps(document).encode())


def _hints_path(location: str, algorithm: str) -> Path:
    from envbuild.canonical import digest

    key = digest([location, algorithm]).partition(":")[2][:32]
    return cache_dir() / "hints" / f"{key}.json"
