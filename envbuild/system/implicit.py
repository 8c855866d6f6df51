"""Requests envbuild adds to a target's `[system]` packages, each for a stated reason.

- manylinux and musllinux wheels (PEP 600, 599, 656) link against a baseline of system
  libraries they do not ship: libgcc_s.so.1, libstdc++.so.6, libm, libc, libpthread,
  libdl, librt... Debian ships the C library in libc6 (in every set through the Essential
  packages); libgcc_s and libstdc++ come from libgcc-s1 and libstdc++6. A target whose
  locked wheels include one with such a tag gets those two requested, so `import numpy`
  finds libstdc++.so.6 in an image built from the system set.
- A target built from its system set (`base = "system"`) needs the interpreter of its own
  Python: `python3.X`, X from the target's Python. `python3-minimal` (its `/usr/bin/python3`
  link is what `docker run IMAGE` and cluster jobs start) is requested too when the
  archive's is for the same minor; that depends on the archive, so envbuild.system.lock
  decides it where it reads the archive.

The wheel-derived requests depend on the lock, not on the manifest: `lock --check` computes
them from the locked wheels and reports one missing from the system set like any request.
"""

from __future__ import annotations

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from envbuild.lockfile.model import LockedTarget

# The Debian packages of the manylinux baseline libraries that are not Essential.
BASELINE = ("libgcc-s1", "libstdc++6")
_LINUX_TAGS = ("manylinux", "musllinux")


def linked_wheel(target: LockedTarget) -> str | None:
    """The file name of the first locked wheel (by name) built for a manylinux or musllinux
    platform, which may need the baseline libraries; None when every wheel is pure."""
    for package in sorted(target.packages, key=lambda p: p.name):
        if package.artifact.kind != "wheel":
            continue
        try:
            tags = parse_wheel_filename(package.artifact.file)[3]
        except InvalidWheelFilename:
            continue  # the lock reader checked it; an odd name is no reason to add packages
        if any(tag.platform.startswith(_LINUX_TAGS) for tag in tags):
            return package.artifact.file
    return None


def interpreter_package(python: str) -> str:
    """Debian's package of the interpreter of Python `python` ("3.11" -> "python3.11")."""
    return "python" + ".".join(python.split(".")[:2])


def implicit_requests(target: LockedTarget) -> dict[str, str]:
    """Package name -> why it is requested, for a locked target with [system] packages."""
    out: dict[str, str] = {}
    wheel = linked_wheel(target)
    if wheel is not None:
        out.update(dict.fromkeys(BASELINE, f"the manylinux baseline libraries of {wheel}"))
    if target.base == "system":
        out[interpreter_package(target.python)] = f'the Python {target.python} of base = "system"'
    return out
