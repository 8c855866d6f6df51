"""The host's GPUs and driver against a target: model, compute capability, driver floor."""

from __future__ import annotations

from .gpus import GpuFacts, facts_for, identify, known_gpus, match_score
from .nvml import Gpu, HostGpus
from .target import TargetSpec
from .verdict import Mismatch
from .versions import at_least

_SKIP_HINT = "on machines without GPUs pass --no-hardware (or set ENVBUILD_NO_HARDWARE=1)"


def check_hardware(spec: TargetSpec, host: HostGpus) -> list[Mismatch]:
    """Mismatches between the host (as NVML sees it) and a GPU target."""
    wants = ", ".join(spec.gpus) or f"CUDA {spec.cuda}"
    if not host.nvml:
        reason = host.error or "NVML is not available"
        return [Mismatch(kind="no-gpu", package=None,
                         detail=f"no GPU found ({reason}); target {spec.name} needs {wants}; "
                                f"{_SKIP_HINT}")]
    if not host.gpus:
        return [Mismatch(kind="no-gpu", package=None,
                         detail=f"no GPU found (NVML reports 0 devices); target {spec.name} "
                                f"needs {wants}; {_SKIP_HINT}")]
    out: list[Mismatch] = []
    known = known_gpus(spec.hardware)
    # A declared GPU missing from the lock's rows and the built-ins still matches by name.
    declared = [facts_for(name, known) or GpuFacts(name=name, compute_capability="", names=(name,))
                for name in spec.gpus]
    for (product, cc), indices in _groups(host.gpus).items():
        which = _indices(indices)
        fits = [facts for facts in declared if match_score(product, facts)]
        if declared and not fits:
            seen = identify(product, known)
            also = f" ({seen.name})" if seen is not None else ""
            out.append(Mismatch(kind="gpu-model", package=None,
                                detail=f"{which} {product}{also}; target {spec.name} declares "
                                       f"{', '.join(spec.gpus)}"))
            continue
        facts = fits[0] if fits else identify(product, known)
        if facts is not None and facts.compute_capability and facts.compute_capability != cc:
            out.append(Mismatch(kind="compute-capability", package=None,
                                detail=f"{which} {product} with compute capability {cc}; "
                                       f"{facts.name} has {facts.compute_capability}"))
    if spec.driver_floor:
        driver = host.driver_version
        enough = at_least(driver, spec.driver_floor) if driver else False
        if not enough:
            out.append(Mismatch(kind="driver", package=None,
                                detail=f"driver {driver or 'unknown'} is older than target "
                                       f"{spec.name}'s floor {spec.driver_floor}"))
    return out


def _groups(gpus: tuple[Gpu, ...]) -> dict[tuple[str, str], list[int]]:
    # One message for eight identical GPUs, not eight.
    groups: dict[tuple[str, str], list[int]] = {}
    for gpu in gpus:
        groups.setdefault((gpu.name, gpu.compute_capability), []).append(gpu.index)
    return groups


def _indices(indices: list[int]) -> str:
    if len(indices) == 1:
        return f"GPU {indices[0]} is"
    if indices == list(range(indices[0], indices[-1] + 1)):
        return f"GPUs {indices[0]}-{indices[-1]} are"
    return f"GPUs {','.join(map(str, indices))} are"
