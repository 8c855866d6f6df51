"""Whether this interpreter can run a target: its OS and machine, Python implementation and
glibc, and the wheel tags its distributions were installed from.

Standard library only (see `envbuild.runtime`). A venv built on one machine and copied to
another, or packages installed with `pip --platform`, pass a name-and-version check; only
these facts show that the environment cannot run where the target says.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from .target import TargetSpec
from .verdict import Mismatch

TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from .environment import Installed

# os.uname() spellings of the two machines targets name (as Docker platforms do).
MACHINES = {"x86_64": "amd64", "amd64": "amd64", "x64": "amd64",
            "aarch64": "arm64", "arm64": "arm64", "armv8l": "arm64"}
# The machine part of wheel platform tags that run on each target machine.
_LINUX_TAG_MACHINES = {"amd64": ("x86_64",), "arm64": ("aarch64",)}
_MAC_TAG_MACHINES = {"amd64": ("x86_64", "intel", "fat64", "fat3", "universal", "universal2"),
                     "arm64": ("arm64", "universal2")}
# Legacy manylinux names and the glibc each stands for (PEP 600).
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_(.+)")
_MACOSX = re.compile(r"macosx_\d+_\d+_(.+)")


@dataclass(frozen=True, kw_only=True, slots=True)
class HostFacts:
    os: str  # sys.platform: "linux", "darwin", ...
    machine: str  # "amd64" or "arm64", else as os.uname() says it
    implementation: str  # sys.implementation.name: "cpython", "pypy", ...
    python: str  # "3.11.7"
    glibc: str | None  # "2.36"; None: another C library (musl) or none (macOS)

    @property
    def platform(self) -> str:
        return f"{self.os}/{self.machine}"


def host_facts() -> HostFacts:
    """This interpreter's platform facts (cheap: no `platform` import, no subprocess)."""
    machine = os.uname().machine if hasattr(os, "uname") else "unknown"
    return HostFacts(os=sys.platform, machine=MACHINES.get(machine.lower(), machine),
                     implementation=sys.implementation.name,
                     python=".".join(map(str, sys.version_info[:3])), glibc=_glibc())


def _glibc() -> str | None:
    try:
        # "glibc 2.36"; musl and macOS have no such name (ValueError) or no answer (None).
        found = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None
    name, _, version = (found or "").partition(" ")
    return version if name == "glibc" and version else None


def check_platform(spec: TargetSpec, facts: HostFacts) -> list[Mismatch]:
    """The OS and machine, the Python implementation and the glibc floor of the target."""
    out: list[Mismatch] = []
    if facts.implementation != "cpython":
        # Locks resolve for CPython (their markers say so); other interpreters get other wheels.
        out.append(Mismatch(kind="python", package=None,
                            detail=f"Python implementation {facts.implementation} does not "
                                   f"match target {spec.name}'s CPython"))
    if spec.platform is None:
        return out
    if facts.platform != spec.platform:
        out.append(Mismatch(kind="platform", package=None,
                            detail=f"this environment is {facts.platform}, "
                                   f"target {spec.name} is {spec.platform}"))
    elif spec.platform.startswith("linux/") and spec.glibc:
        if facts.glibc is None:
            out.append(Mismatch(kind="glibc", package=None,
                                detail=f"no glibc here (another C library, such as musl); "
                                       f"target {spec.name} needs glibc {spec.glibc} or newer"))
        elif _version(facts.glibc) < _version(spec.glibc):
            out.append(Mismatch(kind="glibc", package=None,
                                detail=f"glibc {facts.glibc} is older than target "
                                       f"{spec.name}'s floor {spec.glibc}"))
    return out


def check_wheel_tags(spec: TargetSpec, present: Iterable[Installed]) -> list[Mismatch]:
    """Distributions whose WHEEL file records tags none of which runs on the target."""
    if spec.platform is None or "/" not in spec.platform:
        return []
    target_os, _, machine = spec.platform.partition("/")
    python = _version(spec.python)[:2]
    glibc = _version(spec.glibc) if spec.glibc else None
    out: list[Mismatch] = []
    for item in present:
        tags = _wheel_tags(item)
        if not tags or any(_fits(t, target_os, machine, python, glibc) for t in tags):
            continue
        shown = ", ".join(tags[:3]) + (f" and {len(tags) - 3} more" if len(tags) > 3 else "")
        out.append(Mismatch(kind="wheel-tag", package=item.name,
                            detail=f"installed from a wheel tagged {shown}, which does not run "
                                   f"on target {spec.name} ({spec.platform}, "
                                   f"Python {spec.python})"))
    return out


def _wheel_tags(item: Installed) -> list[str]:
    """The `Tag:` lines of a dist-info's WHEEL file, expanded; none for other metadata."""
    if not item.meta.name.endswith(".dist-info"):
        return []
    try:
        with (item.meta / "WHEEL").open(encoding="utf-8", errors="replace") as handle:
            lines = handle.read(65536).splitlines()
    except OSError:
        return []  # installed some other way (a develop install, conda): nothing recorded
    tags: list[str] = []
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "tag":
            parts = value.strip().split("-")
            if len(parts) == 3:
                tags += [f"{i}-{a}-{p}" for i in parts[0].split(".") for a in parts[1].split(".")
                         for p in parts[2].split(".")]
    return tags


def _fits(tag: str, target_os: str, machine: str, python: tuple[int, ...],
          glibc: tuple[int, ...] | None) -> bool:
    interpreter, abi, plat = tag.split("-")
    return _interpreter_fits(interpreter, abi, python) \
        and _platform_fits(plat, target_os, machine, glibc)


def _interpreter_fits(interpreter: str, abi: str, python: tuple[int, ...]) -> bool:
    match = re.fullmatch(r"(py|cp)(\d)(\d*)", interpreter)
    if match is None or int(match.group(2)) != python[0]:
        return False  # another implementation's wheel (pp, graalpy), or Python 2
    minor = int(match.group(3)) if match.group(3) else None
    if abi == "none":
        return minor is None or minor <= python[1]
    if abi == "abi3":
        return match.group(1) == "cp" and (minor is None or minor <= python[1])
    # A CPython ABI (cp311, cp313t) is built for exactly one version and build.
    return abi == f"cp{python[0]}{python[1]}" and interpreter == abi


def _platform_fits(plat: str, target_os: str, machine: str,
                   glibc: tuple[int, ...] | None) -> bool:
    if plat == "any":
        return True
    if target_os == "darwin":
        mac = _MACOSX.fullmatch(plat)
        return mac is not None and mac.group(1) in _MAC_TAG_MACHINES.get(machine, ())
    if target_os != "linux":
        return False
    needs: tuple[int, ...] = (0,)
    many = _MANYLINUX.fullmatch(plat)
    if many is not None:
        needs, arch = (int(many.group(1)), int(many.group(2))), many.group(3)
    else:
        legacy, _, arch = plat.partition("_")
        if legacy in _LEGACY_MANYLINUX:
            needs = _LEGACY_MANYLINUX[legacy]
        elif legacy != "linux":
            return False  # musllinux, or another OS's wheel
    if arch not in _LINUX_TAG_MACHINES.get(machine, ()):
        return False
    # A wheel that needs a newer glibc than the target's floor does not run on all its hosts.
    return glibc is None or needs <= glibc


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3]) or (0,)
