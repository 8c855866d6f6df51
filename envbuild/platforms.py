"""What a target's platform means to resolvers and to wheel tags."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from packaging import tags


@dataclass(frozen=True, kw_only=True, slots=True)
class PlatformInfo:
    os: str  # "linux" | "darwin"
    machine: str  # "x86_64" | "aarch64" | "arm64"
    arch: str  # hardware-data arch: "x86_64" | "aarch64"


_PLATFORMS = {
    "linux/amd64": PlatformInfo(os="linux", machine="x86_64", arch="x86_64"),
    "linux/arm64": PlatformInfo(os="linux", machine="aarch64", arch="aarch64"),
    "darwin/arm64": PlatformInfo(os="darwin", machine="arm64", arch="aarch64"),
    "darwin/amd64": PlatformInfo(os="darwin", machine="x86_64", arch="x86_64"),
}
# The oldest macOS each darwin target supports (wheels for newer releases are excluded).
_MACOS = {"arm64": (11, 0), "x86_64": (10, 13)}


def uv_python_platform(platform: str, glibc: str) -> str:
    """The value of uv's `--python-platform` for a target."""
    p = _PLATFORMS[platform]
    if p.os == "linux":
        return f"{p.machine}-manylinux_{glibc.replace('.', '_')}"
    return f"{'aarch64' if p.machine == 'arm64' else 'x86_64'}-apple-darwin"


@cache
def supported_tags(platform: str, python: str, glibc: str) -> dict[tags.Tag, int]:
    """Every wheel tag the target accepts, mapped to its rank (0 is the most specific)."""
    p = _PLATFORMS[platform]
    major, minor = (int(x) for x in python.split("."))
    if p.os == "linux":
        glibc_minor = int(glibc.split(".")[1])
        plats = [f"manylinux_2_{m}_{p.machine}" for m in range(glibc_minor, 4, -1)]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        plats = [alias for plat in plats for alias in _with_legacy(plat, legacy, p.machine)]
        # Some indexes (PyTorch's) publish plain linux_* wheels; accepted last, as uv does.
        plats.append(f"linux_{p.machine}")
    else:
        plats = list(tags.mac_platforms(_MACOS[p.machine], p.machine))
    ordered = [
        *tags.cpython_tags((major, minor), platforms=plats),
        *tags.compatible_tags((major, minor), platforms=plats),
    ]
    return {tag: rank for rank, tag in reversed(list(enumerate(ordered)))}


def _with_legacy(plat: str, legacy: dict[int, str], machine: str) -> list[str]:
    minor = int(plat.split("_")[2])
    return [plat, f"{legacy[minor]}_{machine}"] if minor in legacy else [plat]


def environment_markers(platform: str, python: str) -> dict[str, str]:
    """PEP 508 marker values for a target (for exports and marker evaluation)."""
    p = _PLATFORMS[platform]
    return {
        "sys_platform": "linux" if p.os == "linux" else "darwin",
        "platform_system": "Linux" if p.os == "linux" else "Darwin",
        "platform_machine": p.machine,
        "os_name": "posix",
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
