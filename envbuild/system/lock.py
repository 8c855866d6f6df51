"""Lock the `[system]` packages of each target: the one entry `envbuild lock` calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from envbuild.errors import InputError
from envbuild.lockfile.fields import Doc, LockFormatError, relative_path
from envbuild.lockfile.hashes import seal_target
from envbuild.lockfile.model import LockedTarget, SystemPackage
from envbuild.manifest.locate import dotted
from envbuild.manifest.model import Manifest
from envbuild.manifest.system import SystemSpec, request_parts
from envbuild.system.archive import ArchiveNotTrusted, ArchiveSession, archive_of
from envbuild.system.implicit import implicit_requests, interpreter_package
from envbuild.system.packages import PackageRecord
from envbuild.system.resolve import Universe, Unsatisfiable, resolve

SYSTEM_BASE = "system"  # LockedTarget.base of an image built from the system set alone
# A target's platform -> the Debian architecture of its packages.
ARCHITECTURES = {"linux/amd64": "amd64", "linux/arm64": "arm64"}


def debian_arch(platform: str, target: str) -> str:
    arch = ARCHITECTURES.get(platform)
    if arch is None:
        raise InputError(f'target "{target}" ({platform}): [system] packages are Debian packages for '
                         f"Linux targets ({', '.join(ARCHITECTURES)})",
                         hint="move this target to a manifest without [system]")
    return arch


def lock_system(manifest: Manifest, targets: dict[str, LockedTarget], names: tuple[str, ...], *,
                previous: dict[str, LockedTarget], upgrade: bool, upgrade_packages: tuple[str, ...],
                progress: Callable[[str], None]) -> dict[str, LockedTarget]:
    """`targets` with the system set of each target in `names` locked and the target resealed.

    A target keeps the versions its previous lock chose (`previous`) unless `upgrade` (or
    `upgrade_packages` names the package); a kept version that has left the archive is
    exit 3 (resolve.PinnedVersionGone). Targets not in `names` are returned as they are."""
    spec = manifest.system
    out = dict(targets)
    if spec is None:
        return out  # targets resolved afresh carry no system set
    archive = archive_of(spec)
    session = ArchiveSession()
    for name in sorted(names):
        target = out[name]
        arch = debian_arch(target.platform, name)
        progress(f"resolving system packages of {name} ({spec.distribution}, {arch})")
        old = previous.get(name)
        pins = {} if upgrade or old is None or old.system_distribution != spec.distribution else \
            {p.name: p.version for p in old.system if p.name not in upgrade_packages}
        universe = Universe(session.packages(archive, arch), arch=arch, label=f"{archive.label} ({arch})")
        requests = requests_of(spec, target)
        if target.base == SYSTEM_BASE:
            requests = _with_interpreter(requests, universe, target, spec.distribution)
        _check_names(universe, spec, target, requests)
        chosen = resolve(universe, requests, pins=pins)
        packages = tuple(_record(c.record, c.dependencies, archive.name, archive.label) for c in chosen)
        progress(f"locked {name}: {len(packages)} system packages")
        out[name] = seal_target(dataclasses.replace(target, system_distribution=spec.distribution,
                                                    system=packages))
    return out


def requests_of(spec: SystemSpec, target: LockedTarget) -> tuple[str, ...]:
    """The target's requests: its [system] packages and the implicit ones (implicit.py) the
    manifest does not already request by name."""
    written = spec.packages_for(target.name)
    named = {request_parts(r)[0] for r in written}
    return tuple(sorted({*written, *(n for n in implicit_requests(target) if n not in named)}))


def _check_names(universe: Universe, spec: SystemSpec, target: LockedTarget, requests: tuple[str, ...]) -> None:
    """Every request names a package (or a virtual one) the archive has: Unsatisfiable
    (exit 2) listing each that does not, where it was written and the closest name."""
    import difflib

    written = {request_parts(r)[0] for r in spec.packages}
    extras = {request_parts(r)[0] for r in dict(spec.extras).get(target.name, ())}
    implicit = implicit_requests(target)
    problems = []
    for name in sorted({request_parts(r)[0] for r in requests}):
        if name in universe.by_name or name in universe.providers:
            continue
        where = "[system] packages" if name in written else \
            f"[{dotted('targets', target.name)}] system-packages" if name in extras else \
            f"implicit: {implicit.get(name, 'requested by envbuild')}"
        close = difflib.get_close_matches(name, universe.by_name, n=3, cutoff=0.6)  # closest first
        guess = f"{', '.join(close[:-1])} or {close[-1]}" if len(close) > 1 else "".join(close)
        problems.append(f"  {name} ({where})" + (f": did you mean {guess}?" if close else ""))
    if problems:
        count = f"{len(problems)} requested packages are" if len(problems) > 1 else "a requested package is"
        raise Unsatisfiable(f'{universe.label}: target "{target.name}": {count} not in the archive:\n'
                            + "\n".join(problems),
                            hint="check the package names, [system] components and the target's platform")


def _with_interpreter(requests: tuple[str, ...], universe: Universe, target: LockedTarget,
                      distribution: str) -> tuple[str, ...]:
    """`requests` (which hold python3.X, implicit.py) checked against the archive, plus
    `python3-minimal` when the archive's is for the target's Python: an image built from
    the set runs `python3`. InputError (exit 2) when the archive has no python3.X."""
    wanted = interpreter_package(target.python)
    default = universe.by_name.get("python3-minimal", [])
    # "3.11.2-1+b1" (an epoch, if any, first): the Python version python3-minimal is for.
    default_minor = ".".join(default[0].version.split(":", 1)[-1].split(".")[:2]) if default else None
    if wanted not in universe.by_name:
        theirs = f"Python {default_minor}" if default_minor else "no python3"
        raise InputError(f'target "{target.name}": its Python is {target.python}, but {distribution} '
                         f"has {theirs} ({universe.label} has no {wanted}): an image built from the "
                         f'system packages (base = "system") needs the distribution\'s Python',
                         hint=(f'set [project] python = "{default_minor}" (the distribution\'s), '
                               if default_minor else "") + "use a distribution whose Python is "
                              f"{target.python}, or build on an image base with that Python")
    if default_minor == ".".join(target.python.split(".")[:2]) \
            and not any(request_parts(r)[0] == "python3-minimal" for r in requests):
        requests = tuple(sorted((*requests, "python3-minimal")))
    return requests


def _record(record: PackageRecord, dependencies: tuple[str, ...], archive: str, label: str) -> SystemPackage:
    try:
        # The pool path becomes a URL path when the image is built: plain components only.
        relative_path(Doc(label), record.filename, f"{record.name}.Filename")
    except LockFormatError as error:
        raise ArchiveNotTrusted(error.message, hint="the archive's index lists an unsafe file name") from None
    return SystemPackage(name=record.name, version=record.version, architecture=record.architecture,
                         archive=archive, path=record.filename, size=record.size,
                         hash=f"sha256:{record.sha256}", dependencies=dependencies)
