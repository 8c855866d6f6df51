"""Small parsers the hardware modules share: CUDA versions, wheel variants, compute capabilities."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

CudaVersion = tuple[int, int]

_CUDA = re.compile(r"(\d+)\.(\d+)")
_CUDA_RELEASE = re.compile(r"([0-9]+)\.([0-9]+)(?:\.0+)?")
_VARIANT = re.compile(r"cu(\d+)(\d)")
# Docker-style platforms and the machine names the hardware data uses.
_LINUX_ARCH = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}


def parse_cuda(text: str) -> CudaVersion | None:
    """`"12.4"` -> (12, 4); anything but `major.minor` -> None."""
    match = _CUDA.fullmatch(text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def canonical_cuda(text: str) -> str | None:
    """The one spelling of a CUDA release: `"12.4"` and `"12.4.0"` -> `"12.4"`; None for
    anything else (an update release like `"12.4.1"` is not the minor's .0)."""
    match = _CUDA_RELEASE.fullmatch(text.strip())
    return f"{int(match.group(1))}.{int(match.group(2))}" if match else None


def format_cuda(version: CudaVersion) -> str:
    return f"{version[0]}.{version[1]}"


def variant_of(version: CudaVersion) -> str:
    """(12, 4) -> `"cu124"`: the name PyTorch gives a build and its index."""
    return f"cu{version[0]}{version[1]}"


def cuda_of_variant(variant: str) -> CudaVersion | None:
    """`"cu124"` -> (12, 4); `"cpu"`, `"rocm6.2"` -> None."""
    match = _VARIANT.fullmatch(variant)
    return (int(match.group(1)), int(match.group(2))) if match else None


def major_minor(version: str) -> CudaVersion | None:
    """The first two release numbers of a package version: `"12.4.127"` -> (12, 4)."""
    try:
        release = Version(version).release
    except InvalidVersion:
        return None
    return (release[0], release[1] if len(release) > 1 else 0)


def parse_cc(text: str) -> CudaVersion:
    """A compute capability `"8.9"` -> (8, 9). Raises ValueError on anything else."""
    parsed = parse_cuda(text)
    if parsed is None:
        raise ValueError(f'expected a compute capability like "8.9", got "{text}"')
    return parsed


def sm_name(cc: CudaVersion) -> str:
    """(10, 0) -> `"sm_100"`, the name nvcc and torch.cuda.get_arch_list() use."""
    return f"sm_{cc[0]}{cc[1]}"


def linux_arch(platform: str) -> str | None:
    """`"linux/amd64"` -> `"x86_64"`; None for platforms CUDA does not run on (darwin, ...)."""
    parts = platform.split("/")
    if len(parts) < 2 or parts[0] != "linux":
        return None
    return _LINUX_ARCH.get(parts[1])
