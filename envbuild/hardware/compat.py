"""Lock-time hardware checks: can the resolved packages run on a target's CUDA and GPUs?

`check_target` judges what the resolution contains and returns a report; problems in it are
refusals (exit 2), warnings are printed. Only rows the checks read enter `consulted`.

Driver floor. The lock records the toolkit's own floor for the declared CUDA version
(`driver-floor`, e.g. 550.54.14 for 12.4); the lower floor that CUDA minor-version
compatibility allows (525.60.13 for any 12.x) is in the report as `driver_floor_compat` and
in the lock among the target's consulted hardware rows (`cuda-compat:12`). The toolkit
floor is the one that holds for everything in an ML environment: minor-version compatibility
explicitly excludes PTX JIT, and torch ships PTX for its newest architecture, NVRTC-compiled
kernels (torch's jiterator, CuPy) and Triton/torch.compile paths load PTX into the driver,
which must then be at least as new as the toolkit that produced it (CUDA error 222,
"unsupported PTX version"). A cluster that cannot move its driver can read the compat floor
and know that it is giving those up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envbuild.errors import InputError
from envbuild.hardware.advice import INDEX as _INDEX
from envbuild.hardware.advice import or_declare, torch_fix
from envbuild.hardware.facts import HardwareFacts, load_facts
from envbuild.hardware.rows import Consulted, GpuRow, TorchBuildRow
from envbuild.hardware.validate import (
    validate_cuda,
    validate_gpu,
    validate_gpu_for_cuda,
    validate_hardware,
)
from envbuild.hardware.versions import (
    CudaVersion,
    cuda_of_variant,
    format_cuda,
    linux_arch,
    major_minor,
    parse_cuda,
    sm_name,
    variant_of,
)

__all__ = [
    "CompatReport", "HardwareCompatError", "HardwareTarget", "ResolvedPackage", "TorchBuild",
    "check_target", "judge_torch_build", "refuse", "validate_cuda", "validate_gpu",
    "validate_gpu_for_cuda", "validate_target",
]

@dataclass(frozen=True, kw_only=True, slots=True)
class ResolvedPackage:
    name: str  # normalised
    version: str
    dependencies: tuple[str, ...] = ()  # normalised names it depends on


@dataclass(frozen=True, kw_only=True, slots=True)
class HardwareTarget:
    name: str
    platform: str  # "linux/amd64" | "linux/arm64" | "darwin/arm64" ...
    cuda: str | None = None
    gpus: tuple[str, ...] = ()
    python: str | None = None  # "3.11": for evaluating markers in torch's requirements


@dataclass(frozen=True, kw_only=True, slots=True)
class TorchBuild:
    """What a resolved torch is: `variant` "cu124", "cpu", "rocm6.2", or None if unknown."""

    version: str
    variant: str | None
    cuda: CudaVersion | None
    evidence: str  # why: "local version +cu121", "nvidia-cuda-runtime-cu12 12.4.127", ...


@dataclass(frozen=True, kw_only=True, slots=True)
class CompatReport:
    target: str
    driver_floor: str | None  # the declared CUDA toolkit's own floor (see module docstring)
    driver_floor_compat: str | None  # the minor-version-compatibility floor of its major
    cuda_variant: str | None  # of the resolved torch; None without torch or when unknown
    consulted: tuple[dict[str, Any], ...]  # canonical rows, sorted by row_id
    problems: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class HardwareCompatError(InputError):
    """A resolution that cannot run on its target's hardware (exit 2)."""


def validate_target(target: HardwareTarget, *,
                    facts: HardwareFacts | None = None) -> tuple[tuple[str, str], ...]:
    """Manifest-time problems of a target as (key relative to the target, message)."""
    return validate_hardware(platform=target.platform, cuda=target.cuda, gpus=target.gpus,
                             facts=facts)


def refuse(reports: Sequence[CompatReport]) -> None:
    """Raise one HardwareCompatError listing every problem of every report, if any."""
    problems = [p for report in sorted(reports, key=lambda r: r.target) for p in report.problems]
    if problems:
        raise HardwareCompatError("\n".join(problems),
                                  hint="the lock was not written; fix the targets and lock again")


def check_target(target: HardwareTarget, packages: Mapping[str, ResolvedPackage], *,
                 torch_requires: Sequence[str] | None = None,
                 facts: HardwareFacts | None = None) -> CompatReport:
    """Check one target's resolution against its declared CUDA version and GPUs.

    For a CUDA target: torch must be a CUDA build of the declared major.minor (judged by its
    local version, else by the CUDA runtime wheel it depends on), each declared GPU must have
    code in it, the toolkit-versioned runtime wheels must match the declared CUDA, and other
    NVIDIA libraries must lie in the ranges torch declares (`torch_requires`, its
    Requires-Dist). A target without torch is checked on what it has. A CPU target (no cuda)
    with a CUDA torch gets a warning: such a torch runs on the CPU.
    """
    facts = facts or load_facts()
    seen = Consulted()
    problems: list[str] = []
    warnings: list[str] = []
    arch = linux_arch(target.platform)
    declared = parse_cuda(target.cuda) if target.cuda is not None else None
    floor = floor_compat = None
    if target.cuda is not None:
        cuda_row = facts.cuda(target.cuda, consulted=seen)
        compat_row = facts.cuda_compat(declared[0], consulted=seen) if declared else None
        floor = cuda_row.driver_min if cuda_row else None
        floor_compat = compat_row.driver_min if compat_row else None
        if cuda_row is None:
            warnings.append(f'target "{target.name}": cuda {target.cuda} is not in envbuild\'s '
                            "hardware data; no driver floor is recorded.")
    gpus: list[GpuRow] = []
    for name in target.gpus:
        row = facts.gpu(name, consulted=seen)
        if row is None:
            problems.append(f'target "{target.name}": {validate_gpu(name, facts=facts)}')
        else:
            gpus.append(row)

    torch = packages.get("torch")
    build = judge_torch_build(torch, packages, arch=arch, facts=facts,
                              consulted=seen) if torch else None
    if target.cuda is not None and build is not None and build.variant is None:
        warnings.append(f'target "{target.name}": could not tell which CUDA torch {build.version} '
                        f"was built for ({build.evidence}); the GPU checks could not be done.")
    if declared is None:
        if target.cuda is None and build is not None and build.cuda is not None:
            warnings.append(
                f'target "{target.name}": torch {build.version} is a {build.variant} build '
                f"({build.evidence}) on a target without cuda; it runs on the CPU but pulls the "
                f"CUDA runtime wheels. To slim the environment, route torch to a CPU index "
                f"({_INDEX}).")
    else:
        groups = _wheel_groups(declared, packages, facts, seen)
        # The wheels of torch's own toolkit that it pulls share its root cause: one line says both.
        along = [g for g in groups if build is not None and build.cuda is not None
                 and build.cuda != declared and g.carried == build.cuda
                 and "torch" in g.pullers]
        if build is not None and build.variant is not None:
            problems += _torch_problems(target, declared, build, gpus, arch, facts, seen,
                                        warnings, along)
        problems += [_wheel_problem(target, declared, g, gpus, packages, arch, facts)
                     for g in groups if g not in along]
        if torch is not None and torch_requires:
            problems += _library_problems(target, torch, torch_requires, packages, facts)
    return CompatReport(target=target.name, driver_floor=floor, driver_floor_compat=floor_compat,
                        cuda_variant=build.variant if build else None, consulted=seen.rows(),
                        problems=tuple(problems), warnings=tuple(warnings))


def judge_torch_build(torch: ResolvedPackage, packages: Mapping[str, ResolvedPackage], *,
                      arch: str | None, facts: HardwareFacts,
                      consulted: Consulted | None = None) -> TorchBuild:
    """What build a resolved torch is, judged by what it is and not by a `+cpu` suffix.

    A local version (`+cu121`, `+cpu`, `+rocm6.2`) says it; without one, the CUDA runtime
    wheel torch depends on carries the toolkit version (PyPI's x86_64 torch 2.5.1 pulls
    nvidia-cuda-runtime-cu12 12.4.127: a cu124 build); no NVIDIA dependency at all means a
    CPU build (PyPI's aarch64 torch 2.5.1, which has no `+cpu` suffix).
    """
    version = torch.version
    try:
        local = Version(version).local
    except InvalidVersion:
        return TorchBuild(version=version, variant=None, cuda=None, evidence="unreadable version")
    if local:
        cuda = cuda_of_variant(local)
        variant = "cpu" if local.split(".")[0] == "cpu" else local  # "cpu.cxx11.abi" is CPU
        return TorchBuild(version=version, variant=variant, cuda=cuda,
                          evidence=f"local version +{local}")
    names = map(canonicalize_name, torch.dependencies)
    nvidia = sorted(d for d in names if d.startswith("nvidia-"))
    for dep in nvidia:
        row = facts.runtime_wheel(dep, consulted=consulted)
        runtime = packages.get(dep) if row is not None and row.component == "cuda-runtime" else None
        cuda = major_minor(runtime.version) if runtime is not None else None
        if runtime is not None and cuda is not None:
            return TorchBuild(version=version, variant=variant_of(cuda), cuda=cuda,
                              evidence=f"{dep} {runtime.version}")
    if not nvidia:
        return TorchBuild(version=version, variant="cpu", cuda=None,
                          evidence="no +cuXXX local version and no CUDA runtime dependency")
    # NVIDIA dependencies but no resolved runtime wheel to read: fall back to PyPI's default.
    default = facts.pypi_default_variant(version, arch, consulted=consulted) if arch else None
    cuda = cuda_of_variant(default) if default else None
    if cuda is None:
        return TorchBuild(version=version, variant=None, cuda=None,
                          evidence="NVIDIA dependencies but no CUDA runtime wheel resolved")
    return TorchBuild(version=version, variant=default, cuda=cuda,
                      evidence=f"PyPI's default build of torch {version}")


def _torch_problems(target: HardwareTarget, declared: CudaVersion, build: TorchBuild,
                    gpus: list[GpuRow], arch: str | None, facts: HardwareFacts, seen: Consulted,
                    warnings: list[str], along: Sequence[_WheelGroup]) -> list[str]:
    """One line per root cause: a torch of another CUDA says, in the same line, the GPUs that
    the declared build would serve and the runtime wheels (`along`) that come with it."""
    who = f'target "{target.name}"'
    if build.cuda is None:
        kind = "a CPU build" if build.variant == "cpu" else f"a {build.variant} build"
        for_gpus = f" for {', '.join(target.gpus)}" if target.gpus else ""
        fix = torch_fix(build.version, arch, declared, gpus=gpus, facts=facts)
        return [f"{who}: torch {build.version} resolved to {kind} ({build.evidence}), but the "
                f"target declares cuda {format_cuda(declared)}{for_gpus}. Fix: {fix}."]
    problems = []
    early = [g for g in gpus if build.cuda < g.first]
    if build.cuda != declared:
        served = [g for g in early if g.first <= declared]
        early = [g for g in early if g not in served]
        clauses = "".join(f" and GPU {g.name} ({g.sm}) needs a cuda {g.first_cuda} or newer build"
                          for g in served)
        if along:
            names = ", ".join(sorted(w.name for group in along for w in group.wheels))
            clauses += (f"; the CUDA {format_cuda(build.cuda)} runtime wheels it pulls "
                        f"({names}) come with it")
        fix = torch_fix(build.version, arch, declared, gpus=gpus, facts=facts, have=build.cuda)
        problems.append(f"{who}: torch {build.version} is a {build.variant} build "
                        f"({build.evidence}), but the target declares cuda "
                        f"{format_cuda(declared)}{clauses}. Fix: {fix}.")
    row = None
    if gpus and arch is not None:
        row = facts.torch_build(build.version, build.variant or "", arch, consulted=seen)
    unchecked = []
    for gpu in gpus:
        if gpu in early:
            problems.append(_too_old(who, build, gpu, declared, gpus, arch, facts))
            continue
        problem = _gpu_problem(who, build, gpu, declared, row, arch, facts)
        if problem is not None:
            problems.append(problem)
        elif row is None and build.cuda >= gpu.first:
            unchecked.append(gpu.name)
    if unchecked:
        warnings.append(f"{who}: envbuild has no data on the architectures compiled into torch "
                        f"{build.version} ({build.variant}, {target.platform}); the GPU check for "
                        f"{', '.join(unchecked)} could not be done.")
    return problems


def _too_old(who: str, build: TorchBuild, gpu: GpuRow, declared: CudaVersion,
             gpus: list[GpuRow], arch: str | None, facts: HardwareFacts) -> str:
    """A GPU newer than the torch build, where the declared cuda is too old for it as well."""
    need = max(gpu.first, declared)
    fix = torch_fix(build.version, arch, need, gpus=gpus, facts=facts)
    declare = "" if need == declared else f' and declare cuda = "{format_cuda(need)}"'
    return (f"{who}: GPU {gpu.name} ({gpu.sm}) needs a cuda {gpu.first_cuda} or newer build "
            f"of torch; torch {build.version} resolved to a {build.variant} build. "
            f"Fix: {fix}{declare}.")


def _gpu_problem(who: str, build: TorchBuild, gpu: GpuRow, declared: CudaVersion,
                 row: TorchBuildRow | None, arch: str | None, facts: HardwareFacts) -> str | None:
    """Code for a GPU the build is new enough for: before its drop, and matching SASS."""
    assert build.cuda is not None
    resolved = f"torch {build.version} resolved to a {build.variant} build"
    if gpu.dropped is not None and build.cuda >= gpu.dropped:
        suggestion = _suggest(build, gpu, declared, arch, facts) if arch is not None else ""
        fix = suggestion.removesuffix(", ") or (
            f"route torch to a cuda {gpu.dropped[0] - 1}.x index ({_INDEX}) and declare that "
            "cuda version")
        return (f"{who}: GPU {gpu.name} ({gpu.sm}) is not supported by cuda "
                f"{gpu.dropped_in_cuda} or newer builds; {resolved}. Fix: {fix}.")
    if build.cuda < gpu.first or row is None or row.runs(gpu.cc):
        return None
    compiled = ", ".join(sm_name(cc) for cc in row.ccs)
    suggestion = _suggest(build, gpu, declared, arch, facts) if arch is not None else ""
    return (f"{who}: GPU {gpu.name} ({gpu.sm}) has no code in torch {build.version} (a "
            f"{build.variant} build compiled for {compiled}; PTX does not cross majors). "
            f"Fix: {suggestion}{'or ' if suggestion else ''}pin a torch release whose "
            f"{build.variant} build includes {gpu.sm}.")


def _suggest(build: TorchBuild, gpu: GpuRow, declared: CudaVersion, arch: str,
             facts: HardwareFacts) -> str:
    """'route torch to a cuXYZ index (...) [and declare cuda = "X.Y"], ' or ''.

    Only shapes the text of a refusal (a refused target writes no lock), so the rows it reads
    are not recorded as consulted.
    """
    fitting = []
    for row in facts.torch_builds_for(build.version, arch):
        cuda = cuda_of_variant(row.variant)
        if (cuda is not None and row.runs(gpu.cc) and cuda >= gpu.first
                and (gpu.dropped is None or cuda < gpu.dropped)):
            fitting.append(cuda)
    if not fitting:
        return ""
    best = declared if declared in fitting else max(fitting)
    declare = "" if best == declared else f' and declare cuda = "{format_cuda(best)}"'
    return f"route torch to a {variant_of(best)} index ({_INDEX}){declare}, "


@dataclass(frozen=True, kw_only=True, slots=True)
class _WheelGroup:
    """Runtime wheels that fail the declared cuda for one reason: one line, not one per wheel."""

    carried: CudaVersion  # the toolkit major.minor their versions carry
    toolkit: bool  # True: another toolkit's wheels; False: older than an at-least floor
    wheels: tuple[ResolvedPackage, ...]
    pullers: tuple[str, ...]  # the non-NVIDIA packages that pull them in


def _wheel_groups(declared: CudaVersion, packages: Mapping[str, ResolvedPackage],
                  facts: HardwareFacts, seen: Consulted) -> list[_WheelGroup]:
    found: dict[tuple[CudaVersion, bool], list[ResolvedPackage]] = {}
    for name in sorted(packages):
        row = facts.runtime_wheel(name, consulted=seen)
        package = packages[name]
        carried = major_minor(package.version)
        if row is None or carried is None:
            continue
        if carried[0] != declared[0] or (row.match == "exact" and carried != declared):
            # A -cu12 wheel on an 11.8 target is another toolkit, whatever its match rule.
            found.setdefault((carried, True), []).append(package)
        elif row.match == "at-least" and carried < declared:
            found.setdefault((carried, False), []).append(package)
    return [_WheelGroup(carried=carried, toolkit=toolkit, wheels=tuple(wheels),
                        pullers=_pullers({w.name for w in wheels}, packages))
            for (carried, toolkit), wheels in sorted(found.items(),
                                                     key=lambda kv: (kv[0][0], not kv[0][1]))]


def _pullers(names: set[str], packages: Mapping[str, ResolvedPackage]) -> tuple[str, ...]:
    """The non-NVIDIA packages that reach one of `names` through NVIDIA packages only."""
    out = []
    for package in packages.values():
        if package.name.startswith("nvidia-"):
            continue
        stack, seen = list(package.dependencies), set()
        while stack:
            dep = canonicalize_name(stack.pop())
            if dep in names:
                out.append(package.name)
                break
            if dep not in seen and dep.startswith("nvidia-") and dep in packages:
                seen.add(dep)
                stack.extend(packages[dep].dependencies)
    return tuple(sorted(out))


def _wheel_problem(target: HardwareTarget, declared: CudaVersion, group: _WheelGroup,
                   gpus: list[GpuRow], packages: Mapping[str, ResolvedPackage],
                   arch: str | None, facts: HardwareFacts) -> str:
    wanted, carried = format_cuda(declared), format_cuda(group.carried)
    one = len(group.wheels) == 1
    it = "it" if one else "they"
    listed = ", ".join(f"{w.name} {w.version}" for w in group.wheels)
    by = f" (pulled in by {', '.join(group.pullers)})" if group.pullers else ""
    torch = packages.get("torch")
    if not group.toolkit:
        rule = f"{it} must be {wanted} or a newer {declared[0]}.x"
        fix = (f"pin {group.wheels[0].name} to a {wanted} or newer {declared[0]}.x release" if one
               else f"pin them to {wanted} or newer {declared[0]}.x releases")
    else:
        rule = f"{it} must match major.minor"
        if torch is not None and "torch" in group.pullers:
            fix = torch_fix(torch.version, arch, declared, gpus=gpus, facts=facts)
        elif group.carried[0] == declared[0]:
            fix = f"pin it to a {wanted} release" if one else f"pin them to {wanted} releases"
        else:
            whose = ", ".join(group.pullers) or f"the packages that need {'it' if one else 'them'}"
            fix = f"use CUDA {declared[0]} builds of {whose}"
    return (f'target "{target.name}": {listed}{by} {"carries" if one else "carry"} CUDA {carried}, '
            f"but the target declares cuda {wanted} ({rule}). "
            f"Fix: {fix}{or_declare(group.carried, gpus)}.")


def _library_problems(target: HardwareTarget, torch: ResolvedPackage,
                      torch_requires: Sequence[str], packages: Mapping[str, ResolvedPackage],
                      facts: HardwareFacts) -> list[str]:
    """NVIDIA libraries with versions of their own (cuDNN, cuBLAS, NCCL...) vs torch's ranges."""
    environment = _marker_environment(target)
    problems = []
    for text in torch_requires:
        try:
            requirement = Requirement(text)
        except (InvalidRequirement, InvalidMarker):
            continue  # torch's metadata was read by the resolver already; nothing to judge here
        name = canonicalize_name(requirement.name)
        package = packages.get(name)
        if (package is None or not name.startswith("nvidia-")
                or facts.runtime_wheel(name) is not None
                or (requirement.marker is not None and not requirement.marker.evaluate(environment))
                or requirement.specifier.contains(package.version, prereleases=True)):
            continue
        problems.append(f'target "{target.name}": {name} {package.version} is outside the range '
                        f"torch {torch.version} declares for it ({requirement.specifier}). Fix: "
                        f"remove the pin or override that selects {name} {package.version}, or pin "
                        "a torch release that accepts it.")
    return problems


def _marker_environment(target: HardwareTarget) -> dict[str, str]:
    # Fixed values, never the host's: torch gates its NVIDIA requirements on the platform only,
    # and a check must not depend on the machine that runs it.
    system, _, machine = target.platform.partition("/")
    linux = system == "linux"
    python = target.python or "3.12"
    return {
        "sys_platform": system, "platform_system": "Linux" if linux else system.capitalize(),
        "platform_machine": linux_arch(target.platform) or machine.split("/")[0],
        "os_name": "posix",
        "python_version": ".".join(python.split(".")[:2]),
        "python_full_version": python if python.count(".") >= 2 else f"{python}.0",
        "implementation_name": "cpython", "platform_python_implementation": "CPython",
        "platform_release": "", "platform_version": "", "implementation_version": "", "extra": "",
    }
