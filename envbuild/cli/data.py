"""`envbuild data`: hash, merge, pull and verify datasets.

Only click and the hashing core load at import: `envbuild data hash` of one big file is
measured against `b3sum`, so sources, boto3 and the lock reader load inside the commands
that need them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from envbuild.cli._boundary import emit_json, info
from envbuild.cli._options import json_option, manifest_options, resolve_lock_path
from envbuild.data.digest import ALGORITHMS, DEFAULT_ALGORITHM
from envbuild.errors import CheckFailed, InputError


@click.group()
def data() -> None:
    """Hash, pull and verify datasets pinned by content.

    \b
    Examples:
      envbuild data hash ./imagenet/val                 print the dataset digest
      envbuild data hash /data --shard 3/16 -o s3.listing   hash one slice of 16
      envbuild data merge s*.listing                    digest from every shard
      envbuild data pull imagenet-val --to /scratch     fetch, verify, expose
      envbuild data verify imagenet-val                 exit 1 on any difference
    """


@data.command("hash")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--algorithm",
    type=click.Choice(ALGORITHMS),
    default=DEFAULT_ALGORITHM,
    show_default=True,
    help="Content hash.",
)
@click.option("--include", multiple=True, metavar="GLOB", help="Keep only matching files.")
@click.option("--shard", metavar="I/N", help="Hash slice I (0-based) of N; needs --listing.")
@click.option(
    "-o",
    "--listing",
    "listing_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the per-file listing here.",
)
@json_option
def hash_command(
    path: Path,
    algorithm: str,
    include: tuple[str, ...],
    shard: str | None,
    listing_path: Path | None,
    as_json: bool,
) -> None:
    """Print the content digest of a file or folder."""
    from envbuild.data.filters import make_filter
    from envbuild.data.hashing import hash_local

    slice_ = _parse_shard(shard) if shard is not None else None
    if slice_ is not None and listing_path is None:
        raise InputError("--shard needs --listing FILE", hint="data merge combines the listings")
    try:
        keep = make_filter(include)
    except ValueError as error:
        raise InputError(str(error)) from None
    listing = hash_local(path, algorithm=algorithm, include=keep, shard=slice_)
    if listing_path is not None:
        _write_listing(listing_path, listing)
    summary: dict[str, Any] = {
        "algorithm": listing.algorithm,
        "files": listing.files,
        "listing": str(listing_path) if listing_path is not None else None,
        "path": str(path),
        "size": listing.size,
    }
    if slice_ is not None:
        summary["shard"] = f"{slice_[0]}/{slice_[1]}"
    else:
        summary["digest"] = listing.digest()
    if as_json:
        emit_json(summary)
    elif slice_ is not None:
        info(f"shard {summary['shard']}: {listing.files} files, {listing.size} bytes")
    else:
        sys.stdout.write(summary["digest"] + "\n")


@data.command("merge")
@click.argument("listings", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--listing",
    "listing_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the merged listing here.",
)
@json_option
def merge_command(listings: tuple[Path, ...], listing_path: Path | None, as_json: bool) -> None:
    """Combine shard listings into the dataset digest."""
    from envbuild.data.listing import merge_listings

    merged = merge_listings((str(p), _read_listing(p)) for p in listings)
    if listing_path is not None:
        _write_listing(listing_path, merged)
    digest = merged.digest()
    if as_json:
        emit_json(
            {
                "algorithm": merged.algorithm,
                "digest": digest,
                "files": merged.files,
                "listing": str(listing_path) if listing_path else None,
                "size": merged.size,
            }
        )
    else:
        sys.stdout.write(digest + "\n")


@data.command("pull")
@click.argument("names", nargs=-1)
@click.option(
    "--to",
    "to",
    type=click.Path(path_type=Path, file_okay=False),
    help="Put each dataset in DIR/<name> (default: its mount path; else cache only).",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Content-addressed cache (default: $ENVBUILD_CACHE_DIR or $XDG_CACHE_HOME/envbuild).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Parallel transfers.",
)
@manifest_options
@json_option
def pull_command(
    names: tuple[str, ...],
    to: Path | None,
    cache_dir: Path | None,
    jobs: int,
    manifest_path: Path,
    lock_path: Path | None,
    as_json: bool,
) -> None:
    """Download datasets, verifying every file before it becomes visible."""
    from envbuild.data.pull import PullOptions, pull_datasets

    options = PullOptions(
        lock_path=resolve_lock_path(manifest_path, lock_path),
        manifest_dir=manifest_path.parent,
        names=names,
        to=to,
        cache_dir=cache_dir,
        jobs=jobs,
    )
    results = pull_datasets(options, progress=info)
    if as_json:
        emit_json({"datasets": {r.name: r.as_json() for r in results}})
    else:
        for result in results:
            info(result.summary())


@data.command("verify")
@click.argument("names", nargs=-1)
@click.option(
    "--path",
    "path",
    type=click.Path(path_type=Path),
    help="Verify this folder or file (one dataset) instead of its mount path or source.",
)
@manifest_options
@json_option
def verify_command(
    names: tuple[str, ...],
    path: Path | None,
    manifest_path: Path,
    lock_path: Path | None,
    as_json: bool,
) -> None:
    """Re-read datasets and exit 1 listing missing, extra and changed files."""
    from envbuild.data.verify import VerifyOptions, verify_datasets

    options = VerifyOptions(
        lock_path=resolve_lock_path(manifest_path, lock_path),
        manifest_dir=manifest_path.parent,
        names=names,
        path=path,
    )
    results = verify_datasets(options, progress=info)
    if as_json:
        emit_json({"datasets": {r.name: r.as_json() for r in results}, "ok": all(r.ok for r in results)})
    else:
        for result in results:
            sys.stdout.write(result.render())
    bad = [r.name for r in results if not r.ok]
    if bad:
        raise CheckFailed(
            f"dataset {bad[0]} differs from the lock"
            if len(bad) == 1
            else f"datasets {', '.join(bad)} differ from the lock",
            hint="pull them again (envbuild data pull) or re-lock if the change is intended",
        )


def _parse_shard(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    if sep and index.isdigit() and count.isdigit() and 0 <= int(index) < int(count):
        return int(index), int(count)
    raise InputError(
        f"--shard {text!r} is not I/N with 0 <= I < N",
        hint="e.g. --shard $JOB_COMPLETION_INDEX/16 (indices start at 0)",
    )


def _read_listing(path: Path) -> Any:
    from envbuild.data.listing import MAX_LISTING_BYTES, parse_listing
    from envbuild.inputfiles import read_input_bytes

    return parse_listing(read_input_bytes(path, what="listing", limit=MAX_LISTING_BYTES),
                         where=str(path))


def _write_listing(path: Path, listing: Any) -> None:
    from envbuild.data.listing import dump_listing
    from envbuild.fileio import write_atomic

    write_atomic(path, dump_listing(listing))
