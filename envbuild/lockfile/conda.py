"""A target's conda packages in the lock (issue 12): their TOML form and their checks.

    [targets.h100]
    conda-channels = ["forge"]                      # channel names, by priority
    conda-requirements = ["cuda-toolkit 12.4.*", "python 3.11.*"]   # the specs, normal form

    [[targets.h100.conda]]
    name = "cuda-toolkit"
    version = "12.4.1"
    build = "0"
    subdir = "linux-64"
    channel = "forge"                               # an [indexes] name of kind "conda"
    file = "cuda-toolkit-12.4.1-0.conda"
    size = 1047
    hash = "sha256:9e55…"
    md5 = "62c1…"
    dependencies = ["__cuda >=12.4"]                # the match specs repodata records

The same value checks serve the lock reader and the channel reader (envbuild.conda.channel),
so nothing from repodata enters a lock that the lock reader would refuse.
"""

from __future__ import annotations

import re
from typing import Any

from envbuild.lockfile.fields import Doc
from envbuild.lockfile.model import CondaPackage
from envbuild.safepath import component_problem

SUBDIRS = ("linux-64", "linux-aarch64", "osx-64", "osx-arm64", "noarch")
EXTENSIONS = (".conda", ".tar.bz2")
_NAME = re.compile(r"[a-z0-9_][a-z0-9._-]{0,127}")
_VERSION = re.compile(r"[0-9A-Za-z_][0-9A-Za-z._+!-]{0,63}")
_BUILD = re.compile(r"[0-9A-Za-z_][0-9A-Za-z._+]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")
# A match spec as repodata records it: printable ASCII, bounded.
_SPEC = re.compile(r"[!-~][ -~]{0,255}")
_KEYS = frozenset({"name", "version", "build", "subdir", "channel", "file", "size", "hash", "md5",
                   "dependencies"})


def record_problem(*, name: Any, version: Any, build: Any, subdir: Any, file: Any, size: Any,
                   sha256: Any, md5: Any, dependencies: Any) -> tuple[str, str] | None:
    """(field, why) for the first value that cannot enter a lock, or None.

    `sha256` is the bare hex repodata holds (the lock adds `sha256:`)."""
    def matches(pattern: re.Pattern[str], value: Any) -> bool:
        return isinstance(value, str) and bool(pattern.fullmatch(value))

    checks: list[tuple[str, Any, bool, str]] = [
        ("name", name, matches(_NAME, name), "is not a conda package name"),
        ("version", version, matches(_VERSION, version), "is not a conda version"),
        ("build", build, matches(_BUILD, build), "is not a build string"),
        ("subdir", subdir, subdir in SUBDIRS, f"is not one of {', '.join(SUBDIRS)}"),
        ("size", size, isinstance(size, int) and not isinstance(size, bool) and size > 0,
         "is not a positive size"),
        ("sha256", sha256, matches(_SHA256, sha256), "is not 64 lowercase hex"),
        ("md5", md5, matches(_MD5, md5), "is not 32 lowercase hex"),
        ("dependencies", dependencies, isinstance(dependencies, (list, tuple))
         and all(matches(_SPEC, s) for s in dependencies), "are not printable match specs"),
    ]
    for field, value, ok, why in checks:
        if not ok:
            return field, f"{str(value)[:120]!r} {why}"
    if not isinstance(file, str) or component_problem(file) is not None:
        return "file", f"{str(file)[:200]!r} is not one plain file name"
    if file not in (f"{name}-{version}-{build}{ext}" for ext in EXTENSIONS):
        return "file", f'"{file}" is not {name}-{version}-{build}.conda or .tar.bz2'
    return None


def document(c: CondaPackage) -> dict[str, Any]:
    return {"name": c.name, "version": c.version, "build": c.build, "subdir": c.subdir,
            "channel": c.channel, "file": c.file, "size": c.size, "hash": c.hash, "md5": c.md5,
            "dependencies": list(c.dependencies)}


def target_fields(channels: tuple[str, ...], requirements: tuple[str, ...],
                  records: tuple[CondaPackage, ...]) -> dict[str, Any]:
    """The keys a target's table holds for conda; none at all for a target without conda,
    so locks without conda keep their bytes and hashes."""
    return {"conda-channels": list(channels) or None,
            "conda-requirements": list(requirements) or None,
            "conda": [document(c) for c in records] or None}


def parse_target(d: Doc, t: dict[str, Any], path: str, indexes: dict[str, Any]
                 ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[CondaPackage, ...]]:
    """(channels, requirements, records) of a target's table, every value checked."""
    channels = d.strings(t, "conda-channels", path) if "conda-channels" in t else ()
    for position, channel in enumerate(channels):
        _channel(d, channel, f"{path}.conda-channels[{position}]", indexes)
    requirements = d.strings(t, "conda-requirements", path) if "conda-requirements" in t else ()
    for position, spec in enumerate(requirements):
        if not _SPEC.fullmatch(spec):
            raise d.fail(f"{path}.conda-requirements[{position}]", "not a printable match spec")
    rows = d.get(t, "conda", path, list, optional=True) or []
    records = tuple(_record(d, row, f"{path}.conda[{i}]", channels) for i, row in enumerate(rows))
    seen: set[str] = set()
    for position, record in enumerate(records):
        if record.name in seen:
            raise d.fail(f"{path}.conda[{position}].name", f'"{record.name}" is locked twice')
        seen.add(record.name)
    if records and not channels:
        raise d.fail(f"{path}.conda-channels", "missing value")
    return channels, requirements, records


def _channel(d: Doc, name: str, path: str, indexes: dict[str, Any]) -> None:
    flags = indexes.get(name)
    if not isinstance(flags, dict) or flags.get("kind") != "conda":
        raise d.fail(path, f'"{name[:80]}" is not a conda channel the lock declares '
                           '(an [indexes] entry with kind = "conda")')


def _record(d: Doc, row: Any, path: str, channels: tuple[str, ...]) -> CondaPackage:
    d.known(row, path, _KEYS)
    channel = d.get(row, "channel", path, str)
    if channel not in channels:
        raise d.fail(f"{path}.channel", f'"{channel[:80]}" is not one of the target\'s conda-channels')
    hash_ = d.hash(row, "hash", path)
    values = {key: d.get(row, key, path, str) for key in ("name", "version", "build", "subdir", "file", "md5")}
    size = d.get(row, "size", path, int)
    dependencies = d.strings(row, "dependencies", path)
    problem = record_problem(sha256=hash_.removeprefix("sha256:"), size=size,
                             dependencies=dependencies, **values)
    if problem is not None:
        raise d.fail(f"{path}.{'hash' if problem[0] == 'sha256' else problem[0]}", problem[1])
    return CondaPackage(name=values["name"], version=values["version"], build=values["build"],
                        subdir=values["subdir"], channel=channel, file=values["file"], size=size,
                        hash=hash_, md5=values["md5"], dependencies=dependencies)


def provided_names(records: tuple[CondaPackage, ...]) -> frozenset[str]:
    """The PyPI names conda provides: Python itself, and every conda package that depends on
    `python` (a Python distribution), by its conda name (conda-forge names its Python
    packages as PyPI does, normalised)."""
    names = {"python"} if any(r.name == "python" for r in records) else set()
    for record in records:
        if any(spec.split(" ", 1)[0].split("[", 1)[0] == "python" for spec in record.dependencies):
            names.add(record.name.replace("_", "-").replace(".", "-"))
    return frozenset(names)


def provided_versions(records: tuple[CondaPackage, ...]) -> dict[str, str]:
    """PyPI name -> version of the Python distributions conda provides (PEP 440 versions
    only: a conda-only version scheme can satisfy no PyPI specifier)."""
    from packaging.version import InvalidVersion, Version

    provided = provided_names(records) - {"python"}
    out = {}
    for record in records:
        name = record.name.replace("_", "-").replace(".", "-")
        if name in provided:
            try:
                out[name] = str(Version(record.version))
            except InvalidVersion:
                continue
    return out
