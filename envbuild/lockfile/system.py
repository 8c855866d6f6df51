"""A target's Debian system set in the lock (issue 11): its TOML form and its checks.

    [targets.cpu]
    system-distribution = "debian:bookworm"

    [[targets.cpu.system]]
    name = "libc6"
    version = "2.36-9+deb12u10"
    hash = "sha256:..."
    architecture = "amd64"
    archive = "default"
    dependencies = ["libgcc-s1"]
    path = "pool/main/g/glibc/libc6_2.36-9+deb12u10_amd64.deb"
    size = 2757936

Both keys sit in the target's table, so the target hash covers them. Every value that later
becomes a path (the pool path, joined to the archive URL), a name in a message or a number
is checked here.
"""

from __future__ import annotations

import re
from typing import Any

from envbuild.lockfile import fields
from envbuild.lockfile.fields import Doc
from envbuild.lockfile.model import LockedTarget, SystemPackage

KEYS = frozenset({"system-distribution", "system"})
_PACKAGE = frozenset({"name", "version", "architecture", "archive", "path", "size", "hash", "dependencies"})
_DISTRIBUTION = re.compile(r"debian:[a-z][a-z0-9-]{1,31}")
_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]{1,99}")
_VERSION = re.compile(r"(?:[0-9]{1,9}:)?[A-Za-z0-9][A-Za-z0-9.+~-]{0,127}")
_ARCHITECTURES = {"linux/amd64": "amd64", "linux/arm64": "arm64"}


def document(t: LockedTarget) -> dict[str, Any]:
    """The target-table keys of the system set (None: absent, as for a target without one)."""
    return {"system-distribution": t.system_distribution,
            "system": [package_document(p) for p in t.system] or None}


def package_document(p: SystemPackage) -> dict[str, Any]:
    return {"name": p.name, "version": p.version, "architecture": p.architecture, "archive": p.archive,
            "path": p.path, "size": p.size, "hash": p.hash, "dependencies": list(p.dependencies)}


def parse(d: Doc, t: dict[str, Any], path: str, platform: str) -> dict[str, Any]:
    """The LockedTarget keyword arguments of the system set, every value checked."""
    distribution = d.get(t, "system-distribution", path, str, optional=True)
    rows = d.get(t, "system", path, list, optional=True)
    if distribution is None and rows is None:
        return {}
    if distribution is None or not _DISTRIBUTION.fullmatch(distribution):
        raise d.fail(f"{path}.system-distribution", f'"{distribution}" is not debian:<codename>')
    if not rows:
        raise d.fail(f"{path}.system", "a system distribution without its packages")
    arch = _ARCHITECTURES.get(platform)
    if arch is None:
        raise d.fail(f"{path}.system", f"system packages on a {platform} target")
    packages = tuple(_package(d, row, f"{path}.system[{i}]", arch) for i, row in enumerate(rows))
    names = [p.name for p in packages]
    for position, name in enumerate(names):
        if name in names[:position]:
            raise d.fail(f"{path}.system[{position}].name", f'"{name}" is locked twice')
    for position, package in enumerate(packages):
        # The closure is closed: every edge points at a package of the set.
        for dependency in package.dependencies:
            if dependency not in names:
                raise d.fail(f"{path}.system[{position}].dependencies",
                             f'"{dependency}", a dependency of {package.name}, is not locked')
    return {"system_distribution": distribution, "system": packages}


def _package(d: Doc, row: Any, path: str, arch: str) -> SystemPackage:
    d.known(row, path, _PACKAGE)
    name = _match(d, row, "name", path, _NAME, "a Debian package name")
    version = _match(d, row, "version", path, _VERSION, "a Debian version")
    architecture = d.get(row, "architecture", path, str)
    if architecture not in (arch, "all"):
        raise d.fail(f"{path}.architecture", f'"{architecture}" is neither {arch} nor all')
    archive = fields.index_name(d, d.get(row, "archive", path, str), f"{path}.archive")
    pool = d.get(row, "path", path, str)
    fields.relative_path(d, pool, f"{path}.path")
    if not pool.endswith(".deb"):
        raise d.fail(f"{path}.path", f'"{pool[:200]}" is not a .deb file')
    size = d.get(row, "size", path, int)
    if size <= 0:
        raise d.fail(f"{path}.size", f"{size} is not a positive size")
    dependencies = d.strings(row, "dependencies", path)
    if list(dependencies) != sorted(set(dependencies)):
        raise d.fail(f"{path}.dependencies", "dependencies are not sorted and unique")
    return SystemPackage(name=name, version=version, architecture=architecture, archive=archive, path=pool,
                         size=size, hash=d.hash(row, "hash", path), dependencies=dependencies)


def _match(d: Doc, row: Any, key: str, path: str, pattern: re.Pattern[str], what: str) -> str:
    value: str = d.get(row, key, path, str)
    if not pattern.fullmatch(value):
        raise d.fail(f"{path}.{key}", f'"{value[:120]}" is not {what}')
    return value
