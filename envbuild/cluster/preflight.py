"""The command every emitted job runs: verify against the lock, then start the `[run]`
command under its launcher (envbuild.cluster.launchers).

The check runs in the process that holds the GPUs (an init container without a GPU request
sees none), through the runtime's own runner: `envbuild run` where envbuild is installed
(Slurm, virtual-environment mode) or the image's runner at a fixed path (Kubernetes, pyxis),
which needs only the image's Python. Both honour ENVBUILD_NO_HARDWARE=1 and read recorded
NVML answers from ENVBUILD_NVML_PROBE, so nothing here repeats a check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from envbuild.cluster.launchers import Launch, Rendezvous, resolve
from envbuild.cluster.manifest import RunSettings
from envbuild.cluster.plan import PoolPlan
from envbuild.lockfile.model import LockedTarget

# Where an image from `envbuild image` keeps its runner (a folder bundle of
# envbuild.runtime: `python3 -I /opt/envbuild/runtime run ...`).
IMAGE_PYTHON = "python3"
IMAGE_RUNTIME = "/opt/envbuild/runtime"
# Where jobs mount the target document (the lock's target table, lock hash and datasets).
TARGET_DIR = "/etc/envbuild"
TARGET_FILE = "target.json"


def launch(run: RunSettings, pool: PoolPlan, rendezvous: Rendezvous | None) -> Launch:
    """The `[run]` command under the pool's launcher (`[run] launcher`, checked by the plan).

    One process per GPU; a pool without GPUs (a CPU pool) runs one process per node.
    """
    gpus = pool.settings.gpus_per_node or 0
    launcher = resolve(run.launcher, pool.target)
    started = launcher.launch(run.command, nproc=gpus or 1, nodes=run.nodes, gpus=gpus > 0,
                              rendezvous=rendezvous)
    # A variable the manifest sets in [run] env is the user's choice: it wins.
    chosen = {name for name, _ in run.env}
    return replace(started, env=tuple((n, v) for n, v in started.env if n not in chosen))


def image_runner(plan_lock_hash: str, pool: PoolPlan, run: RunSettings,
                 then: Sequence[str]) -> list[str]:
    """The image's runner: verify the image against the target document, then `then`."""
    return [image_python(pool.target), "-I", IMAGE_RUNTIME, "run",
            "--target-json", f"{TARGET_DIR}/{TARGET_FILE}",
            "--target-hash", pool.target.hash, "--lock-hash", plan_lock_hash,
            "--determinism", run.determinism, "--seed", str(run.seed), "--", *then]


def image_python(target: LockedTarget) -> str:
    """The interpreter that starts the image's runner. An image built from the target's
    Debian packages (`base = "system"`) has Debian's /usr/bin/python3.X, which the lock
    requests for it (envbuild.system.implicit) and the image's org.envbuild.python label
    names; its `python3` link exists only when the distribution's default Python is the
    target's. Other images are found by `python3` on their PATH."""
    if target.base == "system":
        return f"/usr/bin/python{target.python}"
    return IMAGE_PYTHON


def envbuild_runner(envbuild: str, *, manifest: str, lock: str, target: str, lock_hash: str,
                    python: str, then: Sequence[str]) -> list[str]:
    """`envbuild run` checking the interpreter `python`'s environment, then `then`."""
    return [envbuild, "run", "-f", manifest, "--lock", lock, "--target", target,
            "--lock-hash", lock_hash, "--python", python, "--", *then]
