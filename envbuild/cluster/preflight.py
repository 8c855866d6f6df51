"""The command every emitted job runs: verify against the lock, then torchrun the `[run]` command.

The check runs in the process that holds the GPUs (an init container without a GPU request
sees none), through the runtime's own runner: `envbuild run` where envbuild is installed
(Slurm, virtual-environment mode) or the image's runner at a fixed path (Kubernetes, pyxis),
which needs only the image's Python. Both honour ENVBUILD_NO_HARDWARE=1 and read recorded
NVML answers from ENVBUILD_NVML_PROBE, so nothing here repeats a check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from envbuild.cluster.manifest import RunSettings
from envbuild.cluster.plan import PoolPlan

# Where an image from `envbuild image` keeps its runner (a folder bundle of
# envbuild.runtime: `python3 -I /opt/envbuild/runtime run ...`).
IMAGE_PYTHON = "python3"
IMAGE_RUNTIME = "/opt/envbuild/runtime"
# Where jobs mount the target document (the lock's target table, lock hash and datasets).
TARGET_DIR = "/etc/envbuild"
TARGET_FILE = "target.json"
_PYTHONS = frozenset({"python", "python3"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Rendezvous:
    """How torchrun's nodes meet; values may be shell or Kubernetes variable references."""

    nnodes: str
    node_rank: str | None  # static rendezvous (Kubernetes); None: c10d assigns ranks (Slurm)
    address: str
    port: int
    run_id: str | None = None


def rendezvous_args(rendezvous: Rendezvous | None) -> list[str]:
    """torchrun's node options: standalone for one node, static or c10d rendezvous otherwise."""
    if rendezvous is None:
        return ["--nnodes=1", "--standalone"]
    if rendezvous.node_rank is not None:
        return [f"--nnodes={rendezvous.nnodes}", f"--node-rank={rendezvous.node_rank}",
                f"--master-addr={rendezvous.address}", f"--master-port={rendezvous.port}"]
    return [f"--nnodes={rendezvous.nnodes}", "--rdzv-backend=c10d",
            f"--rdzv-endpoint={rendezvous.address}:{rendezvous.port}",
            f"--rdzv-id={rendezvous.run_id or 'envbuild'}"]


def torchrun(run: RunSettings, gpus_per_node: int, rendezvous: Rendezvous | None) -> list[str]:
    """`torchrun` with the rendezvous options and the `[run]` command (None: one node)."""
    return ["torchrun", f"--nproc-per-node={gpus_per_node}", *rendezvous_args(rendezvous),
            *script_args(run.command)]


def script_args(command: Sequence[str]) -> list[str]:
    """torchrun runs Python itself: `python -m train` becomes `-m train`, others `--no-python`."""
    program = PurePosixPath(command[0]).name
    rest = list(command[1:])
    if program in _PYTHONS and rest and (rest[0] == "-m" or not rest[0].startswith("-")):
        return rest
    return ["--no-python", *command]


def image_runner(plan_lock_hash: str, pool: PoolPlan, run: RunSettings,
                 then: Sequence[str]) -> list[str]:
    """The image's runner: verify the image against the target document, then `then`."""
    return [IMAGE_PYTHON, "-I", IMAGE_RUNTIME, "run",
            "--target-json", f"{TARGET_DIR}/{TARGET_FILE}",
            "--target-hash", pool.target.hash, "--lock-hash", plan_lock_hash,
            "--determinism", run.determinism, "--seed", str(run.seed), "--", *then]


def envbuild_runner(envbuild: str, *, manifest: str, lock: str, target: str, lock_hash: str,
                    python: str, then: Sequence[str]) -> list[str]:
    """`envbuild run` checking the interpreter `python`'s environment, then `then`."""
    return [envbuild, "run", "-f", manifest, "--lock", lock, "--target", target,
            "--lock-hash", lock_hash, "--python", python, "--", *then]
