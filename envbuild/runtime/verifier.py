"""Check one environment and host against one locked target; the verdict lists every mismatch.

Standard library only (see `envbuild.runtime`): images run this module with their own
Python. Checks: the lock and target hashes when expected ones are given, the Python
major.minor and implementation, the OS, machine and glibc floor of the target's platform,
every locked distribution at its locked version and nothing unlocked beside it (and every
locked conda package in the conda prefix's records, `conda.py`), the locked Debian packages
against dpkg's status database (`dpkgstatus`), the tags
of the wheels they were installed from (recorded in each dist-info's WHEEL),
with `deep` every installed file against its RECORD sha256, and for GPU targets the host's
GPUs and driver through `nvml`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .environment import DEFAULT_ALLOW
from .target import TargetSpec
from .verdict import Mismatch, Verdict, sort_mismatches

NO_HARDWARE_ENV = "ENVBUILD_NO_HARDWARE"
TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from .nvml import HostGpus


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyOptions:
    deep: bool = False
    no_hardware: bool = False
    allow: tuple[str, ...] = DEFAULT_ALLOW  # unlocked distributions that may be present
    lock_hash: str | None = None  # expected lock hash; None: not checked
    target_hash: str | None = None  # expected target hash (an image knows its own)
    paths: tuple[str, ...] | None = None  # the environment's sys.path; None: this one's
    # dpkg's status file, checked against the lock's system set; None: not checked (a
    # host's own packages are not the image's: only the image's front end sets it).
    dpkg_status: str | None = None


def no_hardware_requested(flag: bool, environ: Mapping[str, str]) -> bool:
    """`--no-hardware`, or ENVBUILD_NO_HARDWARE=1 as images and CI set it."""
    return flag or environ.get(NO_HARDWARE_ENV, "") not in ("", "0")


def verify(spec: TargetSpec, options: VerifyOptions, *, environ: Mapping[str, str],
           host: HostGpus | None = None) -> Verdict:
    """Every mismatch between this environment (and host) and `spec`.

    `host` overrides NVML (tests); otherwise it is read through `nvml.read` when the target
    needs a GPU and hardware checks are on. Raises `nvml.ProbeFileError` (a
    RuntimeInputError) for an unreadable recorded probe.
    """
    mismatches: list[Mismatch] = []
    notes: list[str] = []
    mismatches += _hashes(spec, options)
    running = ".".join(map(str, sys.version_info[:3]))
    have = f"{sys.version_info.major}.{sys.version_info.minor}"
    want = ".".join(spec.python.split(".")[:2])
    if have != want:
        mismatches.append(Mismatch(kind="python", package=None,
                                   detail=f"Python {running} does not match "
                                          f"target {spec.name}'s {spec.python}"))
    from .environment import check_packages, check_records, installed
    from .platformcheck import check_platform, check_wheel_tags, host_facts

    platform = host_facts()
    mismatches += check_platform(spec, platform)
    present = installed(_paths(options.paths))
    conda_facts: dict[str, object] | None = None
    if spec.conda:  # conda packages, and the Python distributions they installed
        from .conda import conda_prefix_checks

        present, found, skipped, prefix = conda_prefix_checks(spec.conda, present, environ,
                                                              deep=options.deep)
        mismatches += found
        notes += skipped
        conda_facts = {"locked": len(spec.conda), "prefix": prefix}
    mismatches += check_packages(spec, present, options.allow)
    mismatches += check_wheel_tags(spec, present.values())
    if spec.system and options.dpkg_status is not None:
        from .dpkgstatus import check_system

        mismatches += check_system(spec, options.dpkg_status)
    if options.deep:
        found, skipped = check_records(present.values())
        mismatches += found
        notes += skipped
    facts: dict[str, object] = {"python": running, "implementation": platform.implementation,
                                "platform": platform.platform, "glibc": platform.glibc,
                                "executable": sys.executable, "installed": len(present),
                                "locked": len(spec.packages)}
    if conda_facts is not None:
        facts["conda"] = conda_facts
    if not spec.needs_gpu:
        notes.append(f"target {spec.name} is a CPU target: hardware not checked")
    elif no_hardware_requested(options.no_hardware, environ):
        notes.append("hardware not checked (--no-hardware)")
    else:
        if host is None:
            from .nvml import read  # only GPU targets pay for importing the NVML seam

            host = read(environ)
        from .hardware import check_hardware

        facts["host"] = host.summary()
        mismatches += check_hardware(spec, host)
    return Verdict(target=spec.name, target_hash=spec.hash, lock_hash=spec.lock_hash,
                   mismatches=sort_mismatches(mismatches), notes=tuple(notes), facts=facts)


def _hashes(spec: TargetSpec, options: VerifyOptions) -> list[Mismatch]:
    out = []
    if options.lock_hash is not None and options.lock_hash != spec.lock_hash:
        out.append(Mismatch(kind="lock-hash", package=None,
                            detail=f"the lock's hash is {spec.lock_hash or 'absent'}, "
                                   f"expected {options.lock_hash}"))
    if options.target_hash is not None and options.target_hash != spec.hash:
        out.append(Mismatch(kind="target-hash", package=None,
                            detail=f"target {spec.name}'s hash is {spec.hash}, "
                                   f"expected {options.target_hash}"))
    return out


def _paths(paths: Sequence[str] | None) -> list[str]:
    # The verifier's own location (a bundle on sys.path[0]) is not part of the environment.
    return list(paths) if paths is not None else [p for p in sys.path if p]
