"""Real virtual environments with wheels built here, and locks written to match them."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from envbuild.lockfile import Artifact, LockedPackage, LockedTarget
from envbuild.lockfile.hashes import seal_target
from tests.support import locks
from tests.support.fixtures import hermetic_environ
from tests.support.wheelfactory import DistSpec, build_wheel

H = "sha256:" + "ab" * 32
PY = f"{sys.version_info.major}.{sys.version_info.minor}"
# This machine as a target names it (platform.machine(), not the verifier's own reading).
HOST_PLATFORM = f"{sys.platform}/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(
    platform.machine(), platform.machine())
# The other Linux machine: a target this machine cannot run.
FOREIGN_PLATFORM = "linux/arm64" if HOST_PLATFORM.endswith("/amd64") else "linux/amd64"
H100_ROW: dict[str, Any] = {
    "row_id": "gpu:H100", "name": "H100", "compute_capability": "9.0", "first_cuda": "11.8",
    "aliases": ["H100-SXM", "H100-PCIe", "H100-NVL", "H100-80GB-HBM3", "NVIDIA H100"],
    "gfd_product": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe", "NVIDIA-H100-NVL"],
    "slurm_gres": "h100",
}
A100_ROW: dict[str, Any] = {
    "row_id": "gpu:A100", "name": "A100", "compute_capability": "8.0", "first_cuda": "11.0",
    "aliases": ["A100-SXM4", "A100-PCIe", "NVIDIA A100"], "slurm_gres": "a100",
}

# name -> version of the distributions the base environment holds.
BASE = {"alpha": "1.0", "beta-tools": "2.0", "gamma": "2.5.1+cu121", "Foo.Bar_baz": "0.3"}


def build_wheels(folder: Path, specs: Mapping[str, str]) -> Path:
    for name, version in specs.items():
        build_wheel(DistSpec(name=name, version=version), folder)
    return folder


def pip_env() -> dict[str, str]:
    return hermetic_environ(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")


def make_venv(path: Path, wheels: Path, names: Iterable[str]) -> Path:
    """A venv (with pip, as `python -m venv` makes it) holding `names` from `wheels`."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    pip_install(python, wheels, names)
    return python


def pip_install(python: Path, wheels: Path, names: Iterable[str], *extra: str) -> None:
    subprocess.run([str(python), "-m", "pip", "--isolated", "install", "--no-index",
                    "--find-links", str(wheels), "-q", *extra, *names],
                   check=True, env=pip_env())


def pip_uninstall(python: Path, *names: str) -> None:
    subprocess.run([str(python), "-m", "pip", "--isolated", "uninstall", "-y", "-q", *names],
                   check=True, env=pip_env())


def copy_venv(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, symlinks=True)
    return dest / "bin" / "python"


def site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return Path(out)


def sys_path(python: Path) -> tuple[str, ...]:
    out = subprocess.run([str(python), "-I", "-c", "import sys; print('\\n'.join(sys.path))"],
                         check=True, capture_output=True, text=True).stdout
    return tuple(p for p in out.splitlines() if p)


def target(name: str, packages: Mapping[str, str], *, python: str = PY, cuda: str | None = None,
           gpus: tuple[str, ...] = (), driver_floor: str | None = None,
           hardware: tuple[dict[str, Any], ...] = (), platform: str = HOST_PLATFORM,
           glibc: str = "2.28") -> LockedTarget:
    if cuda is not None and driver_floor is not None:
        # As `envbuild lock` records it: the floor comes from the CUDA toolkit's own row.
        cuda_row = {"row_id": f"cuda:{cuda}", "version": cuda, "driver_min": driver_floor}
        hardware = tuple(sorted((cuda_row, *hardware), key=lambda row: str(row["row_id"])))
    return seal_target(LockedTarget(
        name=name, hash="", input_hash=H, platform=platform, python=python,
        glibc=glibc, cuda=cuda, gpus=gpus, driver_floor=driver_floor, resolver="uv",
        requirements=tuple(sorted(packages)), hardware=hardware,
        packages=tuple(
            LockedPackage(name=_norm(n), version=v, index="default", dependencies=(),
                          artifact=Artifact(kind="wheel", file=f"{_wheel_name(n)}-{v}-py3-none-any.whl",
                                            size=1, hash=H))
            for n, v in sorted(packages.items(), key=lambda item: _norm(item[0])))))


def write_lock(path: Path, *targets: LockedTarget,
               datasets: dict[str, dict[str, Any]] | None = None) -> Path:
    """A lock sealed with envbuild's own hash code, so every reader proves it."""
    return locks.write_lock(path, locks.make_lock(targets, python=PY, datasets=datasets))


def lock_hash_of(path: Path) -> str:
    from envbuild.lockfile import load

    return load(path).lock_hash


def gpu_targets(packages: Mapping[str, str]) -> tuple[LockedTarget, ...]:
    return (
        target("cpu", packages),
        target("h100", packages, cuda="12.4", gpus=("H100",), driver_floor="550.54.14",
               hardware=(H100_ROW,)),
        target("a100", packages, cuda="12.1", gpus=("A100",), driver_floor="530.30.02",
               hardware=(A100_ROW,)),
    )


def _norm(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nvml"
CLEAN_ENV_KEYS = ("ENVBUILD_TARGET", "ENVBUILD_NO_HARDWARE", "ENVBUILD_NVML_PROBE",
                  "ENVBUILD_IMAGE_DIGEST", "ENVBUILD_RUN_RECORD", "ENVBUILD_SEED")


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CLEAN_ENV_KEYS}


def _wheel_name(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "_", name)


CPU_HASH = target("cpu", BASE).hash  # the hash of the `cpu` target most tests lock
H100_HASH = gpu_targets(BASE)[1].hash
