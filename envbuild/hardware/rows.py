"""The rows of the hardware data, and the recorder of the rows a target's checks consulted.

Each row has a stable `row_id` and a `canonical()` plain dict: the facts only, never the
provenance (source, confidence, notes), so that correcting a note does not make locks stale.
A lock stores, per target, the canonical dicts of exactly the rows its checks read
(`Consulted.rows()`); adding an unrelated GPU to the data changes no existing lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from envbuild.hardware.versions import CudaVersion, parse_cc, parse_cuda, sm_name

Confidence = Literal["verified", "secondary"]
Match = Literal["exact", "at-least"]


class Row(Protocol):
    @property
    def row_id(self) -> str: ...

    def canonical(self) -> dict[str, Any]: ...


def _plain(row_id: str, **facts: Any) -> dict[str, Any]:
    # TOML (the lock) has no null and canonical data no tuples: drop None, lists for tuples.
    out: dict[str, Any] = {"row_id": row_id}
    for key, value in facts.items():
        if value is not None:
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _cuda(text: str) -> CudaVersion:
    parsed = parse_cuda(text)
    if parsed is None:  # rows are validated on load; this guards direct construction
        raise ValueError(f'expected a CUDA version like "12.4", got "{text}"')
    return parsed


@dataclass(frozen=True, kw_only=True, slots=True)
class CudaRow:
    """A CUDA toolkit release and the lowest Linux driver its own features need."""

    version: str
    driver_min: str
    source: str
    confidence: Confidence
    notes: str | None = None

    @property
    def row_id(self) -> str:
        return f"cuda:{self.version}"

    @property
    def key(self) -> CudaVersion:
        return _cuda(self.version)

    def canonical(self) -> dict[str, Any]:
        return _plain(self.row_id, version=self.version, driver_min=self.driver_min)


@dataclass(frozen=True, kw_only=True, slots=True)
class CudaCompatRow:
    """The lowest driver CUDA minor-version compatibility allows for one CUDA major."""

    major: int
    driver_min: str
    source: str
    confidence: Confidence
    notes: str | None = None

    @property
    def row_id(self) -> str:
        return f"cuda-compat:{self.major}"

    def canonical(self) -> dict[str, Any]:
        return _plain(self.row_id, major=self.major, driver_min=self.driver_min)


@dataclass(frozen=True, kw_only=True, slots=True)
class GpuRow:
    """A GPU: its compute capability, the CUDA range that supports it, and its provider names."""

    name: str
    compute_capability: str
    first_cuda: str
    dropped_in_cuda: str | None = None
    host_arch: tuple[str, ...] = ()  # empty: any host architecture
    aliases: tuple[str, ...] = ()
    gfd_product: tuple[str, ...] = ()  # nvidia.com/gpu.product values, one per form factor
    gke_accelerator: tuple[str, ...] = ()  # cloud.google.com/gke-accelerator values
    karpenter_gpu_name: str | None = None  # karpenter.k8s.aws/instance-gpu-name
    slurm_gres: str  # the gres type, lower case: Gres=gpu:<slurm_gres>:8
    source: str
    confidence: Confidence
    vocab_confidence: Confidence
    notes: str | None = None

    @property
    def row_id(self) -> str:
        return f"gpu:{self.name}"

    @property
    def cc(self) -> CudaVersion:
        return parse_cc(self.compute_capability)

    @property
    def sm(self) -> str:
        return sm_name(self.cc)

    @property
    def first(self) -> CudaVersion:
        return _cuda(self.first_cuda)

    @property
    def dropped(self) -> CudaVersion | None:
        return None if self.dropped_in_cuda is None else _cuda(self.dropped_in_cuda)

    def canonical(self) -> dict[str, Any]:
        return _plain(
            self.row_id, name=self.name, compute_capability=self.compute_capability,
            first_cuda=self.first_cuda, dropped_in_cuda=self.dropped_in_cuda,
            host_arch=self.host_arch or None, aliases=self.aliases, gfd_product=self.gfd_product,
            gke_accelerator=self.gke_accelerator, karpenter_gpu_name=self.karpenter_gpu_name,
            slurm_gres=self.slurm_gres,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class TorchBuildRow:
    """The architectures compiled into torch releases `torch` (a specifier) of one variant."""

    torch: str
    variant: str
    arch: str
    sass: tuple[str, ...]
    ptx: bool  # whether PTX for the highest `sass` entry ships too
    source: str
    confidence: Confidence
    notes: str | None = None

    @property
    def row_id(self) -> str:
        return f"torch-build:{self.variant}:{self.arch}:{self.torch}"

    @property
    def ccs(self) -> tuple[CudaVersion, ...]:
        return tuple(parse_cc(cc) for cc in self.sass)

    def runs(self, cc: CudaVersion) -> bool:
        """SASS runs on the same major at an equal or higher minor; PTX never crosses majors."""
        return any(major == cc[0] and minor <= cc[1] for major, minor in self.ccs)

    def canonical(self) -> dict[str, Any]:
        return _plain(self.row_id, torch=self.torch, variant=self.variant, arch=self.arch,
                      sass=self.sass, ptx=self.ptx)


@dataclass(frozen=True, kw_only=True, slots=True)
class TorchVariantsRow:
    """The builds PyTorch's index publishes for torch releases `torch` (a specifier) on `arch`.

    The fix texts read these so that they name only builds that exist (torch 2.5.1 has cu124
    but no cu126). `variants` holds PyTorch's names: "cpu", "cu118", "cu124", ...
    """

    torch: str
    arch: str
    variants: tuple[str, ...]
    source: str
    confidence: Confidence
    notes: str | None = None

    @property
    def row_id(self) -> str:
        return f"torch-variants:{self.arch}:{self.torch}"

    def canonical(self) -> dict[str, Any]:
        return _plain(self.row_id, torch=self.torch, arch=self.arch, variants=self.variants)


@dataclass(frozen=True, kw_only=True, slots=True)
class PypiDefaultRow:
    """The torch build PyPI serves for releases `torch` on one architecture (None: unknown)."""

    torch: str
    arch: str
    variant: str | None
    source: str
    confidence: Confidence
    notes: str | None = None

    @property
    def row_id(self) -> str:
        return f"pypi-default:{self.arch}:{self.torch}"

    def canonical(self) -> dict[str, Any]:
        return _plain(self.row_id, torch=self.torch, arch=self.arch, variant=self.variant)


@dataclass(frozen=True, kw_only=True, slots=True)
class RuntimeWheelRow:
    """NVIDIA wheels whose version is the CUDA toolkit's, and how it must match the target."""

    component: str
    packages: tuple[str, ...]  # normalised distribution names
    match: Match
    source: str
    confidence: Confidence
    notes: str | None = None

    @property
    def row_id(self) -> str:
        return f"runtime-wheel:{self.component}"

    def canonical(self) -> dict[str, Any]:
        return _plain(self.row_id, component=self.component, packages=self.packages,
                      match=self.match)


class Consulted:
    """Records the rows one target's checks read, and the lookups that found no row.

    A miss is recorded too: when a later data release adds the missing row, the target's
    inputs change and its lock goes stale, which is right because its checks would now differ.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Any]] = {}

    def add(self, row: Row) -> None:
        self._entries[row.row_id] = row.canonical()

    def miss(self, kind: str, query: str) -> None:
        row_id = f"miss:{kind}:{query}"
        self._entries[row_id] = {"row_id": row_id, "missing": True}

    def rows(self) -> tuple[dict[str, Any], ...]:
        """The canonical dicts, sorted by row_id."""
        return tuple(self._entries[key] for key in sorted(self._entries))


ROW_TYPES = (CudaRow, CudaCompatRow, GpuRow, TorchBuildRow, TorchVariantsRow, PypiDefaultRow,
             RuntimeWheelRow)
