"""Listings: the per-file record of a dataset, as diff-friendly JSON lines.

The first line is a header (format, algorithm, totals, digest or shard); every next line
is one file, sorted by path: ``{"hash":"<hex>","path":"a/b.jpg","size":123}``. Both are
canonical JSON, so the same content always gives the same bytes. A shard listing covers a
deterministic slice of the files and records the digest of the whole dataset's path list,
so that `merge_listings` can prove its shards cover the dataset exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from envbuild.data.digest import ALGORITHMS, FileEntry, check_relpath, dataset_digest, is_hex_hash
from envbuild.errors import InputError

FORMAT = "envbuild-listing/1"
# A listing holds one line (~100 bytes) per file: 2 GiB covers datasets of ~20 million
# files, and still refuses a device or a runaway file before memory does.
MAX_LISTING_BYTES = 2 * 1024 * 1024 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class Shard:
    """Which slice a shard listing covers: files `index`, `index + count`, ... of the sort."""

    index: int
    count: int
    paths: str  # digest of the whole dataset's sorted path list
    total_files: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Listing:
    algorithm: str
    entries: tuple[FileEntry, ...]
    shard: Shard | None = None

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.entries)

    @property
    def files(self) -> int:
        return len(self.entries)

    def digest(self) -> str:
        return dataset_digest(self.algorithm, self.entries)


def paths_digest(paths: Sequence[str]) -> str:
    from envbuild.canonical import digest

    return digest(list(paths))


def shard_slice(items: Sequence[Any], index: int, count: int) -> list[Any]:
    """The deterministic slice of sorted `items` that shard `index` of `count` hashes."""
    return list(items[index::count])


def dump_listing(listing: Listing, *, digest: str | None = None) -> bytes:
    """The listing's canonical bytes; pass `digest` when already computed."""
    header: dict[str, Any] = {
        "algorithm": listing.algorithm,
        "files": listing.files,
        "format": FORMAT,
        "size": listing.size,
    }
    if listing.shard is None:
        header["digest"] = digest or listing.digest()
    else:
        shard = listing.shard
        header["shard"] = {
            "count": shard.count,
            "files": shard.total_files,
            "index": shard.index,
            "paths": shard.paths,
        }
    lines = [json.dumps(header, sort_keys=True, separators=(",", ":"))]
    quote = json.JSONEncoder(ensure_ascii=False).encode
    for entry in listing.entries:
        hint = "" if entry.hint is None else f',"hint":{quote(entry.hint)}'
        lines.append(f'{{"hash":"{entry.hash}"{hint},"path":{quote(entry.path)},"size":{entry.size}}}')
    lines.append("")
    return "\n".join(lines).encode("utf-8")


def parse_listing(data: bytes, *, where: str) -> Listing:
    """Read a listing back; InputError naming the file and line when it is not one."""
    try:
        lines = data.decode("utf-8").splitlines()
        header = json.loads(lines[0]) if lines else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputError(
            f"{where}: not an envbuild dataset listing ({FORMAT})",
            hint="regenerate it with `envbuild lock` or `envbuild data hash --shard`",
        )
    algorithm = header.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise InputError(f"{where}:1: unknown algorithm {algorithm!r}")
    entries: list[FileEntry] = []
    previous = ""
    for number, line in enumerate(lines[1:], start=2):
        entry = _entry(line, f"{where}:{number}")
        if entries and entry.path <= previous:
            raise InputError(f"{where}:{number}: {entry.path!r} is out of order or repeated")
        previous = entry.path
        entries.append(entry)
    listing = Listing(algorithm=algorithm, entries=tuple(entries), shard=_shard(header, where))
    if listing.shard is None and header.get("digest") != listing.digest():
        raise InputError(
            f"{where}: its entries do not match its recorded digest {header.get('digest')}",
            hint="the listing was edited by hand; regenerate it with `envbuild lock`",
        )
    return listing


def merge_listings(listings: Iterable[tuple[str, Listing]]) -> Listing:
    """Combine the shard listings of one dataset (named by where they came from)."""
    shards = list(listings)
    if not shards:
        raise InputError("no listings to merge", hint="pass every shard's listing file")
    first_where, first = shards[0]
    seen: dict[int, str] = {}
    for where, listing in shards:
        shard = listing.shard
        if shard is None:
            raise InputError(f"{where} is a whole-dataset listing, not a shard")
        if (listing.algorithm, shard.count, shard.paths) != _key(first):
            raise InputError(
                f"{where} and {first_where} are shards of different runs (algorithm, shard count or file list differ)",
                hint="hash every shard of the same dataset with the same --algorithm and N",
            )
        if shard.index in seen:
            raise InputError(f"{where} and {seen[shard.index]} are both shard {shard.index}")
        seen[shard.index] = where
    count = _key(first)[1]
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        raise InputError(
            f"shards {', '.join(f'{i}/{count}' for i in missing)} are missing",
            hint="pass every shard's listing file",
        )
    entries = sorted((e for _, listing in shards for e in listing.entries), key=lambda e: e.path)
    if paths_digest([e.path for e in entries]) != _key(first)[2]:
        raise InputError(
            "the shards' files do not add up to the dataset they were cut from",
            hint="the dataset changed between shards; hash every shard again",
        )
    return Listing(algorithm=first.algorithm, entries=tuple(entries))


def _key(listing: Listing) -> tuple[str, int, str]:
    assert listing.shard is not None
    return listing.algorithm, listing.shard.count, listing.shard.paths


def _entry(line: str, where: str) -> FileEntry:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError:
        raw = None
    if not isinstance(raw, dict):
        raise InputError(f"{where}: not a listing entry")
    path, size, hexhash, hint = raw.get("path"), raw.get("size"), raw.get("hash"), raw.get("hint")
    why = check_relpath(path) if isinstance(path, str) else "path is missing"
    if why is None and (type(size) is not int or size < 0):
        why = "size must be a non-negative integer"
    if why is None and not (isinstance(hexhash, str) and is_hex_hash(hexhash)):
        why = "hash must be 64 lowercase hex digits"
    if why is None and hint is not None and not isinstance(hint, str):
        why = "hint must be a string"
    if why is not None:
        raise InputError(f"{where}: {why}")
    assert isinstance(path, str) and isinstance(size, int) and isinstance(hexhash, str)
    return FileEntry(path=path, size=size, hash=hexhash, hint=hint)


def _shard(header: dict[str, Any], where: str) -> Shard | None:
    raw = header.get("shard")
    if raw is None:
        return None
    try:
        shard = Shard(
            index=int(raw["index"]),
            count=int(raw["count"]),
            paths=str(raw["paths"]),
            total_files=int(raw["files"]),
        )
    except (TypeError, KeyError, ValueError):
        raise InputError(f"{where}:1: malformed shard header") from None
    if not 0 <= shard.index < shard.count:
        raise InputError(f"{where}:1: shard index {shard.index} is outside 0..{shard.count - 1}")
    return shard
