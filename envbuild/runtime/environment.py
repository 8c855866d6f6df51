"""The distributions installed in an environment, checked against the locked ones.

Distributions are found as `importlib.metadata` finds them (`*.dist-info` and `*.egg-info`
entries of each directory on the environment's `sys.path`, in path order; the first of a
name is the one `import` sees, as pip treats it), but read directly: only the `Name` and
`Version` headers of each METADATA are parsed, which keeps a 150-distribution check well
under the start-up budget (importlib.metadata's full e-mail parsing costs more than the
rest of the check together).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .target import TargetSpec
from .verdict import Mismatch
from .versions import same_version

DEFAULT_ALLOW = ("pip", "setuptools", "wheel")


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: runs of `-`, `_` and `.` become `-`, lower case."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True, kw_only=True, slots=True)
class Installed:
    name: str  # normalised
    version: str
    meta: Path  # the .dist-info folder, or the .egg-info folder or file


def installed(paths: Sequence[str]) -> dict[str, Installed]:
    """Every distribution on `paths`, by normalised name; the first of a name wins."""
    found: dict[str, Installed] = {}
    for entry in paths:
        try:
            with os.scandir(entry) as listing:
                metas = sorted(e.name for e in listing
                               if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue  # a zip or a missing folder on sys.path holds no installed metadata
        for meta_name in metas:
            meta = Path(entry, meta_name)
            headers = _headers(meta)
            raw = headers.get("name")
            if not raw:
                continue  # a metadata folder without a name is not a distribution pip sees
            name = canonical_name(raw)
            if name not in found:
                found[name] = Installed(name=name, version=headers.get("version", ""), meta=meta)
    return found


def _headers(meta: Path) -> dict[str, str]:
    source = meta  # an .egg-info file is itself PKG-INFO
    if meta.name.endswith(".dist-info"):
        source = meta / "METADATA"
    elif meta.is_dir():
        source = meta / "PKG-INFO"
    out: dict[str, str] = {}
    try:
        with source.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    break  # the headers end at the first blank line; the body follows
                key, sep, value = line.partition(":")
                if sep and not line[0].isspace():
                    out.setdefault(key.strip().lower(), value.strip())
                if "name" in out and "version" in out:
                    break
    except OSError:
        return {}
    return out


def check_packages(spec: TargetSpec, present: dict[str, Installed],
                   allow: Iterable[str]) -> list[Mismatch]:
    """Locked distributions missing or at another version; unlocked ones not allowed."""
    out: list[Mismatch] = []
    locked = {canonical_name(p.name): p.version for p in spec.packages}
    for name, version in locked.items():
        have = present.get(name)
        if have is None:
            out.append(Mismatch(kind="missing", package=name,
                                detail=f"locked at {version}, not installed"))
        elif not same_version(version, have.version):
            out.append(Mismatch(kind="version", package=name,
                                detail=f"locked at {version}, installed {have.version}"))
    allowed = {canonical_name(a) for a in allow}
    for name, have in present.items():
        if name not in locked and name not in allowed:
            out.append(Mismatch(kind="unlocked", package=name,
                                detail=f"{have.version} is installed but not locked "
                                       f"(allow it with --allow {name})"))
    return out


def check_records(present: Iterable[Installed]) -> tuple[list[Mismatch], list[str]]:
    """Every installed file against its RECORD sha256 (`--deep`).

    Files listed without a hash (RECORD itself, signatures) and `.pyc` files, which
    installers write after RECORD, are skipped.
    """
    out: list[Mismatch] = []
    notes: list[str] = []
    for item in sorted(present, key=lambda i: i.name):
        rows = _record(item.meta)
        if not any(len(row) > 1 and row[1] for row in rows):
            notes.append(f"{item.name}: no RECORD hashes, its files were not checked")
            continue
        for row in rows:
            if len(row) < 2 or not row[1] or row[0].endswith((".pyc", "/RECORD")):
                continue
            shown, (mode, _, value) = row[0], row[1].partition("=")
            if mode != "sha256":
                notes.append(f"{item.name}: {shown}: {mode} hash not checked")
                continue
            problem = _compare(item.meta.parent / shown, value)
            if problem is not None:
                kind = "file-modified" if problem == "differs" else "file-missing"
                detail = (f"{shown} differs from its RECORD sha256" if problem == "differs"
                          else f"{shown} {problem}")
                out.append(Mismatch(kind=kind, package=item.name, detail=detail))
    return out, notes


def _record(meta: Path) -> list[list[str]]:
    import csv
    if not meta.name.endswith(".dist-info"):
        return []
    try:
        with (meta / "RECORD").open(encoding="utf-8", newline="") as handle:
            return list(csv.reader(handle))
    except OSError:
        return []


def _compare(path: Path, expected: str) -> str | None:
    import base64
    import hashlib

    try:
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").digest()
    except FileNotFoundError:
        return "is in RECORD but not on disk"
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    return None if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == expected \
        else "differs"
