"""Manifest-time hardware checks: a known CUDA version, known GPUs, and GPUs that CUDA supports.

These run before resolving, on what the manifest declares; `compat.check_target` runs after,
on what the resolution contains. Messages are the part after the manifest's dotted key
(`envbuild.toml:14: targets.h100.gpus[1]: unknown GPU "H1000"; did you mean "H100"?`).
"""

from __future__ import annotations

from collections.abc import Sequence

from packaging.version import InvalidVersion, Version

from envbuild.hardware.facts import HardwareFacts, load_facts
from envbuild.hardware.rows import GpuRow
from envbuild.hardware.versions import (
    CudaVersion,
    canonical_cuda,
    format_cuda,
    linux_arch,
    parse_cuda,
)

_ARCH_PLATFORM = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}


def validate_cuda(cuda: str, *, facts: HardwareFacts | None = None) -> str | None:
    """A problem with a declared CUDA version, or None if envbuild knows it."""
    facts = facts or load_facts()
    canonical = canonical_cuda(cuda)
    if canonical is None:
        return cuda_spelling_problem(cuda, facts=facts)
    if facts.cuda(canonical) is None:
        return f'unknown CUDA version "{cuda}"; known versions: {", ".join(facts.cuda_versions())}'
    return None


def cuda_spelling_problem(cuda: str, *, facts: HardwareFacts | None = None) -> str:
    """Why `cuda` is no CUDA release spelling (see `canonical_cuda`), with the fix."""
    known = (facts or load_facts()).cuda_versions()
    try:
        release = Version(cuda).release
    except InvalidVersion:
        release = ()
    guess = f"{release[0]}.{release[1]}" if len(release) > 2 else None
    if guess in known:
        return f'cuda "{cuda}" must be major.minor; did you mean "{guess}"?'
    return f'invalid cuda version "{cuda}"; write major.minor, e.g. "{known[-1]}"'


def canonical_gpu(gpu: str, *, facts: HardwareFacts | None = None) -> str | None:
    """The data's own name of a GPU written in any case or as an alias (`"h100-pcie"` ->
    `"H100"`); None if unknown. Manifests store this, so every spelling hashes alike."""
    row = (facts or load_facts()).gpu(gpu)
    return row.name if row is not None else None


def validate_gpu(gpu: str, *, facts: HardwareFacts | None = None) -> str | None:
    """A problem with a declared GPU name (unknown, with a suggestion), or None."""
    facts = facts or load_facts()
    return None if facts.gpu(gpu) is not None else unknown_gpu_problem(gpu, facts=facts)


def unknown_gpu_problem(gpu: str, *, facts: HardwareFacts | None = None) -> str:
    """The message for a GPU name envbuild does not know: a "did you mean", else the list."""
    facts = facts or load_facts()
    suggestion = facts.suggest_gpu(gpu)
    if suggestion is not None:
        return f'unknown GPU "{gpu}"; did you mean "{suggestion}"?'
    return f'unknown GPU "{gpu}"; known GPUs: {", ".join(facts.gpu_names())}'


def validate_gpu_for_cuda(gpu: str, cuda: str | None, *, platform: str | None = None,
                          facts: HardwareFacts | None = None) -> str | None:
    """A problem with running `gpu` under the declared `cuda` (and `platform`), or None.

    Unknown GPU names get a "did you mean"; a CUDA older than the GPU's first supporting
    release (H100 with 11.7, B200 with 12.4) or at/after the release that dropped it (V100
    with 13.0) is refused; so is a Grace superchip on a non-arm64 platform.
    """
    facts = facts or load_facts()
    row = facts.gpu(gpu)
    if row is None:
        return validate_gpu(gpu, facts=facts)
    declared = parse_cuda(cuda) if cuda is not None else None
    if declared is not None:
        problem = _cuda_range_problem(row, declared, cuda or "", facts)
        if problem is not None:
            return problem
    arch = linux_arch(platform) if platform is not None else None
    if platform is not None and row.host_arch and arch not in row.host_arch:
        wanted = " or ".join(f'"{_ARCH_PLATFORM[a]}"' for a in row.host_arch)
        return (f'GPU {row.name} runs only on {"/".join(row.host_arch)} hosts; the target\'s '
                f'platform is "{platform}". Fix: set platform = {wanted}.')
    return None


def validate_hardware(*, platform: str, cuda: str | None, gpus: Sequence[str],
                      facts: HardwareFacts | None = None) -> tuple[tuple[str, str], ...]:
    """Every hardware problem of one target as (key relative to the target, message)."""
    facts = facts or load_facts()
    problems: list[tuple[str, str]] = []
    if cuda is not None:
        problem = validate_cuda(cuda, facts=facts)
        if problem is not None:
            problems.append(("cuda", problem))
        if linux_arch(platform) is None:
            problems.append(("cuda", f'cuda needs a linux platform; the target\'s platform is '
                                     f'"{platform}". Fix: remove cuda, or set platform = '
                                     f'"linux/amd64" or "linux/arm64".'))
    elif gpus:
        problems.append(("gpus", _missing_cuda(platform, gpus, facts)))
    for position, gpu in enumerate(gpus):
        problem = validate_gpu_for_cuda(gpu, cuda, platform=platform, facts=facts)
        if problem is not None:
            problems.append((f"gpus[{position}]", problem))
    return tuple(problems)


def _cuda_range_problem(row: GpuRow, declared: CudaVersion, cuda: str,
                        facts: HardwareFacts) -> str | None:
    if declared < row.first:
        return (f"GPU {row.name} ({row.sm}) needs cuda {row.first_cuda} or newer; the target "
                f'declares cuda {cuda}. Fix: declare cuda = "{row.first_cuda}" or newer.')
    dropped = row.dropped
    if dropped is not None and declared >= dropped:
        older = [v for v in facts.cuda_versions() if (parse_cuda(v) or dropped) < dropped]
        fix = f'declare cuda = "{older[-1]}" or older' if older else "declare an older cuda"
        return (f"GPU {row.name} ({row.sm}) is not supported by cuda {row.dropped_in_cuda} or "
                f"newer (CUDA {row.dropped_in_cuda} dropped {row.sm}); the target declares cuda "
                f"{cuda}. Fix: {fix}.")
    return None


def _missing_cuda(platform: str, gpus: Sequence[str], facts: HardwareFacts) -> str:
    """Why GPUs without cuda are refused: such a target has no CUDA, so it cannot use them
    (and a platform without CUDA cannot have it at all)."""
    if linux_arch(platform) is None:
        return (f'NVIDIA GPUs need a linux platform with cuda; the target\'s platform is '
                f'"{platform}". Fix: remove gpus for a CPU-only target, or set platform = '
                f'"linux/amd64" or "linux/arm64" and declare cuda.')
    rows = [row for row in (facts.gpu(g) for g in gpus) if row is not None]
    verified = [r for r in facts.cudas if r.confidence == "verified"]
    fitting = [r.version for r in sorted(verified, key=lambda r: r.key)
               if all(r.key >= g.first and (g.dropped is None or r.key < g.dropped) for g in rows)]
    example = fitting[-1] if fitting else format_cuda(max(r.key for r in facts.cudas))
    return (f'gpus are declared but cuda is not, and a target without CUDA cannot use a GPU. '
            f'Fix: declare the CUDA version the target runs, e.g. cuda = "{example}", or remove '
            f'gpus for a CPU-only target.')
