"""Checks of a base image against a locked target, before anything is built.

The base's GNU C library must be at least every locked wheel's manylinux floor (a wheel
tagged `manylinux_2_28_x86_64` needs glibc 2.28; legacy aliases map to their PEP 600
names). A wheel carrying several platform tags needs only the lowest of them. A musllinux
wheel needs a musl base, which a glibc base is not.
"""

from __future__ import annotations

import re

from envbuild.errors import InputError
from envbuild.lockfile.model import LockedTarget

_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_")
_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class BaseTooOld(InputError):
    """The base's C library is older than a locked wheel requires."""


def wheel_glibc_floor(filename: str) -> tuple[int, int] | None:
    """The lowest glibc any of the wheel's platform tags accepts; None when it names none."""
    stem = filename.removesuffix(".whl")
    platforms = stem.split("-")[-1].split(".") if stem.count("-") >= 4 else []
    floors = []
    for platform in platforms:
        match = _MANYLINUX.match(platform)
        if match:
            floors.append((int(match.group(1)), int(match.group(2))))
        else:
            legacy = platform.split("_", 1)[0]
            if legacy in _LEGACY:
                floors.append(_LEGACY[legacy])
    return min(floors) if floors else None


def check_glibc(target: LockedTarget, base_reference: str, glibc: str) -> None:
    """Refuse (exit 2, naming every wheel) when the base's glibc is below a wheel's floor."""
    have = tuple(int(part) for part in glibc.split(".")[:2])
    too_new = []
    for package in sorted(target.packages, key=lambda p: p.name):
        floor = wheel_glibc_floor(package.artifact.file)
        if floor is not None and floor > have:
            too_new.append(f"{package.artifact.file} needs glibc {floor[0]}.{floor[1]}")
        elif "musllinux_" in package.artifact.file:
            too_new.append(f"{package.artifact.file} needs musl, not glibc")
    if too_new:
        raise BaseTooOld(f'target "{target.name}": base {base_reference} has glibc {glibc}, '
                         "which locked wheels cannot use:\n  " + "\n  ".join(too_new),
                         hint="use a newer base, or lock the target for this glibc "
                              f'(glibc = "{glibc}" in the target)')
