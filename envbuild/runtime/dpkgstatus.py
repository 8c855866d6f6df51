"""The system packages of an image (dpkg's status database) against the lock's system set.

Standard library only: it runs inside images. An image built from system packages
(`envbuild image`, base = "system") has a dpkg status file listing exactly the locked
packages at their locked versions and architectures; any package missing, at another
version or architecture, not fully installed, or installed without being locked is a
mismatch. A target that locks no system packages is not checked here.
"""

from __future__ import annotations

from .target import LockedDeb, TargetSpec
from .verdict import Mismatch

STATUS = "/var/lib/dpkg/status"
_LIMIT = 64 << 20  # a status file of ~30,000 packages is about 60 MB


def installed_debs(text: str) -> dict[str, tuple[str, str, str]]:
    """Package -> (version, architecture, status) from a status file's paragraphs
    (a `Multi-Arch: same` package installed twice keeps the first)."""
    found: dict[str, tuple[str, str, str]] = {}
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
        if "package" in fields:
            found.setdefault(fields["package"], (fields.get("version", ""),
                                                 fields.get("architecture", ""),
                                                 fields.get("status", "")))
    return found


def check_system(spec: TargetSpec, status_path: str = STATUS) -> list[Mismatch]:
    """Every difference between the dpkg database at `status_path` and `spec.system`."""
    if not spec.system:
        return []
    from .safetext import read_bounded

    try:
        text = read_bounded(status_path, limit=_LIMIT).decode("utf-8", "replace")
    except OSError as error:
        return [Mismatch(kind="system-missing", package=None,
                         detail=f"{len(spec.system)} system packages are locked but dpkg's "
                                f"database {status_path} cannot be read: {error.strerror or error}")]
    present = installed_debs(text)
    out = [m for deb in spec.system for m in _one(deb, present.get(deb.name))]
    locked = {deb.name for deb in spec.system}
    for name, (version, arch, status) in present.items():
        if name not in locked and status.endswith(" installed"):
            out.append(Mismatch(kind="system-unlocked", package=name,
                                detail=f"{version} ({arch}) is installed but not locked"))
    return out


def _one(deb: LockedDeb, have: tuple[str, str, str] | None) -> list[Mismatch]:
    want = f"{deb.version} ({deb.architecture})"
    if have is None or not have[2].endswith(" installed"):
        state = "not installed" if have is None else f"dpkg status is {have[2]!r}"
        return [Mismatch(kind="system-missing", package=deb.name,
                         detail=f"locked at {want}, {state}")]
    version, arch, _ = have
    if (version, arch) != (deb.version, deb.architecture):
        return [Mismatch(kind="system-version", package=deb.name,
                         detail=f"locked at {want}, installed {version} ({arch})")]
    return []
