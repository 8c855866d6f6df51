"""Helpers of the cluster tests: projects on disk and the CLI through its error boundary."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Result, run_cli
from tests.runtime.envs import target, write_lock

DIGEST = "sha256:" + "1" * 64
IMAGE = f"registry.example.com/team/app@{DIGEST}"
H100_FLOOR = "550.54.14"
# The h100 target locks torch, so `launcher = "auto"` starts the command under torchrun.
H100_PACKAGES = {"alpha": "1.0", "torch": "2.5.1"}

CLUSTER = """
[cluster]
providers = ["kubernetes", "karpenter", "gke", "eks", "slurm"]
namespace = "training"

[cluster.pools.h100]
target = "h100"
gpu = "H100"
gpus-per-node = 8
nodes = { min = 0, max = 4 }
capacity = "on-demand"
"""
RUN = """
[run]
command = ["python", "-m", "train"]
nodes = 2
determinism = "strict"
"""
TARGETS = """
[targets.h100]
platform = "linux/amd64"
cuda = "12.4"
gpus = ["H100"]

[targets.cpu]
platform = "linux/amd64"
"""


def manifest_text(cluster: str = CLUSTER, run: str = RUN, targets: str = TARGETS) -> str:
    return f'[project]\nname = "demo"\npython = "3.11"\n{targets}{cluster}{run}'


def write_project(folder: Path, *, cluster: str = CLUSTER, run: str = RUN,
                  targets: str = TARGETS, gpus: tuple[str, ...] = ("H100",),
                  cuda: str = "12.4", floor: str = H100_FLOOR,
                  packages: dict[str, str] | None = None) -> Path:
    (folder / "envbuild.toml").write_text(manifest_text(cluster, run, targets), encoding="utf-8")
    write_lock(folder / "envbuild.lock",
               target("cpu", {"alpha": "1.0"}),
               target("h100", H100_PACKAGES if packages is None else packages, cuda=cuda,
                      gpus=gpus, driver_floor=floor))
    return folder


def record_image(project: Path, target: str = "h100", *, unpacked_bytes: int | None = 5 << 30,
                 digest: str = DIGEST) -> None:
    """The record `envbuild image --push` leaves: the target's image by digest and size,
    and the image hash of the project as it is now (as a push would record it)."""
    from envbuild.cluster.images import write_record
    from envbuild.image.build import planned_image_hashes
    from envbuild.lockfile import load

    lock = load(project / "envbuild.lock")
    image_hash = planned_image_hashes(project / "envbuild.toml", lock, {target: 0})[target]
    assert isinstance(image_hash, str), image_hash
    write_record(project / "envbuild.lock", target, ref="registry.example.com/team/app",
                 digest=digest, image_hash=image_hash, target_hash=lock.targets[target].hash,
                 unpacked_bytes=unpacked_bytes, epoch=0)


def run_cluster(project: Path, *args: str, image: str | None = IMAGE) -> Result:
    """`envbuild cluster -f PROJECT/envbuild.toml -o PROJECT/out ARGS` through the real entry point."""
    argv = ["cluster", "-f", str(project / "envbuild.toml"), "-o", str(project / "out"), *args]
    if image is not None:
        argv += ["--image", image]
    return run_cli(argv)


__all__ = ["DIGEST", "H100_PACKAGES", "IMAGE", "record_image", "run_cluster", "write_project"]
