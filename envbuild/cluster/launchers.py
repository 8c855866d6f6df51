"""Launchers: what starts the `[run]` command on each node of a job (`[run] launcher`).

A small table, one row per launcher: the console script it starts, the distribution that
provides that script, and how it takes processes per node, node count, rendezvous and node
rank. The lock records distributions, not their entry points, so "provides" is this table's
knowledge (torchrun comes with torch, accelerate with accelerate) checked against the
target's locked names at `cluster` time: a job never reaches a node to fail with exit 127.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from envbuild.lockfile import LockedTarget

AUTO = "auto"
_PYTHONS = frozenset({"python", "python3"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Rendezvous:
    """How the nodes meet; values may be shell or Kubernetes variable references."""

    nnodes: str
    node_rank: str | None  # the node's rank as the job expands it; None: c10d assigns ranks
    address: str
    port: int
    run_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Launch:
    """The words that start the command on one node, and the variables they rely on."""

    argv: tuple[str, ...]
    own: int  # argv[:own] are the launcher's words; the rest are the [run] command's
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Launcher:
    name: str
    program: str | None  # the console script it starts; None: the command itself
    distribution: str | None  # the locked distribution that provides `program`
    needs_node_rank: bool  # its multi-node mode needs each node's rank (no c10d of its own)
    build: Callable[[Sequence[str], int, int, bool, Rendezvous | None], Launch]

    def launch(self, command: Sequence[str], *, nproc: int, nodes: int, gpus: bool,
               rendezvous: Rendezvous | None) -> Launch:
        """`command` started by this launcher with `nproc` processes on each of `nodes`."""
        return self.build(command, nproc, nodes, gpus, rendezvous)


def _python_script(command: Sequence[str]) -> tuple[str, ...] | None:
    """`python -m train` -> ("-m", "train"), `python train.py` -> ("train.py",); else None."""
    program = PurePosixPath(command[0]).name
    rest = tuple(command[1:])
    if program in _PYTHONS and rest and (rest[0] == "-m" or not rest[0].startswith("-")):
        return rest
    return None


def _torchrun(command: Sequence[str], nproc: int, _nodes: int, _gpus: bool,
              rendezvous: Rendezvous | None) -> Launch:
    if rendezvous is None:
        nodes = ["--nnodes=1", "--standalone"]
    elif rendezvous.node_rank is not None:
        nodes = [f"--nnodes={rendezvous.nnodes}", f"--node-rank={rendezvous.node_rank}",
                 f"--master-addr={rendezvous.address}", f"--master-port={rendezvous.port}"]
    else:
        nodes = [f"--nnodes={rendezvous.nnodes}", "--rdzv-backend=c10d",
                 f"--rdzv-endpoint={rendezvous.address}:{rendezvous.port}",
                 f"--rdzv-id={rendezvous.run_id or 'envbuild'}"]
    # torchrun runs Python itself: `python -m train` becomes `-m train`, others `--no-python`.
    script = _python_script(command)
    own = ["torchrun", f"--nproc-per-node={nproc}", *nodes, *([] if script else ["--no-python"])]
    return Launch(argv=(*own, *(script or command)), own=len(own))


def _accelerate(command: Sequence[str], nproc: int, nodes: int, gpus: bool,
                rendezvous: Rendezvous | None) -> Launch:
    # --num_processes is the total over all machines; --multi_gpu is passed because
    # accelerate's own guess counts only this node's GPUs (one GPU on each of two nodes
    # would start a plain, non-distributed run), --cpu where the pool has no GPU.
    total = nproc * nodes
    argv = ["accelerate", "launch", f"--num_processes={total}", f"--num_machines={nodes}"]
    if not gpus:
        argv.append("--cpu")
    elif total > 1:
        argv.append("--multi_gpu")
    if rendezvous is not None:
        if rendezvous.node_rank is None:
            raise ValueError("accelerate needs each node's rank")  # emitters supply it
        argv += [f"--machine_rank={rendezvous.node_rank}",
                 f"--main_process_ip={rendezvous.address}",
                 f"--main_process_port={rendezvous.port}"]
    script = _python_script(command)
    if not script:
        argv.append("--no_python")
    return Launch(argv=(*argv, *(script or command)), own=len(argv))


def _none(command: Sequence[str], _nproc: int, _nodes: int, _gpus: bool,
          rendezvous: Rendezvous | None) -> Launch:
    # One process per node, started as written; a multi-node command (JAX, a custom
    # launcher) finds the rendezvous in the variables torch.distributed also reads.
    env: tuple[tuple[str, str], ...] = ()
    if rendezvous is not None:
        env = (("MASTER_ADDR", rendezvous.address), ("MASTER_PORT", str(rendezvous.port)),
               ("NNODES", rendezvous.nnodes))
    return Launch(argv=tuple(command), own=0, env=env)


LAUNCHERS: dict[str, Launcher] = {
    "torchrun": Launcher(name="torchrun", program="torchrun", distribution="torch",
                         needs_node_rank=False, build=_torchrun),
    "accelerate": Launcher(name="accelerate", program="accelerate", distribution="accelerate",
                           needs_node_rank=True, build=_accelerate),
    "none": Launcher(name="none", program=None, distribution=None, needs_node_rank=False,
                     build=_none),
}
CHOICES = (AUTO, *LAUNCHERS)


def resolve(choice: str, target: LockedTarget) -> Launcher:
    """The launcher `choice` names; "auto": torchrun where the target locks torch, else none."""
    if choice == AUTO:
        return LAUNCHERS["torchrun" if target.package("torch") is not None else "none"]
    return LAUNCHERS[choice]


def missing_program(choice: str, target: LockedTarget, *, pool: str, at: str) -> str | None:
    """Why `choice` cannot start on `target` (its program's distribution is not locked)."""
    launcher = resolve(choice, target)
    if launcher.distribution is None or target.package(launcher.distribution) is not None:
        return None
    return (f'{at}: pool "{pool}" runs target "{target.name}" with launcher "{launcher.name}", '
            f"but no distribution locked for that target provides its program "
            f"`{launcher.program}` (it comes with {launcher.distribution}). Fix: add "
            f'"{launcher.distribution}" to target "{target.name}"\'s dependencies and run '
            f'`envbuild lock`, or set [run] launcher = "auto" or "none" to run the command as '
            "written")
