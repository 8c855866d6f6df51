"""`data verify`: re-read a dataset's content and compare it file by file with the lock.

Every file is hashed again; sizes and mtimes are never trusted, so an edit that keeps
both is still caught.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envbuild.data.filters import make_filter
from envbuild.data.locked import LockedDataset, load_locked, read_listing, select
from envbuild.data.progress import Ticker
from envbuild.data.sources import open_source
from envbuild.data.sources.interface import Source
from envbuild.data.sources.local import LocalSource
from envbuild.errors import InputError


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyOptions:
    lock_path: Path
    manifest_dir: Path
    names: tuple[str, ...] = ()
    path: Path | None = None  # read this folder or file instead (one dataset only)


@dataclass(frozen=True, kw_only=True, slots=True)
class Changed:
    path: str
    expected: str
    actual: str


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyResult:
    name: str
    location: str
    files: int
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    changed: tuple[Changed, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.changed)

    def as_json(self) -> dict[str, Any]:
        return {
            "changed": [{"actual": c.actual, "expected": c.expected, "path": c.path} for c in self.changed],
            "extra": list(self.extra),
            "files": self.files,
            "location": self.location,
            "missing": list(self.missing),
            "ok": self.ok,
        }

    def render(self) -> str:
        if self.ok:
            return f"{self.name}: ok, {self.files} files match ({self.location})\n"
        lines = [f"{self.name}: differs from the lock ({self.location})"]
        lines += [f"  missing  {p}" for p in self.missing]
        lines += [f"  extra    {p}" for p in self.extra]
        lines += [f"  changed  {c.path}: expected {c.expected}, found {c.actual}" for c in self.changed]
        return "\n".join(lines) + "\n"


def verify_datasets(options: VerifyOptions, *, progress: Callable[[str], None]) -> list[VerifyResult]:
    """Verify the named datasets (all when none is named) of the lock."""
    locked = load_locked(options.lock_path)
    chosen = select(locked, options.names, options.lock_path)
    if options.path is not None and len(chosen) != 1:
        raise InputError(
            "--path reads one dataset; name it",
            hint=f"e.g. envbuild data verify {chosen[0].name} --path {options.path}",
        )
    return [_verify_one(dataset, options, progress) for dataset in chosen]


def _verify_one(dataset: LockedDataset, options: VerifyOptions, progress: Callable[[str], None]) -> VerifyResult:
    listing = read_listing(dataset, options.lock_path)
    source = _location(dataset, options)
    progress(f"dataset {dataset.name}: verifying {source.location}")
    present = {f.path: f for f in source.list_files(make_filter(dataset.include))}
    expected = {e.path: e for e in listing.entries}
    changed: list[Changed] = []
    same_size = []
    for path in sorted(expected.keys() & present.keys()):
        if present[path].size == expected[path].size:
            same_size.append(present[path])
        else:
            size = expected[path].size
            changed.append(Changed(path=path, expected=f"{size} bytes", actual=f"{present[path].size} bytes"))
    ticker = Ticker(progress, f"dataset {dataset.name}: hashing", len(same_size), "files")
    for entry in source.hash_files(same_size, listing.algorithm, on_file=lambda _: ticker.advance()):
        want = expected[entry.path]
        if entry.hash != want.hash or entry.size != want.size:
            algorithm = listing.algorithm
            changed.append(
                Changed(
                    path=entry.path,
                    expected=f"{algorithm}:{want.hash}",
                    actual=f"{algorithm}:{entry.hash}",
                )
            )
    return VerifyResult(
        name=dataset.name,
        location=source.location,
        files=listing.files,
        missing=tuple(sorted(expected.keys() - present.keys())),
        extra=tuple(sorted(present.keys() - expected.keys())),
        changed=tuple(sorted(changed, key=lambda c: c.path)),
    )


def _location(dataset: LockedDataset, options: VerifyOptions) -> Source:
    if options.path is not None:
        return LocalSource(str(options.path))
    if dataset.mount and os.path.exists(dataset.mount):  # noqa: PTH110
        return LocalSource(dataset.mount)
    return open_source(dataset.source, base=options.manifest_dir)
