"""`data pull`: fetch locked datasets into the blob cache, verify, then expose them.

Every file is downloaded to a partial file, hashed while it arrives, and renamed to its
blob name only when size and hash match the listing; an interrupted transfer resumes from
the partial file. A dataset is copied to its destination only once all its blobs are in
the cache, each under a temporary name renamed into place: nothing unverified is ever
visible under a dataset file's name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envbuild.data.cache import BlobCache
from envbuild.data.digest import FileEntry, new_hasher
from envbuild.data.locked import LockedDataset, load_locked, read_listing, select
from envbuild.data.progress import Ticker
from envbuild.data.sources import open_source
from envbuild.data.sources.interface import Source, SourceError, TransferInterrupted
from envbuild.errors import CheckFailed, EnvbuildError, InputError
from envbuild.paths import cache_dir
from envbuild.safepath import relative

_RETRIES = 5


@dataclass(frozen=True, kw_only=True, slots=True)
class PullOptions:
    lock_path: Path
    manifest_dir: Path
    names: tuple[str, ...] = ()
    to: Path | None = None  # each dataset goes to <to>/<name>
    cache_dir: Path | None = None
    jobs: int = 8


@dataclass(frozen=True, kw_only=True, slots=True)
class PullResult:
    name: str
    digest: str
    files: int
    size: int
    downloaded: int  # files fetched now (the rest were in the cache)
    location: str | None  # where the dataset is exposed; None: cache only

    def as_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "downloaded": self.downloaded,
            "files": self.files,
            "location": self.location,
            "size": self.size,
        }

    def summary(self) -> str:
        where = f"at {self.location}" if self.location else "in the cache (no --to, no mount)"
        return (
            f"dataset {self.name}: {self.files} files, {self.size} bytes verified {where} "
            f"({self.downloaded} downloaded)"
        )


class _Mismatch(Exception):
    def __init__(self, entry: FileEntry, detail: str) -> None:
        super().__init__(detail)
        self.entry = entry
        self.detail = detail


def pull_datasets(options: PullOptions, *, progress: Callable[[str], None]) -> list[PullResult]:
    """Pull the named datasets (all when none is named) of the lock."""
    locked = load_locked(options.lock_path)
    chosen = select(locked, options.names, options.lock_path)
    cache = BlobCache(options.cache_dir or cache_dir())
    results = []
    with cache.locked():
        for dataset in chosen:
            results.append(_pull_one(dataset, options, cache, progress))
    return results


def _pull_one(
    dataset: LockedDataset,
    options: PullOptions,
    cache: BlobCache,
    progress: Callable[[str], None],
) -> PullResult:
    listing = read_listing(dataset, options.lock_path)
    algorithm = listing.algorithm
    wanted: dict[str, FileEntry] = {}
    for entry in listing.entries:
        if not cache.blob(algorithm, entry.hash).exists():
            wanted.setdefault(entry.hash, entry)
    if wanted:
        source = open_source(dataset.source, base=options.manifest_dir)
        ticker = Ticker(progress, f"dataset {dataset.name}: downloading", len(wanted), "files")
        _fetch_all(source, list(wanted.values()), algorithm, cache, options.jobs, ticker, dataset)
        ticker.finish()
    target = options.to / dataset.name if options.to else None
    if target is None and dataset.mount:
        target = Path(dataset.mount)
    if target is not None:
        progress(f"dataset {dataset.name}: placing {listing.files} files in {target}")
        _expose(listing.entries, algorithm, cache, target)
    return PullResult(
        name=dataset.name,
        digest=dataset.digest,
        files=listing.files,
        size=listing.size,
        downloaded=len(wanted),
        location=str(target) if target is not None else None,
    )


def _fetch_all(
    source: Source,
    entries: Sequence[FileEntry],
    algorithm: str,
    cache: BlobCache,
    jobs: int,
    ticker: Ticker,
    dataset: LockedDataset,
) -> None:
    def one(entry: FileEntry) -> Exception | None:
        try:
            _fetch(source, entry, algorithm, cache)
        except (_Mismatch, EnvbuildError) as error:
            return error
        ticker.advance()
        return None

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        failures = [e for e in pool.map(one, entries) if e is not None]
    if not failures:
        return
    mismatches = [f for f in failures if isinstance(f, _Mismatch)]
    if mismatches:
        lines = [f"  {m.entry.path}: {m.detail}" for m in mismatches]
        raise CheckFailed(
            f"dataset {dataset.name}: {len(mismatches)} file(s) at {dataset.source} changed "
            "since locking; nothing of this dataset was exposed\n" + "\n".join(lines),
            hint="restore the source, or run `envbuild lock` to pin the new content",
        )
    first = failures[0]
    assert isinstance(first, EnvbuildError)
    more = f" (and {len(failures) - 1} more failures)" if len(failures) > 1 else ""
    raise type(first)(
        f"dataset {dataset.name}: {first.message}{more}",
        hint=(first.hint or "") + "; run the pull again to resume",
    )


def _fetch(source: Source, entry: FileEntry, algorithm: str, cache: BlobCache) -> None:
    partial = cache.partial(algorithm, entry.hash)
    partial.parent.mkdir(parents=True, exist_ok=True)
    hasher = new_hasher(algorithm)
    with open(partial, "ab+") as handle:
        handle.seek(0)
        received = 0
        if os.fstat(handle.fileno()).st_size > entry.size:
            handle.truncate(0)  # a stale or foreign partial file: start over
        while chunk := handle.read(1 << 20):  # resume: hash what arrived before
            hasher.update(chunk)
            received += len(chunk)
        for attempt in range(_RETRIES):
            try:
                for chunk in source.read(entry.path, offset=received):
                    if received + len(chunk) > entry.size:
                        break
                    handle.write(chunk)
                    hasher.update(chunk)
                    received += len(chunk)
                else:
                    break
                _discard(partial)
                raise _Mismatch(entry, f"is larger than the {entry.size} bytes locked")
            except TransferInterrupted:
                handle.flush()
                if attempt == _RETRIES - 1:
                    raise
    actual = hasher.hexdigest()
    if received != entry.size or actual != entry.hash:
        _discard(partial)
        raise _Mismatch(
            entry,
            f"expected {entry.size} bytes with {algorithm}:{entry.hash}, "
            f"got {received} bytes with {algorithm}:{actual}",
        )
    cache.commit(partial, algorithm, entry.hash)


def _expose(entries: Sequence[FileEntry], algorithm: str, cache: BlobCache, target: Path) -> None:
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"cannot create {target}: {error.strerror}",
            hint="choose another folder with --to, or grant write access",
        ) from None
    for entry in entries:
        # A listing's path becomes a path only through the one helper: inside `target`,
        # even when a folder on the way is a symlink someone placed there.
        destination = relative(target, entry.path, what="listed file")
        destination.parent.mkdir(parents=True, exist_ok=True)
        temporary = destination.with_name(f".{destination.name}.envbuild-tmp")
        try:
            shutil.copyfile(cache.blob(algorithm, entry.hash), temporary)
            temporary.chmod(0o644)
            temporary.replace(destination)
        except OSError as error:
            _discard(temporary)
            raise InputError(
                f"cannot write {destination}: {error.strerror}",
                hint="choose another folder with --to, or grant write access",
            ) from None


def _discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


__all__ = ["PullOptions", "PullResult", "SourceError", "pull_datasets"]
