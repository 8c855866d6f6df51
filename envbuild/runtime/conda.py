"""The conda packages of a prefix, checked against the locked ones (standard library only).

A conda prefix records each linked package in `conda-meta/<name>-<version>-<build>.json`
(what `envbuild image` writes, as conda does). Every locked conda package must have its
record there, naming the locked name, version, build and sha256, and no record may name a
package the lock does not hold. With `deep`, every file a record lists is checked against
the sha256 it records (`sha256_in_prefix` where the prefix was written into the file).

The prefix is `CONDA_PREFIX` (images set it, as `conda activate` does), else the running
interpreter's own prefix when it holds `conda-meta/`. Python distributions that a conda
package installed (their `.dist-info` folders are among its files) are the conda check's,
not the wheel check's: they are locked as conda packages.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .verdict import Mismatch

TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from typing import Any

    from .environment import Installed

META = "conda-meta"
_MAX_RECORD = 64 << 20


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedConda:
    name: str
    version: str
    build: str
    hash: str  # "sha256:<hex>"


@dataclass(frozen=True, kw_only=True, slots=True)
class Record:
    """One `conda-meta/*.json` record, the fields the check reads."""

    file: str  # the record's own file name
    name: str
    version: str
    build: str
    sha256: str
    paths: tuple[dict[str, Any], ...]  # paths_data.paths
    problem: str | None = None  # why the record could not be read


def find_prefix(environ: Mapping[str, str]) -> Path | None:
    """The conda prefix to check: CONDA_PREFIX, else this interpreter's when it is conda's."""
    named = environ.get("CONDA_PREFIX", "")
    if named:
        return Path(named)
    own = Path(sys.prefix)
    return own if (own / META).is_dir() else None


def records(prefix: Path) -> dict[str, Record]:
    """Every record of the prefix, by package name (sorted file names: the first wins)."""
    try:
        names = sorted(e.name for e in os.scandir(prefix / META)
                       if e.name.endswith(".json") and e.is_file())
    except OSError:
        return {}
    found: dict[str, Record] = {}
    for file in names:
        record = _read(prefix / META / file)
        found.setdefault(record.name, record)
    return found


def _read(path: Path) -> Record:
    stem = path.name.removesuffix(".json")
    try:
        with path.open("rb") as handle:
            data = json.loads(handle.read(_MAX_RECORD))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        paths = (data.get("paths_data") or {}).get("paths") or []
        return Record(file=path.name, name=str(data["name"]), version=str(data["version"]),
                      build=str(data["build"]), sha256=str(data.get("sha256", "")),
                      paths=tuple(p for p in paths if isinstance(p, dict)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        # Named by its file: `<name>-<version>-<build>`, the name being all but the last two.
        name = stem.rsplit("-", 2)[0]
        return Record(file=path.name, name=name, version="", build="", sha256="", paths=(),
                      problem=f"{META}/{path.name} cannot be read: {error}")


def check_conda(locked: tuple[LockedConda, ...], prefix: Path | None, *,
                deep: bool) -> tuple[list[Mismatch], list[str]]:
    """Mismatches between the prefix's records and the locked conda packages; notes."""
    if prefix is None:
        return [Mismatch(kind="conda-missing", package=None,
                         detail=f"{len(locked)} conda package(s) are locked but no conda "
                                "prefix was found (set CONDA_PREFIX)")], []
    present = records(prefix)
    out: list[Mismatch] = []
    notes: list[str] = []
    for want in locked:
        have = present.get(want.name)
        where = f"{prefix}/{META}"
        if have is None:
            out.append(Mismatch(kind="conda-missing", package=want.name,
                                detail=f"locked at {want.version} ({want.build}), no record "
                                       f"in {where}"))
        elif have.problem is not None:
            out.append(Mismatch(kind="conda-missing", package=want.name, detail=have.problem))
        elif (have.version, have.build) != (want.version, want.build):
            out.append(Mismatch(kind="conda-version", package=want.name,
                                detail=f"locked at {want.version} ({want.build}), installed "
                                       f"{have.version} ({have.build})"))
        elif "sha256:" + have.sha256 != want.hash:
            out.append(Mismatch(kind="conda-version", package=want.name,
                                detail=f"locked as {want.hash}, installed from "
                                       f"sha256:{have.sha256 or '(none recorded)'}"))
        elif deep:
            found, skipped = _files(prefix, have)
            out += found
            notes += skipped
    names = {p.name for p in locked}
    for name, have in sorted(present.items()):
        if name not in names:
            out.append(Mismatch(kind="conda-unlocked", package=name,
                                detail=f"{have.version} ({have.build}) is in "
                                       f"{prefix}/{META} but not locked"))
    return out, notes


def _files(prefix: Path, record: Record) -> tuple[list[Mismatch], list[str]]:
    out = []
    unchecked = 0
    for row in record.paths:
        path, kind = str(row.get("_path", "")), row.get("path_type", "hardlink")
        expected = row.get("sha256_in_prefix") or row.get("sha256")
        if kind in ("softlink", "directory"):
            continue
        if not expected or not path or path.startswith("/") or ".." in path.split("/"):
            unchecked += 1
            continue
        try:
            with (prefix / path).open("rb") as handle:
                actual = hashlib.file_digest(handle, "sha256").hexdigest()
        except FileNotFoundError:
            out.append(Mismatch(kind="file-missing", package=record.name,
                                detail=f"{path} is in {META}/{record.file} but not on disk"))
            continue
        except OSError as error:
            out.append(Mismatch(kind="file-missing", package=record.name,
                                detail=f"{path} cannot be read: {error.strerror}"))
            continue
        if actual != expected:
            out.append(Mismatch(kind="file-modified", package=record.name,
                                detail=f"{path} differs from its {META} sha256"))
    notes = [f"{record.name}: {unchecked} file(s) without a recorded sha256 not checked"] \
        if unchecked else []
    return out, notes


def conda_dist_infos(prefix: Path | None) -> set[str]:
    """The `.dist-info`/`.egg-info` folders conda packages installed, as absolute paths."""
    if prefix is None:
        return set()
    owned = set()
    for record in records(prefix).values():
        for row in record.paths:
            parts = str(row.get("_path", "")).split("/")
            for position, part in enumerate(parts[:-1]):
                if part.endswith((".dist-info", ".egg-info")):
                    owned.add(os.path.normpath(prefix.joinpath(*parts[:position + 1])))
                    break
    return owned


def conda_prefix_checks(locked: tuple[LockedConda, ...], present: dict[str, Installed],
                        environ: Mapping[str, str], *, deep: bool
                        ) -> tuple[dict[str, Installed], list[Mismatch], list[str], str | None]:
    """(the Python distributions left for the wheel check, mismatches, notes, the prefix)."""
    prefix = find_prefix(environ)
    owned = conda_dist_infos(prefix)
    left = {n: i for n, i in present.items() if os.path.normpath(i.meta) not in owned}
    found, notes = check_conda(locked, prefix, deep=deep)
    return left, found, notes, None if prefix is None else str(prefix)
