"""Machine shapes per GPU and count on GKE (machine types) and EC2 (instance types), each
shape's vCPUs, memory, GPUs, EFA interfaces and architecture (amd64 or arm64: an arm64
target is given only arm64 shapes), and the reserve a node keeps from pods.

A spec-encoding table: where a pool sets `machine-type` / `instance-types` these are not
consulted; where neither is known the emitters write a Terraform variable instead.
Source: the GCE GPU machine-type pages (A2, A3, A4, G2, N1) and the EC2 accelerated-computing
instance pages (G4dn, G5, G6, G6e, P3, P4d/P4de, P5/P5en, P6), as of 2025; secondary (from
notes, not checked against the live APIs).
"""

from __future__ import annotations

from dataclasses import dataclass

X86, ARM64 = "amd64", "arm64"  # Kubernetes' kubernetes.io/arch values

# GKE accelerator type -> GPUs per node -> machine type (all amd64).
GKE_MACHINE_TYPES: dict[str, dict[int, str]] = {
    "nvidia-tesla-t4": {1: "n1-standard-8", 2: "n1-standard-16", 4: "n1-standard-32"},
    "nvidia-tesla-v100": {1: "n1-standard-8", 2: "n1-standard-16", 4: "n1-standard-32",
                          8: "n1-standard-64"},
    "nvidia-tesla-a100": {1: "a2-highgpu-1g", 2: "a2-highgpu-2g", 4: "a2-highgpu-4g",
                          8: "a2-highgpu-8g", 16: "a2-megagpu-16g"},
    "nvidia-a100-80gb": {1: "a2-ultragpu-1g", 2: "a2-ultragpu-2g", 4: "a2-ultragpu-4g",
                         8: "a2-ultragpu-8g"},
    "nvidia-l4": {1: "g2-standard-4", 2: "g2-standard-24", 4: "g2-standard-48",
                  8: "g2-standard-96"},
    "nvidia-h100-80gb": {1: "a3-highgpu-1g", 2: "a3-highgpu-2g", 4: "a3-highgpu-4g",
                         8: "a3-highgpu-8g"},
    "nvidia-h100-mega-80gb": {8: "a3-megagpu-8g"},
    "nvidia-h200-141gb": {8: "a3-ultragpu-8g"},
    "nvidia-b200": {8: "a4-highgpu-8g"},
}

# envbuild GPU name -> GPUs per node -> EC2 instance types (amd64).
EC2_INSTANCE_TYPES: dict[str, dict[int, tuple[str, ...]]] = {
    "T4": {1: ("g4dn.xlarge",), 4: ("g4dn.12xlarge",), 8: ("g4dn.metal",)},
    "V100": {1: ("p3.2xlarge",), 4: ("p3.8xlarge",), 8: ("p3.16xlarge",)},
    "A10G": {1: ("g5.xlarge",), 4: ("g5.12xlarge",), 8: ("g5.48xlarge",)},
    "L4": {1: ("g6.xlarge",), 4: ("g6.12xlarge",), 8: ("g6.48xlarge",)},
    "L40S": {1: ("g6e.xlarge",), 4: ("g6e.12xlarge",), 8: ("g6e.48xlarge",)},
    "A100": {8: ("p4d.24xlarge", "p4de.24xlarge")},
    "A100-40GB": {8: ("p4d.24xlarge",)},
    "A100-80GB": {8: ("p4de.24xlarge",)},
    "H100": {8: ("p5.48xlarge",)},
    "H200": {8: ("p5en.48xlarge",)},
    "B200": {8: ("p6-b200.48xlarge",)},
}


# The Arm GPU instances (architecture arm64): envbuild GPU name -> GPUs per node -> types,
# and the name Karpenter gives their GPU (karpenter.k8s.aws/instance-gpu-name).
EC2_ARM64_INSTANCE_TYPES: dict[str, dict[int, tuple[str, ...]]] = {
    "T4": {1: ("g5g.xlarge",), 2: ("g5g.16xlarge",)},
}
KARPENTER_ARM64_GPU_NAMES = {"T4": "t4g"}


def gke_machine_type(accelerator: str, count: int, arch: str = X86) -> str | None:
    """The machine type for `count` of `accelerator` on `arch` (None: none known)."""
    return GKE_MACHINE_TYPES.get(accelerator, {}).get(count) if arch == X86 else None


def ec2_instance_types(gpu: str, count: int, arch: str = X86) -> tuple[str, ...]:
    table = EC2_ARM64_INSTANCE_TYPES if arch == ARM64 else EC2_INSTANCE_TYPES
    return table.get(gpu, {}).get(count, ())


def other_arch(name: str, arch: str) -> str | None:
    """The architecture of machine `name` where the table knows it and it is not `arch`."""
    row = shape(name)
    return row.arch if row is not None and row.arch != arch else None


# Machine shapes: name -> (vCPUs, memory GiB, GPUs, EFA interfaces, architecture). Sources:
# the EC2 instance type pages (accelerated computing: G4dn, G5, G5g, G6, G6e, P3, P4d, P5,
# P5en, P6; general purpose M7i, M7g; compute optimized C7i, C7g; memory optimized R7g;
# "Supported instance types" of the EFA page for the EFA column, one network card's worth
# per interface; the Graviton3 rows are arm64) and the GCE machine-type pages (A2, A3, G2,
# N1, N2; the Arm series T2A (Ampere Altra) and C4A (Axion) are arm64), as of 2025.
SHAPES: dict[str, tuple[int, int, int, int, str]] = {
    "g4dn.xlarge": (4, 16, 1, 0, X86), "g4dn.12xlarge": (48, 192, 4, 0, X86),
    "g4dn.metal": (96, 384, 8, 1, X86),
    "g5.xlarge": (4, 16, 1, 0, X86), "g5.12xlarge": (48, 192, 4, 0, X86), "g5.48xlarge": (192, 768, 8, 1, X86),
    "g6.xlarge": (4, 16, 1, 0, X86), "g6.12xlarge": (48, 192, 4, 0, X86), "g6.48xlarge": (192, 768, 8, 1, X86),
    "g6e.xlarge": (4, 32, 1, 0, X86), "g6e.12xlarge": (48, 384, 4, 1, X86),
    "g6e.48xlarge": (192, 1536, 8, 4, X86),
    "p3.2xlarge": (8, 61, 1, 0, X86), "p3.8xlarge": (32, 244, 4, 0, X86), "p3.16xlarge": (64, 488, 8, 0, X86),
    "p4d.24xlarge": (96, 1152, 8, 4, X86), "p4de.24xlarge": (96, 1152, 8, 4, X86),
    "p5.48xlarge": (192, 2048, 8, 32, X86), "p5en.48xlarge": (192, 2048, 8, 16, X86),
    "p6-b200.48xlarge": (192, 2048, 8, 8, X86),
    **{f"m7i.{size}": (cpu, cpu * 4, 0, 0, X86) for size, cpu in (
        ("large", 2), ("xlarge", 4), ("2xlarge", 8), ("4xlarge", 16), ("8xlarge", 32),
        ("12xlarge", 48), ("16xlarge", 64), ("24xlarge", 96), ("48xlarge", 192))},
    **{f"c7i.{size}": (cpu, cpu * 2, 0, 0, X86) for size, cpu in (
        ("large", 2), ("xlarge", 4), ("2xlarge", 8), ("4xlarge", 16), ("8xlarge", 32),
        ("12xlarge", 48), ("16xlarge", 64), ("24xlarge", 96), ("48xlarge", 192))},
    "a2-highgpu-1g": (12, 85, 1, 0, X86), "a2-highgpu-2g": (24, 170, 2, 0, X86),
    "a2-highgpu-4g": (48, 340, 4, 0, X86), "a2-highgpu-8g": (96, 680, 8, 0, X86),
    "a2-megagpu-16g": (96, 1360, 16, 0, X86),
    "a2-ultragpu-1g": (12, 170, 1, 0, X86), "a2-ultragpu-2g": (24, 340, 2, 0, X86),
    "a2-ultragpu-4g": (48, 680, 4, 0, X86), "a2-ultragpu-8g": (96, 1360, 8, 0, X86),
    "a3-highgpu-1g": (26, 234, 1, 0, X86), "a3-highgpu-2g": (52, 468, 2, 0, X86),
    "a3-highgpu-4g": (104, 936, 4, 0, X86), "a3-highgpu-8g": (208, 1872, 8, 0, X86),
    "a3-megagpu-8g": (208, 1872, 8, 0, X86), "a3-ultragpu-8g": (224, 2952, 8, 0, X86),
    "g2-standard-4": (4, 16, 1, 0, X86), "g2-standard-24": (24, 96, 2, 0, X86),
    "g2-standard-48": (48, 192, 4, 0, X86), "g2-standard-96": (96, 384, 8, 0, X86),
    "n1-standard-8": (8, 30, 0, 0, X86), "n1-standard-16": (16, 60, 0, 0, X86),
    "n1-standard-32": (32, 120, 0, 0, X86), "n1-standard-64": (64, 240, 0, 0, X86),
    **{f"n2-standard-{cpu}": (cpu, cpu * 4, 0, 0, X86)
       for cpu in (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)},
    # Graviton3: M7g 4 GiB per vCPU, C7g 2, R7g 8; G5g: NVIDIA T4G (Turing, as T4).
    **{f"{family}.{size}": (cpu, cpu * per_cpu, 0, 0, ARM64)
       for family, per_cpu in (("m7g", 4), ("c7g", 2), ("r7g", 8))
       for size, cpu in (("medium", 1), ("large", 2), ("xlarge", 4), ("2xlarge", 8),
                         ("4xlarge", 16), ("8xlarge", 32), ("12xlarge", 48), ("16xlarge", 64))},
    "g5g.xlarge": (4, 8, 1, 0, ARM64), "g5g.2xlarge": (8, 16, 1, 0, ARM64),
    "g5g.4xlarge": (16, 32, 1, 0, ARM64), "g5g.8xlarge": (32, 64, 1, 0, ARM64),
    "g5g.16xlarge": (64, 128, 2, 0, ARM64), "g5g.metal": (64, 128, 2, 0, ARM64),
    **{f"t2a-standard-{cpu}": (cpu, cpu * 4, 0, 0, ARM64) for cpu in (1, 2, 4, 8, 16, 32, 48)},
    **{f"c4a-standard-{cpu}": (cpu, cpu * 4, 0, 0, ARM64)
       for cpu in (1, 2, 4, 8, 16, 32, 48, 64, 72)},
}
# CPU-only shapes a CPU pool is given, per architecture, when it names CPU and memory but no
# machine. GKE's Arm family is T2A, not C4A: C4A boots only from Hyperdisk, which the node
# pool's default boot disk (pd-balanced) is not.
EC2_CPU_FAMILIES = {X86: "m7i.", ARM64: "m7g."}
GKE_CPU_FAMILIES = {X86: "n2-standard-", ARM64: "t2a-standard-"}
# What DaemonSets take on every node (device plugin, GFD, kube-proxy, the CNI, log agents):
# an allowance on top of the kubelet's reserve.
DAEMONSET_CPU_MILLI = 500
DAEMONSET_MEMORY_MIB = 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class Shape:
    name: str
    cpus: int
    memory_gib: int
    gpus: int
    efa: int
    arch: str  # amd64 or arm64


def shape(name: str) -> Shape | None:
    row = SHAPES.get(name)
    if row is None:
        return None
    return Shape(name=name, cpus=row[0], memory_gib=row[1], gpus=row[2], efa=row[3],
                 arch=row[4])


def reserved_cpu_milli(cpus: int) -> int:
    """The kubelet's CPU reserve on EKS and GKE alike: 6% of the first core, 1% of the
    second, 0.5% of the next two, 0.25% of every core above four."""
    milli = 60 + (10 if cpus > 1 else 0) + 5 * max(0, min(cpus, 4) - 2)
    return milli + (25 * max(0, cpus - 4) + 9) // 10


def reserved_memory_mib(memory_gib: int) -> int:
    """GKE's memory reserve (the larger of the two providers' rules): 25% of the first
    4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112, 2% above 128 GiB,
    plus 100 MiB kept for eviction."""
    mib = 100
    for low, high, percent in ((0, 4, 25), (4, 8, 20), (8, 16, 10), (16, 128, 6)):
        mib += max(0, min(memory_gib, high) - low) * 1024 * percent // 100
    return mib + max(0, memory_gib - 128) * 1024 * 2 // 100


def allocatable(row: Shape) -> tuple[int, int]:
    """(CPU millicores, memory MiB) a pod can request on a node of this shape."""
    return (row.cpus * 1000 - reserved_cpu_milli(row.cpus) - DAEMONSET_CPU_MILLI,
            row.memory_gib * 1024 - reserved_memory_mib(row.memory_gib) - DAEMONSET_MEMORY_MIB)


def smallest_cpu_shape(family: str, cpu_milli: int, memory_mib: int) -> str | None:
    """The smallest shape of a CPU family whose allocatable fits the request, if any."""
    fits = [s for s in (shape(n) for n in SHAPES if n.startswith(family)) if s is not None
            and allocatable(s)[0] >= cpu_milli and allocatable(s)[1] >= memory_mib]
    return min(fits, key=lambda s: (s.cpus, s.memory_gib)).name if fits else None
