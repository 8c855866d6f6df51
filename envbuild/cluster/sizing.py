"""How big a pool's pods and nodes are: requests, disks and machine shapes, decided once.

- CPU and memory: the pool's `cpu` / `memory`, else the smallest allocatable of the machine
  shapes the pool surely lands on (`instances.allocatable`: the shape minus the kubelet's
  reserve and a DaemonSet allowance), so one pod fills one node and still fits. Shapes are
  sure where a node provider emits them (EC2: karpenter, eks; GKE: gke) or the pool names
  them (`instance-types`, `machine-type`); with none, no request is guessed (a warning).
- Ephemeral storage: at least the image's unpacked size (its layers' tar sizes, recorded
  by `envbuild image --push`), rounded up to GiB.
- Node disk: twice the unpacked image (the pulled blobs and the unpacked snapshot live side
  by side while a new image is pulled) plus DISK_MARGIN_GIB for the OS, logs and scratch.
- EFA: the EC2 shapes' EFA interfaces when every shape the pool can land on has some and
  no GKE pool is emitted with it.
Where no record tells the unpacked size, ASSUMED_UNPACKED_GIB stands in, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from envbuild.cluster import instances
from envbuild.cluster.manifest import PoolSettings
from envbuild.hardware.rows import GpuRow

DISK_MARGIN_GIB = 20
ASSUMED_UNPACKED_GIB = 16
_GIB = 1 << 30
_EC2_PROVIDERS = ("karpenter", "eks")


@dataclass(frozen=True, kw_only=True, slots=True)
class Unset:
    """A value emitted in place of a missing setting or record; a warning, an error under
    `--strict`."""

    provider: str
    key: str
    emitted_as: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Sizing:
    cpu_milli: int | None  # None: no shape known and no `cpu` set
    memory_mib: int | None
    ephemeral_gib: int
    disk_gib: int
    efa: int  # EFA interfaces to request; 0: none
    ec2_types: tuple[str, ...]  # () when no EC2 shape is known
    gke_machine: str | None
    gke_accelerator: str | None


def gke_accelerator(settings: PoolSettings, gpu: GpuRow | None) -> str | None:
    """The pool's GKE accelerator type: the one it names if the GPU has it, else the first."""
    names = gpu.gke_accelerator if gpu is not None else ()
    if settings.gke_accelerator is not None:
        return settings.gke_accelerator if settings.gke_accelerator in names else None
    return names[0] if names else None


def size_pool(settings: PoolSettings, gpu: GpuRow | None, *, target: str, arch: str,
              providers: tuple[str, ...], unpacked_bytes: int | None,
              unset: list[Unset]) -> Sizing:
    """The pool's sizes, machine shapes of `arch` only; appends to `unset` what had to be
    assumed."""
    accelerator = gke_accelerator(settings, gpu)
    cpu, memory = settings.cpu_milli, settings.memory_mib
    if gpu is not None:
        ec2 = settings.instance_types or instances.ec2_instance_types(
            gpu.name, settings.gpus_per_node, arch)
        gke = settings.machine_type or (instances.gke_machine_type(
            accelerator, settings.gpus_per_node, arch) if accelerator else None)
    elif cpu is not None and memory is not None:  # the smallest machine that fits
        ec2 = settings.instance_types or tuple(
            n for n in (instances.smallest_cpu_shape(instances.EC2_CPU_FAMILIES[arch], cpu,
                                                     memory),) if n)
        gke = settings.machine_type or instances.smallest_cpu_shape(
            instances.GKE_CPU_FAMILIES[arch], cpu, memory)
    else:
        ec2, gke = settings.instance_types, settings.machine_type
    use_ec2 = any(p in _EC2_PROVIDERS for p in providers) or bool(settings.instance_types)
    use_gke = "gke" in providers or settings.machine_type is not None
    names = [*(ec2 if use_ec2 else ()), *((gke,) if use_gke and gke else ())]
    shapes = [instances.shape(n) for n in names]
    known = [s for s in shapes if s is not None]
    if known and len(known) == len(shapes):
        cpu = cpu if cpu is not None else min(instances.allocatable(s)[0] for s in known)
        memory = memory if memory is not None else min(instances.allocatable(s)[1] for s in known)
    pool = f"cluster.pools.{settings.name}"
    for value, key in ((cpu, "cpu"), (memory, "memory")):
        if value is None:
            unset.append(Unset(provider="kubernetes", key=f"{pool}.{key}",
                               emitted_as=f"no {key} request (no machine shape known; set "
                                          f"{key} or the pool's instance-types/machine-type)"))
    ec2_shapes = [instances.shape(n) for n in ec2]
    efa = 0
    # EFA only where the pool surely lands on EC2: an EC2 node provider, or instance types
    # named, and no GKE pool beside it (a GKE node has no EFA and would never fit the pod).
    if ec2_shapes and "gke" not in providers and (
            any(p in _EC2_PROVIDERS for p in providers) or settings.instance_types):
        counts = [s.efa if s is not None else 0 for s in ec2_shapes]
        efa = min(counts)
    if unpacked_bytes is None:
        unpacked_gib = ASSUMED_UNPACKED_GIB
        unset.append(Unset(provider="image", key=f"the unpacked size of target {target}'s image",
                           emitted_as=f"{ASSUMED_UNPACKED_GIB} GiB (assumed; `envbuild image "
                                      f"--push --target {target}` records it)"))
    else:
        unpacked_gib = max(1, -(-unpacked_bytes // _GIB))
    return Sizing(cpu_milli=cpu, memory_mib=memory, ephemeral_gib=unpacked_gib,
                  disk_gib=2 * unpacked_gib + DISK_MARGIN_GIB, efa=efa, ec2_types=tuple(ec2),
                  gke_machine=gke, gke_accelerator=accelerator)
