"""What a target's platform means to resolvers and to wheel tags."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # packaging.tags loads only for wheel ranking, not for the lock reader
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
PLATFORMS = tuple(_PLATFORMS)
# Other spellings of the same platforms: uname's machine names, Docker's arm64 variant,
# and the marketing name of darwin. They are read as the canonical platform (with a hint).
_OS_ALIASES = {"linux": "linux", "darwin": "darwin", "macos": "darwin", "osx": "darwin"}
_ARCH_ALIASES = {"amd64": "amd64", "x86_64": "amd64", "x86-64": "amd64", "x64": "amd64",
                 "arm64": "arm64", "aarch64": "arm64", "arm64/v8": "arm64", "aarch64/v8": "arm64"}

# The released CPython minors envbuild locks for. From python.org's release status page
# (https://devguide.python.org/versions/, PEP 602 yearly cadence): 3.14.0 was released on
# 2025-10-07. Add a minor here when its .0 is out; 3.8 is the oldest any current tool serves.
PYTHON_MINORS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")

# The oldest macOS each darwin target supports (wheels for newer releases are excluded).
_MACOS = {"arm64": (11, 0), "x86_64": (10, 13)}


def canonical_platform(text: str) -> str | None:
    """The canonical spelling of a platform (`"linux/x86_64"` -> `"linux/amd64"`), or None
    when `text` names no platform envbuild builds for."""
    os_name, _, arch = text.strip().lower().partition("/")
    os_name = _OS_ALIASES.get(os_name, "")
    canonical = f"{os_name}/{_ARCH_ALIASES.get(arch, '')}"
    return canonical if canonical in _PLATFORMS else None


def platform_of_arch(text: str) -> str | None:
    """The linux platform of a bare machine name (`"x86_64"` -> `"linux/amd64"`), for a
    "did you mean": without its OS a platform is ambiguous, so it is never accepted."""
    arch = _ARCH_ALIASES.get(text.strip().lower())
    return f"linux/{arch}" if arch else None


def python_problem(text: str) -> str | None:
    """Why `text` is not a CPython minor envbuild can lock for (with the fix), or None."""
    if text in PYTHON_MINORS:
        return None
    parts = text.split(".")
    if len(parts) == 3 and ".".join(parts[:2]) in PYTHON_MINORS and parts[2].isdecimal():
        # A lock is made for a minor; the patch release is the image's interpreter's.
        return (f'"{text}" names a patch release; envbuild locks for a CPython minor. '
                f'Fix: python = "{parts[0]}.{parts[1]}"')
    oldest, newest = PYTHON_MINORS[0], PYTHON_MINORS[-1]
    release = _release(text)
    older = len(release) == 2 and release < _release(oldest)  # "3.7": the oldest supported
    return (f'"{text}" is not a released CPython minor envbuild supports ({oldest} to {newest}). '
            f'Fix: python = "{oldest if older else newest}"')


def _release(text: str) -> tuple[int, ...]:
    """`"3.7"` -> (3, 7); text that is no version sorts after every release."""
    parts = text.split(".")
    return tuple(int(p) for p in parts) if all(p.isdecimal() for p in parts) else (999,)


def uv_python_platform(platform: str, glibc: str) -> str:
    """The value of uv's `--python-platform` for a target."""
    p = _PLATFORMS[platform]
    if p.os == "linux":
        return f"{p.machine}-manylinux_{glibc.replace('.', '_')}"
    return f"{'aarch64' if p.machine == 'arm64' else 'x86_64'}-apple-darwin"


@cache
def supported_tags(platform: str, python: str, glibc: str) -> dict[tags.Tag, int]:
    from packaging import tags

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
