"""The conda subdir and the virtual packages of a target: what the solver takes the target's
machine to have.

`__cuda` is the target's CUDA version (none on a CPU target, so a CPU target can never get a
build that needs a GPU), `__glibc` its glibc floor, `__linux` the kernel that goes with that
floor, `__unix` on every Unix, `__osx` the oldest macOS envbuild targets, and `__archspec`
the target's generic micro-architecture: the lock names a hardware floor, never one host.
"""

from __future__ import annotations

from dataclasses import dataclass

SUBDIRS = {"linux/amd64": "linux-64", "linux/arm64": "linux-aarch64",
           "darwin/arm64": "osx-arm64", "darwin/amd64": "osx-64"}
# RHEL 8's kernel: the floor of the distributions whose glibc is envbuild's default (2.28).
LINUX_KERNEL = "4.18"
# The oldest macOS release of each architecture that conda-forge still builds for.
MACOS = {"darwin/arm64": "11.0", "darwin/amd64": "10.13"}
ARCHSPEC = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "darwin/arm64": "arm64",
            "darwin/amd64": "x86_64"}


@dataclass(frozen=True, kw_only=True, slots=True)
class VirtualPackage:
    name: str
    version: str
    build: str = "0"


def subdir(platform: str) -> str:
    """The conda subdir of an envbuild platform (`linux/amd64` -> `linux-64`)."""
    return SUBDIRS[platform]


def virtual_packages(*, platform: str, cuda: str | None, glibc: str) -> tuple[VirtualPackage, ...]:
    """The virtual packages a target offers the solver, sorted by name."""
    found = [VirtualPackage(name="__unix", version="0"),
             VirtualPackage(name="__archspec", version="1", build=ARCHSPEC[platform])]
    if platform.startswith("linux/"):
        found += [VirtualPackage(name="__linux", version=LINUX_KERNEL),
                  VirtualPackage(name="__glibc", version=glibc)]
    else:
        found.append(VirtualPackage(name="__osx", version=MACOS[platform]))
    if cuda is not None:
        found.append(VirtualPackage(name="__cuda", version=cuda))
    return tuple(sorted(found, key=lambda v: v.name))
