"""GPU names: NVML product names ("NVIDIA H100 80GB HBM3") against a target's GPU names.

What is known about a GPU (its compute capability and the other names it goes by) comes
from the hardware rows the lock recorded for the target (`targets.NAME.hardware`, rows with
`row_id = "gpu:..."`, taken from envbuild's hardware data at lock time), and otherwise from
the small table below. `known_gpus` is the one place that decides; swap it to change the
source.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class GpuFacts:
    name: str
    compute_capability: str
    names: tuple[str, ...]  # every name it goes by, the canonical one included


# A fallback for locks whose rows lack a GPU: names and compute capabilities from NVIDIA's
# CUDA GPU list (shared/reference/gpu-facts.md). The lock's rows win over these.
_BUILTIN = (
    GpuFacts(name="V100", compute_capability="7.0", names=("V100", "Tesla V100", "V100S")),
    GpuFacts(name="T4", compute_capability="7.5", names=("T4", "Tesla T4")),
    GpuFacts(name="A100", compute_capability="8.0", names=("A100",)),
    GpuFacts(name="A10G", compute_capability="8.6", names=("A10G",)),
    GpuFacts(name="L4", compute_capability="8.9", names=("L4",)),
    GpuFacts(name="L40S", compute_capability="8.9", names=("L40S",)),
    GpuFacts(name="H100", compute_capability="9.0", names=("H100",)),
    GpuFacts(name="H200", compute_capability="9.0", names=("H200",)),
    GpuFacts(name="GH200", compute_capability="9.0", names=("GH200",)),
    GpuFacts(name="B200", compute_capability="10.0", names=("B200",)),
    GpuFacts(name="GB200", compute_capability="10.0", names=("GB200",)),
    GpuFacts(name="B300", compute_capability="10.3", names=("B300",)),
    GpuFacts(name="RTX PRO 6000", compute_capability="12.0", names=("RTX PRO 6000",)),
)


def gpu_key(name: str) -> str:
    """Case, separators and the NVIDIA/Tesla prefixes do not matter (as envbuild.hardware)."""
    key = "-".join(name.replace("_", " ").replace("-", " ").split()).casefold()
    for prefix in ("nvidia-", "tesla-"):
        key = key.removeprefix(prefix)
    return key


def known_gpus(hardware_rows: Iterable[dict[str, Any]]) -> tuple[GpuFacts, ...]:
    """The GPUs a target's checks may name: the lock's GPU rows first, then the built-ins."""
    from_lock = []
    for row in hardware_rows:
        name, cc = row.get("name"), row.get("compute_capability")
        if not str(row.get("row_id", "")).startswith("gpu:") or not isinstance(name, str) \
                or not isinstance(cc, str):
            continue
        extra = [n for key in ("aliases", "gfd_product") for n in row.get(key) or []
                 if isinstance(n, str)]
        from_lock.append(GpuFacts(name=name, compute_capability=cc, names=(name, *extra)))
    seen = {gpu_key(g.name) for g in from_lock}
    return (*from_lock, *(g for g in _BUILTIN if gpu_key(g.name) not in seen))


def facts_for(name: str, known: Iterable[GpuFacts]) -> GpuFacts | None:
    """The facts of a GPU a target names ("H100", "h100-sxm")."""
    key = gpu_key(name)
    return next((g for g in known if key in {gpu_key(n) for n in g.names}), None)


def match_score(product: str, gpu: GpuFacts) -> int:
    """How well an NVML product name fits a GPU: the length of its longest matching name.

    A name matches when it equals the product or is a whole-word prefix of it: "H100" fits
    "NVIDIA H100 80GB HBM3" and "NVIDIA H100 PCIe", while "L4" does not fit "NVIDIA L40S"
    and "A100-40GB" does not fit "NVIDIA A100-SXM4-80GB". 0 means no match.
    """
    have = gpu_key(product)
    best = 0
    for name in gpu.names:
        key = gpu_key(name)
        if have == key or have.startswith(key + "-"):
            best = max(best, len(key))
    return best


def identify(product: str, known: Iterable[GpuFacts]) -> GpuFacts | None:
    """The known GPU an NVML product name is, by the best (longest) match; None if none."""
    scored = [(match_score(product, g), g) for g in known]
    best = max(scored, key=lambda pair: pair[0], default=(0, None))
    return best[1] if best[0] else None
