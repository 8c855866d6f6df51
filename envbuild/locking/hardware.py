"""Hardware checks of the lock: manifest-time validation and post-resolution refusals.

The facts live in envbuild/hardware (a data file and the rules); this module connects them
to manifest targets and resolutions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from envbuild.errors import InputError
from envbuild.manifest.model import Target

if TYPE_CHECKING:  # the rules load only after a resolution; validation needs less
    from envbuild.hardware import compat
    from envbuild.resolvers.interface import ResolvedPackage


def _hardware_target(target: Target) -> compat.HardwareTarget:
    from envbuild.hardware import compat

    return compat.HardwareTarget(name=target.name, platform=target.platform, cuda=target.cuda,
                                 gpus=tuple(target.gpus), python=target.python)


def validate_target(target: Target, problem: Callable[[str, str], None]) -> None:
    """Manifest-time checks: known CUDA, known GPUs, GPUs that the CUDA version supports."""
    from envbuild.hardware.validate import validate_hardware

    for key, message in validate_hardware(platform=target.platform, cuda=target.cuda, gpus=target.gpus):
        problem(f"targets.{target.name}.{key}", message)


def check_resolution(target: Target, packages: Sequence[ResolvedPackage], *,
                     torch_requires: Sequence[str] | None = None) -> compat.CompatReport:
    """Refuse (exit 2) a resolution that cannot run on the target's hardware."""
    from envbuild.hardware import compat

    resolved = {p.name: compat.ResolvedPackage(name=p.name, version=p.version,
                                               dependencies=p.dependencies) for p in packages}
    report = compat.check_target(_hardware_target(target), resolved, torch_requires=torch_requires)
    if report.problems:
        raise InputError("\n".join(report.problems),
                         hint="the lock was not written; fix the target or its sources and lock again")
    return report
