"""Datasets in the lock: hash what changed, write listings, produce the lock tables.

The lead's lock code calls `dataset_inputs` for the input hash and `lock_datasets` for
the `[datasets.<name>]` tables; `check_locked` is the offline half of `lock --check`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from envbuild.data.cache import Hints, load_hints, save_hints
from envbuild.data.digest import DEFAULT_ALGORITHM, FileEntry, parse_digest
from envbuild.data.filters import make_filter
from envbuild.data.listing import MAX_LISTING_BYTES, Listing, dump_listing, parse_listing
from envbuild.data.manifest import DatasetSpec
from envbuild.data.progress import Ticker
from envbuild.data.sources import open_source
from envbuild.data.sources.interface import Source, SourceFile
from envbuild.errors import CheckFailed, InputError
from envbuild.fileio import write_atomic
from envbuild.inputfiles import read_input_bytes


def dataset_inputs(spec: DatasetSpec) -> dict[str, Any]:
    """What of the manifest enters the lock's input hash (plain data)."""
    return {
        "digest": spec.digest,
        "include": list(spec.include),
        "mount": spec.mount,
        "source": spec.source,
    }


def listing_relpath(lock_path: Path, name: str) -> str:
    """Where a dataset's listing lives, relative to the lock file's folder."""
    return f"{lock_path.name}.d/datasets/{name}.listing"


def lock_datasets(
    specs: Mapping[str, DatasetSpec],
    *,
    manifest_dir: Path,
    lock_path: Path,
    previous: Mapping[str, Mapping[str, Any]] | None,
    progress: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    """Hash every dataset (re-reading only files whose hint changed) and write listings.

    Returns per dataset the plain-data table for the lock. Raises CheckFailed when a
    digest given in the manifest differs from the content.
    """
    tables: dict[str, dict[str, Any]] = {}
    for name in sorted(specs):
        spec = specs[name]
        old = (previous or {}).get(name)
        tables[name] = _lock_one(spec, manifest_dir, lock_path, old, progress)
    _remove_stale_listings(lock_path, set(tables))
    return tables


def check_locked(
    specs: Mapping[str, DatasetSpec],
    tables: Mapping[str, Mapping[str, Any]],
    *,
    lock_path: Path,
) -> list[str]:
    """Offline: why the lock's datasets no longer match the manifest (empty when fresh).

    Compares recorded inputs and the listings' recorded digests only; re-reading the
    data is `envbuild data verify`'s job.
    """
    from envbuild.canonical import digest

    reasons: list[str] = []
    for name in sorted(set(specs) | set(tables)):
        table = tables.get(name)
        if name not in specs:
            reasons.append(f"dataset {name} is locked but no longer declared")
        elif table is None:
            reasons.append(f"dataset {name} is declared but not locked")
        elif table.get("inputs") != digest(dataset_inputs(specs[name])):
            reasons.append(f"dataset {name}: its manifest entry changed")
        elif (changed := _recorded_change(specs[name], table)) is not None:
            reasons.append(f"dataset {name}: the lock records {changed}")
        else:
            reasons.extend(_listing_reason(name, table, lock_path))
    return reasons


def _recorded_change(spec: DatasetSpec, table: Mapping[str, Any]) -> str | None:
    """A recorded value that is not the manifest's (an edit with the hashes recomputed)."""
    recorded = {"source": table.get("source"), "include": list(table.get("include") or []),
                "mount": table.get("mount")}
    declared = {"source": spec.source, "include": list(spec.include), "mount": spec.mount}
    for key, value in recorded.items():
        if value != declared[key]:
            return f"{key} {value!r}, the manifest says {declared[key]!r}"
    return None


def _lock_one(
    spec: DatasetSpec,
    manifest_dir: Path,
    lock_path: Path,
    old: Mapping[str, Any] | None,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    algorithm = parse_digest(spec.digest)[0] if spec.digest else DEFAULT_ALGORITHM
    source = open_source(spec.source, base=manifest_dir)
    try:
        include = make_filter(spec.include)
    except ValueError as error:
        raise InputError(f"datasets.{spec.name}.include: {error}") from None
    progress(f"dataset {spec.name}: listing {spec.source}")
    listed = source.list_files(include)
    if not listed:
        raise InputError(
            f"dataset {spec.name}: no files at {spec.source}"
            + (f" match include {list(spec.include)}" if spec.include else ""),
            hint="check the source and the include patterns",
        )
    relpath = listing_relpath(lock_path, spec.name)
    target = lock_path.parent / relpath
    hints = None if source.hints_portable else load_hints(source.location, algorithm)
    if hints is not None and _unchanged(hints, listed, target):
        # Every hint matches the last lock on this machine and its listing is in place:
        # nothing to read, build or write.
        actual, size = hints.digest, sum(item.size for item in listed)
    else:
        listing = _listing(spec, source, listed, algorithm, hints, old, lock_path, progress)
        actual, size = listing.digest(), listing.size
        data = dump_listing(listing, digest=actual)
        if not _same_bytes(target, data):
            write_atomic(target, data)
        if not source.hints_portable:
            save_hints(
                source.location,
                algorithm,
                Hints(
                    digest=actual,
                    paths=[f.path for f in listed],
                    hints=[f.hint for f in listed],
                    hashes=[e.hash for e in listing.entries],
                ),
            )
    if spec.digest is not None and spec.digest != actual:
        raise CheckFailed(
            f"dataset {spec.name}: the manifest pins digest {spec.digest}, "
            f"but the content at {spec.source} has digest {actual}",
            hint=f"if the new content is intended, update or remove datasets.{spec.name}.digest in the manifest",
        )
    return _table(spec, actual, len(listed), size, relpath)


def _listing(
    spec: DatasetSpec,
    source: Source,
    listed: list[SourceFile],
    algorithm: str,
    hints: Hints | None,
    old: Mapping[str, Any] | None,
    lock_path: Path,
    progress: Callable[[str], None],
) -> Listing:
    """The listing of `listed`, reading only files whose hint changed."""
    if hints is not None:
        known = dict(zip(hints.paths, zip(hints.hints, hints.hashes, strict=True), strict=True))
    else:
        known = _portable_hints(algorithm, old, lock_path)
    hashes: dict[str, str] = {}
    todo: list[SourceFile] = []
    for item in listed:
        hit = known.get(item.path)
        if hit is not None and hit[0] == item.hint:
            hashes[item.path] = hit[1]
        else:
            todo.append(item)
    if todo:
        ticker = Ticker(progress, f"dataset {spec.name}: hashing", len(todo), "files")
        for entry in source.hash_files(todo, algorithm, on_file=lambda _: ticker.advance()):
            hashes[entry.path] = entry.hash
        ticker.finish()
    portable = source.hints_portable
    entries = tuple(
        FileEntry(
            path=item.path,
            size=item.size,
            hash=hashes[item.path],
            hint=item.hint if portable else None,
        )
        for item in listed
    )
    return Listing(algorithm=algorithm, entries=entries)


def _unchanged(hints: Hints, listed: list[SourceFile], target: Path) -> bool:
    return (
        hints.hints == [f.hint for f in listed]
        and hints.paths == [f.path for f in listed]
        and _header_digest(target) == hints.digest
    )


def _table(spec: DatasetSpec, actual: str, files: int, size: int, relpath: str) -> dict[str, Any]:
    from envbuild.canonical import digest

    table: dict[str, Any] = {
        "digest": actual,
        "files": files,
        "inputs": digest(dataset_inputs(spec)),
        "listing": relpath,
        "size": size,
        "source": spec.source,
    }
    if spec.include:
        table["include"] = list(spec.include)
    if spec.mount is not None:
        table["mount"] = spec.mount
    return table


def _header_digest(path: Path) -> object:
    """The digest a listing file's header records (None when unreadable)."""
    import json

    try:
        with open(path, "rb") as handle:
            header = json.loads(handle.readline())
    except (OSError, ValueError):
        return None
    return header.get("digest") if isinstance(header, dict) else None


def _portable_hints(algorithm: str, old: Mapping[str, Any] | None, lock_path: Path) -> dict[str, tuple[str, str]]:
    """path -> (hint, hash) from the previous lock's listing (ETags of remote sources)."""
    if old is None or not isinstance(old.get("listing"), str):
        return {}
    try:
        data = read_input_bytes(lock_path.parent / old["listing"], what="listing",
                                limit=MAX_LISTING_BYTES)
        listing = parse_listing(data, where=old["listing"])
    except (OSError, InputError):
        return {}  # no usable previous listing: hash everything again
    if listing.algorithm != algorithm:
        return {}
    return {e.path: (e.hint, e.hash) for e in listing.entries if e.hint is not None}


def _listing_reason(name: str, table: Mapping[str, Any], lock_path: Path) -> list[str]:
    relpath = table.get("listing")
    if not isinstance(relpath, str):
        return [f"dataset {name}: the lock records no listing"]
    recorded = _header_digest(lock_path.parent / relpath)
    if recorded is None:
        return [f"dataset {name}: listing {relpath} is missing or unreadable"]
    if recorded != table.get("digest"):
        return [f"dataset {name}: listing {relpath} does not match the locked digest"]
    return []


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _remove_stale_listings(lock_path: Path, names: set[str]) -> None:
    folder = lock_path.parent / f"{lock_path.name}.d" / "datasets"
    if not folder.is_dir():
        return
    for item in folder.glob("*.listing"):
        if item.name[: -len(".listing")] not in names:
            item.unlink()


__all__: Sequence[str] = ("check_locked", "dataset_inputs", "listing_relpath", "lock_datasets")
