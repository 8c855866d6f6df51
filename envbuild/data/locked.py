"""The `[datasets]` tables of a proved lock, and the listings they point to.

The lock comes through the one reader (`envbuild.lockfile.load`), which proves its hashes
and has checked each table's values; a listing path is joined under the lock's folder only
through `envbuild.safepath`, and read bounded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envbuild.data.digest import parse_digest
from envbuild.data.listing import MAX_LISTING_BYTES, Listing, parse_listing
from envbuild.errors import CheckFailed, InputError
from envbuild.inputfiles import read_input_bytes
from envbuild.safepath import relative


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedDataset:
    """What the lock records of one dataset."""

    name: str
    digest: str
    size: int
    files: int
    source: str
    listing: str  # relative to the lock file's folder
    include: tuple[str, ...] = ()
    mount: str | None = None

    @property
    def algorithm(self) -> str:
        return self.digest.partition(":")[0]


def load_locked(lock_path: Path) -> dict[str, LockedDataset]:
    """Every dataset in the lock; InputError naming the dotted key of a bad value."""
    from envbuild.lockfile import load

    if not os.path.lexists(lock_path):
        raise InputError(f"lock file {lock_path} does not exist", hint="run `envbuild lock` first")
    tables = load(lock_path).datasets
    return {name: _dataset(name, raw, lock_path) for name, raw in sorted(tables.items())}


def select(locked: Mapping[str, LockedDataset], names: Sequence[str], lock_path: Path) -> list[LockedDataset]:
    """The named datasets (all when none is named); InputError for an unknown name."""
    if not names:
        if not locked:
            raise InputError(
                f"{lock_path} records no datasets",
                hint="declare [datasets.<name>] in the manifest and run `envbuild lock`",
            )
        return list(locked.values())
    unknown = [n for n in names if n not in locked]
    if unknown:
        raise InputError(
            f"no dataset {', '.join(map(repr, unknown))} in {lock_path}",
            hint=f"locked datasets: {', '.join(locked) or 'none'}",
        )
    return [locked[n] for n in dict.fromkeys(names)]


def read_listing(dataset: LockedDataset, lock_path: Path) -> Listing:
    """The dataset's listing, checked against the digest the lock records."""
    path = relative(lock_path.parent, dataset.listing, what=f"dataset {dataset.name}: listing")
    if not os.path.lexists(path):
        raise InputError(
            f"dataset {dataset.name}: listing {path} is missing",
            hint="commit the folder beside the lock file, or run `envbuild lock` again",
        )
    data = read_input_bytes(path, what="listing", limit=MAX_LISTING_BYTES)
    listing = parse_listing(data, where=str(path))
    actual = listing.digest()
    if actual != dataset.digest:
        raise CheckFailed(
            f"dataset {dataset.name}: listing {path} has digest {actual}, the lock records {dataset.digest}",
            hint="run `envbuild lock` again",
        )
    return listing


def _dataset(name: str, raw: Any, lock_path: Path) -> LockedDataset:
    key = f"datasets.{name}"
    if not isinstance(raw, dict):
        raise InputError(f"{lock_path}: {key} must be a table")

    def get(field: str, kind: type) -> Any:
        value = raw.get(field)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InputError(
                f"{lock_path}: {key}.{field} is missing or not a {kind.__name__}",
                hint="run `envbuild lock` again",
            )
        return value

    digest = get("digest", str)
    try:
        parse_digest(digest)
    except ValueError as error:
        raise InputError(f"{lock_path}: {key}.digest: {error}") from None
    include = raw.get("include", [])
    mount = raw.get("mount")
    if not isinstance(include, list) or not all(isinstance(p, str) for p in include):
        raise InputError(f"{lock_path}: {key}.include must be a list of strings")
    if mount is not None and not isinstance(mount, str):
        raise InputError(f"{lock_path}: {key}.mount must be a string")
    return LockedDataset(
        name=name,
        digest=digest,
        size=get("size", int),
        files=get("files", int),
        source=get("source", str),
        listing=get("listing", str),
        include=tuple(include),
        mount=mount,
    )
