"""The fix texts of hardware refusals: they name only torch builds that PyTorch publishes.

A refusal says what to change. "Route torch to a cu126 index" is no fix for torch 2.5.1,
which was never built for CUDA 12.6, so every suggestion here is checked against the
`torch_variants` rows (the builds each release publishes): a release that lacks the build
gets the nearest build it has and the first (or last) release that has the one wanted.
Only a release the data does not list falls back to the generic advice.
"""

from __future__ import annotations

from collections.abc import Sequence

from packaging.version import InvalidVersion, Version

from envbuild.hardware.facts import HardwareFacts, spec_bounds
from envbuild.hardware.rows import GpuRow, TorchVariantsRow
from envbuild.hardware.versions import CudaVersion, cuda_of_variant, format_cuda, variant_of

INDEX = 'sources = { torch = "<index>" }'


def allowed(cuda: CudaVersion, gpus: Sequence[GpuRow]) -> bool:
    """Whether every GPU is supported by builds of `cuda` (from its first CUDA to its drop)."""
    return all(g.first <= cuda and (g.dropped is None or cuda < g.dropped) for g in gpus)


def or_declare(cuda: CudaVersion | None, gpus: Sequence[GpuRow]) -> str:
    """The alternative fix of declaring `cuda` instead, where every declared GPU allows it."""
    if cuda is not None and allowed(cuda, gpus):
        return f' or declare cuda = "{format_cuda(cuda)}"'
    return ""


def torch_fix(torch_version: str, arch: str | None, need: CudaVersion, *,
              gpus: Sequence[GpuRow], facts: HardwareFacts,
              have: CudaVersion | None = None) -> str:
    """How to get a torch build for CUDA `need` (no trailing period).

    `have` is the CUDA of what resolved (the resolved torch, or the runtime wheels it pulls):
    declaring it instead is offered where the GPUs allow it.
    """
    want = variant_of(need)
    route = f"route torch to a {want} index ({INDEX})"
    release = _release(torch_version)
    row = facts.torch_release(torch_version, arch) if arch is not None else None
    if row is None or release is None:  # a release envbuild's data does not list
        return f"{route} or pin a torch release that ships {want} builds{or_declare(have, gpus)}"
    if want in row.variants:
        return route + or_declare(have, gpus)
    options = []
    alt = _nearest(row, torch_version, arch or "", need, gpus, facts)
    if alt is not None and alt == have:
        options.append(f'declare cuda = "{format_cuda(alt)}" (its {variant_of(alt)} build)')
    elif alt is not None:
        options.append(f"route torch to a {variant_of(alt)} index and declare cuda = "
                       f'"{format_cuda(alt)}"')
    pin = _pin(facts.releases_with(want, arch or ""), release, want)
    if pin:
        options.append(pin)
    head = f"torch {release} has no {want} build"
    if not facts.releases_with(want, arch or ""):
        head += " (nor has any torch release envbuild knows)"
    # The index route is spelled out once, at its first mention.
    text = f"{head}: {', or '.join(options)}" if options else head
    return text.replace(" index", f" index ({INDEX})", 1)


def _nearest(row: TorchVariantsRow, torch_version: str, arch: str, need: CudaVersion,
             gpus: Sequence[GpuRow], facts: HardwareFacts) -> CudaVersion | None:
    """The release's CUDA build closest to `need` that runs on every GPU: the newest not
    newer than `need` (its driver floor is no higher), else the oldest newer one."""
    fitting = []
    for variant in row.variants:
        cuda = cuda_of_variant(variant)
        # A cuda envbuild has no driver floor for (11.7) cannot be declared: not offered.
        if cuda is None or not allowed(cuda, gpus) or facts.cuda(format_cuda(cuda)) is None:
            continue
        build = facts.torch_build(torch_version, variant, arch)
        if build is None or all(build.runs(g.cc) for g in gpus):
            fitting.append(cuda)
    older = [c for c in fitting if c <= need]
    if older:
        return max(older)
    return min(fitting) if fitting else None


def _pin(rows: Sequence[TorchVariantsRow], release: Version, want: str) -> str:
    newer = [r for r in rows if (spec_bounds(r.torch)[0] or release) > release]
    if newer:
        first = spec_bounds(newer[0].torch)[0]
        return (f"pin torch>={first} (the first release with {want} builds) and route it to a "
                f"{want} index")
    older = [r for r in rows if (spec_bounds(r.torch)[1] or release) <= release]
    if older:
        ceiling = spec_bounds(older[-1].torch)[1]
        return (f"pin torch<{ceiling} (the last releases with {want} builds) and route it to a "
                f"{want} index")
    return ""


def _release(torch_version: str) -> Version | None:
    try:
        return Version(Version(torch_version).public)
    except InvalidVersion:
        return None
