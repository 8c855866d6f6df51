"""Join each pool of `[cluster]` to its locked target, its GPU's hardware row and its image.

Everything an emitter needs is decided here, once, so that the providers agree: object
names, the labels and annotations that carry the lock hash, the driver floor's major, the
image by digest, the target document the in-image runner verifies against, the dataset
volumes, the pod's resources and the node disk size (`envbuild/cluster/sizing.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envbuild.cluster import instances, k8snames
from envbuild.cluster.images import (
    PinnedImage,
    parse_image_option,
    read_record,
    record_path,
    stale_image,
)
from envbuild.cluster.launchers import missing_program
from envbuild.cluster.manifest import ClusterSettings, PoolSettings, RunSettings
from envbuild.cluster.sizing import Sizing, Unset, size_pool
from envbuild.cluster.volumes import VolumeSettings
from envbuild.errors import InputError
from envbuild.hardware.facts import HardwareFacts, gpu_key
from envbuild.hardware.rows import GpuRow
from envbuild.hardware.versions import format_cuda, parse_cuda
from envbuild.lockfile import Lock, LockedTarget
from envbuild.lockfile.codec import target_table
from envbuild.runtime.target import payload

LABEL_PREFIX = "envbuild.dev"


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolPlan:
    settings: PoolSettings
    target: LockedTarget
    gpu: GpuRow | None  # None: a CPU pool
    object_name: str  # "<cluster name>-<pool>" (k8snames.object_name): Job, NodePool, node group
    image: PinnedImage | None  # None when no chosen provider runs an image
    document: dict[str, Any]  # the runner's target document (`--target-json`)
    sizing: Sizing  # the pod's resources, the node's disk and machine shapes

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def label(self) -> str:
        """The pool's name as a label value (`envbuild.dev/pool`)."""
        return k8snames.label_value(self.name)

    @property
    def driver_floor_major(self) -> int | None:
        floor = self.target.driver_floor
        return int(floor.split(".")[0]) if floor and floor.split(".")[0].isdigit() else None

    @property
    def processes_per_node(self) -> int:
        """One per GPU; a CPU pool runs one process per node."""
        return self.settings.gpus_per_node or 1

    @property
    def arch(self) -> str:
        return arch_of(self.target)


def arch_of(target: LockedTarget) -> str:
    """The target's architecture as Kubernetes names it (kubernetes.io/arch)."""
    return instances.ARM64 if target.platform == "linux/arm64" else instances.X86


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterPlan:
    name: str
    settings: ClusterSettings
    run: RunSettings | None
    lock_hash: str
    lock_file: str  # as the job sees it: relative to the folder it is submitted from
    manifest_file: str
    pools: tuple[PoolPlan, ...]
    locate: Callable[[str], str] = str  # dotted key -> "envbuild.toml:12: dotted.key"
    mounts: tuple[Mount, ...] = ()  # every dataset with a `mount`, on every pool's job
    providers: tuple[str, ...] = ()  # the chosen providers
    code_dir: str = "."  # where `python -m` finds the code, relative to the manifest's folder
    unset: tuple[Unset, ...] = ()  # values assumed for want of a setting or a record
    notes: tuple[str, ...] = ()

    def labels(self, pool: PoolPlan) -> dict[str, str]:
        """Labels every object of a pool carries (values valid as Kubernetes labels)."""
        return {f"{LABEL_PREFIX}/pool": pool.label,
                f"{LABEL_PREFIX}/target": k8snames.label_value(pool.target.name),
                f"{LABEL_PREFIX}/lock-hash": k8snames.hash_label(self.lock_hash)}

    def annotations(self, pool: PoolPlan) -> dict[str, str]:
        out = {f"{LABEL_PREFIX}/lock-hash": self.lock_hash,
               f"{LABEL_PREFIX}/target-hash": pool.target.hash}
        if pool.image is not None:
            out[f"{LABEL_PREFIX}/image"] = pool.image.pinned
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class Mount:
    """A dataset's volume, mounted read-only at the dataset's `mount` in every job."""

    dataset: str
    path: str  # the dataset's `mount`
    volume: VolumeSettings  # `[cluster.volumes.<dataset>]`, or the placeholder claim
    name: str  # the pod's volume name (a DNS label)


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanInputs:
    settings: ClusterSettings
    run: RunSettings | None
    lock: Lock
    lock_path: Path
    manifest_path: Path
    project: str
    images: tuple[str, ...]  # --image options
    needs_image: bool  # whether a chosen provider runs the image (Job, pyxis)
    needs_run: bool  # whether a chosen provider emits a job
    locate: Callable[[str], str] = str  # dotted key -> "envbuild.toml:12: dotted.key"
    mounts: tuple[tuple[str, str], ...] = ()  # (dataset, mount) from [datasets]
    providers: tuple[str, ...] = ()  # the chosen providers: which machine shapes count
    code_dir: str = "."  # where `python -m` finds the code, relative to the manifest's folder
    strict: bool = False  # a stale recorded image is an error, not a note


def build_plan(inputs: PlanInputs, facts: HardwareFacts) -> ClusterPlan:
    """The plan; raises InputError listing every pool that cannot be planned."""
    settings = inputs.settings
    at = inputs.locate
    name = settings.name or k8snames.cluster_name(inputs.project)
    problems: list[str] = []
    if inputs.needs_run and inputs.run is None:
        problems.append(f"{inputs.manifest_path.name}: no [run] section, which the Job and the "
                        'sbatch script run; add [run] command = ["python3", "-m", "train"]')
    explicit, default_image = _image_options(inputs.images, inputs.lock)
    recorded = read_record(inputs.lock_path)
    unset: list[Unset] = []
    notes: list[str] = []
    staleness: dict[str, tuple[str, bool] | None] = {}  # target -> stale_image's answer
    mounts = _mounts(name, inputs, unset)
    pools = []
    for pool in settings.pools:
        pool_problems: list[str] = []
        key = f"cluster.pools.{pool.name}"
        full = k8snames.object_name(name, pool.name)
        target = inputs.lock.targets.get(pool.target)
        row = facts.gpu(pool.gpu) if pool.gpu is not None else None
        if target is None:
            pool_problems.append(
                f'{at(key + ".target")}: target "{pool.target}" is not in {inputs.lock_path.name} '
                f"(targets: {', '.join(sorted(inputs.lock.targets)) or 'none'}); declare it "
                "under [targets] and run `envbuild lock`")
        if pool.gpu is not None and row is None:
            close = facts.suggest_gpu(pool.gpu)
            pool_problems.append(
                f'{at(key + ".gpu")}: unknown GPU "{pool.gpu}"'
                + (f'; did you mean "{close}"?' if close else
                   f"; known GPUs: {', '.join(facts.gpu_names())}"))
        if target is not None and row is not None:
            pool_problems += [f"{at(key + '.gpu')}: {p}" for p in _runs_on(pool, target, row, facts)]
        if target is not None:
            pool_problems += _arch_problems(pool, target, at)
        if target is not None and pool.gpu is None and target.cuda is not None:
            pool_problems.append(
                f'{at(key)}: target "{target.name}" is a CUDA {target.cuda} build; a pool without '
                'gpu is a CPU pool. Fix: add gpu = "H100" and gpus-per-node = 8, or point the '
                "pool at a CPU target")
        if inputs.run is not None and inputs.needs_run and inputs.run.nodes > pool.nodes_max:
            pool_problems.append(
                f'{at("run.nodes")}: {inputs.run.nodes} nodes, but pool "{pool.name}" has at most '
                f"{pool.nodes_max}; raise "
                f"cluster.pools.{pool.name}.nodes.max or lower run.nodes")
        if inputs.run is not None and inputs.needs_run and target is not None:
            refused = missing_program(inputs.run.launcher, target, pool=pool.name,
                                      at=at("run.launcher"))
            pool_problems += [refused] if refused else []
        image = None
        if target is not None:
            image = explicit.get(target.name) or default_image
            if image is None:
                image, problem = _recorded(recorded, target, inputs.lock_path)
                # An image no chosen provider needs is only taken where it is recorded; Slurm
                # then falls back to its venv mode, which a stale record should not hide.
                if problem and inputs.needs_image:
                    pool_problems.append(problem)
                elif problem and image is None and "slurm" in inputs.providers \
                        and target.name in recorded:
                    notes.append(f"slurm: {problem}; until then its sbatch script uses a venv")
                if image is not None:  # the record's image: built from today's inputs?
                    if target.name not in staleness:
                        staleness[target.name] = stale_image(
                            inputs.manifest_path, inputs.lock, inputs.lock_path, target.name,
                            image)
                    stale = staleness[target.name]
                    if stale is not None:
                        (pool_problems if stale[1] and inputs.strict else notes).append(stale[0])
            elif target.name in recorded and recorded[target.name][0].digest == image.digest:
                image = recorded[target.name][0]  # the record knows its unpacked size
        problems += pool_problems
        if pool_problems or target is None or (pool.gpu is not None and row is None):
            continue
        document = payload(target_table(target), name=target.name, lock_hash=inputs.lock.lock_hash,
                           datasets=inputs.lock.datasets)
        sizing = size_pool(pool, row, target=target.name, arch=arch_of(target),
                           providers=inputs.providers,
                           unpacked_bytes=image.unpacked_bytes if image else None, unset=unset)
        pools.append(PoolPlan(settings=pool, target=target, gpu=row, object_name=full,
                              image=image, document=document, sizing=sizing))
    if problems:
        # Pools that share a target share its image problem: say it once.
        raise InputError("\n".join(dict.fromkeys(problems)),
                         hint="nothing was written; fix the problems above")
    return ClusterPlan(name=name, settings=settings, run=inputs.run,
                       lock_hash=inputs.lock.lock_hash, lock_file=inputs.lock_path.name,
                       manifest_file=inputs.manifest_path.name, pools=tuple(pools), locate=at,
                       mounts=mounts, providers=inputs.providers, code_dir=inputs.code_dir,
                       unset=tuple(dict.fromkeys(unset)),
                       notes=tuple(dict.fromkeys(notes)))


def _mounts(name: str, inputs: PlanInputs, unset: list[Unset]) -> tuple[Mount, ...]:
    """Each dataset with a `mount` and its volume; an unset one gets a placeholder claim
    named `<cluster name>-<dataset>`, which a warning (and `--strict`) reports."""
    given = {v.dataset: v for v in inputs.settings.volumes}
    out = []
    for position, (dataset, path) in enumerate(inputs.mounts):
        volume = given.get(dataset)
        if volume is None:
            claim = k8snames.object_name(name, k8snames.cluster_name(dataset))
            volume = VolumeSettings(dataset=dataset, kind="claim", source=claim)
            unset.append(Unset(provider="kubernetes", key=f"cluster.volumes.{dataset}",
                               emitted_as=f"PersistentVolumeClaim {claim}"))
        out.append(Mount(dataset=dataset, path=path, volume=volume, name=f"dataset-{position}"))
    return tuple(out)


def _arch_problems(pool: PoolSettings, target: LockedTarget,
                   at: Callable[[str], str]) -> list[str]:
    """The machines the pool names whose architecture (as the instance table knows it) is
    not the target's: its image or venv could not run there."""
    arch = arch_of(target)
    example = {"instance-types": instances.EC2_CPU_FAMILIES[arch] + "xlarge",
               "machine-type": instances.GKE_CPU_FAMILIES[arch] + "4"}
    out = []
    for key, names in (("instance-types", pool.instance_types),
                       ("machine-type", (pool.machine_type,) if pool.machine_type else ())):
        for name in names:
            other = instances.other_arch(name, arch)
            if other is not None:
                out.append(f'{at(f"cluster.pools.{pool.name}.{key}")}: pool "{pool.name}" names '
                           f'"{name}", an {other} machine, but target "{target.name}" is '
                           f"{target.platform}; name {arch} machines (for example "
                           f'"{example[key]}") or point the pool at an {other} target')
    return out


def _runs_on(pool: PoolSettings, target: LockedTarget, row: GpuRow,
             facts: HardwareFacts) -> list[str]:
    """Whether the target's build can run on the pool's GPU, as the lock judged it."""
    if target.cuda is None:
        return [f'target "{target.name}" is a CPU build (no cuda); it cannot use GPU '
                f"{row.name}. Fix: point the pool at a CUDA target"]
    declared = [facts.gpu(g) for g in target.gpus]
    if target.gpus and all(d is None or gpu_key(d.name) != gpu_key(row.name) for d in declared):
        return [f'GPU {row.name} is not one of target "{target.name}"\'s GPUs '
                f"({', '.join(target.gpus)}); its build was checked for those only. Fix: add "
                f'"{row.name}" to [targets.{target.name}] gpus and run `envbuild lock`, or use '
                "one of its GPUs"]
    cuda = parse_cuda(target.cuda)
    if cuda is not None and cuda < row.first:
        return [f'GPU {row.name} ({row.sm}) needs a CUDA {row.first_cuda} or newer build; '
                f'target "{target.name}" is CUDA {format_cuda(cuda)}']
    if cuda is not None and row.dropped is not None and cuda >= row.dropped:
        return [f'GPU {row.name} ({row.sm}) is not supported by CUDA '
                f'{row.dropped_in_cuda} or newer builds; target "{target.name}" is CUDA '
                f"{format_cuda(cuda)}"]
    return []


def _image_options(options: Sequence[str],
                   lock: Lock) -> tuple[dict[str, PinnedImage], PinnedImage | None]:
    explicit: dict[str, PinnedImage] = {}
    default = None
    for text in options:
        target, image = parse_image_option(text)
        if target is None:
            default = image
        elif target not in lock.targets:
            raise InputError(f'--image {text}: no target "{target}" in the lock (targets: '
                             f"{', '.join(sorted(lock.targets))})")
        else:
            explicit[target] = image
    return explicit, default


def _recorded(recorded: dict[str, tuple[PinnedImage, str]], target: LockedTarget,
              lock_path: Path) -> tuple[PinnedImage | None, str | None]:
    where = record_path(lock_path)
    entry = recorded.get(target.name)
    if entry is None:
        return None, (f'target "{target.name}": no image digest; pass --image '
                      f"REGISTRY/REPO@sha256:<digest> or run `envbuild image --push --target "
                      f"{target.name}` (it records the digest in {where.parent.name}/{where.name})")
    image, built_from = entry
    if built_from != target.hash:
        return None, (f'target "{target.name}": the image in {where.parent.name}/{where.name} '
                      f"was built from target hash {built_from}, the lock has {target.hash}; run "
                      f"`envbuild image --push --target {target.name}` or pass --image")
    return image, None
